"""Random search: every token drawn uniformly from the valid tokens at its position.

The mandatory baseline of any comparison of search strategies (NAS-Bench-101/201).
"""

from __future__ import annotations

from typing import Sequence

from optsearch.dsl import Expr, from_tokens, random_tokens
from optsearch.evaluation.records import EvalResult

from .base import Searcher


class RandomSearch(Searcher):
    """Uniform over valid token sequences of exactly ``groups`` groups."""

    name = "random"

    def ask(self, n: int) -> list[Expr]:
        return [from_tokens(random_tokens(self.groups, self.rng)) for _ in range(n)]

    def tell(self, exprs: Sequence[Expr], results: Sequence[EvalResult]) -> None:
        """Random search learns nothing."""
