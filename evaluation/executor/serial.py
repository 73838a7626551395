"""The serial backend: every job in the calling process, one after the other.

A job that kills its process kills the caller, and ``job_timeout_s`` is not enforced. It is meant
for debugging and for one-worker runs.
"""

from __future__ import annotations

import time
import traceback
from typing import Any, Callable, Iterator, Optional, Sequence

from .base import Executor
from .outcome import ERROR, JobOutcome, _describe


class SerialExecutor(Executor):
    """Runs every job in the calling process, one after the other (no crash isolation, no timeout)."""

    backend = "serial"

    def __init__(self, job_timeout_s: Optional[float] = None) -> None:
        self.workers = 1
        self.job_timeout_s = job_timeout_s  # documented as not enforced

    def run(self, fn: Callable[[Any], Any], payloads: Sequence[Any]) -> Iterator[tuple[int, JobOutcome]]:
        for index, payload in enumerate(list(payloads)):
            start = time.perf_counter()
            try:
                value = fn(payload)
            except (Exception, SystemExit) as error:
                yield index, JobOutcome(
                    error=_describe(error),
                    kind=ERROR,
                    wall_s=time.perf_counter() - start,
                    traceback=traceback.format_exc(),
                )
            else:
                yield index, JobOutcome(value=value, wall_s=time.perf_counter() - start)
