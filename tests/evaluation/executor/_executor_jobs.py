"""Job functions for the executor tests (importable by worker processes; not collected by pytest)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path


def square(x):
    """A pure function."""
    return x * x


def pid_after_sleep(seconds):
    """Sleep, then return the worker's pid."""
    time.sleep(seconds)
    return os.getpid()


def span_of_sleep(seconds):
    """Sleep; return ``(pid, start, end)`` (wall-clock times, comparable across processes)."""
    start = time.time()
    time.sleep(seconds)
    return os.getpid(), start, time.time()


def die_once(marker):
    """Die abruptly the first time (no marker file yet); return the pid on the retry."""
    path = Path(marker)
    if not path.exists():
        path.write_text(str(os.getpid()))
        os._exit(1)
    return os.getpid()


def always_die(x):
    """Kill the worker process every time."""
    os.kill(os.getpid(), signal.SIGKILL)


def count_and_die(marker):
    """Append a line to ``marker`` and die (counts the attempts)."""
    with open(marker, "a") as handle:
        handle.write("x\n")
    os._exit(3)


def raise_value_error(x):
    """Raise, counting the calls in the file ``x``."""
    with open(x, "a") as handle:
        handle.write("x\n")
    raise ValueError(f"bad payload {Path(x).name}")


def sleep_for(seconds):
    """Sleep ``seconds``; return them."""
    time.sleep(seconds)
    return seconds


def mixed(payload):
    """Dispatch on ``(kind, arg)``: the behaviour of a batch that mixes outcomes."""
    kind, arg = payload
    if kind == "square":
        return arg * arg
    if kind == "die":
        os._exit(1)
    if kind == "die_once":
        return die_once(arg)
    if kind == "count_and_die":
        return count_and_die(arg)
    if kind == "raise":
        raise RuntimeError(f"failed on {arg}")
    if kind == "sleep":
        time.sleep(arg)
        return arg
    if kind == "sleep_with_child":  # start a grandchild process, record its pid, then hang
        child = subprocess.Popen(["sleep", "120"])
        Path(arg).write_text(str(child.pid))
        time.sleep(120)
        return None
    raise AssertionError(kind)


def torch_threads(_):
    """The worker's torch intra-op thread count."""
    import torch

    return torch.get_num_threads()
