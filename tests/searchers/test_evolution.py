"""Regularized evolution's variation operator and ageing."""

import random

from optsearch.dsl import from_tokens, random_tokens, valid_tokens
from optsearch.evaluation.records import EvalResult
from optsearch.searchers import RegularizedEvolution


def test_mutation_changes_exactly_one_token_and_the_rule():
    searcher = RegularizedEvolution(groups=3, seed=0)
    rng = random.Random(1)
    for _ in range(300):
        parent = tuple(random_tokens(3, rng))
        child = searcher.mutate(parent)
        assert sum(a != b for a, b in zip(parent, child)) == 1
        assert all(t in valid_tokens(child[:i], 3) for i, t in enumerate(child))
        assert from_tokens(child) != from_tokens(parent)


def test_the_oldest_member_dies_when_the_population_is_full():
    searcher = RegularizedEvolution(groups=1, seed=0, population_size=3, sample_size=2)
    rules = searcher.ask(5)
    searcher.tell(rules, [EvalResult(str(r), "", "", "", "", float(i), "ok") for i, r in enumerate(rules)])
    assert [reward for _, reward in searcher.population] == [2.0, 3.0, 4.0]
