"""`optsearch compare` on the quadratic with tiny budgets: every output file, checked."""

from __future__ import annotations

import csv

import matplotlib.image
import pytest

from optsearch.cli import main
from optsearch.evaluation.store import ResultStore

SEARCHERS = ["reinforce", "ppo", "gp", "random", "evolution"]


@pytest.fixture(scope="module")
def comparison(tmp_path_factory):
    out = tmp_path_factory.mktemp("compare")
    args = ["compare", "--task", "quadratic", "--budget", "8", "--seeds", "3", "--out", str(out), "--backend", "serial"]
    assert main(args + ["--quiet"]) == 0
    return out


@pytest.mark.parametrize("name", ["curves.png", "rosenbrock.png"])
def test_plots_are_real_images(comparison, name):
    path = comparison / name
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = matplotlib.image.imread(path)
    assert image.shape[0] > 300 and image.shape[1] > 300
    assert image[..., :3].std() > 0.05  # not blank


def test_summary_csv_has_the_heldout_columns_and_the_cis_contain_the_iqm(comparison):
    with open(comparison / "summary.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["searcher"] for row in rows] == SEARCHERS
    for column in (
        "heldout_iqm",
        "heldout_ci_low",
        "heldout_ci_high",
        "p_improvement_vs_random",
        "compute",
        "proposals",
        "unique_trainings",
        "cache_hit_share",
    ):
        assert column in rows[0]
    for row in rows:
        assert float(row["heldout_ci_low"]) <= float(row["heldout_iqm"]) <= float(row["heldout_ci_high"])
        assert 0.0 <= float(row["cache_hit_share"]) <= 1.0
        assert int(row["seeds"]) == 3 and int(row["proposals"]) == 8
    assert float(next(r for r in rows if r["searcher"] == "random")["p_improvement_vs_random"]) == 0.5


def test_markdown_reports_name_every_searcher_and_write_rules_as_equations(comparison):
    summary = (comparison / "summary.md").read_text()
    leaderboard = (comparison / "leaderboard.md").read_text()
    for name in SEARCHERS:
        assert name in summary
    for baseline in ("adam", "momentum", "sgd", "ld * adam"):
        assert baseline in leaderboard
    assert "## Verdict" in summary
    assert "$" in leaderboard and "\\" in leaderboard  # LaTeX equations


def test_every_proposal_is_in_the_store_and_a_rerun_resumes_without_new_work(comparison):
    with ResultStore(comparison / "results.sqlite") as store:
        for name in SEARCHERS:
            for seed in range(3):
                assert store.count(run_id=f"{name}-quadratic-seed{seed}") == 8
        before = store.count()
    args = ["compare", "--task", "quadratic", "--budget", "8", "--seeds", "3", "--out", str(comparison), "--backend", "serial"]
    assert main(args + ["--quiet"]) == 0
    with ResultStore(comparison / "results.sqlite") as store:
        after = store.results()[before:]
    # only the held-out re-evaluation is looked up again: all cache hits
    assert all(r.cached for r in after)
