"""The ask/tell protocol every strategy implements, in the spirit of Optuna and nevergrad.

``ask(n)`` proposes ``n`` rules; ``tell(exprs, results)`` reports their evaluations. A searcher may
be told rules it never asked (seeding a search with Adam or PowerSign). History lives in the
results store, not in the searcher; a searcher's own state (RNG, population, policy weights) is
saved through ``state_dict()`` — plain Python values and tensors only, so checkpoints load with
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import abc
import random
from typing import Any, ClassVar, Sequence

from optsearch.dsl import Expr
from optsearch.evaluation.records import EvalResult


class Searcher(abc.ABC):
    """A search strategy over rules of at most ``groups`` groups, deterministic given ``seed``."""

    name: ClassVar[str] = ""

    def __init__(self, *, groups: int = 3, seed: int = 0):
        if groups < 1:
            raise ValueError(f"groups must be at least 1, got {groups}")
        self.groups = groups
        self.seed = seed
        self.rng = random.Random(seed)

    @abc.abstractmethod
    def ask(self, n: int) -> list[Expr]:
        """Propose ``n`` rules."""

    @abc.abstractmethod
    def tell(self, exprs: Sequence[Expr], results: Sequence[EvalResult]) -> None:
        """Learn from evaluated rules (asked or not)."""

    def state_dict(self) -> dict[str, Any]:
        """The searcher's state as plain values and tensors (for checkpoints)."""
        return {"rng": _rng_state(self.rng)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.rng.setstate(_rng_from_state(state["rng"]))


def _rng_state(rng: random.Random) -> list:
    version, internal, gauss = rng.getstate()
    return [version, list(internal), gauss]


def _rng_from_state(state: list) -> tuple:
    version, internal, gauss = state
    return (int(version), tuple(int(x) for x in internal), gauss)
