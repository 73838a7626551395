"""The durable results store: one SQLite file holding every evaluation, run and searcher checkpoint.

Durability model
----------------
The file is opened in WAL mode with ``synchronous=NORMAL`` by default. Every :meth:`SQLiteStore.record`
is its own committed transaction, and a committed WAL transaction has been ``write()``-n to the
operating system before the call returns, so it survives the *writer process* being killed at any
instant (SIGKILL, the OOM killer, a crash, Ctrl-C): the next opener replays the WAL. What NORMAL does
not promise is durability of the last few commits across a power loss or kernel crash (the WAL is
fsynced at checkpoints, not at every commit); the database is never corrupted by one either. Pass
``synchronous="FULL"`` for power-loss durability of every commit, at the price of one fsync per
result (cheap next to an evaluation, but noticeable when many cache hits are recorded quickly).

Concurrency
-----------
Several processes may open the same path at once (one searcher per process, ``optsearch show`` while a
search runs, ...). Writes take the lock up front (``BEGIN IMMEDIATE``) and wait for it up to
``timeout_s`` (SQLite's busy timeout), so concurrent writers are serialised instead of failing with
"database is locked"; readers never block writers in WAL mode.

Each process has its own connection: a :class:`SQLiteStore` is **picklable by path**. Pickling it
(e.g. sending it to a worker process) sends only the path and the options; the copy opens its own
connection lazily in the receiving process. A store used in a forked child likewise reopens the
file instead of reusing the parent's connection. Within one process a store may be shared by
threads (calls are serialised by a lock).
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Sequence, Union

from optsearch.evaluation.ranking import best_distinct
from optsearch.evaluation.records import EvalResult

from .base import FINAL_STATUSES, ProposalExists, StoreError
from .sqlite_leases import SQLiteLeases
from .schema import EVAL_COLUMNS, init_schema, set_wal, utc_now

def _with_index(result_json: str, proposal: Optional[int]) -> EvalResult:
    """A stored result with its proposal index from the column (migrated rows lack it in JSON)."""
    result = EvalResult.from_json(result_json)
    return result if result.index == proposal else replace(result, index=proposal)


def _filters(**conditions: Any) -> tuple[str, list[Any]]:
    """A ``WHERE`` clause (or ``""``) and its parameters for the conditions that are not None."""
    clauses, params = [], []
    for column, value in conditions.items():
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


class SQLiteStore(SQLiteLeases):
    """Every evaluation, run and searcher checkpoint of a search campaign, in one SQLite file.

    ``SQLiteStore(path)`` creates the file when it does not exist (unless ``create=False``) and
    raises :class:`StoreError` naming the path when its directory does not exist, the path is a
    directory, or the file is not an optsearch SQLite store. Use it as a context manager or call
    :meth:`close`. See the module docstring for the durability and concurrency guarantees.
    """

    def __init__(
        self,
        path: Union[str, os.PathLike],
        *,
        create: bool = True,
        synchronous: str = "NORMAL",
        timeout_s: float = 60.0,
    ) -> None:
        self.path = Path(path)
        if synchronous.upper() not in ("NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"synchronous must be NORMAL, FULL or EXTRA, not {synchronous!r}")
        self.synchronous = synchronous.upper()
        self.timeout_s = float(timeout_s)
        self.create = create
        self._lock = threading.RLock()
        self._conn: Optional[sqlite3.Connection] = None
        self._pid: Optional[int] = None
        self._closed = False
        self._connection()  # open now, so that a bad path fails here with a clear message

    # -------------------------------------------------------------------------------------------
    # connection management
    # -------------------------------------------------------------------------------------------
    def _connection(self) -> sqlite3.Connection:
        """This process's connection, opened (and the schema created) on first use."""
        if self._closed:
            raise StoreError(f"{self.path}: the results store is closed")
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        # First use, or a forked child holding the parent's connection: never reuse that one.
        self._conn = None
        self._conn = self._open()
        self._pid = os.getpid()
        return self._conn

    def _open(self) -> sqlite3.Connection:
        path = self.path
        if path.is_dir():
            raise StoreError(f"{path}: is a directory, not a results store")
        parent = path.parent if str(path.parent) else Path(".")
        if not parent.is_dir():
            raise StoreError(f"{path}: directory {parent} does not exist")
        if not path.exists() and not self.create:
            raise StoreError(f"{path}: no such results store")
        try:
            conn = sqlite3.connect(
                str(path),
                timeout=self.timeout_s,
                isolation_level=None,  # autocommit; write transactions are explicit
                check_same_thread=False,
            )
        except sqlite3.Error as error:
            raise StoreError(f"{path}: cannot open the results store ({error})") from None
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.timeout_s * 1000)}")
            self._retry_busy(lambda: set_wal(conn, self.path))
            conn.execute(f"PRAGMA synchronous = {self.synchronous}")
            conn.execute("PRAGMA foreign_keys = ON")
            self._retry_busy(lambda: init_schema(conn, self.path))
        except StoreError:
            conn.close()
            raise
        except sqlite3.DatabaseError as error:
            conn.close()
            message = str(error)
            if "not a database" in message or "malformed" in message or "encrypted" in message:
                raise StoreError(f"{path}: not a SQLite database ({message})") from None
            raise StoreError(f"{path}: cannot use the results store ({message})") from None
        return conn

    def _retry_busy(self, action) -> None:
        """Run ``action``, retrying while another process holds a lock the busy handler skips.

        (Switching to WAL and creating the schema of a brand-new file can report SQLITE_BUSY at once
        when two processes create the same store at the same moment.)
        """
        deadline = time.monotonic() + self.timeout_s
        delay = 0.005
        while True:
            try:
                action()
                return
            except sqlite3.OperationalError as error:
                text = str(error)
                if ("locked" not in text and "busy" not in text) or time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.2)

    def _write(self, sql: str, params: tuple = ()) -> sqlite3.Cursor:
        """Execute one write statement as its own committed transaction."""
        return self._transaction(lambda conn: conn.execute(sql, params))

    def _transaction(self, work: Callable[[sqlite3.Connection], Any]) -> Any:
        """Run ``work(connection)`` in one write transaction, committed when it returns.

        SQLite's failures (a read-only file, a full disk, a value it cannot hold) become a
        :class:`StoreError` naming the path.
        """
        with self._lock:
            conn = self._connection()
            try:
                conn.execute("BEGIN IMMEDIATE")  # take the write lock now (waits up to the busy timeout)
                try:
                    answer = work(conn)
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            except sqlite3.IntegrityError as error:
                raise ProposalExists(f"{self.path}: {error}") from None
            except (sqlite3.Error, OverflowError) as error:
                raise StoreError(f"{self.path}: cannot write to the results store ({error})") from None
            return answer

    def _query(self, sql: str, params: tuple | list = ()) -> list[tuple]:
        with self._lock:
            return self._connection().execute(sql, tuple(params)).fetchall()

    def close(self) -> None:
        """Close this process's connection (idempotent)."""
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None
            self._closed = True

    def __enter__(self) -> "SQLiteStore":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        # Picklable by path: the receiving process opens its own connection.
        return {
            "path": str(self.path),
            "create": self.create,
            "synchronous": self.synchronous,
            "timeout_s": self.timeout_s,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.path = Path(state["path"])
        self.create = state["create"]
        self.synchronous = state["synchronous"]
        self.timeout_s = state["timeout_s"]
        self._lock = threading.RLock()
        self._conn = None
        self._pid = None
        self._closed = False

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r})"

    # -------------------------------------------------------------------------------------------
    # evaluations
    # -------------------------------------------------------------------------------------------
    def record(self, result: EvalResult) -> int:
        """Store one final evaluation and commit at once; returns the new row id.

        Once this returns, the row survives the writing process being killed. A second result
        for the same (run, proposal index) raises :class:`ProposalExists`.
        """
        row = (
            result.run_id,
            result.searcher,
            int(result.seed),
            json.dumps(list(result.tokens)) if result.tokens is not None else None,
            result.rule,
            result.canonical,
            result.fingerprint,
            result.task,
            result.config_hash,
            result.reward,
            result.val_acc,
            result.test_acc,
            result.lr,
            result.status,
            int(bool(result.cached)),
            result.cost,
            result.wall_s,
            result.detail,
            json.dumps([vars(lr) for lr in result.per_lr]),
            utc_now(),
            result.to_json(),
            result.index,
        )
        placeholders = ", ".join("?" * len(row))
        cursor = self._write(f"INSERT INTO evaluations ({EVAL_COLUMNS}) VALUES ({placeholders})", row)
        return int(cursor.lastrowid)

    def lookup(self, fingerprint: str, task: str, config_hash: str, seed: int) -> Optional[EvalResult]:
        """The shared cache: the first non-cached, final result stored for this key, or None.

        Results with status ``error`` are never returned, so an errored evaluation is redone.
        """
        marks = ", ".join("?" * len(FINAL_STATUSES))
        rows = self._query(
            "SELECT result_json FROM evaluations WHERE fingerprint = ? AND task = ? "
            f"AND config_hash = ? AND seed = ? AND cached = 0 AND status IN ({marks}) "
            "ORDER BY id LIMIT 1",
            (fingerprint, task, config_hash, int(seed), *FINAL_STATUSES),
        )
        return EvalResult.from_json(rows[0][0]) if rows else None

    def results(
        self,
        run_id: Optional[str] = None,
        searcher: Optional[str] = None,
        seed: Optional[int] = None,
        task: Optional[str] = None,
    ) -> list[EvalResult]:
        """The stored results matching every filter given: one run's in proposal order, else in
        insertion order."""
        where, params = _filters(run_id=run_id, searcher=searcher, seed=seed, task=task)
        order = "proposal IS NULL, proposal, id" if run_id is not None else "id"
        rows = self._query(f"SELECT result_json, proposal FROM evaluations{where} ORDER BY {order}", params)
        return [_with_index(row[0], row[1]) for row in rows]

    def iter_results(
        self,
        run_id: Optional[str] = None,
        searcher: Optional[str] = None,
        seed: Optional[int] = None,
        task: Optional[str] = None,
    ) -> Iterator[EvalResult]:
        """Like :meth:`results`, as an iterator."""
        yield from self.results(run_id=run_id, searcher=searcher, seed=seed, task=task)

    def count(
        self,
        run_id: Optional[str] = None,
        searcher: Optional[str] = None,
        seed: Optional[int] = None,
        task: Optional[str] = None,
    ) -> int:
        """The number of stored results matching every filter given."""
        where, params = _filters(run_id=run_id, searcher=searcher, seed=seed, task=task)
        return int(self._query(f"SELECT COUNT(*) FROM evaluations{where}", params)[0][0])

    def top(
        self,
        k: int,
        task: Optional[str] = None,
        distinct_canonical: bool = True,
        *,
        run_id: Optional[str] = None,
        searcher: Optional[str] = None,
    ) -> list[EvalResult]:
        """The ``k`` best results, best reward first (ties: the earliest stored first).

        With ``distinct_canonical`` only the best row of each canonical rule is kept. Rows whose
        reward is NaN (stored as NULL) come last. The ranking is
        :func:`~optsearch.evaluation.ranking.best_distinct`'s.
        """
        where, params = _filters(task=task, run_id=run_id, searcher=searcher)
        # Rank on the three columns it needs; decode only the winners' JSON.
        rows = self._query(f"SELECT id, canonical, reward FROM evaluations{where} ORDER BY id", params)
        chosen = best_distinct(
            rows,
            k,
            key=(lambda row: row[1]) if distinct_canonical else None,
            score=lambda row: math.nan if row[2] is None else row[2],
        )
        ids = [row[0] for row in chosen]
        texts: dict[int, str] = {}
        for start in range(0, len(ids), 500):  # stay under SQLite's limit on bound parameters
            batch = ids[start : start + 500]
            marks = ", ".join("?" * len(batch))
            texts.update(self._query(f"SELECT id, result_json FROM evaluations WHERE id IN ({marks})", batch))
        return [EvalResult.from_json(texts[row_id]) for row_id in ids]

    def rows_json(
        self,
        run_id: Optional[str] = None,
        searcher: Optional[str] = None,
        seed: Optional[int] = None,
        task: Optional[str] = None,
    ) -> list[dict[str, Any]]:
        """One JSON-ready dict per stored evaluation (for ``optsearch show --json``), in order:
        :meth:`EvalResult.to_dict` plus the row's ``id``, ``created_at`` and ``run`` (its run id)."""
        where, params = _filters(run_id=run_id, searcher=searcher, seed=seed, task=task)
        rows = self._query(f"SELECT id, created_at, result_json, proposal FROM evaluations{where} ORDER BY id", params)
        out = []
        for row_id, created_at, result_json, proposal in rows:
            result = _with_index(result_json, proposal)
            out.append({"id": row_id, "created_at": created_at, "run": result.run_id, **result.to_dict()})
        return out

    def shortest_rules(self, fingerprints: Sequence[str]) -> dict[str, str]:
        """For each fingerprint, the shortest rule text (as proposed or canonical) stored for it."""
        out: dict[str, str] = {}
        for fp in fingerprints:
            rows = self._query(
                "SELECT text FROM (SELECT rule AS text FROM evaluations WHERE fingerprint = ? UNION "
                "SELECT canonical FROM evaluations WHERE fingerprint = ?) ORDER BY length(text), text LIMIT 1",
                (fp, fp),
            )
            if rows:
                out[fp] = rows[0][0]
        return out

    # -------------------------------------------------------------------------------------------
    # runs
    # -------------------------------------------------------------------------------------------
    def start_run(
        self,
        run_id: str,
        searcher: str,
        seed: int,
        task: str,
        budget: float,
        config: dict[str, Any],
    ) -> dict[str, Any]:
        """Register a run; idempotent: when ``run_id`` exists the original row is kept as it is.

        Returns the run's row (as :meth:`run` does).
        """
        self._write(
            "INSERT OR IGNORE INTO runs (run_id, searcher, seed, task, budget, config, started_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (run_id, searcher, int(seed), task, budget, json.dumps(config, sort_keys=True), utc_now()),
        )
        row = self.run(run_id)
        assert row is not None
        return row

    def finish_run(self, run_id: str) -> None:
        """Mark a run finished now (raises KeyError for an unknown run)."""
        cursor = self._write(
            "UPDATE runs SET finished_at = ? WHERE run_id = ?", (utc_now(), run_id)
        )
        if cursor.rowcount == 0:
            raise KeyError(f"no run {run_id!r} in {self.path}")

    _RUN_COLUMNS = "run_id, searcher, seed, task, budget, config, started_at, finished_at"

    @staticmethod
    def _run_dict(row: tuple) -> dict[str, Any]:
        keys = ("run_id", "searcher", "seed", "task", "budget", "config", "started_at", "finished_at")
        data = dict(zip(keys, row))
        data["config"] = json.loads(data["config"])
        data["evaluations"] = row[8]
        return data

    def runs(self) -> list[dict[str, Any]]:
        """Every run in order of start: its row (config decoded) plus ``evaluations``, its count."""
        rows = self._query(
            f"SELECT {self._RUN_COLUMNS}, (SELECT COUNT(*) FROM evaluations e "
            "WHERE e.run_id = runs.run_id) FROM runs ORDER BY started_at, run_id"
        )
        return [self._run_dict(row) for row in rows]

    def run(self, run_id: str) -> Optional[dict[str, Any]]:
        """One run's row as in :meth:`runs`, or None."""
        rows = self._query(
            f"SELECT {self._RUN_COLUMNS}, (SELECT COUNT(*) FROM evaluations e "
            "WHERE e.run_id = runs.run_id) FROM runs WHERE run_id = ?",
            (run_id,),
        )
        return self._run_dict(rows[0]) if rows else None

    # -------------------------------------------------------------------------------------------
    # checkpoints
    # -------------------------------------------------------------------------------------------
    def save_checkpoint(self, run_id: str, name: str, blob: bytes) -> None:
        """Store (or replace) a named blob of searcher state, e.g. ``torch.save`` bytes; committed."""
        self._write(
            "INSERT INTO checkpoints (run_id, name, blob, updated_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (run_id, name) DO UPDATE SET blob = excluded.blob, "
            "updated_at = excluded.updated_at",
            (run_id, name, sqlite3.Binary(bytes(blob)), utc_now()),
        )

    def load_checkpoint(self, run_id: str, name: str) -> Optional[bytes]:
        """The blob saved under ``(run_id, name)``, or None."""
        rows = self._query(
            "SELECT blob FROM checkpoints WHERE run_id = ? AND name = ?", (run_id, name)
        )
        return bytes(rows[0][0]) if rows else None

    # -------------------------------------------------------------------------------------------
    # maintenance
    # -------------------------------------------------------------------------------------------
    def integrity_check(self) -> str:
        """SQLite's ``PRAGMA integrity_check`` answer (``"ok"`` for a sound file)."""
        return "\n".join(str(row[0]) for row in self._query("PRAGMA integrity_check"))


#: Deprecated: the name this class had before the :class:`~.base.Store` protocol, kept so that old
#: code and stores' users still import it. New code opens :class:`SQLiteStore` (or
#: :func:`~optsearch.evaluation.store.open_store`) and types against :class:`~.base.Store`.
ResultStore = SQLiteStore
