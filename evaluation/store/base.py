"""What every results store offers (the :class:`Store` protocol) and the errors it raises.

A store holds every evaluation of a search campaign, the runs (one searcher, seed and task
each, with each proposal's index in its run), the searchers' checkpoints and the runs' leases.
Two implementations stand behind the one interface, as Optuna's storages do:
:class:`~.sqlite.SQLiteStore` (durable, shared between processes) and
:class:`~.memory.InMemoryStore` (one process, gone when it ends).
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Protocol, Sequence, runtime_checkable

from optsearch.evaluation.records import CACHEABLE_STATUSES, EvalResult

#: Statuses that are final: a stored result with one of them is a cache hit. ``timeout`` and
#: ``error`` are not (a later evaluation with a larger limit, or another attempt, may do better).
FINAL_STATUSES: tuple[str, ...] = CACHEABLE_STATUSES


class StoreError(ValueError):
    """The results store cannot be used or written (the message names the path).

    An evaluator that fails to record finished results raises it after the batch, with the
    results it computed in ``results`` so that nothing is lost on the way to the user.
    """

    results: Optional[list[EvalResult]] = None


class ProposalExists(StoreError):
    """A run already holds a result for this proposal index."""


#: A lease row: ``token``, ``pid``, ``host``, ``heartbeat`` (seconds since the epoch).
Lease = dict[str, Any]


def may_take(current: Optional[Lease], holder: Lease, is_stale: Callable[[Lease], bool]) -> bool:
    """Whether ``holder`` may take a lease now held by ``current`` (None: nobody)."""
    if current is None:
        return True
    same_process = current["pid"] == holder["pid"] and current["host"] == holder["host"]
    return same_process or is_stale(current)


@runtime_checkable
class Store(Protocol):
    """The results store every evaluator, driver and searcher adapter talks to."""

    # evaluations
    def record(self, result: EvalResult) -> int:
        """Keep one final evaluation (committed at once); a second result for the same
        (run, proposal index) raises :class:`ProposalExists`."""
        ...

    def lookup(self, fingerprint: str, task: str, config_hash: str, seed: int) -> Optional[EvalResult]:
        """The cache: the first non-cached result with a final status for this key, or None."""
        ...

    def results(
        self,
        run_id: Optional[str] = None,
        searcher: Optional[str] = None,
        seed: Optional[int] = None,
        task: Optional[str] = None,
    ) -> list[EvalResult]:
        """Results matching every filter given: one run's in proposal order, else as recorded."""
        ...

    def count(
        self,
        run_id: Optional[str] = None,
        searcher: Optional[str] = None,
        seed: Optional[int] = None,
        task: Optional[str] = None,
    ) -> int:
        """How many results match every filter given."""
        ...

    def top(
        self,
        k: int,
        task: Optional[str] = None,
        distinct_canonical: bool = True,
        *,
        run_id: Optional[str] = None,
        searcher: Optional[str] = None,
    ) -> list[EvalResult]:
        """The ``k`` best results matching the filters, best reward first (ties: the earliest
        recorded; NaN rewards last); with ``distinct_canonical`` one per canonical rule, its best.
        Ranked by :func:`~optsearch.evaluation.ranking.best_distinct`."""
        ...

    def rows_json(
        self,
        run_id: Optional[str] = None,
        searcher: Optional[str] = None,
        seed: Optional[int] = None,
        task: Optional[str] = None,
    ) -> list[dict[str, Any]]:
        """One strict-JSON-ready dict per result matching every filter given, in the order
        recorded: :meth:`EvalResult.to_dict` plus ``id`` (1, 2, ... in a fresh store),
        ``created_at`` and ``run`` (the run id). What ``optsearch show --json`` prints."""
        ...

    def shortest_rules(self, fingerprints: Sequence[str]) -> dict[str, str]:
        """For each fingerprint seen, the shortest rule text stored for its functional class."""
        ...

    # runs
    def start_run(
        self, run_id: str, searcher: str, seed: int, task: str, budget: float, config: dict[str, Any]
    ) -> dict[str, Any]:
        """Register a run (idempotent: an existing run keeps its row); returns the row."""
        ...

    def finish_run(self, run_id: str) -> None:
        """Mark a run finished (KeyError for an unknown run)."""
        ...

    def run(self, run_id: str) -> Optional[dict[str, Any]]:
        """One run's row with its ``evaluations`` count, or None."""
        ...

    def runs(self) -> list[dict[str, Any]]:
        """Every run's row, in order of start."""
        ...

    # checkpoints
    def save_checkpoint(self, run_id: str, name: str, blob: bytes) -> None:
        """Keep (or replace) a named blob of searcher state."""
        ...

    def load_checkpoint(self, run_id: str, name: str) -> Optional[bytes]:
        """The blob saved under (run_id, name), or None."""
        ...

    # leases (see optsearch.evaluation.lease)
    def take_lease(self, run_id: str, holder: Lease, is_stale: Callable[[Lease], bool]) -> Optional[Lease]:
        """Take the run's lease for ``holder`` atomically; None when taken, else the holder."""
        ...

    def renew_lease(self, run_id: str, token: str) -> bool:
        """Refresh the heartbeat of a lease still held; False when it was taken over."""
        ...

    def release_lease(self, run_id: str, token: str) -> None:
        """Give the lease back."""
        ...

    def lease_holder(self, run_id: str) -> Optional[Lease]:
        """The run's current lease row, or None."""
        ...

    def close(self) -> None:
        """Release what the store holds (idempotent)."""
        ...
