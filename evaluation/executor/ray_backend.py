"""The ray backend: jobs run by a pool of Ray actors, the process pool's design on Ray.

Ray is an optional dependency (``pip install 'optsearch[ray]'``), imported only when a
:class:`RayExecutor` is made.
"""

from __future__ import annotations

import collections
import importlib
import os
import time
import traceback
from typing import Any, Callable, Iterator, Optional, Sequence

from .base import Executor, default_workers, _limit_torch_threads
from .outcome import ERROR, OK, JobOutcome, _check_time_limit, _describe, _retry_or_crash, _timed_out


def _import_ray():
    from ..extras import require

    return require("ray", "ray", "the 'ray' backend")


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
                _start_local_ray(ray, workers or default_workers())
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
