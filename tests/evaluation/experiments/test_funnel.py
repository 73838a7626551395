"""The funnel's last stage: the race's confirmed rules transferred to other tasks, on one page."""

from __future__ import annotations

import csv

import pytest

from optsearch.cli import main
from optsearch.evaluation.experiments.funnel import rules_to_transfer, transfer_found
from optsearch.evaluation.experiments.race import RaceResult
from optsearch.evaluation.statistics.racing import BEATS, LOSES, UNDECIDED, RacePlan, RaceRow


def _race(verdicts):
    rows = tuple(
        RaceRow(rule, verdict, diff, diff - 0.01, diff + 0.01, 10, 0.01, 0.02)
        for rule, verdict, diff in verdicts
    )
    return RaceResult("digits", RacePlan(), rows, {r.rule: 0.9 for r in rows}, 0.9)


def test_confirmed_rules_are_transferred_and_else_the_best_unconfirmed_one():
    race = _race([("sign(m)", BEATS, 0.03), ("g", LOSES, -0.05), ("ld * sign(m)", BEATS, 0.02)])
    assert rules_to_transfer(race) == ({"sign(m)": "sign(m)", "ld * sign(m)": "ld * sign(m)"}, True)
    race = _race([("g", LOSES, -0.05), ("sign(m)", UNDECIDED, 0.004), ("m", UNDECIDED, 0.01)])
    assert rules_to_transfer(race) == ({"m": "m"}, False)


@pytest.mark.slow
def test_transfer_found_writes_the_suite_and_the_funnel_page(tmp_path):
    race = _race([("sign(m)", BEATS, 0.03), ("g", LOSES, -0.05)])
    files = transfer_found(race, "digits,mnist1d:gru", 2, tmp_path, processes=2, steps=3)
    page = files["funnel_md"].read_text()
    assert "`sign(m)`" in page and "unconfirmed" not in page and "digits / paper" in page and "mnist1d / gru" in page
    with (tmp_path / "transfer" / "transfer-suite.csv").open() as handle:
        cells = list(csv.DictReader(handle))
    assert {(c["rule"], c["task"], c["model"]) for c in cells} >= {("sign(m)", "digits", "paper"), ("sign(m)", "mnist1d", "gru")}
    assert "g" not in {c["rule"] for c in cells}  # a rule that lost the race is not transferred
    assert (tmp_path / "transfer" / "mnist1d-gru" / "transfer.md").exists()


def test_compare_rejects_a_bad_transfer_entry_before_any_work(tmp_path, capsys):
    out = tmp_path / "cmp"
    assert main(["compare", "--task", "quadratic", "--transfer", "digits:lstm", "--out", str(out)]) == 2
    assert "lstm" in capsys.readouterr().err
    assert not (out / "results.sqlite").exists()


@pytest.mark.slow
def test_compare_with_transfer_runs_the_whole_funnel(tmp_path):
    out = tmp_path / "funnel"
    argv = ["compare", "--task", "quadratic", "--searchers", "random", "--budget", "6", "--seeds", "2", "--heldout-seeds", "2",
            "--race-top", "2", "--race-seeds", "3", "--transfer", "digits", "--transfer-seeds", "2", "--backend", "serial",
            "--out", str(out), "--quiet"]  # fmt: skip
    assert main(argv) == 0
    page = (out / "funnel.md").read_text()
    assert "**Race** on quadratic" in page and "digits / paper" in page
    assert (out / "race.md").exists() and (out / "transfer" / "transfer-suite.md").exists()
    assert "transfer = \"digits\"" in (out / "manifest.toml").read_text()
