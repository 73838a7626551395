"""An optsearch searcher in a package of its own: a hill climber over the rule tokens.

Installed, it is the searcher ``mine`` (the entry point in pyproject.toml); importable, it is
``mine_plugin:MySearcher`` wherever optsearch takes a searcher name.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

from optsearch.dsl import Expr, from_tokens, random_tokens, to_tokens, valid_tokens
from optsearch.evaluation.records import EvalResult
from optsearch.searchers import Searcher


class MySearcher(Searcher):
    """Hill climbing: redraw ``mutations`` tokens of the best rule told so far."""

    name = "mine"

    def __init__(self, *, groups: int = 3, seed: int = 0, mutations: int = 1):
        super().__init__(groups=groups, seed=seed)
        if mutations < 1:
            raise ValueError(f"mutations must be at least 1, got {mutations}")
        self.mutations = mutations
        self.best: Optional[tuple[list[str], float]] = None  # (tokens, reward)

    def ask(self, n: int) -> list[Expr]:
        return [from_tokens(self._propose()) for _ in range(n)]

    def _propose(self) -> list[str]:
        if self.best is None:
            return list(random_tokens(self.groups, self.rng))
        tokens = list(self.best[0])
        for _ in range(self.mutations):  # a token's valid choices depend on its position only
            position = self.rng.randrange(len(tokens))
            tokens[position] = self.rng.choice(valid_tokens(tokens[:position], self.groups))
        return tokens

    def tell(self, exprs: Sequence[Expr], results: Sequence[EvalResult]) -> None:
        for expr, result in zip(exprs, results):
            if self.best is None or result.reward > self.best[1]:
                try:
                    self.best = (list(to_tokens(expr, self.groups)), float(result.reward))
                except ValueError:  # a told rule too large for this space
                    pass

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["best"] = None if self.best is None else [self.best[0], self.best[1]]
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.best = None if state["best"] is None else (list(state["best"][0]), float(state["best"][1]))
