"""Every registered searcher: exact budget, determinism, every proposal recorded, a best rule."""

from __future__ import annotations

import pytest

import optsearch.searchers  # noqa: F401  (registers the searchers)
from optsearch.evaluation.config import EvalConfig
from optsearch.evaluation.evaluator import Evaluator
from optsearch.evaluation.store import ResultStore
from optsearch.registry_entries import SEARCHERS
from optsearch.searchers import run_named_search

CONFIG = EvalConfig(task="quadratic", steps=40)
BUDGET = 10


def search(name, store, seed=0, budget=BUDGET, run_id=None):
    with Evaluator(CONFIG, store=store) as evaluator:
        return run_named_search(name, evaluator, budget=budget, seed=seed, groups=2, run_id=run_id, batch_size=4)


@pytest.mark.parametrize("name", list(SEARCHERS))
class TestSearcherConformance:
    def test_exact_budget_every_proposal_recorded_and_a_best_rule(self, name, tmp_path):
        outcome = search(name, tmp_path / "s.sqlite", seed=1)
        assert len(outcome.results) == BUDGET
        with ResultStore(tmp_path / "s.sqlite") as store:
            rows = store.results(run_id=outcome.run_id)
            run = store.run(outcome.run_id)
        assert len(rows) == BUDGET
        assert {(r.searcher, r.seed, r.run_id) for r in rows} == {(name, 1, outcome.run_id)}
        assert [r.fingerprint for r in rows] == [r.fingerprint for r in outcome.results]
        assert run["finished_at"] is not None
        best = outcome.best
        assert best is not None and best.reward == max(r.reward for r in rows)

    def test_deterministic_under_a_seed_with_the_serial_evaluator(self, name, tmp_path):
        first = search(name, tmp_path / "a.sqlite", seed=3)
        second = search(name, tmp_path / "b.sqlite", seed=3)
        assert [r.rule for r in first.results] == [r.rule for r in second.results]

    def test_running_again_with_the_same_store_resumes_instead_of_repeating(self, name, tmp_path):
        path = tmp_path / "s.sqlite"
        partial = search(name, path, seed=2, budget=4, run_id="run")
        resumed = search(name, path, seed=2, budget=BUDGET, run_id="run")
        assert len(partial.results) == 4 and len(resumed.results) == BUDGET
        with ResultStore(path) as store:
            rows = store.results(run_id="run")
        assert len(rows) == BUDGET  # the first four were not proposed again
        assert [r.rule for r in rows[:4]] == [r.rule for r in partial.results]
