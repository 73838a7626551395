"""A comparison run in parts (``compare --first-seed``) and merged gives the report of the whole, on a
real (tiny) comparison of the quadratic."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from optsearch.cli import main
from optsearch.evaluation.reports.runs import RUN_COLUMNS, read_runs

COMMON = ["--task", "quadratic", "--searchers", "random,reinforce", "--budget", "10", "--race-top", "0", "--backend", "serial"]
COMMON += ["--verdict-budgets", "4", "--quiet"]


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """The whole study (seeds 0-5) and the same in three parts (0-1, 2-3, 4-5), each in a store of its own;
    and seeds 2-5 once more, split by searcher (``random2``, ``reinforce2``)."""
    root = tmp_path_factory.mktemp("merge")
    assert main(["compare", *COMMON, "--seeds", "6", "--out", str(root / "whole")]) == 0
    for first in (0, 2, 4):
        assert main(["compare", *COMMON, "--seeds", "2", "--first-seed", str(first), "--out", str(root / f"part{first}")]) == 0
    for searcher in ("random", "reinforce"):
        only = [*COMMON, "--searchers", searcher, "--seeds", "4", "--first-seed", "2", "--out", str(root / f"{searcher}2")]
        assert main(["compare", *only]) == 0
    return root


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _numbers(path: Path) -> list[dict[str, str]]:
    """``runs.csv`` without the rule texts, which name each part's shortest text of a functional class."""
    return [{k: v for k, v in row.items() if k != "final_rule"} for row in _rows(path)]


@pytest.mark.slow
def test_the_merged_parts_give_the_report_of_the_whole(study):
    parts = [str(study / f"part{first}") for first in (4, 0, 2)]  # in any order
    assert main(["merge", *parts, "--out", str(study / "merged")]) == 0
    assert {row.seed for row in read_runs(study / "part2" / "runs.csv")} == {2, 3}
    for name in ("summary.csv", "budgets.csv", "verdicts.csv"):
        assert (study / "merged" / name).read_bytes() == (study / "whole" / name).read_bytes(), name
    assert _numbers(study / "merged" / "runs.csv") == _numbers(study / "whole" / "runs.csv")
    assert [row["budget"] for row in _rows(study / "merged" / "runs.csv")] == ["4"] * 12 + ["10"] * 12
    whole = (study / "whole" / "summary.md").read_text()
    merged = (study / "merged" / "summary.md").read_text()
    for section in ("## Verdict\n", "## Verdict by budget"):
        start = whole.index(section)
        end = whole.index("\n\n", whole.index("\n|", start) if "by budget" in section else whole.index("\n- ", start))
        assert whole[start:end] in merged
    assert [(r["first_seed"], r["last_seed"]) for r in _rows(study / "merged" / "parts.csv")] == [("0", "1"), ("2", "3"), ("4", "5")]


@pytest.mark.slow
def test_a_study_grown_by_searchers_merges_to_the_report_of_the_whole(study):
    # seeds 0-1 with both searchers, then seeds 2-5 as two parts of one searcher each
    parts = [str(study / name) for name in ("part0", "reinforce2", "random2")]
    assert main(["merge", *parts, "--out", str(study / "grown")]) == 0
    for name in ("summary.csv", "budgets.csv", "verdicts.csv"):
        assert (study / "grown" / name).read_bytes() == (study / "whole" / name).read_bytes(), name
    assert _numbers(study / "grown" / "runs.csv") == _numbers(study / "whole" / "runs.csv")
    lines = [(r["searchers"], r["first_seed"], r["last_seed"]) for r in _rows(study / "grown" / "parts.csv")]
    assert lines == [("random reinforce", "0", "1"), ("reinforce", "2", "5"), ("random", "2", "5")]
    assert "on search seeds 0–1, 2–5 (reinforce), 2–5 (random): 6 seeds per searcher" in (study / "grown" / "summary.md").read_text()


@pytest.mark.slow
def test_planned_looks_widen_the_merged_verdicts_intervals(study, tmp_path):
    parts = [str(study / f"part{first}") for first in (0, 2, 4)]
    assert main(["merge", *parts, "--out", str(tmp_path / "one")]) == 0
    assert main(["merge", *parts, "--looks", "13", "--out", str(tmp_path / "thirteen")]) == 0
    one, thirteen = _rows(tmp_path / "one" / "verdicts.csv"), _rows(tmp_path / "thirteen" / "verdicts.csv")
    for a, b in zip(one, thirteen):
        assert (a["diff"], a["ci_low"], a["ci_high"]) == (b["diff"], b["ci_low"], b["ci_high"])  # one pair's own interval
        assert float(b["fw_ci_low"]) < float(a["fw_ci_low"]) and float(b["fw_ci_high"]) > float(a["fw_ci_high"])
    assert "(Bonferroni over the pair × the study's 13 planned looks" in (tmp_path / "thirteen" / "summary.md").read_text()
    assert main(["merge", *parts, "--looks", "0", "--out", str(tmp_path / "none")]) == 2
    assert not (tmp_path / "none" / "summary.csv").exists()  # nothing written for a refused merge


@pytest.mark.slow
def test_a_changed_run_changes_the_merged_verdict(study, tmp_path):
    # the merged numbers come from the parts' runs: one run's held-out score altered moves them
    broken = tmp_path / "part0"
    shutil.copytree(study / "part0", broken)
    rows = _rows(broken / "runs.csv")
    for row in rows:
        if row["searcher"] == "random" and row["seed"] == "0":
            row["heldout_mean"] = repr(float(row["heldout_mean"]) - 5.0)
    with (broken / "runs.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, RUN_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    assert main(["merge", str(broken), str(study / "part2"), str(study / "part4"), "--out", str(tmp_path / "merged")]) == 0
    assert (tmp_path / "merged" / "summary.csv").read_bytes() != (study / "whole" / "summary.csv").read_bytes()


@pytest.mark.slow
def test_parts_that_are_not_of_one_study_are_refused(study, tmp_path, capsys):
    def refused(*parts) -> str:
        assert main(["merge", *map(str, parts), "--out", str(tmp_path / "out")]) == 2
        return capsys.readouterr().err

    assert "search seed 0 of random is also in" in refused(study / "part0", study / "whole")
    assert "give at least two parts" in refused(study / "part0")
    assert "no manifest.toml" in refused(study / "part0", tmp_path)
    other = tmp_path / "other"
    shutil.copytree(study / "part2", other)
    manifest = (other / "manifest.toml").read_text()
    (other / "manifest.toml").write_text(manifest.replace("budget = 10", "budget = 12"))
    assert "its budget (12) differs" in refused(study / "part0", other)
    (other / "manifest.toml").write_text(manifest)
    (other / "runs.csv").write_text("searcher,seed\nrandom,2\n")
    assert "runs.csv: columns" in refused(study / "part0", other)
    # a hole in the grid: reinforce has no part on seeds 2-5
    assert "searcher reinforce has no run on search seeds 2–5 that other searchers have" in refused(study / "part0", study / "random2")
    # one label, two searchers: the added reinforce runs under other options
    changed = tmp_path / "changed"
    shutil.copytree(study / "reinforce2", changed)
    text = (changed / "manifest.toml").read_text()
    assert 'label = "reinforce"\n' in text
    (changed / "manifest.toml").write_text(text.replace('label = "reinforce"\n', 'label = "reinforce"\noptions = { learning_rate = 0.1 }\n'))
    assert "its searcher 'reinforce' is" in refused(study / "part0", changed, study / "random2")
    assert not (tmp_path / "out" / "summary.csv").exists()  # nothing written for a refused merge


def test_first_seed_keeps_search_seeds_below_the_heldout_seeds():
    from optsearch.cli_options import MAX_FIRST_SEED, MAX_SEED_RUNS
    from optsearch.evaluation.experiments.heldout import HELDOUT_SEED_BASE

    assert MAX_FIRST_SEED + MAX_SEED_RUNS <= HELDOUT_SEED_BASE
    assert main(["compare", "--first-seed", str(MAX_FIRST_SEED + 1), "--task", "quadratic"]) == 2
