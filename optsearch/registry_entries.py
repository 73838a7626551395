"""The project's registries, filled as their members are imported (``optsearch.searchers``)."""

from __future__ import annotations

from optsearch.registry import Registry

SEARCHERS: Registry = Registry("searcher")
