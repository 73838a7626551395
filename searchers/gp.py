"""Genetic programming with DEAP over the very same primitives (the paper's GP comparison).

Operands are terminals, unary and binary functions are primitives of a DEAP
``PrimitiveSetTyped`` with one value type. Trees convert exactly to and from :class:`Expr`
(DEAP's ``eval``-based ``compile`` is never used). A tree that needs more groups than the
environment allows is rejected and re-drawn before evaluation, so no rule outside the space is
ever counted. DEAP's fitness and individual classes are built inside the searcher (no
import-time ``creator`` globals); DEAP's operators draw from Python's global ``random``, so every
call runs with the searcher's own generator swapped in, which keeps searches reproducible.

Steady-state (μ + λ): each ``ask`` breeds offspring from the population by tournament selection,
one-point crossover and uniform subtree mutation; each ``tell`` merges the evaluated offspring and
keeps the best ``population_size``. A hall of fame keeps the best rules seen.
"""

from __future__ import annotations

import random
from contextlib import contextmanager
from typing import Any, Iterator, Sequence

from deap import base, gp, tools

from optsearch.dsl import Binary, Expr, Operand, Unary, from_tokens, groups_needed, parse, random_tokens
from optsearch.dsl.primitives import BINARIES, OPERANDS, UNARIES
from optsearch.evaluation.records import EvalResult

from .base import Searcher


class Value:
    """The one type of the strongly-typed primitive set: a per-parameter tensor value."""


def _identifier(name: str) -> str:
    """A DEAP-safe name for a primitive (DEAP names must be Python identifiers)."""
    special = {"1": "one", "2": "two"}
    if name in special:
        return special[name]
    if name.endswith("*w"):
        return "w" + name[:-2].replace("-", "_")
    return name.replace("-", "_").replace(".", "_")


def _unused(*args: Any) -> None:  # DEAP wants a callable; trees are converted, never called
    raise RuntimeError("GP trees are converted to Expr, not compiled by DEAP")


def build_primitive_set() -> gp.PrimitiveSetTyped:
    """The DSL's operands, unary and binary functions as a DEAP primitive set."""
    pset = gp.PrimitiveSetTyped("rule", [], Value)
    for operand in OPERANDS:
        pset.addTerminal(operand.name, Value, name=_identifier(operand.name))
    for unary in UNARIES:
        if unary.name != "id":
            pset.addPrimitive(_unused, [Value], Value, name=_identifier(unary.name))
    for binary in BINARIES:
        pset.addPrimitive(_unused, [Value, Value], Value, name=_identifier(binary.name))
    return pset


_NAME_OF_IDENTIFIER = {
    _identifier(name): name
    for name in [op.name for op in OPERANDS] + [u.name for u in UNARIES] + [b.name for b in BINARIES]
}


def tree_to_expr(tree: Sequence) -> Expr:
    """A DEAP prefix tree as an :class:`Expr`."""

    def build(position: int) -> tuple[Expr, int]:
        node = tree[position]
        name = _NAME_OF_IDENTIFIER[node.name]
        if node.arity == 0:
            return Operand(name), position + 1
        if node.arity == 1:
            arg, end = build(position + 1)
            return Unary(name, arg), end
        left, middle = build(position + 1)
        right, end = build(middle)
        return Binary(name, left, right), end

    expr, end = build(0)
    if end != len(tree):
        raise ValueError("malformed tree")
    return expr


def expr_to_nodes(expr: Expr, pset: gp.PrimitiveSetTyped) -> list:
    """An :class:`Expr` as the prefix list of DEAP nodes."""
    if isinstance(expr, Operand):
        return [pset.mapping[_identifier(expr.name)]]
    if isinstance(expr, Unary):
        return [pset.mapping[_identifier(expr.fn)]] + expr_to_nodes(expr.arg, pset)
    return [pset.mapping[_identifier(expr.fn)]] + expr_to_nodes(expr.left, pset) + expr_to_nodes(expr.right, pset)


class GPSearcher(Searcher):
    """DEAP strongly-typed GP: tournament selection, crossover, subtree mutation, hall of fame.

    The defaults were tuned on the bench against population 10/50, tournament 5 and crossover /
    mutation 0.8/0.2 and 0.2/0.8: none beat them on the final incumbent (``benchmarks/README.md``,
    *Searchers' settings on the bench*).
    """

    name = "gp"

    def __init__(
        self,
        *,
        groups: int = 3,
        seed: int = 0,
        population_size: int = 20,
        tournament_size: int = 3,
        crossover_probability: float = 0.5,
        mutation_probability: float = 0.5,
        hall_of_fame_size: int = 10,
        max_initial_depth: int = 3,
    ):
        super().__init__(groups=groups, seed=seed)
        self.pset = build_primitive_set()
        fitness = type("RuleFitness", (base.Fitness,), {"weights": (1.0,)})
        self.individual_class = type("RuleTree", (gp.PrimitiveTree,), {})
        self._fitness_class = fitness
        self.population_size = population_size
        self.tournament_size = tournament_size
        self.crossover_probability = crossover_probability
        self.mutation_probability = mutation_probability
        self.max_initial_depth = max_initial_depth
        self.population: list = []
        self.hall_of_fame = tools.HallOfFame(hall_of_fame_size)
        self._asked: dict[Expr, Any] = {}

    # -- helpers -------------------------------------------------------------------------------
    @contextmanager
    def _deap_random(self) -> Iterator[None]:
        outside = random.getstate()
        random.setstate(self.rng.getstate())
        try:
            yield
        finally:
            self.rng.setstate(random.getstate())
            random.setstate(outside)

    def individual(self, expr: Expr, reward: float | None = None):
        """A DEAP individual for ``expr`` (with its fitness if ``reward`` is given)."""
        ind = self.individual_class(expr_to_nodes(expr, self.pset))
        ind.fitness = self._fitness_class()
        if reward is not None:
            ind.fitness.values = (reward,)
        return ind

    def fits(self, expr: Expr) -> bool:
        """Whether the environment can express ``expr`` with ``groups`` groups."""
        return groups_needed(expr) <= self.groups

    def _random_tree(self):
        for _ in range(20):
            nodes = gp.genHalfAndHalf(self.pset, min_=1, max_=self.max_initial_depth, type_=Value)
            expr = tree_to_expr(nodes)
            if self.fits(expr):
                return self.individual(expr)
        return self.individual(from_tokens(random_tokens(self.groups, random)))

    def _offspring(self):
        for _ in range(20):
            first, second = (
                self.individual(tree_to_expr(ind)) for ind in tools.selTournament(self.population, 2, self.tournament_size)
            )
            if random.random() < self.crossover_probability:
                first, second = gp.cxOnePoint(first, second)
            if random.random() < self.mutation_probability:
                (first,) = gp.mutUniform(
                    first, expr=lambda pset, type_: gp.genFull(pset, 0, 2, type_), pset=self.pset
                )
            expr = tree_to_expr(first)
            if self.fits(expr):
                return self.individual(expr)
        return self._random_tree()

    # -- ask / tell ----------------------------------------------------------------------------
    def ask(self, n: int) -> list[Expr]:
        proposals = []
        with self._deap_random():
            for _ in range(n):
                ind = self._random_tree() if len(self.population) < self.population_size else self._offspring()
                expr = tree_to_expr(ind)
                self._asked[expr] = ind
                proposals.append(expr)
        return proposals

    def tell(self, exprs: Sequence[Expr], results: Sequence[EvalResult]) -> None:
        told = []
        for expr, result in zip(exprs, results):
            self._asked.pop(expr, None)
            if not self.fits(expr):
                continue
            told.append(self.individual(expr, float(result.reward)))
        if not told:
            return
        self.hall_of_fame.update(told)
        self.population = tools.selBest(self.population + told, self.population_size)

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["population"] = [[str(tree_to_expr(ind)), ind.fitness.values[0]] for ind in self.population]
        state["hall_of_fame"] = [[str(tree_to_expr(ind)), ind.fitness.values[0]] for ind in self.hall_of_fame]
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.population = [self.individual(parse(text), reward) for text, reward in state["population"]]
        self.hall_of_fame.clear()
        self.hall_of_fame.update([self.individual(parse(text), reward) for text, reward in state["hall_of_fame"]])
