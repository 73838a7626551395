"""A results store kept in this process's memory: the :class:`~.base.Store` protocol without a file.

An :class:`~optsearch.evaluation.evaluator.Evaluator` built without a store uses one, so the
evaluator, the driver and the searcher adapters have one code path whether results are durable
or not. It keeps the SQLite store's semantics: one result per (run, proposal index), the cache
answers only final statuses, one run's results come in proposal order, ``top`` ranks with the same
function and ``rows_json`` numbers rows 1, 2, ... as a fresh SQLite file does.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Optional, Sequence

from optsearch.evaluation.ranking import best_distinct
from optsearch.evaluation.records import EvalResult

from .base import FINAL_STATUSES, Lease, ProposalExists, may_take
from .schema import utc_now


class InMemoryStore:
    """Every evaluation, run, checkpoint and lease of this process, in dictionaries."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._rows: list[EvalResult] = []
        self._created: list[str] = []  # when each row was recorded (``rows_json``'s ``created_at``)
        self._proposals: set[tuple[str, int]] = set()
        self._cache: dict[tuple[str, str, str, int], EvalResult] = {}
        self._runs: dict[str, dict[str, Any]] = {}
        self._checkpoints: dict[tuple[str, str], bytes] = {}
        self._leases: dict[str, Lease] = {}

    def __repr__(self) -> str:
        return f"InMemoryStore({len(self._rows)} results)"

    def __enter__(self) -> "InMemoryStore":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def close(self) -> None:
        """Nothing to release: the results live as long as the object."""

    # -- evaluations ---------------------------------------------------------------------------
    def record(self, result: EvalResult) -> int:
        with self._lock:
            if result.index is not None:
                key = (result.run_id, result.index)
                if key in self._proposals:
                    raise ProposalExists(f"in memory: run {result.run_id!r} already has proposal {result.index}")
                self._proposals.add(key)
            self._rows.append(result)
            self._created.append(utc_now())
            if not result.cached and result.status in FINAL_STATUSES:
                self._cache.setdefault((result.fingerprint, result.task, result.config_hash, int(result.seed)), result)
            return len(self._rows)

    def lookup(self, fingerprint: str, task: str, config_hash: str, seed: int) -> Optional[EvalResult]:
        return self._cache.get((fingerprint, task, config_hash, int(seed)))

    def _numbered(self, **conditions: Any) -> list[tuple[int, str, EvalResult]]:
        """(row id, when recorded, result) of the rows matching every condition not None, in order."""
        wanted = {key: value for key, value in conditions.items() if value is not None}
        with self._lock:
            return [
                (row_id, created, r)
                for row_id, (created, r) in enumerate(zip(self._created, self._rows), start=1)
                if all(getattr(r, key) == value for key, value in wanted.items())
            ]

    def _matching(self, **conditions: Any) -> list[EvalResult]:
        return [r for _, _, r in self._numbered(**conditions)]

    def results(
        self,
        run_id: Optional[str] = None,
        searcher: Optional[str] = None,
        seed: Optional[int] = None,
        task: Optional[str] = None,
    ) -> list[EvalResult]:
        rows = self._matching(run_id=run_id, searcher=searcher, seed=seed, task=task)
        if run_id is not None:  # stable: rows without an index keep their order, after the others
            rows.sort(key=lambda r: (r.index is None, r.index if r.index is not None else 0))
        return rows

    def count(
        self,
        run_id: Optional[str] = None,
        searcher: Optional[str] = None,
        seed: Optional[int] = None,
        task: Optional[str] = None,
    ) -> int:
        return len(self._matching(run_id=run_id, searcher=searcher, seed=seed, task=task))

    def top(
        self,
        k: int,
        task: Optional[str] = None,
        distinct_canonical: bool = True,
        *,
        run_id: Optional[str] = None,
        searcher: Optional[str] = None,
    ) -> list[EvalResult]:
        rows = self._matching(task=task, run_id=run_id, searcher=searcher)
        return best_distinct(rows, k, key=(lambda r: r.canonical) if distinct_canonical else None)

    def rows_json(
        self,
        run_id: Optional[str] = None,
        searcher: Optional[str] = None,
        seed: Optional[int] = None,
        task: Optional[str] = None,
    ) -> list[dict[str, Any]]:
        rows = self._numbered(run_id=run_id, searcher=searcher, seed=seed, task=task)
        return [{"id": row_id, "created_at": created, "run": r.run_id, **r.to_dict()} for row_id, created, r in rows]

    def shortest_rules(self, fingerprints: Sequence[str]) -> dict[str, str]:
        wanted = set(fingerprints)
        out: dict[str, str] = {}
        with self._lock:
            for r in self._rows:
                if r.fingerprint in wanted:
                    for text in (r.rule, r.canonical):
                        if r.fingerprint not in out or (len(text), text) < (len(out[r.fingerprint]), out[r.fingerprint]):
                            out[r.fingerprint] = text
        return out

    # -- runs ----------------------------------------------------------------------------------
    def start_run(
        self, run_id: str, searcher: str, seed: int, task: str, budget: float, config: dict[str, Any]
    ) -> dict[str, Any]:
        with self._lock:
            self._runs.setdefault(
                run_id,
                {
                    "run_id": run_id,
                    "searcher": searcher,
                    "seed": int(seed),
                    "task": task,
                    "budget": budget,
                    "config": dict(config),
                    "started_at": utc_now(),
                    "finished_at": None,
                },
            )
            return self.run(run_id)  # type: ignore[return-value]

    def finish_run(self, run_id: str) -> None:
        with self._lock:
            if run_id not in self._runs:
                raise KeyError(f"no run {run_id!r} in memory")
            self._runs[run_id]["finished_at"] = utc_now()

    def run(self, run_id: str) -> Optional[dict[str, Any]]:
        with self._lock:
            row = self._runs.get(run_id)
            return None if row is None else {**row, "evaluations": self.count(run_id=run_id)}

    def runs(self) -> list[dict[str, Any]]:
        with self._lock:
            return [self.run(run_id) for run_id in self._runs]  # type: ignore[misc]

    # -- checkpoints ---------------------------------------------------------------------------
    def save_checkpoint(self, run_id: str, name: str, blob: bytes) -> None:
        self._checkpoints[(run_id, name)] = bytes(blob)

    def load_checkpoint(self, run_id: str, name: str) -> Optional[bytes]:
        return self._checkpoints.get((run_id, name))

    # -- leases --------------------------------------------------------------------------------
    def take_lease(self, run_id: str, holder: Lease, is_stale: Callable[[Lease], bool]) -> Optional[Lease]:
        with self._lock:
            current = self._leases.get(run_id)
            if not may_take(current, holder, is_stale):
                return dict(current)  # type: ignore[arg-type]
            self._leases[run_id] = {**holder, "heartbeat": time.time()}
            return None

    def renew_lease(self, run_id: str, token: str) -> bool:
        with self._lock:
            lease = self._leases.get(run_id)
            if lease is None or lease["token"] != token:
                return False
            lease["heartbeat"] = time.time()
            return True

    def release_lease(self, run_id: str, token: str) -> None:
        with self._lock:
            if self._leases.get(run_id, {}).get("token") == token:
                del self._leases[run_id]

    def lease_holder(self, run_id: str) -> Optional[Lease]:
        with self._lock:
            lease = self._leases.get(run_id)
            return None if lease is None else dict(lease)
