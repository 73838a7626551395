"""Incumbents and their held-out scores: pure bookkeeping over a run's results.

A run's *incumbent* at proposal ``n`` is the rule it would return then: its best search reward
among proposals ``0..n`` (ties: the earliest). Incumbents change rarely (about ``ln n`` times in
``n`` proposals for a random order), so re-training each one on a few held-out seeds is cheap
(:mod:`optsearch.evaluation.experiments.heldout` does it). A rule's held-out mean is the mean of
its test accuracies over the held-out seeds (:class:`HeldoutScores`).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

import numpy as np

from ..records import EvalResult


@dataclass(frozen=True)
class Incumbent:
    """A rule that became a run's incumbent at proposal ``since`` (0-based)."""

    since: int
    result: EvalResult


def incumbents(run: Sequence[EvalResult]) -> list[Incumbent]:
    """Every incumbent the run ever had, in order (a strictly better search reward replaces one)."""
    out: list[Incumbent] = []
    best = -math.inf
    for index, result in enumerate(run):
        reward = result.reward if math.isfinite(result.reward) else -math.inf
        if not out or reward > best:
            out.append(Incumbent(index, result))
            best = reward
    return out


@dataclass(frozen=True)
class HeldoutScores:
    """Held-out scores by rule fingerprint: one test accuracy per held-out seed, in seed order."""

    seeds: tuple[int, ...]
    by_fingerprint: Mapping[str, tuple[float, ...]]

    def scores(self, fingerprint: str) -> tuple[float, ...]:
        return self.by_fingerprint[fingerprint]

    def mean(self, fingerprint: str) -> float:
        return statistics.fmean(self.by_fingerprint[fingerprint])


def incumbent_curve(run: Sequence[EvalResult], scores: HeldoutScores) -> np.ndarray:
    """The held-out mean of the run's incumbent after each proposal: an array of ``len(run)``."""
    curve = np.full(len(run), np.nan)
    changes = incumbents(run)
    for k, incumbent in enumerate(changes):
        end = changes[k + 1].since if k + 1 < len(changes) else len(run)
        curve[incumbent.since : end] = scores.mean(incumbent.result.fingerprint)
    return curve


def final_incumbent(run: Sequence[EvalResult]) -> Optional[EvalResult]:
    """The rule the run returns at its end (None for an empty run)."""
    changes = incumbents(run)
    return changes[-1].result if changes else None
