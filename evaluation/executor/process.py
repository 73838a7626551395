"""The process backend: a pool of persistent local worker processes (:class:`ProcessExecutor`).

Process backend design: a small pool of our own ``multiprocessing.Process`` workers (``spawn``
context, safe with torch), one duplex pipe each, driven by ``multiprocessing.connection.wait`` over
the pipes and the process sentinels. ``concurrent.futures.ProcessPoolExecutor`` is not used because
the death of one worker marks the whole pool broken and fails every pending future, which makes
"retry the one job once, keep the others" awkward and restarts torch in every worker. Workers are
started lazily, persist across :meth:`Executor.run` calls (torch is imported once per worker, not per
job), run in their own process group (so a timeout kills the job's own subprocesses too and Ctrl-C
reaches only the parent, which then shuts them down), and exit by themselves if the parent dies.

The ``spawn`` start method imports the main module in every worker. A script that creates a process
pool at its top level, not under ``if __name__ == "__main__":``, would create one in every worker
too, each of which dies at start-up: every job would end as a crash after its retry. So a pool
created while a worker is still importing the main module exits that worker with
:data:`BOOTSTRAP_EXIT`, and the parent raises :class:`MainModuleError` at once, saying to guard the
script's code.
"""

from __future__ import annotations

import collections
import multiprocessing
import multiprocessing.connection
import multiprocessing.util
import os
import pickle
import sys
import time
from typing import Any, Callable, Iterator, Optional, Sequence

from .base import Executor, default_workers
from .outcome import ERROR, JobOutcome, _check_time_limit, _describe, _exit_description, _retry_or_crash, _timed_out
from .process_worker import _Worker

#: The exit status of a worker that was asked to create a process pool while importing the main
#: module (see the module docstring); an unusual number, so that it means nothing else.
BOOTSTRAP_EXIT = 87


class MainModuleError(RuntimeError):
    """The main module creates a process pool when imported, so every worker would too."""

    # Its public name: a traceback names it optsearch.evaluation.executor.MainModuleError.
    __module__ = "optsearch.evaluation.executor"


def _importing_main_in_worker() -> bool:
    """True while this process is a spawned worker still importing its parent's main module.

    (multiprocessing marks that phase with this flag, and checks it the same way before it
    refuses to start a process from there.)
    """
    return bool(getattr(multiprocessing.current_process(), "_inheriting", False))


def _main_module_error() -> MainModuleError:
    main = getattr(sys.modules.get("__main__"), "__file__", None) or "the main module"
    return MainModuleError(
        f"{main} creates a process pool when imported, and every worker of the process backend "
        "imports it (the 'spawn' start method re-imports the main module): put the script's code "
        'under `if __name__ == "__main__":`'
    )


def _raise_if_main_module_error(worker: _Worker) -> None:
    """Raise :class:`MainModuleError` when ``worker`` exited with :data:`BOOTSTRAP_EXIT` at start-up."""
    if not worker.ready and worker.exitcode == BOOTSTRAP_EXIT:
        raise _main_module_error()


def _shutdown_workers(workers: list[_Worker], timeout_s: float = 5.0) -> None:
    """Stop every worker in ``workers`` (also run at garbage collection and interpreter exit)."""
    while workers:
        worker = workers.pop()
        try:
            worker.stop(timeout_s)
        except Exception:  # pragma: no cover - best effort at exit
            pass


class ProcessExecutor(Executor):
    """A pool of persistent local worker processes (see the module docstring)."""

    backend = "process"

    def __init__(
        self,
        workers: Optional[int] = None,
        *,
        job_timeout_s: Optional[float] = None,
        preload: Sequence[str] = (),
        start_method: str = "spawn",
    ) -> None:
        if _importing_main_in_worker():
            os._exit(BOOTSTRAP_EXIT)  # the parent explains (see the module docstring)
        if workers is None:
            workers = default_workers()
        if workers < 1:
            raise ValueError(f"workers must be at least 1, not {workers}")
        _check_time_limit(job_timeout_s)
        self.workers = int(workers)
        self.job_timeout_s = job_timeout_s
        self.preload = tuple(preload)
        self._ctx = multiprocessing.get_context(start_method)
        self._idle: list[_Worker] = []
        self._all: list[_Worker] = []  # every live worker; shared with the finalizer
        self._seq = 0
        self._running = False
        self._closed = False
        # multiprocessing's Finalize (as multiprocessing.Pool uses) rather than weakref.finalize:
        # with an exit priority it runs at interpreter exit *before* multiprocessing joins its
        # non-daemonic children, which would otherwise wait forever for our idle workers.
        self._finalizer = multiprocessing.util.Finalize(
            self, _shutdown_workers, args=(self._all,), exitpriority=10
        )

    # --- worker bookkeeping -------------------------------------------------------------------
    def _spawn(self) -> _Worker:
        worker = _Worker(self._ctx, self.workers > 1, self.preload)
        self._all.append(worker)
        return worker

    def _discard(self, worker: _Worker) -> None:
        """Kill a worker and forget it."""
        if worker in self._idle:
            self._idle.remove(worker)
        if worker in self._all:
            self._all.remove(worker)
        worker.kill()

    def _take_worker(self) -> Optional[_Worker]:
        """An idle live worker, a new one when the pool has room, else None."""
        while self._idle:
            worker = self._idle.pop()
            if worker.alive():
                return worker
            self._discard(worker)  # died while idle: replace it
            _raise_if_main_module_error(worker)
        if len(self._all) < self.workers:
            return self._spawn()
        return None

    @property
    def pids(self) -> list[int]:
        """The process ids of the current workers."""
        return [worker.pid for worker in self._all]

    # --- running jobs ---------------------------------------------------------------------------
    def run(self, fn: Callable[[Any], Any], payloads: Sequence[Any]) -> Iterator[tuple[int, JobOutcome]]:
        if self._closed:
            raise RuntimeError("the executor is closed")
        if self._running:
            raise RuntimeError("this executor is already running a batch of jobs")
        payloads = list(payloads)
        return self._run(fn, payloads)

    def _run(self, fn: Callable[[Any], Any], payloads: list[Any]) -> Iterator[tuple[int, JobOutcome]]:
        self._running = True
        pending: collections.deque[tuple[int, int]] = collections.deque(
            (index, 1) for index in range(len(payloads))
        )
        # worker -> (index, attempt, seq, started, deadline)
        busy: dict[_Worker, tuple[int, int, int, float, Optional[float]]] = {}
        try:
            while pending or busy:
                # 1. hand out jobs to free workers
                while pending:
                    worker = self._take_worker()
                    if worker is None:
                        break
                    index, attempt = pending.popleft()
                    try:
                        blob = pickle.dumps((fn, payloads[index]), protocol=pickle.HIGHEST_PROTOCOL)
                    except Exception as error:  # noqa: BLE001 - e.g. a lambda or an open file
                        self._idle.append(worker)
                        yield index, JobOutcome(
                            error=f"cannot send the job to a worker: {_describe(error)}",
                            kind=ERROR,
                            attempts=0,
                        )
                        continue
                    self._seq += 1
                    try:
                        worker.conn.send((self._seq, blob))
                    except (BrokenPipeError, ConnectionError, OSError, EOFError):
                        self._discard(worker)  # it died before the job started: not an attempt
                        _raise_if_main_module_error(worker)
                        pending.appendleft((index, attempt))
                        continue
                    busy[worker] = (index, attempt, self._seq) + self._clock(worker)
                if not busy:
                    continue
                # 2. wait for a result, a death or the next deadline
                deadlines = [job[4] for job in busy.values() if job[4] is not None]
                timeout = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
                handles: dict[Any, _Worker] = {}
                for worker in busy:
                    handles[worker.conn] = worker
                    handles[worker.process.sentinel] = worker
                ready = multiprocessing.connection.wait(list(handles), timeout)
                seen: set[_Worker] = set()
                for handle in ready:
                    worker = handles[handle]
                    if worker in seen or worker not in busy:
                        continue
                    seen.add(worker)
                    index, attempt, seq, started, _ = busy[worker]
                    reply = None
                    try:
                        if worker.conn.poll():
                            reply = worker.conn.recv()
                    except (EOFError, OSError, pickle.UnpicklingError, ConnectionError):
                        reply = None
                    except Exception as error:  # noqa: BLE001 - the value cannot be unpickled here
                        del busy[worker]
                        self._idle.append(worker)
                        yield index, JobOutcome(
                            error=f"cannot load the result: {_describe(error)}",
                            kind=ERROR,
                            attempts=attempt,
                            wall_s=time.monotonic() - started,
                        )
                        continue
                    if reply is not None and reply[0] == "ready":
                        worker.ready = True
                        busy[worker] = (index, attempt, seq) + self._clock(worker)
                        continue
                    if reply is not None and reply[0] == seq:
                        del busy[worker]
                        self._idle.append(worker)
                        _, kind, value, error, tb, wall = reply
                        yield index, JobOutcome(
                            value=value, error=error, kind=kind, attempts=attempt, wall_s=wall, traceback=tb
                        )
                        continue
                    if reply is not None:  # a stale reply (cannot normally happen): keep waiting
                        continue
                    # The pipe closed or the process ended without a reply: the worker died.
                    exitcode = self._reap(worker)
                    del busy[worker]
                    _raise_if_main_module_error(worker)
                    crash = _retry_or_crash(
                        pending, index, attempt, started, f"the worker process died ({_exit_description(exitcode)})"
                    )
                    if crash is not None:
                        yield index, crash
                # 3. kill jobs past their deadline
                now = time.monotonic()
                for worker, (index, attempt, seq, started, deadline) in list(busy.items()):
                    if deadline is not None and now >= deadline and worker in busy:
                        del busy[worker]
                        self._discard(worker)
                        yield index, _timed_out(index, attempt, started, now, self.job_timeout_s)
        finally:
            # Abandoned (or interrupted) before the end: kill what still runs.
            for worker in list(busy):
                self._discard(worker)
            self._running = False

    def _clock(self, worker: _Worker) -> tuple[float, Optional[float]]:
        """``(started, deadline)`` of a job handed to ``worker`` now.

        A worker still starting up (importing torch, ...) has no deadline yet: the time limit
        counts from the moment it reports ready.
        """
        started = time.monotonic()
        if self.job_timeout_s is None or not worker.ready:
            return started, None
        return started, started + self.job_timeout_s

    def _reap(self, worker: _Worker) -> Optional[int]:
        """Forget a dead worker and return its exit code."""
        self._discard(worker)  # kills what is left of its process group, reaps it
        return worker.exitcode

    def close(self) -> None:
        """Stop every worker (asking first, then killing) and reap them; idempotent."""
        self._closed = True
        self._idle.clear()
        self._finalizer()
