"""Results stores: the :class:`Store` protocol, SQLite (durable) and in-memory implementations.

``open_store(None)`` gives an :class:`InMemoryStore`, a path a :class:`SQLiteStore`, and a store
is passed through, so callers take any of the three. ``ResultStore`` is the deprecated old name of
:class:`SQLiteStore`, still importable.
"""

from __future__ import annotations

import os
from typing import Union

from .base import FINAL_STATUSES, ProposalExists, Store, StoreError
from .memory import InMemoryStore
from .schema import SCHEMA_VERSION, utc_now
from .sqlite import ResultStore, SQLiteStore


def open_store(store: Union[Store, str, os.PathLike, None]) -> Store:
    """A store from a path (SQLite), None (in memory) or a store (as it is)."""
    if store is None:
        return InMemoryStore()
    if isinstance(store, (str, os.PathLike)):
        return SQLiteStore(store)
    return store


__all__ = [
    "FINAL_STATUSES",
    "InMemoryStore",
    "ProposalExists",
    "ResultStore",
    "SCHEMA_VERSION",
    "SQLiteStore",
    "Store",
    "StoreError",
    "open_store",
    "utc_now",
]
