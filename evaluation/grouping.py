"""How the evaluator groups a batch of rules for its workers: which rules one worker trains
together as one stacked child (a *population*), and how many.

A population of R rules trains as one stacked child (:func:`~.training.train_rules`): one
forward and backward pass serves every rule's copies (which pays where a step is launch-bound,
on a GPU), and each rule's result is exactly its result alone. :func:`group_rules` splits a batch
of trainings into groups of at most the population size, and into at least as many groups as
there are workers, so that no worker idles while another trains a big population.

The default sizes (:func:`default_population_size`) were chosen by measurement
(``benchmarks/population_speed.py``, table in ``benchmarks/README.md``): one rule at a time on
a CPU worker, where stacking more rules does not make a copy cheaper, and whole batches on a GPU.
"""

from __future__ import annotations

import math
from typing import Optional

__all__ = [
    "CPU_POPULATION_SIZE",
    "CUDA_POPULATION_SIZE",
    "default_population_size",
    "group_rules",
    "resolve_population_size",
]

#: Rules per population on a CPU worker (one thread): one. Measured with
#: ``benchmarks/population_speed.py`` (16 different rules, mnist1d, default protocol, 1 thread,
#: 2026-12-02): evaluations per second relative to one by one were 0.91× for populations of 4,
#: 0.87× for 8 and 0.66× for 16. On one CPU thread the stacked child costs the same per
#: copy-step at any stack size (2.24 ms at 3 copies, 2.32 at 24, 2.39 at 72: its batch norm,
#: ReLU and layout copies are memory-bound, and a bigger stack spills the caches), so there is
#: nothing to amortise, and big stacks' accuracy passes cost more per copy. Populations pay off
#: where a step is launch-bound: on a GPU.
CPU_POPULATION_SIZE = 1

#: Rules per population on a GPU: a batch's every training in one stack per worker (the stacked
#: child of the default task takes well under 1 GiB per 100 rules, so memory does not bound it).
CUDA_POPULATION_SIZE = 1024


def default_population_size(device: str) -> int:
    """The population size for ``device`` (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...)."""
    return CPU_POPULATION_SIZE if device.split(":")[0] == "cpu" else CUDA_POPULATION_SIZE


def resolve_population_size(requested: Optional[int], device: str) -> int:
    """``requested`` (at least 1), or the default for ``device`` when it is ``None``."""
    if requested is None:
        return default_population_size(device)
    if requested < 1:
        raise ValueError(f"population_size must be at least 1, got {requested}")
    return requested


def group_rules(count: int, size: int, workers: int) -> list[list[int]]:
    """Split the indices ``0 … count-1`` into consecutive, balanced groups of at most ``size``,
    at least ``min(workers, count)`` of them (so every worker gets one)."""
    if count <= 0:
        return []
    if size < 1 or workers < 1:
        raise ValueError(f"population size and workers must be at least 1, got {size} and {workers}")
    groups = max(math.ceil(count / size), min(workers, count))
    base, extra = divmod(count, groups)
    out, start = [], 0
    for number in range(groups):
        length = base + (1 if number < extra else 0)
        out.append(list(range(start, start + length)))
        start += length
    return out
