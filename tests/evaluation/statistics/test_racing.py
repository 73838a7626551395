"""Racing rules against Adam: the procedure's error rate and power on synthetic data, and real races
through the evaluator and its store (a race run again trains nothing)."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from optsearch.evaluation.evaluator import Evaluator
from optsearch.evaluation.experiments.heldout import heldout_config
from optsearch.evaluation.experiments.race import RACE_SEED_BASE, race_rules, write_race
from optsearch.evaluation.statistics.differences import paired_difference
from optsearch.evaluation.statistics.racing import (
    BEATS,
    LOSES,
    SPENDING_PLANS,
    UNDECIDED,
    RacePlan,
    detectable_difference,
    race,
    simulate_race,
    t_intervals,
)
from optsearch.evaluation.config import EvalConfig


# ------------------------------------------------------------------------------------------------
# The procedure on synthetic paired differences
# ------------------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("noise", ["normal", "t3"])
def test_familywise_error_on_null_data_stays_below_alpha(noise):
    """Five rules equal to Adam, four looks: the share of races with any claim stays <= 5 %."""
    result = simulate_race((0.0,) * 5, RacePlan(), races=1500, noise=noise, seed=11)
    assert result["fwer"] <= 0.05


@pytest.mark.slow
def test_looking_without_adjustment_would_fail_the_same_check():
    """The check above can fail: 95 % intervals at every look and for every rule claim far too often."""
    plan = RacePlan()
    unadjusted = [plan.alpha] * len(plan.looks)
    result = simulate_race((0.0,) * 5, plan, races=500, seed=11, levels=unadjusted)
    assert result["fwer"] > 0.2


@pytest.mark.slow
def test_power_on_a_true_difference():
    """A rule 0.03 above Adam (spread 0.02) is found in nearly every race, and early."""
    result = simulate_race((0.03, 0.0, 0.0), RacePlan(), races=400, seed=5)
    assert result["power"] >= 0.95
    clear = simulate_race((0.05,), RacePlan(), races=200, seed=6)
    assert clear["power"] == 1.0 and clear["seeds"] <= 10.5  # decided by the second look of four


def test_a_rule_below_adam_is_declared_a_loss():
    rows = race(["bad"], lambda active, n: {"bad": (np.linspace(0.70, 0.71, n), np.linspace(0.80, 0.815, n))})
    assert rows[0].verdict == LOSES and rows[0].seeds == 5 and rows[0].high < 0


def test_race_stops_decided_rules_and_asks_only_for_undecided_ones():
    rng = np.random.default_rng(0)
    adam = rng.normal(0.8, 0.01, 20)
    table = {"good": adam + 0.05 + rng.normal(0, 0.002, 20), "same": adam + rng.normal(0, 0.01, 20)}
    asked = []

    def draw(active, n):
        asked.append((tuple(active), n))
        return {rule: (table[rule][:n], adam[:n]) for rule in active}

    rows = race(["good", "same"], draw, RacePlan(first=5, step=5, cap=20))
    assert asked[0] == (("good", "same"), 5)
    assert all(active == ("same",) for active, _ in asked[1:])
    assert [n for _, n in asked] == [5, 10, 15, 20]
    good, same = rows
    assert good.verdict == BEATS and good.seeds == 5
    assert same.verdict == UNDECIDED and same.seeds == 20 and same.detectable > 0
    assert "no difference detectable at 20 seeds" in same.statement


def test_intervals_are_those_of_the_paired_t_test():
    rng = np.random.default_rng(3)
    x, y = rng.normal(0.8, 0.02, 9), rng.normal(0.79, 0.02, 9)
    mean, low, high = t_intervals((x - y)[None, :], 0.99)
    reference = paired_difference(x, y, 0.99)
    assert np.allclose([mean[0], low[0], high[0]], [reference.mean, reference.low, reference.high])


def test_plan_spends_exactly_alpha_over_looks_and_rules():
    for spending in SPENDING_PLANS:
        plan = RacePlan(first=4, step=3, cap=13, spending=spending)
        assert plan.looks == (4, 7, 10, 13)
        assert sum(plan.levels(5)) * 5 == pytest.approx(plan.alpha)
    with pytest.raises(ValueError, match="below the first look"):
        RacePlan(first=10, cap=5)
    with pytest.raises(ValueError, match="at least 2 seeds"):
        RacePlan(first=1)


def test_detectable_difference_shrinks_with_seeds():
    rng = np.random.default_rng(1)
    d = rng.normal(0, 0.02, 40)
    assert detectable_difference(d[:5], 0.01) > detectable_difference(d, 0.01) > 0


# ------------------------------------------------------------------------------------------------
# Real races through the evaluator and the store
# ------------------------------------------------------------------------------------------------
TINY = dict(task="digits", steps=12, lrs=(1e-2, 1e-1))


def test_adam_raced_against_itself_differs_by_nothing_and_stays_undecided(tmp_path):
    config = heldout_config(EvalConfig(**TINY, screen=True, hurdle=True))
    with Evaluator(config, store=str(tmp_path / "race.sqlite"), backend="serial") as evaluator:
        result = race_rules(evaluator, ["adam", "sign(m)"], RacePlan(first=2, step=2, cap=4))
    adam_row = result.rows[0]
    assert (adam_row.rule, adam_row.verdict, adam_row.seeds) == ("adam", UNDECIDED, 4)
    assert adam_row.diff == adam_row.low == adam_row.high == 0.0
    assert result.means["adam"] == result.adam_mean


@pytest.mark.slow
def test_race_trains_on_race_seeds_and_a_rerun_trains_nothing(tmp_path):
    store = str(tmp_path / "race.sqlite")
    config = heldout_config(EvalConfig(**TINY, screen=True, hurdle=True))
    plan = RacePlan(first=2, step=1, cap=3)
    with Evaluator(config, store=store, backend="serial") as evaluator:
        first = race_rules(evaluator, ["sign(m)", "g"], plan)
    assert first.trainings > 0
    assert {row.rule for row in first.rows} == {"sign(m)", "g"}
    assert all(2 <= row.seeds <= 3 for row in first.rows)
    with Evaluator(config, store=store, backend="serial") as evaluator:
        again = race_rules(evaluator, ["sign(m)", "g"], plan)
        # every evaluation the race made is in the store under the race's seeds
        seeds = {r.seed for r in evaluator.store.results(run_id="race")}
    assert again.trainings == 0
    assert again.rows == first.rows
    assert seeds == set(range(RACE_SEED_BASE, RACE_SEED_BASE + first.seeds_used))

    files = write_race(first, tmp_path / "out", reference_label="held-out mean")
    with files["race_csv"].open() as handle:
        rows = list(csv.DictReader(handle))
    assert [row["rule"] for row in rows] == ["sign(m)", "g"]
    for row in rows:
        assert float(row["diff_ci_low"]) <= float(row["diff_vs_adam"]) <= float(row["diff_ci_high"])
    text = files["race_md"].read_text()
    assert "Bonferroni" in text and "sign(m)" in text
    assert files["race_png"].stat().st_size > 0


@pytest.mark.slow
def test_confirm_command_races_writes_its_files_and_a_rerun_trains_nothing(tmp_path, capsys):
    from optsearch.cli import main
    from optsearch.evaluation.store import SQLiteStore

    out = tmp_path / "confirm"
    argv = ["confirm", "sign(m)", "g", "--task", "digits", "--steps", "12", "--lrs", "0.01,0.1", "--race-seeds", "3",
            "--first", "2", "--step", "1", "--backend", "serial", "--out", str(out), "--quiet"]  # fmt: skip
    assert main(argv) == 0
    assert {p.name for p in out.iterdir()} >= {"race.md", "race.csv", "race.png", "results.sqlite"}
    store = SQLiteStore(str(out / "results.sqlite"))
    trained = sum(not r.cached for r in store.results())
    assert trained >= 3 * 2  # two rules and Adam on at least two seeds
    assert main(argv) == 0
    assert sum(not r.cached for r in SQLiteStore(str(out / "results.sqlite")).results()) == trained
    assert "Raced against Adam on digits" in capsys.readouterr().out


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--task", "mnist1d-bench"], "is a bench"),
        (["--first", "1"], "at least 2 seeds"),
        (["--alpha", "1.5"], "--alpha"),
    ],
)
def test_confirm_rejects_bad_input_before_training(tmp_path, capsys, extra, message):
    from optsearch.cli import main

    out = tmp_path / "o"
    assert main(["confirm", "sign(m)", "--task", "digits", "--out", str(out), *extra]) == 2
    assert message in capsys.readouterr().err
    assert not (out / "results.sqlite").exists()


def test_confirm_rejects_a_rule_that_does_not_parse(tmp_path, capsys):
    from optsearch.cli import main

    assert main(["confirm", "sign(m", "--task", "digits", "--out", str(tmp_path / "o")]) == 2
    assert "sign(m" in capsys.readouterr().err
