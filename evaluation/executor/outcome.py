"""What became of one job (:class:`JobOutcome`) and the failure policy every backend shares.

* ``fn`` raises: outcome ``"error"`` with ``"ExcType: message"``; not retried.
* the worker dies mid-job: retried once (:data:`MAX_ATTEMPTS`); a second death is a ``"crash"``
  (:func:`_retry_or_crash`).
* the job runs past ``job_timeout_s``: outcome ``"timeout"``; not retried (:func:`_timed_out`).
"""

from __future__ import annotations

import math
import signal
import time
from dataclasses import dataclass, field
from typing import Any, Optional

OK = "ok"
ERROR = "error"
CRASH = "crash"
TIMEOUT = "timeout"
KINDS = (OK, ERROR, CRASH, TIMEOUT)

#: How many times one job is attempted when its worker dies (the first run plus one retry).
MAX_ATTEMPTS = 2


def _check_time_limit(job_timeout_s: Optional[float]) -> None:
    """Raise ``ValueError`` unless ``job_timeout_s`` is None or a positive, finite number of seconds."""
    if job_timeout_s is not None and not (job_timeout_s > 0 and math.isfinite(job_timeout_s)):
        raise ValueError(f"job_timeout_s must be a positive number of seconds, not {job_timeout_s}")


@dataclass(frozen=True)
class JobOutcome:
    """What became of one job.

    ``kind`` is ``"ok"`` (``value`` holds the return value), ``"error"`` (the function raised;
    ``error`` holds ``"ExcType: message"``), ``"crash"`` (the worker died on every attempt) or
    ``"timeout"`` (killed after ``job_timeout_s``). ``attempts`` counts the times the job was
    started; ``wall_s`` is the duration of the last attempt.
    """

    value: Any = None
    error: Optional[str] = None
    kind: str = OK
    attempts: int = 1
    wall_s: float = field(default=0.0, compare=False)
    traceback: Optional[str] = field(default=None, compare=False, repr=False)

    @property
    def ok(self) -> bool:
        """True when the job returned normally."""
        return self.kind == OK


def _describe(error: BaseException) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _exit_description(exitcode: Optional[int]) -> str:
    if exitcode is None:
        return "exit status unknown"
    if exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exit status {exitcode}"


def _retry_or_crash(pending, index: int, attempt: int, started: float, death: str) -> Optional[JobOutcome]:
    """The policy for a job whose worker died: requeue it once; after the last attempt, a crash."""
    if attempt < MAX_ATTEMPTS:
        pending.appendleft((index, attempt + 1))
        return None
    return JobOutcome(
        error=f"{death} running job {index} on each of {attempt} attempts",
        kind=CRASH,
        attempts=attempt,
        wall_s=time.monotonic() - started,
    )


def _timed_out(index: int, attempt: int, started: float, now: float, limit_s: float) -> JobOutcome:
    """The outcome of a job killed for running past ``limit_s`` (never retried)."""
    return JobOutcome(
        error=f"job {index} exceeded the time limit of {limit_s:g} s",
        kind=TIMEOUT,
        attempts=attempt,
        wall_s=now - started,
    )
