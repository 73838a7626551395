"""What a comparison report is made of: the runs, the held-out scores, the baselines."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from ..records import ERROR, SCREENED, EvalResult
from ..statistics.incumbents import HeldoutScores, final_incumbent, incumbent_curve

Runs = Mapping[str, Sequence[Sequence[EvalResult]]]

#: The rules every comparison re-trains on the held-out seeds beside the found ones. ``ld * adam``
#: is there so that a learning-rate decay in a found rule is not mistaken for a new idea.
HELDOUT_BASELINES: tuple[str, ...] = ("adam", "momentum", "sgd", "ld * adam")


@dataclass(frozen=True)
class ComparisonData:
    """Everything the report shows.

    ``runs[label]``: one run per search seed, each the results in proposal order.
    ``heldout``: held-out scores of every incumbent and baseline, by fingerprint.
    ``baselines``: baseline name → fingerprint. ``texts``: fingerprint → the shortest rule text
    of that functional class seen in the store. ``search_seconds``: label → the seconds its runs
    took in the invocation that wrote the report (empty when not measured).
    """

    runs: Runs
    heldout: HeldoutScores
    baselines: Mapping[str, str]
    texts: Mapping[str, str] = field(default_factory=dict)
    task: str = ""
    confidence: float = 0.95
    search_seconds: Mapping[str, float] = field(default_factory=dict)

    @property
    def search_seeds(self) -> list[int]:
        return sorted({run[0].seed for per_seed in self.runs.values() for run in per_seed if run})

    def final_heldout(self, label: str) -> np.ndarray:
        """Held-out mean of each run's final incumbent, one value per search seed."""
        finals = [final_incumbent(run) for run in self.runs[label]]
        return np.asarray([self.heldout.mean(r.fingerprint) if r is not None else math.nan for r in finals])

    def incumbent_curves(self, label: str) -> list[np.ndarray]:
        return [incumbent_curve(run, self.heldout) for run in self.runs[label]]

    def baseline_scores(self, name: str) -> tuple[float, ...]:
        return self.heldout.scores(self.baselines[name])

    def text_of(self, result: EvalResult) -> str:
        return self.texts.get(result.fingerprint) or result.canonical or result.rule


def final_budget(data: ComparisonData) -> int:
    """The comparison's budget: the most proposals any run made."""
    return max((len(run) for per_seed in data.runs.values() for run in per_seed), default=0)


def is_training(result: EvalResult) -> bool:
    """A real child training: not a cache hit, not screened, not a rule that failed before training."""
    if result.cached or result.status == SCREENED:
        return False
    return not (result.status == ERROR and result.cost == 0.0)


def compute_of(run: Sequence[EvalResult]) -> np.ndarray:
    """Cumulative search compute of a run after each proposal, in full-evaluation units (Σ cost)."""
    costs = np.asarray([r.cost if math.isfinite(r.cost) else 0.0 for r in run], dtype=float)
    return np.cumsum(costs)
