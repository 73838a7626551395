"""Computations whose result must not depend on the CPU, run with portable kernels.

torch dispatches its CPU kernels by instruction set (``torch.backends.cpu.get_cpu_capability()``:
AVX512, AVX2 or DEFAULT), MKL its matrix products by its own, and numpy its loops by its own. They
round differently, and a probe that trains a model amplifies the rounding: with the native
kernels, 1,011 of 7,200 feature cells of 150 table rules differed between an AVX2 and a DEFAULT
run (up to 5.2 in a ``ln`` loss ratio); in float64 the chaotic rules (a division by a gradient
near zero) still differed by up to 4.2, so neither a wider dtype nor rounding the features to a
grid makes them agree (``benchmarks/README.md``, *Any machine*).

So what the bench computes for a rule it does not tabulate — the screen's verdict, the surrogate's
features and its prediction — runs in one helper process whose kernels are pinned to the portable
ones: torch's DEFAULT capability, MKL's COMPATIBLE code path (its conditional numerical
reproducibility), numpy's baseline loops and one thread (:func:`portable_environment`). That is the
same compiled code on every x86-64 CPU, so the answers are bit-identical on each. A process that
was itself started with that environment (CI's second pass) computes in place. The helper is a
one-process ``ProcessPoolExecutor``, not the project's executor (:mod:`optsearch.evaluation.executor`),
because it must start exactly once, while that environment is set, and never be restarted outside
it (the executor starts and replaces its workers whenever it needs them).

:func:`run_portable` is the one entry point: ``run_portable(fn, *args)`` returns ``fn(*args)``
computed portably (``fn`` a module-level function, its arguments picklable).
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from multiprocessing.util import Finalize
from typing import Any, Callable, Optional, TypeVar

__all__ = ["PortableError", "is_portable", "portable_environment", "run_portable"]

T = TypeVar("T")


class PortableError(RuntimeError):
    """The helper process did not get the portable kernels."""


def _numpy_dispatch_features() -> list[str]:
    """numpy's SIMD targets above its baseline (disabled in the portable environment)."""
    try:
        from numpy._core._multiarray_umath import __cpu_dispatch__
    except ImportError:  # numpy 1.x
        try:
            from numpy.core._multiarray_umath import __cpu_dispatch__
        except ImportError:
            return []
    return sorted(__cpu_dispatch__)


def portable_environment() -> dict[str, str]:
    """The environment variables that pin torch, MKL and numpy to their portable kernels."""
    env = {
        "ATEN_CPU_CAPABILITY": "default",
        "MKL_CBWR": "COMPATIBLE",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
    }
    dispatch = _numpy_dispatch_features()
    if dispatch:
        env["NPY_DISABLE_CPU_FEATURES"] = " ".join(dispatch)
    return env


def is_portable() -> bool:
    """Whether this process runs with the portable kernels (it was started in that environment)."""
    if any(os.environ.get(key) != value for key, value in portable_environment().items()):
        return False
    import torch

    return torch.backends.cpu.get_cpu_capability() == "DEFAULT"


def _capability() -> str:
    import torch

    torch.set_num_threads(1)
    return torch.backends.cpu.get_cpu_capability()


class _Helper:
    """One helper process per process that asks (a forked child starts its own)."""

    def __init__(self) -> None:
        self._pool: Optional[ProcessPoolExecutor] = None
        self._pid: Optional[int] = None
        self._lock = threading.Lock()

    def executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None or self._pid != os.getpid():
                self._pool, self._pid = self._start(), os.getpid()
            return self._pool

    @staticmethod
    def _start() -> ProcessPoolExecutor:
        env = portable_environment()
        saved = {key: os.environ.get(key) for key in env}
        # A spawned process inherits the environment at its start: set it for that moment only.
        os.environ.update(env)
        try:
            pool = ProcessPoolExecutor(1, mp_context=get_context("spawn"))
            capability = pool.submit(_capability).result()
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        if capability != "DEFAULT":
            pool.shutdown(wait=False)
            raise PortableError(f"the portable helper process runs torch's {capability} kernels, not DEFAULT")
        # A multiprocessing child joins its children when it exits, before the executor's own exit
        # hook would stop the helper: stop it first, or that child waits for ever.
        Finalize(pool, pool.shutdown, exitpriority=100)
        return pool


_HELPER = _Helper()


def run_portable(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` computed with the portable kernels: here if this process has them, else in the helper."""
    if is_portable():
        return fn(*args)
    return _HELPER.executor().submit(fn, *args).result()
