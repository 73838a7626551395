"""The project's registries: re-exported from :mod:`optsearch.searchers.registry_entries`, where they live."""

from __future__ import annotations

from optsearch.searchers.registry_entries import SEARCHERS

__all__ = ["SEARCHERS"]
