"""Backends that run evaluation jobs in parallel, behind one interface.

``make_executor("serial" | "process" | "ray", workers)`` returns an :class:`Executor`;
``executor.run(fn, payloads)`` yields ``(index, JobOutcome)`` pairs as jobs complete (in any order;
every index exactly once). ``fn`` must be a top-level, importable function of one argument; payloads
and return values must be picklable.

Failure policy (the same for every backend that can observe it):

* ``fn`` raises: outcome ``"error"`` with ``"ExcType: message"``; not retried.
* the worker process dies mid-job (``os._exit``, SIGKILL, a segfault, the OOM killer): the worker is
  replaced and the job retried once; a second death gives outcome ``"crash"``. Other jobs and later
  calls carry on normally.
* the job runs longer than ``job_timeout_s``: its worker (and anything the job started in the
  worker's process group) is killed and replaced; outcome ``"timeout"``; not retried.

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

The serial backend runs jobs in the calling process: a job that kills its process kills the caller,
and ``job_timeout_s`` is not enforced there. It is meant for debugging and for one-worker runs.
"""

from __future__ import annotations

import abc
import collections
import importlib
import math
import multiprocessing
import multiprocessing.connection
import multiprocessing.util
import os
import pickle
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Optional, Sequence

OK = "ok"
ERROR = "error"
CRASH = "crash"
TIMEOUT = "timeout"
KINDS = (OK, ERROR, CRASH, TIMEOUT)

BACKENDS = ("serial", "process", "ray")

#: How many times one job is attempted when its worker dies (the first run plus one retry).
MAX_ATTEMPTS = 2

#: The exit status of a worker that was asked to create a process pool while importing the main
#: module (see the module docstring); an unusual number, so that it means nothing else.
BOOTSTRAP_EXIT = 87


class MainModuleError(RuntimeError):
    """The main module creates a process pool when imported, so every worker would too."""


def _check_time_limit(job_timeout_s: Optional[float]) -> None:
    """Raise ``ValueError`` unless ``job_timeout_s`` is None or a positive, finite number of seconds."""
    if job_timeout_s is not None and not (job_timeout_s > 0 and math.isfinite(job_timeout_s)):
        raise ValueError(f"job_timeout_s must be a positive number of seconds, not {job_timeout_s}")


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


# ------------------------------------------------------------------------------------------------
# serial
# ------------------------------------------------------------------------------------------------
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


# ------------------------------------------------------------------------------------------------
# process
# ------------------------------------------------------------------------------------------------
def _watch_parent(parent_pid: int) -> None:
    """Exit the worker when the process that started it is gone (e.g. it was SIGKILLed)."""
    while True:
        time.sleep(1.0)
        if os.getppid() != parent_pid:
            os._exit(0)


def _worker_main(conn, parent_pid: int, limit_threads: bool, preload: tuple[str, ...]) -> None:
    """The loop of one pool worker: receive ``(seq, pickled (fn, payload))``, send the outcome back."""
    try:
        os.setpgrp()  # own process group: a timeout kills the job's subprocesses too
    except OSError:  # pragma: no cover
        pass
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()
    if limit_threads:
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            os.environ[name] = "1"
        _limit_torch_threads()
    for module in preload:
        __import__(module)
    if limit_threads:
        _limit_torch_threads()
    try:
        conn.send(("ready", os.getpid()))  # job time limits count from here, not from the spawn
    except (BrokenPipeError, EOFError, OSError):
        return
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            break
        if message is None:
            break
        seq, blob = message
        start = time.perf_counter()
        try:
            fn, payload = pickle.loads(blob)
        except BaseException as error:  # noqa: BLE001 - reported to the parent
            reply = (seq, ERROR, None, f"cannot load the job: {_describe(error)}", traceback.format_exc(), 0.0)
        else:
            if limit_threads:
                _limit_torch_threads()
            try:
                value = fn(payload)
            except BaseException as error:  # noqa: BLE001 - SystemExit included: reported, not fatal
                reply = (seq, ERROR, None, _describe(error), traceback.format_exc(), time.perf_counter() - start)
            else:
                reply = (seq, OK, value, None, None, time.perf_counter() - start)
            del fn, payload
        try:
            conn.send(reply)
        except (BrokenPipeError, EOFError, ConnectionError):
            break
        except Exception as error:  # the value cannot be pickled: nothing was written yet
            wall = reply[5]
            conn.send((seq, ERROR, None, f"cannot send the result back: {_describe(error)}", traceback.format_exc(), wall))
        del reply
    try:
        conn.close()
    except OSError:  # pragma: no cover
        pass


class _Worker:
    """The parent's handle on one pool worker."""

    def __init__(self, ctx, limit_threads: bool, preload: tuple[str, ...]) -> None:
        self.conn, child_conn = ctx.Pipe(duplex=True)
        self.process = ctx.Process(
            target=_worker_main,
            args=(child_conn, os.getpid(), limit_threads, preload),
            name="optsearch-worker",
            daemon=False,  # jobs may start processes of their own
        )
        self.process.start()
        child_conn.close()
        self.pid = self.process.pid
        self.exitcode: Optional[int] = None
        self.ready = False  # True once the worker has started up (imports done)

    def alive(self) -> bool:
        return self.process.exitcode is None and self.process.is_alive()

    def kill(self) -> None:
        """SIGKILL the worker and its process group, reap it and release its pipe."""
        if getattr(getattr(self.process, "_popen", None), "returncode", None) is None:
            # Not reaped yet, so the pid (= the group id) cannot have been reused.
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError, OSError):
                pass
        if self.process.exitcode is None:
            try:
                self.process.kill()
            except (ProcessLookupError, OSError, ValueError):
                pass
        self.process.join()
        self.exitcode = self.process.exitcode
        self._release()

    def stop(self, timeout_s: float) -> None:
        """Ask the worker to exit; kill it when it has not done so within ``timeout_s``."""
        if self.process.exitcode is None:
            try:
                self.conn.send(None)
            except (BrokenPipeError, OSError, ValueError):
                pass
            # Wait on the sentinel, which does not reap the process: its pid (= its group id)
            # stays reserved, so the group can still be killed safely below.
            multiprocessing.connection.wait([self.process.sentinel], timeout_s)
        # kill() also removes what a job may have left behind in the worker's process group.
        self.kill()

    def _release(self) -> None:
        try:
            self.conn.close()
        except OSError:  # pragma: no cover
            pass
        try:
            self.process.close()
        except ValueError:  # pragma: no cover - still running (cannot happen after join)
            pass


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
            workers = _default_workers()
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


def _default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


# ------------------------------------------------------------------------------------------------
# ray
# ------------------------------------------------------------------------------------------------
def _import_ray():
    try:
        import ray  # noqa: PLC0415 - optional dependency, imported only for this backend
    except ImportError as error:
        raise ImportError(
            "the 'ray' backend needs Ray, which is not installed: pip install 'optsearch[ray]'"
        ) from error
    return ray


def _start_local_ray(ray, num_cpus: int) -> None:
    """Start a Ray instance for this machine alone: its servers listen on 127.0.0.1 only.

    Ray binds its servers to the node's address, and ``ray.init`` replaces a node address of
    127.0.0.1 by the machine's network address unless its single-machine flag (set on Windows and
    macOS) is on, so the flag is held on while Ray starts. ``address="local"`` starts a new
    instance even when ``RAY_ADDRESS`` names a cluster.
    """
    try:
        constants = importlib.import_module("ray._private.ray_constants")
    except ImportError:  # pragma: no cover - a Ray without this module
        constants = None
    saved = getattr(constants, "ENABLE_RAY_CLUSTER", None)
    if saved is not None:
        constants.ENABLE_RAY_CLUSTER = False
    try:
        ray.init(
            address="local",
            num_cpus=num_cpus,
            include_dashboard=False,
            configure_logging=False,
            _node_ip_address="127.0.0.1",
        )
    finally:
        if saved is not None:
            constants.ENABLE_RAY_CLUSTER = saved


class _RayWorker:
    """The body of one Ray actor: a persistent worker process, like a pool worker."""

    def __init__(self, limit_threads: bool, preload: tuple[str, ...]) -> None:
        self.limit_threads = limit_threads
        if limit_threads:
            for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
                os.environ[name] = "1"
        for module in preload:
            __import__(module)
        if limit_threads:
            _limit_torch_threads()

    def ready(self) -> int:
        """Resolves once the actor has started up; its pid."""
        return os.getpid()

    def call(self, fn: Callable[[Any], Any], payload: Any) -> tuple:
        """Run one job; its outcome as a tuple, so that exceptions of ``fn`` stay ours."""
        if self.limit_threads:
            _limit_torch_threads()
        start = time.perf_counter()
        try:
            value = fn(payload)
        except BaseException as error:  # noqa: BLE001 - reported, never retried by Ray
            return (ERROR, None, _describe(error), traceback.format_exc(), time.perf_counter() - start)
        return (OK, value, None, None, time.perf_counter() - start)


class RayExecutor(Executor):
    """Jobs run by a pool of ``workers`` Ray actors (one CPU each), the process pool's design on Ray.

    Actors are used rather than bare tasks so that a job's time limit counts from the moment a
    started-up worker receives it (a fresh Ray worker first spends seconds importing torch), and so
    that the timeout can kill exactly the worker running the job. Ray's own retries are off
    (``max_restarts=0``, ``max_task_retries=0``): the retry policy is ours. With ``address`` the
    executor joins that cluster (``ray.init(address=...)``; the package must be importable on every
    node); otherwise it starts a local instance with ``num_cpus=workers`` that listens on 127.0.0.1
    only (see :func:`_start_local_ray`). An already initialised Ray is reused and left running at
    :meth:`close`; one started here is shut down.
    """

    backend = "ray"

    def __init__(
        self,
        workers: Optional[int] = None,
        *,
        address: Optional[str] = None,
        job_timeout_s: Optional[float] = None,
        preload: Sequence[str] = (),
    ) -> None:
        ray = _import_ray()
        _check_time_limit(job_timeout_s)
        if workers is not None and workers < 1:
            raise ValueError(f"workers must be at least 1, not {workers}")
        self._ray = ray
        self.job_timeout_s = job_timeout_s
        self.preload = tuple(preload)
        self._owns_ray = False
        if not ray.is_initialized():
            if address is None:
                _start_local_ray(ray, workers or _default_workers())
            else:
                ray.init(address=address)
            self._owns_ray = True
        if workers is None:
            workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
        self.workers = int(workers)
        self._actor_class = ray.remote(num_cpus=1, max_restarts=0, max_task_retries=0)(_RayWorker)
        self._starting: dict[Any, Any] = {}  # ready() ref -> actor still starting up
        self._idle: list[Any] = []
        self._size = 0  # actors alive (starting, idle or busy)
        self._running = False
        self._closed = False

    def _spawn(self) -> None:
        actor = self._actor_class.remote(self.workers > 1, self.preload)
        self._starting[actor.ready.remote()] = actor
        self._size += 1

    def _kill(self, actor: Any) -> None:
        self._size -= 1
        try:
            self._ray.kill(actor, no_restart=True)
        except Exception:  # noqa: BLE001 - already dead
            pass

    def run(self, fn: Callable[[Any], Any], payloads: Sequence[Any]) -> Iterator[tuple[int, JobOutcome]]:
        if self._closed:
            raise RuntimeError("the executor is closed")
        if self._running:
            raise RuntimeError("this executor is already running a batch of jobs")
        return self._run(fn, list(payloads))

    def _run(self, fn: Callable[[Any], Any], payloads: list[Any]) -> Iterator[tuple[int, JobOutcome]]:
        ray = self._ray
        exceptions = ray.exceptions
        self._running = True
        pending: collections.deque[tuple[int, int]] = collections.deque(
            (index, 1) for index in range(len(payloads))
        )
        busy: dict[Any, tuple[Any, int, int, float]] = {}  # ref -> (actor, index, attempt, started)
        fn_ref = None
        try:
            while pending or busy:
                while self._size < min(self.workers, len(pending) + len(busy)):
                    self._spawn()
                while pending and self._idle:
                    if fn_ref is None:
                        fn_ref = ray.put(fn)
                    actor = self._idle.pop()
                    index, attempt = pending.popleft()
                    ref = actor.call.remote(fn_ref, payloads[index])
                    busy[ref] = (actor, index, attempt, time.monotonic())
                timeout = None
                if self.job_timeout_s is not None and busy:
                    first = min(job[3] for job in busy.values())
                    timeout = max(0.0, first + self.job_timeout_s - time.monotonic())
                refs = list(busy) + list(self._starting)
                done, _ = ray.wait(refs, num_returns=1, timeout=timeout)
                for ref in done:
                    if ref in self._starting:
                        actor = self._starting.pop(ref)
                        try:
                            ray.get(ref)
                        except exceptions.RayError:  # died while starting: start another
                            self._kill(actor)
                        else:
                            self._idle.append(actor)
                        continue
                    actor, index, attempt, started = busy.pop(ref)
                    try:
                        kind, value, error, tb, wall = ray.get(ref)
                    except exceptions.RayTaskError as error:  # e.g. fn cannot be loaded there
                        self._idle.append(actor)
                        cause = getattr(error, "cause", None) or error
                        yield index, JobOutcome(
                            error=_describe(cause),
                            kind=ERROR,
                            attempts=attempt,
                            wall_s=time.monotonic() - started,
                        )
                    except exceptions.RayError as error:  # the actor process (or its node) died
                        self._kill(actor)
                        crash = _retry_or_crash(
                            pending, index, attempt, started, f"the Ray worker died ({type(error).__name__})"
                        )
                        if crash is not None:
                            yield index, crash
                    else:
                        self._idle.append(actor)
                        yield index, JobOutcome(
                            value=value, error=error, kind=kind, attempts=attempt, wall_s=wall, traceback=tb
                        )
                if self.job_timeout_s is not None:
                    now = time.monotonic()
                    for ref, (actor, index, attempt, started) in list(busy.items()):
                        if now - started >= self.job_timeout_s:
                            del busy[ref]
                            self._kill(actor)
                            yield index, _timed_out(index, attempt, started, now, self.job_timeout_s)
        finally:
            for actor, *_ in busy.values():  # abandoned before the end: kill what still runs
                self._kill(actor)
            self._running = False

    def close(self) -> None:
        """Kill the actors; shut Ray down when this executor started it. Idempotent."""
        if self._closed:
            return
        self._closed = True
        for actor in list(self._idle) + list(self._starting.values()):
            self._kill(actor)
        self._idle.clear()
        self._starting.clear()
        if self._owns_ray and self._ray.is_initialized():
            self._ray.shutdown()


# ------------------------------------------------------------------------------------------------
# factory
# ------------------------------------------------------------------------------------------------
def make_executor(
    backend: str = "process",
    workers: Optional[int] = None,
    *,
    address: Optional[str] = None,
    job_timeout_s: Optional[float] = None,
    preload: Sequence[str] = (),
) -> Executor:
    """An executor of the named backend: ``"serial"``, ``"process"`` (default) or ``"ray"``.

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
