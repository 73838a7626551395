"""The shared evaluator: cache, screen, hurdle, store, backends — on real (tiny) trainings."""

from __future__ import annotations

from dataclasses import replace

import pytest

from optsearch.dsl import parse, resolve_rule
from optsearch.evaluation.config import EvalConfig
from optsearch.evaluation.evaluator import Evaluator
from optsearch.evaluation.records import ERROR, HURDLE, OK, SCREENED, TIMEOUT
from optsearch.evaluation.store import ResultStore, StoreError

QUADRATIC = EvalConfig(task="quadratic", steps=100)


def rules(*texts):
    return [resolve_rule(t) for t in texts]


def test_equivalent_rules_share_one_training_and_the_cache_costs_nothing(tmp_path):
    with Evaluator(QUADRATIC, store=tmp_path / "s.sqlite") as evaluator:
        first, twin, again = evaluator.evaluate(
            rules("exp(sign(g) * sign(m)) * g", "g * exp(sign(m) * sign(g))", "exp(sign(g) * sign(m)) * g"), seed=0
        )
        assert evaluator.trainings == 1
    assert first.status == OK and not first.cached and first.cost > 0
    for hit in (twin, again):
        assert hit.cached and hit.cost == 0.0
        assert hit.reward == first.reward and hit.fingerprint == first.fingerprint
    assert twin.rule == "g * exp(sign(m) * sign(g))"  # the proposal's own text is kept


def test_a_second_evaluator_reuses_the_store_without_training(tmp_path):
    path = tmp_path / "s.sqlite"
    with Evaluator(QUADRATIC, store=path) as evaluator:
        (original,) = evaluator.evaluate(rules("adam"), seed=3, searcher="a", run_id="r1")
    with Evaluator(QUADRATIC, store=path) as evaluator:
        (reused,) = evaluator.evaluate(rules("adam"), seed=3, searcher="b", run_id="r2")
        (other_seed,) = evaluator.evaluate(rules("adam"), seed=4, searcher="b", run_id="r2")
        assert evaluator.trainings == 1  # only the new seed was trained
    assert reused.cached and reused.reward == original.reward
    assert not other_seed.cached
    with ResultStore(path) as store:
        rows = store.results()
    assert [(r.searcher, r.run_id, r.cached) for r in rows] == [("a", "r1", False), ("b", "r2", True), ("b", "r2", False)]


def test_the_screen_rejects_rules_that_cannot_descend_and_passes_real_ones():
    with Evaluator(QUADRATIC) as evaluator:
        results = evaluator.evaluate(rules("1", "noise", "-g", "1e-2 * w", "g", "adam"), seed=0)
    statuses = [r.status for r in results]
    assert statuses[:4] == [SCREENED] * 4
    assert all(r.reward == 0.0 and 0 < r.cost < 0.01 for r in results[:4])
    assert statuses[4:] == [OK, OK] and all(r.reward > 0.3 for r in results[4:])


def test_pathological_rules_are_data_not_crashes():
    with Evaluator(EvalConfig(task="quadratic", steps=100, screen=False)) as evaluator:
        results = evaluator.evaluate(rules("exp(exp(exp(g2))) * g", "g / (g - g)", "log(log(g)) ^ (2 ^ y)"), seed=0)
    assert len(results) == 3
    for result in results:
        assert result.status in ("ok", "nan", "diverged", "hurdle")
        assert 0.0 <= result.reward <= 1.0


@pytest.mark.slow
def test_the_hurdle_stops_weak_rules_early_at_a_fraction_of_the_cost():
    config = EvalConfig(task="digits", steps=60, hurdle_fraction=0.25, screen=False, halving=())  # the hurdle alone
    with Evaluator(config) as evaluator:
        weak, strong = evaluator.evaluate(rules("clip(g, 1e-5) * clip(m, 1e-5)", "adam"), seed=0)
    assert weak.status == HURDLE and weak.cost <= 0.3
    assert weak.reward < evaluator.config.hurdle_threshold
    # diverging learning rates stop early, so even a good rule can cost less than 1
    assert strong.status == OK and weak.cost < strong.cost <= 1.0
    assert strong.reward > 0.8


@pytest.mark.slow
def test_results_do_not_depend_on_the_backend(tmp_path):
    batch = rules("adam", "powersign", "g")
    with Evaluator(QUADRATIC, backend="serial") as evaluator:
        serial = evaluator.evaluate(batch, seed=1)
    with Evaluator(QUADRATIC, backend="process", workers=2) as evaluator:
        parallel = evaluator.evaluate(batch, seed=1)
    assert [r.reward for r in serial] == [r.reward for r in parallel]
    assert [r.per_lr for r in serial] == [r.per_lr for r in parallel]


@pytest.mark.slow
@pytest.mark.slow
def test_a_rule_whose_worker_crashes_is_recorded_as_an_error_and_the_rest_of_the_batch_is_fine(tmp_path, monkeypatch):
    """A real worker process dies (``os._exit``) while training one rule of a population.

    The population fails as a whole (the executor retries it once: a crash again); the evaluator
    then retries its rules one at a time: the crashing rule is recorded as ``error`` (floor
    reward, ``crash: ...`` detail, not cached), its population mate and the other population are
    trained and recorded normally, with the rewards the serial backend gives them.
    """
    from pathlib import Path

    from optsearch.evaluation.executor import ProcessExecutor

    crashing, exit_code = "g * sign(m)", 77  # _crash_in_training.EXIT_CODE
    monkeypatch.syspath_prepend(str(Path(__file__).parent))  # spawned workers get this sys.path
    monkeypatch.setenv("OPTSEARCH_TEST_CRASHING_RULE", crashing)  # and this environment
    config = replace(QUADRATIC, screen=False, population_size=2)
    batch = rules("adam", crashing, "g", "powersign")  # populations [adam, crashing], [g, powersign]
    executor = ProcessExecutor(2, job_timeout_s=300, preload=("optsearch.evaluation.training", "_crash_in_training"))
    try:
        with Evaluator(config, store=tmp_path / "s.sqlite", backend=executor) as evaluator:
            results = evaluator.evaluate(batch, seed=0, searcher="t", run_id="crash", indices=[0, 1, 2, 3])
            assert evaluator.trainings == 3  # the crashed rule is not a training
    finally:
        executor.close()
    assert [r.status for r in results] == [OK, ERROR, OK, OK]
    crashed = results[1]
    assert crashed.rule == crashing and crashed.reward == 0.0 and not crashed.cached
    assert crashed.detail.startswith("crash: ") and f"exit status {exit_code}" in crashed.detail, crashed.detail
    monkeypatch.delenv("OPTSEARCH_TEST_CRASHING_RULE")
    with Evaluator(config) as serial:
        expected = serial.evaluate(rules("adam", "g", "powersign"), seed=0)
    assert [(r.status, r.reward) for r in (results[0], results[2], results[3])] == [(r.status, r.reward) for r in expected]
    with ResultStore(tmp_path / "s.sqlite") as store:
        rows = store.results(run_id="crash")
        assert store.lookup(crashed.fingerprint, crashed.task, crashed.config_hash, 0) is None  # an error is redone
    assert [(r.index, r.rule, r.status) for r in rows] == [
        (0, "adam", OK), (1, crashing, ERROR), (2, "g", OK), (3, "exp(sign(g) * sign(m)) * g", OK)
    ]


@pytest.mark.slow
def test_ray_backend_matches_serial():
    pytest.importorskip("ray")
    batch = rules("adam", "g")
    with Evaluator(QUADRATIC, backend="serial") as evaluator:
        serial = evaluator.evaluate(batch, seed=2)
    with Evaluator(QUADRATIC, backend="ray", workers=2) as evaluator:
        distributed = evaluator.evaluate(batch, seed=2)
    assert [r.reward for r in serial] == [r.reward for r in distributed]


def test_the_config_hash_separates_training_protocols():
    assert EvalConfig(task="digits", steps=10).config_hash() != EvalConfig(task="digits", steps=20).config_hash()
    assert EvalConfig(time_limit_s=1).config_hash() == EvalConfig(time_limit_s=2).config_hash()


def test_a_rule_that_cannot_be_compiled_is_recorded_as_an_error_and_the_batch_goes_on(tmp_path):
    from optsearch.dsl import Operand

    with Evaluator(QUADRATIC, store=tmp_path / "s.sqlite") as evaluator:
        broken, fine = evaluator.evaluate([Operand("not-an-operand"), parse("adam")], seed=0)
        assert evaluator.store.count() == 2
    assert broken.status == ERROR and broken.reward == 0.0 and "not-an-operand" in broken.detail
    assert fine.status == OK


def test_a_timeout_is_recorded_but_a_later_evaluation_with_more_time_trains_again(tmp_path):
    path = tmp_path / "s.sqlite"
    with Evaluator(replace(QUADRATIC, time_limit_s=1e-9), store=path) as evaluator:
        (timed_out,) = evaluator.evaluate(rules("adam"), seed=0)
        (again,) = evaluator.evaluate(rules("adam"), seed=0)  # not even this evaluator's memory serves it
        assert evaluator.trainings == 2
    assert timed_out.status == again.status == TIMEOUT and not again.cached
    with Evaluator(QUADRATIC, store=path) as evaluator:
        assert evaluator.config_hash == Evaluator(replace(QUADRATIC, time_limit_s=1e-9)).config_hash
        (retried,) = evaluator.evaluate(rules("adam"), seed=0)
    assert retried.status == OK and not retried.cached and retried.reward > timed_out.reward
    with ResultStore(path) as store:
        assert [r.status for r in store.results()] == [TIMEOUT, TIMEOUT, OK]


def test_a_store_that_cannot_be_written_still_returns_every_finished_result(tmp_path):
    store = ResultStore(tmp_path / "s.sqlite")
    conn = store._connection()
    # A real "database or disk is full": SQLite may not grow the file by one more page.
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")
    with Evaluator(QUADRATIC, store=store) as evaluator:
        with pytest.raises(StoreError, match="full") as caught:
            evaluator.evaluate(rules("adam", "sgd", "exp(g)"), seed=0, run_id="r", indices=[0, 1, 2])
        assert evaluator.trainings == 2
    finished = caught.value.results
    assert [r.rule for r in finished] == ["adam", "g", "exp(g)"]  # sgd is the rule g
    assert [r.status for r in finished[:2]] == [OK, OK] and finished[0].reward > 0.5
    assert str(caught.value).count("\n") == 0 and str(store.path) in str(caught.value)


@pytest.mark.parametrize("seed", [-1, 2**63, 10**23])
def test_seeds_the_store_cannot_hold_are_refused_before_any_training(seed):
    with Evaluator(QUADRATIC) as evaluator:
        with pytest.raises(ValueError, match="seed must be between 0 and 2"):
            evaluator.evaluate(rules("adam"), seed=seed)
        assert evaluator.trainings == 0
