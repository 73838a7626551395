"""One writing process per run: a lease row (holder's pid, host and heartbeat) in the store.

Two processes writing one run would interleave their proposals and train rules twice, so a run
is written only under its lease. The lease is taken in one transaction; while it is held a
daemon thread refreshes its heartbeat every ``heartbeat_s``. A second process asking for the same
run waits up to ``wait_s`` for it and then fails with :class:`RunLeased`, one line naming the
holder. A lease is *stale*, and taken over, when its holder's process is gone (same host, pid no
longer alive) or its heartbeat is older than ``stale_after_s`` (a holder on another host, or one
frozen). The same process taking a lease it already holds (a resumed ``compare``) takes it at once.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from contextlib import contextmanager
from typing import Iterator

from .store import Store, StoreError

HEARTBEAT_S = 5.0
STALE_AFTER_S = 60.0


class RunLeased(StoreError):
    """Another live process holds the run's lease."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def _stale_test(stale_after_s: float):
    host = socket.gethostname()

    def is_stale(holder: dict) -> bool:
        if time.time() - float(holder["heartbeat"]) > stale_after_s:
            return True
        return holder["host"] == host and not _pid_alive(int(holder["pid"]))

    return is_stale


def _describe(run_id: str, store: Store, holder: dict) -> str:
    age = max(0.0, time.time() - float(holder["heartbeat"]))
    return (
        f"run {run_id!r} in {getattr(store, 'path', 'memory')} is being written by pid {holder['pid']} on "
        f"{holder['host']} (heartbeat {age:.0f} s ago); wait for it to finish or choose another run id"
    )


@contextmanager
def run_lease(
    store: Store,
    run_id: str,
    *,
    wait_s: float = 0.0,
    heartbeat_s: float = HEARTBEAT_S,
    stale_after_s: float = STALE_AFTER_S,
) -> Iterator[None]:
    """Hold the lease of ``run_id`` in ``store`` for the ``with`` block."""
    holder = {"token": uuid.uuid4().hex, "pid": os.getpid(), "host": socket.gethostname()}
    is_stale = _stale_test(stale_after_s)
    deadline = time.monotonic() + wait_s
    while (current := store.take_lease(run_id, holder, is_stale)) is not None:
        if time.monotonic() >= deadline:
            raise RunLeased(_describe(run_id, store, current))
        time.sleep(min(1.0, max(0.05, deadline - time.monotonic())))
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(heartbeat_s):
            try:
                store.renew_lease(run_id, holder["token"])
            except StoreError:  # the next write of the run reports the problem
                pass

    thread = threading.Thread(target=beat, name=f"lease-{run_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        try:
            store.release_lease(run_id, holder["token"])
        except StoreError:
            pass  # a stale lease is taken over by the next process anyway
