"""`optsearch compare` on the quadratic with tiny budgets: every output file, checked."""

from __future__ import annotations

import csv
import math
import re
import sqlite3

import matplotlib.image
import pytest

from optsearch.cli import main
from optsearch.evaluation.store import ResultStore

pytestmark = pytest.mark.slow  # the module's comparison of five searchers; the fast tier's comparisons are cheaper ones

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


def _store_rows(path) -> dict[tuple[str, int], list[tuple]]:
    """(searcher, seed) -> its search run's rows (cached, status, cost), read with plain SQL."""
    connection = sqlite3.connect(path)
    try:
        rows = connection.execute(
            "SELECT run_id, cached, status, cost FROM evaluations WHERE proposal IS NOT NULL ORDER BY run_id, proposal"
        ).fetchall()
    finally:
        connection.close()
    runs: dict[tuple[str, int], list[tuple]] = {}
    for name in SEARCHERS:
        for seed in range(3):
            run_id = f"{name}-quadratic-seed{seed}"
            runs[(name, seed)] = [(bool(cached), status, cost) for rid, cached, status, cost in rows if rid == run_id]
    return runs


def test_summary_compute_trainings_and_cache_share_are_those_of_the_store_rows(comparison):
    with open(comparison / "summary.csv", newline="") as handle:
        summary = {row["searcher"]: row for row in csv.DictReader(handle)}
    runs = _store_rows(comparison / "results.sqlite")
    for name in SEARCHERS:
        rows = [row for seed in range(3) for row in runs[(name, seed)]]
        assert len(rows) == 3 * 8
        # compute: the mean over seeds of a run's total cost (a non-finite cost counts 0)
        totals = [
            sum(cost for _, _, cost in runs[(name, seed)] if cost is not None and math.isfinite(cost)) for seed in range(3)
        ]
        # a training: neither a cache hit, nor screened, nor a rule that failed at no cost before training
        trainings = sum(
            1 for cached, status, cost in rows if not cached and status != "screened" and not (status == "error" and cost == 0.0)
        )
        hits = sum(1 for cached, _, _ in rows if cached)
        row = summary[name]
        assert float(row["compute"]) == pytest.approx(sum(totals) / 3, rel=1e-9, abs=1e-12), name
        assert int(row["unique_trainings"]) == trainings, name
        assert float(row["cache_hit_share"]) == pytest.approx(hits / len(rows), abs=1e-12), name
    # Not vacuous: the comparison trained rules and answered some proposals from the cache.
    assert sum(int(row["unique_trainings"]) for row in summary.values()) > 0
    assert sum(float(row["cache_hit_share"]) for row in summary.values()) > 0


def test_markdown_reports_name_every_searcher_and_write_rules_as_equations(comparison):
    summary = (comparison / "summary.md").read_text()
    leaderboard = (comparison / "leaderboard.md").read_text()
    for name in SEARCHERS:
        assert name in summary
    for baseline in ("adam", "momentum", "sgd", "ld * adam"):
        assert baseline in leaderboard
    assert "## Verdict" in summary
    assert "$" in leaderboard and "\\" in leaderboard  # LaTeX equations
    (speed,) = [line for line in summary.splitlines() if line.startswith("**Speed.**")]
    assert all(re.search(rf"{re.escape(name)} [\d,]+ \([\d.]+ ms a proposal\)", speed) for name in SEARCHERS), speed


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
