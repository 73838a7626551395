"""Transfer over several tasks: task entries, the cross-task table against Adam, the speed profile.

Real tiny trainings through the command line, and constructed records with known answers.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

import optsearch.evaluation.experiments.transfer.trainer as trainer_module
from optsearch.cli import main
from optsearch.evaluation.experiments.transfer import TransferConfig, TransferResult
from optsearch.evaluation.experiments.transfer.profile import CSV_COLUMNS, PROFILE_COLUMNS
from optsearch.evaluation.experiments.transfer.profile import write as write_suite
from optsearch.evaluation.experiments.transfer.records import RuleTransfer
from optsearch.evaluation.experiments.transfer.suite import (
    TaskEntry,
    build_suite,
    parse_task_entries,
    performance_profile,
    speedup,
    steps_to_target,
    tau_grid,
)
from optsearch.evaluation.statistics.differences import paired_difference
from optsearch.evaluation.training.single import Budget, RunRecord

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SUITE_FILES = ("transfer-suite.md", "transfer-suite.csv", "transfer-suite.json", "transfer-profile.csv", "transfer-profile.png")
TASK_FILES = ("transfer.md", "transfer.csv", "transfer_curves.png", "transfer.json")


def _rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="", encoding="utf-8") as handle:
        header = next(csv.reader(handle))
        handle.seek(0)
        return header, list(csv.DictReader(handle))


def _float(text: str) -> float:
    return math.nan if text == "" else float(text)


# ------------------------------------------------------------------------------------------------
# Task entries
# ------------------------------------------------------------------------------------------------
def test_task_entries_take_the_default_model_and_refuse_malformed_ones():
    entries = parse_task_entries(" digits , MNIST1D:wrn-10-1,digits:resnet", "paper")
    assert entries == (TaskEntry("digits", "paper"), TaskEntry("mnist1d", "wrn-10-1"), TaskEntry("digits", "resnet"))
    assert [e.label for e in entries] == ["digits-paper", "mnist1d-wrn-10-1", "digits-resnet"]
    assert parse_task_entries("digits", "resnet") == (TaskEntry("digits", "resnet"),)
    for bad, fragment in (
        ("digits,,mnist1d", "entry ''"),
        ("digits,", "entry ''"),
        ("digits:", "entry 'digits:'"),
        (":paper", "entry ':paper'"),
        ("digits:paper:x", "entry 'digits:paper:x'"),
        ("digits,digits:paper", "entry 'digits:paper': digits with model paper is given twice"),
    ):
        with pytest.raises(ValueError, match=fragment):
            parse_task_entries(bad, "paper")


@pytest.mark.parametrize(
    "task, extra, fragment",
    [
        ("digits,nosuch", (), "--task entry 'nosuch': unknown task 'nosuch'"),
        ("digits,mnist1d:vgg", (), "--task entry 'mnist1d:vgg': unknown model 'vgg'"),
        ("digits,quadratic", (), "--task entry 'quadratic': task 'quadratic' is a function task"),
        ("digits,mnist1d", ("--augment",), "--task entry 'mnist1d': augmentation is for image tasks"),
        ("digits,,mnist1d", (), "--task entry ''"),
        ("digits,DIGITS:paper", (), "is given twice"),
        ("mnist1d,cifar10", ("--data-dir", "{tmp}/nowhere"), "--task entry 'cifar10':"),
    ],
)
def test_a_bad_entry_fails_with_exit_2_before_any_training(task, extra, fragment, tmp_path, monkeypatch, capsys):
    trained = []
    monkeypatch.setattr(trainer_module, "train_run", lambda *a, **k: trained.append(a) or pytest.fail("trained"))
    out = tmp_path / "out"
    extra = tuple(e.replace("{tmp}", str(tmp_path)) for e in extra)
    code = main(["transfer", "sign(m)", "--task", task, "--steps", "2", "--seeds", "1", "--out", str(out), "--quiet", *extra])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("optsearch: error: ")
    assert fragment in err[0]
    assert trained == [] and not out.exists()


# ------------------------------------------------------------------------------------------------
# Real tiny trainings through the command line
# ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def two_tasks(tmp_path_factory):
    out = tmp_path_factory.mktemp("suite") / "out"
    args = ["transfer", "sign(m)", "--task", "digits,mnist1d:wrn-10-1", "--steps", "6", "--seeds", "3", "--out", str(out), "--quiet"]
    assert main(args) == 0
    return out


@pytest.mark.slow
def test_two_tasks_write_per_task_folders_and_the_suite(two_tasks):
    out = two_tasks
    for folder in ("digits-paper", "mnist1d-wrn-10-1"):
        for name in TASK_FILES:
            assert (out / folder / name).is_file(), (folder, name)
    for name in SUITE_FILES:
        assert (out / name).is_file(), name
    assert not (out / "transfer.md").exists()  # several tasks: per-task files only in their folders
    assert (out / "transfer-profile.png").read_bytes()[:8] == PNG_SIGNATURE
    assert json.loads((out / "mnist1d-wrn-10-1" / "transfer.json").read_text())["config"]["model"] == "wrn-10-1"
    md = (out / "transfer-suite.md").read_text()
    assert "| rule | digits / paper | mnist1d / wrn-10-1 |" in md and "## Wins, losses and undecided" in md
    assert "m = 6 rule × task cells" in md and "(digits-paper/transfer.md)" in md and "transfer-profile.png" in md


@pytest.mark.slow
def test_the_suite_csv_pairs_seeds_with_adam_and_corrects_for_six_cells(two_tasks):
    out = two_tasks
    header, rows = _rows(out / "transfer-suite.csv")
    assert tuple(header) == CSV_COLUMNS
    assert [(r["rule"], r["task"], r["model"]) for r in rows] == [
        (rule, task, model) for task, model in (("digits", "paper"), ("mnist1d", "wrn-10-1")) for rule in ("sign(m)", "momentum", "sgd")
    ]
    level = 1 - 0.05 / 6
    data = json.loads((out / "transfer-suite.json").read_text())
    assert data["m"] == 6 and data["level"] == pytest.approx(level)
    for row in rows:
        diff, low, high = _float(row["diff_vs_adam"]), _float(row["ci_low"]), _float(row["ci_high"])
        assert row["seeds"] == "3" and row["verdict"] in ("beats", "loses", "undecided")
        assert low <= diff <= high
        assert row["verdict"] == ("beats" if low > 0 else "loses" if high < 0 else "undecided")
        # the interval is the paired t interval of the per-task test accuracies at the Bonferroni level
        runs = {r["rule"]: r["runs"] for r in json.loads((out / f"{row['task']}-{row['model']}" / "transfer.json").read_text())["rules"]}
        ours = [run["test_acc"] for run in runs[row["rule"]]]
        adam = [run["test_acc"] for run in runs["adam"]]
        expected = paired_difference(ours, adam, confidence=level)
        assert (diff, low, high) == pytest.approx((expected.mean, expected.low, expected.high))
        stt, adam_stt = float(row["steps_to_target"]), float(row["adam_steps_to_target"])
        assert 1 <= adam_stt <= 6 and (stt == math.inf or 1 <= stt <= 6)
        assert float(row["speedup"]) == pytest.approx(0.0 if stt == math.inf else adam_stt / stt)


@pytest.mark.slow
def test_one_task_keeps_its_files_where_they_were_and_adds_the_suite(tmp_path):
    out = tmp_path / "one"
    assert main(["transfer", "sign(m)", "--task", "digits", "--steps", "3", "--seeds", "2", "--out", str(out), "--quiet"]) == 0
    for name in (*TASK_FILES, *SUITE_FILES):
        assert (out / name).is_file(), name
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == []
    _, rows = _rows(out / "transfer-suite.csv")
    assert [(r["rule"], r["task"]) for r in rows] == [("sign(m)", "digits"), ("momentum", "digits"), ("sgd", "digits")]


# ------------------------------------------------------------------------------------------------
# Constructed results with known answers
# ------------------------------------------------------------------------------------------------
STEPS = (10, 20, 30, 40)
SEEDS = (1, 2, 3, 4, 5)
ADAM_TEST = (0.80, 0.82, 0.78, 0.81, 0.79)
ADAM_CURVES = ((0.5, 0.8, 0.8, 0.8), (0.5, 0.8, 0.85, 0.8))  # mean reaches its final 0.8 at step 20


def _run(rule: str, seed: int, test: float, curve=(0.1, 0.2, 0.3, 0.4), status: str = "ok") -> RunRecord:
    return RunRecord(rule, "seed", 0.01, seed, status, 40, curve[-1], test, 0.5, STEPS, tuple(curve), (1.0,) * 4, 0.0)


def _rule(name: str, tests=(), curves=None) -> RuleTransfer:
    curves = curves or [(0.1, 0.2, 0.3, 0.4)] * len(tests)
    runs = tuple(_run(name, seed, t, curves[i % len(curves)]) for i, (seed, t) in enumerate(zip(SEEDS, tests)))
    grid = (_run(name, 0, 0.0, (0.0,) * 4, status="diverged"),) if not runs else ()
    return RuleTransfer(name, name, name == "adam", 0.01 if runs else None, grid, runs)


def _result(task: str, rules: list[RuleTransfer]) -> TransferResult:
    config = TransferConfig(task, seeds=SEEDS)
    return TransferResult(config, task, Budget(40, 32, 10), tuple(rules), "cpu", 1, 100, 0.0)


def _plus(delta) -> tuple[float, ...]:
    deltas = delta if isinstance(delta, tuple) else (delta,) * len(ADAM_TEST)
    return tuple(a + d for a, d in zip(ADAM_TEST, deltas))


# paired differences to Adam on seeds 1..5
BETTER = _plus((0.101, 0.099, 0.1005, 0.1, 0.0995))  # +0.1 on every seed, tiny spread
WORSE = _plus((-0.101, -0.099, -0.1005, -0.1, -0.0995))
MARGINAL = _plus((0.02, 0.03, 0.005, 0.025, 0.01))  # excludes 0 at 95 %, not after Bonferroni


def _constructed_suite():
    def rules():
        return [
            _rule("better", BETTER, [(0.81, 0.9, 0.9, 0.9)]),  # reaches 0.8 at step 10: speedup 20/10 = 2
            _rule("same", ADAM_TEST, ADAM_CURVES),  # Adam's own curves: speedup 1
            _rule("worse", WORSE, [(0.5, 0.6, 0.7, 0.8)]),  # reaches at step 40: speedup 0.5
            _rule("marginal", MARGINAL, [(0.9,) * 4, (0.6,) * 4]),  # one seed reaches, the mean (0.78) never
            _rule("dead"),  # failed its whole grid: no seed runs
            _rule("adam", ADAM_TEST, ADAM_CURVES),
        ]

    return build_suite([_result("digits", rules()), _result("mnist1d", rules())])


def test_verdicts_on_known_differences_with_the_bonferroni_level():
    suite = _constructed_suite()
    assert suite.rules == ("better", "same", "worse", "marginal", "dead")
    assert suite.m == 10 and suite.level == pytest.approx(1 - 0.05 / 10)
    expected = {"better": "beats", "same": "undecided", "worse": "loses", "marginal": "undecided", "dead": "failed"}
    for cell in suite.cells:
        assert cell.verdict == expected[cell.rule], cell
    better = suite.cell("better", TaskEntry("digits", "paper"))
    assert better.diff == pytest.approx(0.1) and 0 < better.low <= better.diff <= better.high and better.seeds == 5
    same = suite.cell("same", TaskEntry("mnist1d", "paper"))
    assert (same.diff, same.low, same.high) == (0.0, 0.0, 0.0)
    marginal = suite.cell("marginal", TaskEntry("digits", "paper"))
    assert paired_difference(MARGINAL, ADAM_TEST, confidence=0.95).low > 0  # uncorrected it would "win"
    assert marginal.low < 0 < marginal.high
    assert (marginal.low, marginal.high) == pytest.approx(
        (lambda d: (d.low, d.high))(paired_difference(MARGINAL, ADAM_TEST, confidence=1 - 0.05 / 10))
    )
    dead = suite.cell("dead", TaskEntry("digits", "paper"))
    assert dead.seeds == 0 and math.isnan(dead.diff) and math.isnan(dead.low)
    counts = suite.tallies()
    assert counts["better"] == {"beats": 2, "loses": 0, "undecided": 0, "failed": 0}
    assert counts["worse"]["loses"] == 2 and counts["same"]["undecided"] == 2 and counts["dead"]["failed"] == 2


def test_steps_to_target_on_constructed_curves():
    assert steps_to_target([10, 20, 30], [0.1, 0.5, 0.4], 0.45) == 20
    assert steps_to_target([10, 20, 30], [0.1, 0.45, 0.5], 0.45) == 20  # reaching counts (>=)
    assert steps_to_target([10, 20, 30], [0.1, 0.2, 0.3], 0.45) == math.inf
    assert speedup(20, 10) == 2.0 and speedup(20, 40) == 0.5 and speedup(20, math.inf) == 0.0
    suite = _constructed_suite()
    for entry in suite.entries:
        cells = {rule: suite.cell(rule, entry) for rule in suite.rules}
        # Adam's target 0.8 = its mean final accuracy; its mean curve (0.5, 0.8, 0.825, 0.8) reaches it at 20
        assert all(c.adam_steps_to_target == 20 for c in cells.values())
        assert (cells["better"].steps_to_target, cells["better"].speedup) == (10, 2.0)
        assert (cells["same"].steps_to_target, cells["same"].speedup) == (20, 1.0)
        assert (cells["worse"].steps_to_target, cells["worse"].speedup) == (40, 0.5)
        assert (cells["marginal"].steps_to_target, cells["marginal"].speedup) == (math.inf, 0.0)
        assert (cells["dead"].steps_to_target, cells["dead"].speedup) == (math.inf, 0.0)


def test_profile_fractions():
    taus = [0.25, 0.5, 1.0, 2.0, 4.0]
    assert performance_profile([2.0, 0.5, 0.0, 1.0], taus).tolist() == [0.75, 0.75, 0.5, 0.25, 0.0]
    assert performance_profile([math.nan, 1.0], [1.0]).tolist() == [0.5]  # no target: never counts
    grid = tau_grid([0.0, 40.0, 0.01])
    assert 1.0 in grid and grid[0] <= 0.01 and grid[-1] >= 40 and grid[0] <= 1 / 16 and np.all(np.diff(grid) > 0)
    # a rule with speedup 2 on one task and 0.5 on the other
    suite = build_suite(
        [
            _result("digits", [_rule("r", ADAM_TEST, [(0.81, 0.9, 0.9, 0.9)]), _rule("adam", ADAM_TEST, ADAM_CURVES)]),
            _result("mnist1d", [_rule("r", ADAM_TEST, [(0.5, 0.6, 0.7, 0.8)]), _rule("adam", ADAM_TEST, ADAM_CURVES)]),
        ]
    )
    taus, profiles = suite.profile()
    at = dict(zip(taus.tolist(), profiles["r"].tolist()))
    assert at[0.5] == 1.0 and at[1.0] == 0.5 and at[2.0] == 0.5 and at[4.0] == 0.0


def test_a_failed_rule_is_reported_not_a_crash(tmp_path):
    paths = write_suite(_constructed_suite(), tmp_path)
    header, rows = _rows(paths["csv"])
    dead = [r for r in rows if r["rule"] == "dead"]
    assert len(dead) == 2 and all(r["verdict"] == "failed" and r["diff_vs_adam"] == "" and r["speedup"] == "0.0" for r in dead)
    assert all(r["steps_to_target"] == "inf" for r in dead)
    md = paths["md"].read_text()
    assert "| dead | ✗ failed | ✗ failed |" in md and "| better | 2 | 0 | 0 | 0 |" in md
    assert "▲ +0.100 [+0.0" in md and "▼ −0.100 [−0.1" in md
    profile_header, profile_rows = _rows(paths["profile_csv"])
    assert tuple(profile_header) == PROFILE_COLUMNS
    assert {r["rule"] for r in profile_rows} == {"better", "same", "worse", "marginal", "dead"}
    assert all(float(r["fraction"]) == 0.0 for r in profile_rows if r["rule"] == "dead")
    data = json.loads(paths["json"].read_text())  # strict JSON: inf and NaN become null
    assert data["m"] == 10 and data["tallies"]["dead"]["failed"] == 2
    assert paths["png"].read_bytes()[:8] == PNG_SIGNATURE


@pytest.mark.slow
def test_a_suite_in_processes_equals_the_suite_in_one_process(tmp_path):
    """Transfer numbers depend on rule, task, network, rate and seed only, never on the process."""
    from optsearch.evaluation.experiments.transfer.runner import run_suite
    from optsearch.evaluation.experiments.transfer.suite import TaskEntry

    def configs():
        return [
            (TaskEntry("digits", "paper"), TransferConfig("digits", steps=4, seeds=(1, 2), lrs=(1e-2, 1e-1), num_threads=1)),
            (TaskEntry("mnist1d", "paper"), TransferConfig("mnist1d", steps=4, seeds=(1, 2), lrs=(1e-2, 1e-1), num_threads=1)),
        ]

    rules = {"signum": "sign(m)"}
    serial, _ = run_suite(rules, configs(), tmp_path / "serial")
    parallel, files = run_suite(rules, configs(), tmp_path / "parallel", processes=2)
    assert [c.row() for c in serial.cells] == [c.row() for c in parallel.cells]
    assert (tmp_path / "parallel" / "digits-paper" / "transfer.md").exists() and files["md"].exists()


@pytest.mark.slow
def test_reference_rules_join_a_transfer_by_name(tmp_path, capsys):
    out = tmp_path / "refs"
    argv = ["transfer", "--task", "digits", "--steps", "3", "--seeds", "1", "--references", "signum,signsgd", "--out", str(out), "--quiet"]
    assert main(argv) == 0
    rules = {row["rule"] for row in csv.DictReader((out / "transfer-suite.csv").open())}
    assert {"signum", "signsgd", "momentum", "sgd"} <= rules
    assert main([*argv[:-3], "--references", "lion", "--out", str(out / "x")]) == 2
    assert "'lion' is not a reference rule" in capsys.readouterr().err
