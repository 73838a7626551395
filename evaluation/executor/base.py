"""The backend names and defaults, the :class:`Executor` interface, and helpers every backend uses.

Two defaults, each defined once:

* :data:`DEFAULT_BACKEND` (``"serial"``): the library's default, used by
  :func:`~optsearch.evaluation.executor.make_executor`, :class:`~optsearch.evaluation.Evaluator`
  and ``optsearch eval`` (a handful of trainings: no worker start-up to pay for, and errors
  surface in the calling process).
* :data:`PARALLEL_BACKEND` (``"process"``): the default of the long runs, ``optsearch search``
  and ``optsearch compare`` (hundreds of trainings, crash isolation and time limits wanted).
"""

from __future__ import annotations

import abc
import os
import sys
from typing import Any, Callable, Iterator, Optional, Sequence

from .outcome import JobOutcome

BACKENDS = ("serial", "process", "ray")

#: The backend used when none is named: by ``make_executor``, the ``Evaluator`` and ``optsearch eval``.
DEFAULT_BACKEND = "serial"

#: The backend of the long runs when none is named: ``optsearch search`` and ``optsearch compare``.
PARALLEL_BACKEND = "process"


def _limit_torch_threads() -> None:
    """``torch.set_num_threads(1)`` when torch is already imported (never imports it)."""
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            if torch.get_num_threads() != 1:
                torch.set_num_threads(1)
        except Exception:  # pragma: no cover - a half-imported torch
            pass


class Executor(abc.ABC):
    """Runs jobs ``fn(payload)`` and yields their outcomes as they complete."""

    backend: str = ""
    workers: int = 1

    @abc.abstractmethod
    def run(self, fn: Callable[[Any], Any], payloads: Sequence[Any]) -> Iterator[tuple[int, JobOutcome]]:
        """Yield ``(index, outcome)`` for every payload, in order of completion, each index once.

        Iterate the result to the end: abandoning it early kills the jobs still running.
        """

    def run_all(self, fn: Callable[[Any], Any], payloads: Sequence[Any]) -> list[JobOutcome]:
        """Every outcome of :meth:`run`, in the order of ``payloads``."""
        outcomes: list[Optional[JobOutcome]] = [None] * len(payloads)
        for index, outcome in self.run(fn, payloads):
            outcomes[index] = outcome
        return outcomes  # type: ignore[return-value]

    def close(self) -> None:
        """Stop the workers (idempotent)."""

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} backend={self.backend!r} workers={self.workers}>"


def default_workers() -> int:
    """The cores this process may use: the parallel backends' default number of workers."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)
