"""A bench comparison's seeds in worker processes: the results of one process, in seed order, and a
worker's exception raised in the parent as it is (so the CLI reports a user error in one line)."""

from __future__ import annotations

import pytest

from optsearch.evaluation.config import EvalConfig
from optsearch.evaluation.evaluator import Evaluator
from optsearch.evaluation.lease import RunLeased, run_lease
from optsearch.evaluation.store import ResultStore
from optsearch.searchers.studies.compare import CompareConfig, _run_seed, _seeds_in_processes
from optsearch.searchers.lifecycle import default_run_id

pytestmark = pytest.mark.slow  # each case starts two worker processes

CONFIG = EvalConfig(task="mnist1d-bench")
COMPARE = CompareConfig(searchers=("random", "evolution"), budget=10, seeds=3)


def _rows(per_arm: dict) -> dict:
    return {arm: [(r.index, r.rule, r.reward, r.status, r.cached) for r in results] for arm, results in per_arm.items()}


def test_seeds_in_processes_give_the_results_of_one_process_in_seed_order(tmp_path):
    parallel = list(_seeds_in_processes(COMPARE, CONFIG, str(tmp_path / "workers.sqlite"), [0, 1, 2], 2, None))
    assert [seed for seed, _, _ in parallel] == [0, 1, 2]
    with Evaluator(CONFIG, store=str(tmp_path / "one.sqlite"), backend="serial") as evaluator:
        alone = [_run_seed(COMPARE, evaluator, seed)[0] for seed in (0, 1, 2)]
    assert [_rows(per_arm) for _, per_arm, _ in parallel] == [_rows(per_arm) for per_arm in alone]
    assert all(set(seconds) == {"random", "evolution"} for _, _, seconds in parallel)


def test_a_seed_that_raises_in_its_worker_raises_the_same_exception_after_the_seeds_before_it(tmp_path):
    path = tmp_path / "runs.sqlite"
    with ResultStore(path) as store, run_lease(store, default_run_id("evolution", 1, CONFIG.task)):
        seen = []
        with pytest.raises(RunLeased, match="is being written by pid"):
            for seed, per_arm, _ in _seeds_in_processes(COMPARE, CONFIG, str(path), [0, 1, 2], 2, None):
                seen.append(seed)
    assert seen == [0]
    with ResultStore(path) as store:  # seed 2 ran to its end although seed 1 failed before it
        assert store.count(run_id=default_run_id("evolution", 2, CONFIG.task)) == COMPARE.budget
