"""The project's registries, filled as the searchers and tasks are imported."""

from __future__ import annotations

from optsearch.registry import Registry

SEARCHERS: Registry = Registry("searcher")
TASK_NAMES: tuple[str, ...] = ()
