"""One worker of the process backend: the loop it runs in its own process, and the parent's handle.

A worker runs in its own process group (so a timeout kills the job's own subprocesses too and
Ctrl-C reaches only the parent, which then shuts it down), limits torch and the BLAS libraries to
one thread when the pool has several workers, imports the ``preload`` modules, reports ``ready``
(job time limits count from there), then answers ``(seq, pickled (fn, payload))`` messages with
``(seq, kind, value, error, traceback, wall_s)`` until told to stop. It exits by itself when its
parent dies.
"""

from __future__ import annotations

import multiprocessing.connection
import os
import pickle
import signal
import threading
import time
import traceback
from typing import Optional

from .base import _limit_torch_threads
from .outcome import ERROR, OK, _describe


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
