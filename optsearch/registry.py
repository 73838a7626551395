"""A registry of names that refuses duplicates: re-exported from :mod:`optsearch.searchers.registry_entries`."""

from __future__ import annotations

from optsearch.searchers.registry_entries import Registry

__all__ = ["Registry"]
