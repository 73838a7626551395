"""Independent jobs in worker processes whose results are used in order, and whose own exceptions
reach the caller (:func:`results_in_order`).

The executors record a job that raises as an ``"error"`` outcome with the exception's text: right
for evaluations, where a bad rule is data. Experiments that run whole jobs in processes (a
comparison's search seeds, a transfer suite's entries) need instead the exception itself, since
the command line reports some by their type (a missing dataset, a leased run), and their results
in input order, since each is written or yielded as soon as it and every job before it are done.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

from .outcome import JobOutcome


@dataclass(frozen=True)
class _Raised:
    """The exception a job raised in its worker, carried back with the worker's traceback."""

    error: Exception
    traceback: str


class RemoteTraceback(Exception):
    """The worker's traceback, chained under the exception the job raised there."""

    def __str__(self) -> str:
        return f'\n"""\n{self.args[0]}"""'


def _call_catching(job: tuple[Callable[[Any], Any], Any]) -> Any:
    """``fn(payload)`` in a worker, or the :class:`_Raised` exception it raised."""
    fn, payload = job
    try:
        return fn(payload)
    except Exception as error:  # noqa: BLE001 - raised again in the parent
        return _Raised(error, traceback.format_exc())


def results_in_order(
    fn: Callable[[Any], Any], payloads: Sequence[Any], workers: int, describe: Callable[[int], str]
) -> Iterator[tuple[int, Any]]:
    """``(index, fn(payloads[index]))`` in index order, each as soon as it and every job before it
    are done, the jobs running on ``workers`` processes of the process backend.

    A job that raised raises that same exception here, the worker's traceback chained as its cause
    (:class:`RemoteTraceback`), when its turn comes and once every job has ended (the others run to
    their end, so whatever they store is kept); the results after it are not yielded. A job the
    executor could not finish (its worker died twice, its result could not be sent back) raises
    ``RuntimeError`` naming it by ``describe(index)``. ``fn`` must be a top-level function.
    """
    from . import make_executor

    arrived: dict[int, JobOutcome] = {}
    turn, failed = 0, None  # the next index to yield; the outcome of the first job that failed
    with make_executor("process", workers=workers) as executor:
        for index, outcome in executor.run(_call_catching, [(fn, payload) for payload in payloads]):
            arrived[index] = outcome
            while failed is None and turn in arrived:
                outcome = arrived.pop(turn)
                if not outcome.ok or isinstance(outcome.value, _Raised):
                    failed = outcome
                    break
                yield turn, outcome.value
                turn += 1
    if failed is None:
        return
    if not failed.ok:
        raise RuntimeError(f"{describe(turn)} failed in its worker process: {failed.error}\n{failed.traceback or ''}".rstrip())
    raise failed.value.error from RemoteTraceback(failed.value.traceback)
