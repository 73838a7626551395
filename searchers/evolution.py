"""Regularized evolution (Real et al. 2019) over token sequences.

A population of the ``population_size`` most recent rules; each child is a one-token mutation of
the best of ``sample_size`` members drawn at random (tournament), and the *oldest* member dies
when a child joins (ageing). Until the population is full, proposals are random. Seed it with
named rules by telling them (``tell`` accepts rules never asked), as Lion warm-started from AdamW.
The defaults (population 20, sample 5) scored best of six settings tuned on the bench
(``benchmarks/README.md``, *Searchers' settings on the bench*).
"""

from __future__ import annotations

from collections import deque
from typing import Any, Sequence

from optsearch.dsl import Expr, from_tokens, random_tokens, to_tokens, valid_tokens
from optsearch.evaluation.records import EvalResult

from .base import Searcher

MUTATION_TRIES = 20


class RegularizedEvolution(Searcher):
    """Tournament selection, one-token mutation, ageing."""

    name = "evolution"

    def __init__(self, *, groups: int = 3, seed: int = 0, population_size: int = 20, sample_size: int = 5):
        super().__init__(groups=groups, seed=seed)
        if not 1 <= sample_size <= population_size:
            raise ValueError("need 1 <= sample_size <= population_size")
        self.population_size = population_size
        self.sample_size = sample_size
        self.population: deque[tuple[tuple[str, ...], float]] = deque(maxlen=population_size)
        self._asked: dict[Expr, tuple[str, ...]] = {}

    def mutate(self, tokens: Sequence[str]) -> tuple[str, ...]:
        """Replace one token by another valid token at its position (the rest stays valid).

        A token in a dead branch (an unused group, the ignored side of a pass-through) changes
        nothing, and the copy would only spend budget as a cache hit: such mutations are redrawn,
        up to :data:`MUTATION_TRIES` times, until the decoded rule differs from the parent's.
        """
        parent = from_tokens(tokens)
        child = list(tokens)
        for _ in range(MUTATION_TRIES):
            child = list(tokens)
            position = self.rng.randrange(len(child))
            choices = [t for t in valid_tokens(child[:position], self.groups) if t != child[position]]
            child[position] = self.rng.choice(choices)
            if from_tokens(child) != parent:
                break
        return tuple(child)

    def ask(self, n: int) -> list[Expr]:
        proposals = []
        for _ in range(n):
            if len(self.population) < self.population_size:
                tokens = tuple(random_tokens(self.groups, self.rng))
            else:
                contestants = self.rng.sample(list(self.population), self.sample_size)
                parent = max(contestants, key=lambda member: member[1])
                tokens = self.mutate(parent[0])
            expr = from_tokens(tokens)
            self._asked[expr] = tokens
            proposals.append(expr)
        return proposals

    def tell(self, exprs: Sequence[Expr], results: Sequence[EvalResult]) -> None:
        for expr, result in zip(exprs, results):
            tokens = self._asked.pop(expr, None)
            if tokens is None:
                try:
                    tokens = tuple(to_tokens(expr, self.groups))
                except ValueError:
                    continue  # too large for this space: it cannot join the population
            self.population.append((tokens, float(result.reward)))

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["population"] = [[list(tokens), reward] for tokens, reward in self.population]
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.population.clear()
        for tokens, reward in state["population"]:
            self.population.append((tuple(tokens), float(reward)))
