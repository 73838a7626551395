"""The verdict at several budgets from the same runs, on a real (tiny) comparison of the quadratic."""

from __future__ import annotations

import csv
import math
import statistics
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sst

from optsearch.cli import main
from optsearch.evaluation.config import EvalConfig
from optsearch.evaluation.reports.comparison import write_report
from optsearch.evaluation.reports.summary import pairwise
from optsearch.evaluation.statistics import stats
from optsearch.evaluation.statistics.differences import unpaired_difference
from optsearch.evaluation.statistics.incumbents import final_incumbent
from optsearch.experiment import ExperimentError, read_experiment
from optsearch.searchers.studies.compare import CompareConfig, run_comparison

SEARCHERS = ("random", "reinforce")
COMPARE = CompareConfig(searchers=SEARCHERS, budget=10, seeds=3, heldout_seeds=3, race_top=0, verdict_budgets=(4, 10))
QUICK = ["--task", "quadratic", "--searchers", ",".join(SEARCHERS), "--seeds", "3", "--race-top", "0", "--backend", "serial"]


@pytest.fixture(scope="module")
def comparison(tmp_path_factory):
    out = tmp_path_factory.mktemp("budgets")
    outcome = run_comparison(COMPARE, EvalConfig(task="quadratic"), out, store=str(out / "results.sqlite"), backend="serial")
    return out, outcome


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _at(rows: list[dict[str, str]], budget: int) -> list[dict[str, str]]:
    return [row for row in rows if row["budget"] == str(budget)]


def _incumbent_by_hand(run):
    """The first proposal with the best finite search reward (the first proposal when none is finite)."""
    def reward(r):
        return r.reward if math.isfinite(r.reward) else -math.inf

    best = run[0]
    for r in run[1:]:
        if reward(r) > reward(best):
            best = r
    return best


@pytest.mark.slow
def test_the_final_budget_row_is_the_summary_exactly(comparison):
    out, outcome = comparison
    summary = {row["searcher"]: row for row in _csv(out / "summary.csv")}
    final = _at(_csv(out / "budgets.csv"), 10)
    assert [row["searcher"] for row in final] == list(SEARCHERS)
    for row in final:
        expected = summary[row["searcher"]]
        assert (row["heldout_iqm"], row["ci_low"], row["ci_high"], row["compute"]) == (
            expected["heldout_iqm"], expected["heldout_ci_low"], expected["heldout_ci_high"], expected["compute"]
        )  # fmt: skip
    pairs = _at(_csv(out / "verdicts.csv"), 10)
    assert [
        (row["a"], row["b"], float(row["diff"]), float(row["ci_low"]), float(row["ci_high"]), row["separated"]) for row in pairs
    ] == [(a, b, d.mean, d.low, d.high, str(d.separated).lower()) for a, b, d, _ in pairwise(outcome.data)]
    text = (out / "summary.md").read_text()
    section = text[text.index("## Verdict by budget") :]
    final_line = next(line for line in section.splitlines() if line.startswith("| 10 |"))
    verdict = text[text.index("## Verdict\n") : text.index("## Verdict by budget")]
    for a, b, d, _ in pairwise(outcome.data):
        winner, loser = (a, b) if d.mean > 0 else (b, a)
        assert (f"{winner} > {loser} (" in final_line) == d.separated == (f"**{winner} beats {loser}**" in verdict)
    assert [line.split(" | ")[0] for line in section.splitlines() if line.startswith("| ") and line[2].isdigit()] == ["| 4", "| 10"]


@pytest.mark.slow
def test_budget_4_is_every_run_cut_to_its_first_4_proposals(comparison):
    out, outcome = comparison
    data = outcome.data
    rows = {row["searcher"]: row for row in _at(_csv(out / "budgets.csv"), 4)}
    scores = {}
    for label, per_seed in data.runs.items():
        scores[label] = np.asarray([statistics.fmean(data.heldout.scores(_incumbent_by_hand(run[:4]).fingerprint)) for run in per_seed])
        row = rows[label]
        assert float(row["heldout_iqm"]) == pytest.approx(sst.trim_mean(scores[label], 0.25), abs=1e-12)
        assert (float(row["ci_low"]), float(row["ci_high"])) == stats.iqm_ci(scores[label], 0.95, 0)
        costs = [sum(r.cost if math.isfinite(r.cost) else 0.0 for r in run[:4]) for run in per_seed]
        assert float(row["compute"]) == pytest.approx(statistics.fmean(costs), abs=1e-12)
    (pair,) = _at(_csv(out / "verdicts.csv"), 4)
    d = unpaired_difference(scores["random"], scores["reinforce"], 0.95)
    assert (pair["a"], pair["b"]) == SEARCHERS
    assert (float(pair["diff"]), float(pair["ci_low"]), float(pair["ci_high"])) == pytest.approx((d.mean, d.low, d.high), abs=1e-12)
    assert pair["separated"] == str(d.separated).lower()
    # the cut is real: some run had another incumbent after 4 proposals than at its end
    assert any(_incumbent_by_hand(run[:4]).fingerprint != final_incumbent(run).fingerprint for per_seed in data.runs.values() for run in per_seed)


@pytest.mark.slow
def test_without_verdict_budgets_the_report_is_the_same_less_the_section(comparison, tmp_path):
    out, outcome = comparison
    files = write_report(outcome.data, tmp_path)
    assert "budgets_csv" not in files and not (tmp_path / "budgets.csv").exists() and not (tmp_path / "verdicts.csv").exists()
    with_section = (out / "summary.md").read_text()
    start, end = with_section.index("## Verdict by budget"), with_section.index("## Learning")
    assert start < end
    assert with_section[:start] + with_section[end:] == (tmp_path / "summary.md").read_text()
    assert (tmp_path / "summary.csv").read_text() == (out / "summary.csv").read_text()


@pytest.mark.parametrize("where", ["flag", "file"])
def test_a_budget_above_the_runs_is_one_line_and_exit_2_before_any_work(where, tmp_path, capsys):
    (tmp_path / "e.toml").write_text("verdict_budgets = [4, 11]\n")
    given = ["--verdict-budgets", "4,11"] if where == "flag" else ["--config", str(tmp_path / "e.toml")]
    assert main(["compare", *QUICK, "--budget", "10", *given, "--out", str(tmp_path / "out"), "--quiet"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == ["optsearch: error: --verdict-budgets: verdict budget 11 is above the run's budget of 10 proposals"]
    assert not (tmp_path / "out").exists()
    with pytest.raises(ValueError, match="above the run's budget"):
        too_far = CompareConfig(budget=10, verdict_budgets=(11,))
        run_comparison(too_far, EvalConfig(task="quadratic"), tmp_path / "api", store=str(tmp_path / "s.sqlite"))
    assert not (tmp_path / "api").exists()


def test_the_experiment_file_key_is_an_array_of_positive_budgets(tmp_path):
    path = tmp_path / "e.toml"
    path.write_text("verdict_budgets = [2000, 100, 500, 100]\n")
    assert read_experiment(path).settings["verdict_budgets"] == (100, 500, 2000)
    path.write_text("verdict_budgets = []\n")  # what a manifest of a run without them holds
    assert read_experiment(path).settings["verdict_budgets"] == ()
    for bad in ("0", "'100'", "[100, 0]", "[1.5]", "[true]", '["a"]'):
        path.write_text(f"verdict_budgets = {bad}\n")
        with pytest.raises(ExperimentError, match=r"e\.toml: verdict_budgets ") as error:
            read_experiment(path)
        assert "\n" not in str(error.value)
    assert CompareConfig(budget=10, verdict_budgets=(4,)).verdict_steps() == (4, 10)  # the final budget is added
    assert CompareConfig(budget=10).verdict_steps() == ()


@pytest.mark.slow
def test_familywise_intervals_cover_every_pair_at_every_budget(comparison):
    """The table's claims hold together: each pair also has an interval at 1 - 0.05/m over the m pair x budget
    intervals, wider than its own, and only pairs separated there are listed as separated family-wise."""
    from optsearch.evaluation.reports.budgets import verdicts_by_budget

    out, outcome = comparison[0], comparison[-1]
    rows = _csv(out / "verdicts.csv")
    assert len(rows) == 2  # one pair of searchers at budgets 4 and 10: m = 2
    for row in rows:
        low, high, fw_low, fw_high = (float(row[k]) for k in ("ci_low", "ci_high", "fw_ci_low", "fw_ci_high"))
        assert fw_low <= low <= float(row["diff"]) <= high <= fw_high
        assert row["separated_familywise"] == ("true" if fw_low > 0 or fw_high < 0 else "false")
    # a pair separated family-wise is separated unadjusted too
    for verdict in verdicts_by_budget(outcome.data, (4,)):
        assert {(w, l) for w, l, _ in verdict.separated_familywise} <= {(w, l) for w, l, _ in verdict.separated}
