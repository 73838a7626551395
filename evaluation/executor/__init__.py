"""Backends that run evaluation jobs in parallel, behind one interface.

``make_executor("serial" | "process" | "ray", workers)`` returns an :class:`Executor`;
``executor.run(fn, payloads)`` yields ``(index, JobOutcome)`` pairs as jobs complete (in any order;
every index exactly once). ``fn`` must be a top-level, importable function of one argument; payloads
and return values must be picklable. The backend named by nobody is :data:`DEFAULT_BACKEND`
(``serial``); the long-running commands default to :data:`PARALLEL_BACKEND` (``process``).

Failure policy (the same for every backend that can observe it):

* ``fn`` raises: outcome ``"error"`` with ``"ExcType: message"``; not retried.
* the worker process dies mid-job (``os._exit``, SIGKILL, a segfault, the OOM killer): the worker is
  replaced and the job retried once; a second death gives outcome ``"crash"``. Other jobs and later
  calls carry on normally.
* the job runs longer than ``job_timeout_s``: its worker (and anything the job started in the
  worker's process group) is killed and replaced; outcome ``"timeout"``; not retried.

The modules, one job each:

* :mod:`.outcome`: :class:`JobOutcome`, the outcome kinds and the retry / timeout policy.
* :mod:`.base`: the backend names and defaults, the :class:`Executor` interface.
* :mod:`.serial`: :class:`SerialExecutor`, jobs in the calling process (no crash isolation, no
  time limit; for debugging and one-worker runs).
* :mod:`.process`: :class:`ProcessExecutor`, a pool of persistent ``spawn`` worker processes (its
  docstring explains the design and :class:`MainModuleError`); :mod:`.process_worker`: one worker.
* :mod:`.ray_backend`: :class:`RayExecutor`, a pool of Ray actors.
* :mod:`.in_order`: :func:`~.in_order.results_in_order`, whole jobs (a comparison's seeds, a
  transfer suite's entries) on the process backend, their results in input order and their own
  exceptions raised in the caller.
"""

from __future__ import annotations

from typing import Optional, Sequence

from .base import BACKENDS, DEFAULT_BACKEND, PARALLEL_BACKEND, Executor
from .outcome import CRASH, ERROR, KINDS, MAX_ATTEMPTS, OK, TIMEOUT, JobOutcome
from .process import BOOTSTRAP_EXIT, MainModuleError, ProcessExecutor
from .ray_backend import RayExecutor
from .serial import SerialExecutor

__all__ = [
    "BACKENDS",
    "BOOTSTRAP_EXIT",
    "CRASH",
    "DEFAULT_BACKEND",
    "ERROR",
    "Executor",
    "JobOutcome",
    "KINDS",
    "MAX_ATTEMPTS",
    "MainModuleError",
    "OK",
    "PARALLEL_BACKEND",
    "ProcessExecutor",
    "RayExecutor",
    "SerialExecutor",
    "TIMEOUT",
    "make_executor",
]


def make_executor(
    backend: str = DEFAULT_BACKEND,
    workers: Optional[int] = None,
    *,
    address: Optional[str] = None,
    job_timeout_s: Optional[float] = None,
    preload: Sequence[str] = (),
) -> Executor:
    """An executor of the named backend: ``"serial"`` (:data:`DEFAULT_BACKEND`), ``"process"`` or ``"ray"``.

    ``workers`` defaults to the CPUs available (for Ray with ``address``: the cluster's CPUs).
    ``address`` is for Ray only. ``preload`` names modules each worker imports at start
    (e.g. ``("torch",)``), so the first job does not pay for it.
    """
    name = (backend or "").strip().lower()
    if name not in BACKENDS:
        raise ValueError(f"unknown executor backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if address is not None and name != "ray":
        raise ValueError(f"address is only used by the ray backend, not {name!r}")
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    if name == "serial":
        return SerialExecutor(job_timeout_s=job_timeout_s)
    if name == "process":
        return ProcessExecutor(workers, job_timeout_s=job_timeout_s, preload=preload)
    return RayExecutor(workers, address=address, job_timeout_s=job_timeout_s, preload=preload)
