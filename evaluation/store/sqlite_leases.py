"""The lease rows of the SQLite store: one writing process per run (see :mod:`optsearch.evaluation.lease`).

A mixin of :class:`~.sqlite.SQLiteStore`: it uses the store's ``_transaction``, ``_write`` and
``_query``, so a lease is taken in one ``BEGIN IMMEDIATE`` transaction like every write.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any, Callable, Optional

from .base import may_take


class SQLiteLeases:
    """``take_lease``, ``renew_lease``, ``release_lease`` and ``lease_holder`` on the ``leases`` table."""

    _transaction: Callable[..., Any]
    _write: Callable[..., sqlite3.Cursor]
    _query: Callable[..., list[tuple]]

    def take_lease(self, run_id: str, holder: dict[str, Any], is_stale: Callable[[dict], bool]) -> Optional[dict]:
        """Take the lease of ``run_id`` for ``holder`` (token, pid, host) in one transaction.

        Returns None when taken (the run was free, held by this same process, or held by a
        holder that ``is_stale``), else the current holder's row, untouched.
        """

        def take(conn: sqlite3.Connection) -> Optional[dict]:
            row = conn.execute(
                "SELECT token, pid, host, heartbeat FROM leases WHERE run_id = ?", (run_id,)
            ).fetchone()
            current = dict(zip(("token", "pid", "host", "heartbeat"), row)) if row is not None else None
            if not may_take(current, holder, is_stale):
                return current
            conn.execute(
                "INSERT INTO leases (run_id, token, pid, host, heartbeat) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (run_id) DO UPDATE SET token = excluded.token, pid = excluded.pid, "
                "host = excluded.host, heartbeat = excluded.heartbeat",
                (run_id, holder["token"], holder["pid"], holder["host"], time.time()),
            )
            return None

        return self._transaction(take)

    def renew_lease(self, run_id: str, token: str) -> bool:
        """Refresh the heartbeat of a lease this holder still has; False when it was taken over."""
        cursor = self._write(
            "UPDATE leases SET heartbeat = ? WHERE run_id = ? AND token = ?", (time.time(), run_id, token)
        )
        return cursor.rowcount == 1

    def release_lease(self, run_id: str, token: str) -> None:
        """Give the lease back (a no-op when another holder has it now)."""
        self._write("DELETE FROM leases WHERE run_id = ? AND token = ?", (run_id, token))

    def lease_holder(self, run_id: str) -> Optional[dict[str, Any]]:
        """The current lease row of ``run_id`` (token, pid, host, heartbeat), or None."""
        rows = self._query("SELECT token, pid, host, heartbeat FROM leases WHERE run_id = ?", (run_id,))
        return dict(zip(("token", "pid", "host", "heartbeat"), rows[0])) if rows else None
