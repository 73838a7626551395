"""Held-out re-evaluation and the comparison report, on real (tiny) searches of the quadratic."""

from __future__ import annotations

import csv
import math
import re
from dataclasses import replace
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
from scipy import stats as sst

from optsearch.evaluation.config import EvalConfig
from optsearch.evaluation.experiments.heldout import HELDOUT_SEED_BASE, heldout_seeds
from optsearch.evaluation.experiments.race import RACE_SEED_BASE
from optsearch.evaluation.records import OK, EvalResult
from optsearch.evaluation.reports.data import ComparisonData
from optsearch.evaluation.reports.leaderboard import COLUMNS as LEADERBOARD_COLUMNS
from optsearch.evaluation.reports.summary import PRACTICAL_SEEDS, familywise, pairwise, summary_columns, verdict_lines, verdict_lines_of
from optsearch.evaluation.statistics.differences import paired_difference, seeds_to_separate, unpaired_difference
from optsearch.evaluation.statistics.incumbents import HeldoutScores, incumbents
from optsearch.evaluation.store import ResultStore
from optsearch.searchers.studies.compare import CompareConfig, run_comparison

SEARCHERS = ("random", "evolution", "reinforce")
COMPARE = CompareConfig(searchers=SEARCHERS, budget=10, seeds=3, heldout_seeds=3)


def result(reward: float, fp: str = "fp") -> EvalResult:
    return EvalResult(rule=fp, canonical=fp, fingerprint=fp, task="t", config_hash="c", reward=reward, status=OK)


def test_incumbents_change_only_on_a_strictly_better_reward():
    run = [result(0.1, "a"), result(0.1, "b"), result(math.nan, "n"), result(0.5, "c"), result(0.4, "d"), result(0.9, "e")]
    assert [(i.since, i.result.fingerprint) for i in incumbents(run)] == [(0, "a"), (3, "c"), (5, "e")]
    assert incumbents([]) == []


def test_heldout_seeds_are_disjoint_from_search_seeds():
    assert heldout_seeds(3, range(5)) == (HELDOUT_SEED_BASE, HELDOUT_SEED_BASE + 1, HELDOUT_SEED_BASE + 2)
    with pytest.raises(ValueError, match="also search seeds"):
        heldout_seeds(2, [HELDOUT_SEED_BASE + 1])


def test_paired_difference_is_scipys_t_interval_and_unpaired_is_a_bootstrap():
    x, y = [0.88, 0.87, 0.90], [0.84, 0.83, 0.85]
    d = paired_difference(x, y)
    ci = sst.ttest_rel(x, y).confidence_interval(0.95)
    assert d.mean == pytest.approx(0.0433, abs=1e-3) and (d.low, d.high) == pytest.approx((ci.low, ci.high))
    assert d.positive and d.low <= d.mean <= d.high
    same = paired_difference([0.5, 0.6], [0.5, 0.6])
    assert (same.mean, same.low, same.high) == (0.0, 0.0, 0.0) and not same.positive
    u = unpaired_difference([0.8, 0.82, 0.81, 0.79], [0.7, 0.72, 0.69, 0.71])
    assert u.separated and u.low <= u.mean <= u.high
    noisy = unpaired_difference([0.8, 0.6, 0.9], [0.7, 0.85, 0.65])
    assert not noisy.separated


def test_the_searchers_difference_is_yuens_on_trimmed_means_and_ignores_one_failed_run():
    rng = np.random.default_rng(3)
    good = 0.84 + 0.02 * rng.standard_normal(20)
    other = 0.85 + 0.02 * rng.standard_normal(20)
    with_failure = good.copy()
    with_failure[np.argmin(good)] = 0.51  # a run that ended on a rule failing on the held-out seeds
    d = unpaired_difference(with_failure, other)
    ci = sst.ttest_ind(with_failure, other, equal_var=False, trim=0.1).confidence_interval(0.95)
    assert (d.low, d.high) == pytest.approx((ci.low, ci.high))
    assert d.mean == pytest.approx(sst.trim_mean(with_failure, 0.1) - sst.trim_mean(other, 0.1))
    # the failed run is among the two trimmed from the bottom: the verdict is the one without it
    assert (d.mean, d.low, d.high) == pytest.approx(tuple(vars(unpaired_difference(good, other)).values()))
    plain = unpaired_difference(with_failure, other, trim=0.0)  # Welch's on the plain means moves
    assert plain.mean < d.mean - 0.01 and plain.high - plain.low > 2 * (d.high - d.low)


def constructed_comparison(finals: dict[str, list[float]]) -> ComparisonData:
    """A comparison whose runs end on rules with the given held-out scores (one per search seed)."""
    runs, scores = {}, {}
    for label, values in finals.items():
        runs[label] = []
        for seed, value in enumerate(values):
            fp = f"{label}-{seed}"
            runs[label].append([replace(result(0.5, fp), seed=seed, searcher=label)])  # its final incumbent
            scores[fp] = (value, value)  # the same on both held-out seeds
    return ComparisonData(runs, HeldoutScores((HELDOUT_SEED_BASE, HELDOUT_SEED_BASE + 1), scores), {}, task="t")


def test_the_verdict_separates_exactly_the_pairs_whose_difference_is_clear():
    data = constructed_comparison({
        # "weak" and "weak_twin" have the same spread and means 0.600 and 0.605: not separable with 8 seeds;
        # "strong" (0.90125) is about 0.3 above both, far beyond the spread.
        "weak": [0.60, 0.62, 0.58, 0.61, 0.59, 0.60, 0.63, 0.57],
        "strong": [0.90, 0.91, 0.89, 0.92, 0.90, 0.91, 0.88, 0.90],
        "weak_twin": [0.61, 0.59, 0.60, 0.62, 0.58, 0.61, 0.57, 0.66],
    })  # fmt: skip
    separated = {(a, b) for a, b, d, _ in pairwise(data) if d.separated}
    assert separated == {("weak", "strong"), ("strong", "weak_twin")}
    lines = verdict_lines(data)
    claims = [line for line in lines if line.startswith("- ")]
    beats = [re.match(r"- \*\*(\S+) beats (\S+)\*\*: by (\S+) ", line) for line in claims]
    assert [(m.group(1), m.group(2)) for m in beats if m] == [("strong", "weak"), ("strong", "weak_twin")]
    assert [float(m.group(3)) for m in beats if m] == pytest.approx([0.90125 - 0.6, 0.90125 - 0.605], abs=5e-4)
    unresolved = [line for line in claims if "not separated" in line]
    assert len(unresolved) == 1 and unresolved[0].startswith("- weak vs weak_twin: not separated (-0.005 ")
    assert len(claims) == 3
    assert "At 1 proposals and 8 search seeds" in lines[2] and not any("provisional" in line for line in lines)


def test_the_verdict_is_family_wise_over_its_pairs():
    """Three searchers are three intervals: a pair whose own 95 % interval just excludes 0 is not a
    separation of the verdict, whose intervals are at 1 − 0.05/3 (the chance of any false winner
    among the pairs is then at most 5 %)."""
    low = [0.60, 0.62, 0.58, 0.61, 0.59, 0.60, 0.63, 0.57]
    data = constructed_comparison({
        "a": low,
        "b": [v + 0.025 for v in [0.61, 0.59, 0.60, 0.62, 0.58, 0.61, 0.57, 0.60]],
        "c": [v + 0.1 for v in low],
    })  # fmt: skip
    alone = {(a, b): d for a, b, d, _ in pairwise(data)}
    assert alone[("a", "b")].separated  # its own 95 % interval excludes 0
    assert familywise(data).confidence == pytest.approx(1 - 0.05 / 3)
    lines = verdict_lines(data)
    assert not any(line.startswith("- **b beats a**") for line in lines)
    assert any(line.startswith("- a vs b: not separated") for line in lines)
    assert [line for line in lines if line.startswith("- **")] == [
        line for line in lines if re.match(r"- \*\*c beats [ab]\*\*", line)
    ] and len([line for line in lines if line.startswith("- **")]) == 2
    assert "each interval is at 98.333% (Bonferroni over the 3 pairs)" in lines[2]


def test_seeds_to_separate_grows_with_noise_and_shrinks_with_the_gap():
    small_gap = seeds_to_separate([0.80, 0.82, 0.78], [0.79, 0.81, 0.77])
    big_gap = seeds_to_separate([0.90, 0.92, 0.88], [0.79, 0.81, 0.77])
    assert small_gap > big_gap >= 2
    assert seeds_to_separate([0.5, 0.6], [0.5, 0.6]) is None


def test_the_verdict_says_equal_in_practice_where_the_seeds_needed_are_absurd():
    rng = np.random.default_rng(3)
    noise = rng.normal(0.84, 0.01, 40)
    scores = {"a": noise, "b": noise[::-1] + 1e-7, "c": rng.normal(0.843, 0.01, 40)}  # a vs b: a difference of ~1e-7
    lines = verdict_lines_of(scores, budget=100, n=40)
    (ab,) = [line for line in lines if line.startswith("- a vs b:")]
    assert seeds_to_separate(scores["a"], scores["b"], alpha=0.05 / 3) > PRACTICAL_SEEDS
    assert f"more than {PRACTICAL_SEEDS:,} seeds per searcher" in ab and "for any practical study the two are equal" in ab
    (ac,) = [line for line in lines if line.startswith("- a vs c:")]
    need = seeds_to_separate(scores["a"], scores["c"], alpha=0.05 / 3)
    assert 40 < need <= PRACTICAL_SEEDS and f"about {need} seeds per searcher would be needed" in ac


@pytest.fixture(scope="module")
def comparison(tmp_path_factory):
    out = tmp_path_factory.mktemp("compare")
    store = out / "results.sqlite"
    outcome = run_comparison(COMPARE, EvalConfig(task="quadratic"), out, store=str(store), backend="serial")
    return out, store, outcome


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.slow
def test_summary_has_every_column_and_the_intervals_contain_the_estimates(comparison):
    out, _, outcome = comparison
    rows = _csv(out / "summary.csv")
    assert tuple(rows[0]) == summary_columns("random")
    assert [row["searcher"] for row in rows] == list(SEARCHERS)
    for row in rows:
        assert float(row["heldout_ci_low"]) <= float(row["heldout_iqm"]) <= float(row["heldout_ci_high"])
        p, lo, hi = (float(row[f"p_improvement_vs_random{s}"]) for s in ("", "_ci_low", "_ci_high"))
        assert lo <= p <= hi
        assert int(row["proposals"]) == 10 and int(row["seeds"]) == 3
        assert 0.0 <= float(row["cache_hit_share"]) <= 1.0 and float(row["compute"]) >= 0.0
        assert int(row["unique_trainings"]) <= 30
        scores = outcome.data.final_heldout(row["searcher"])
        assert float(row["heldout_iqm"]) == pytest.approx(sst.trim_mean(scores, 0.25))
    assert float(rows[0]["p_improvement_vs_random"]) == 0.5
    summary = (out / "summary.md").read_text()
    assert "## Verdict" in summary and all(name in summary for name in SEARCHERS)


@pytest.mark.slow
def test_heldout_seeds_never_appear_as_search_seeds_and_training_was_full(comparison):
    _, store_path, outcome = comparison
    with ResultStore(store_path) as store:
        rows = store.results()
    search_seeds = {r.seed for r in rows if r.run_id not in ("heldout", "race")}
    heldout = [r for r in rows if r.run_id == "heldout"]
    raced = {r.seed for r in rows if r.run_id == "race"}
    assert search_seeds == {0, 1, 2}
    assert raced and min(raced) == RACE_SEED_BASE and not raced & (search_seeds | set(outcome.data.heldout.seeds))
    assert {r.seed for r in heldout} == set(outcome.data.heldout.seeds)
    assert not search_seeds & set(outcome.data.heldout.seeds)
    assert all(r.status not in ("screened", "hurdle") for r in heldout)
    # every incumbent of every run has held-out scores
    for per_seed in outcome.runs.values():
        for run in per_seed:
            for incumbent in incumbents(run):
                assert len(outcome.data.heldout.scores(incumbent.result.fingerprint)) == 3


@pytest.mark.slow
def test_leaderboard_columns_pairing_and_beats_adam_follow_the_interval(comparison):
    out, _, outcome = comparison
    rows = _csv(out / "leaderboard.csv")
    assert tuple(rows[0]) == LEADERBOARD_COLUMNS
    names = {row["rule"] for row in rows if row["searcher"] == "baseline"}
    assert names == {"adam", "momentum", "sgd", "ld * adam"}
    adam = np.asarray(outcome.data.baseline_scores("adam"))
    for row in rows:
        low, high, diff = float(row["diff_ci_low"]), float(row["diff_ci_high"]), float(row["diff_vs_adam"])
        assert low <= diff <= high
        assert row["beats_adam"] == ("true" if low > 0 else "false")
        assert float(row["heldout_mean"]) - adam.mean() == pytest.approx(diff)  # paired on the same seeds
    means = [float(row["heldout_mean"]) for row in rows]
    assert means == sorted(means, reverse=True)
    assert "$" in (out / "leaderboard.md").read_text()


@pytest.mark.slow
def test_curves_are_a_real_image(comparison):
    out, _, _ = comparison
    image = matplotlib.image.imread(out / "curves.png")
    assert image.shape[1] > 1000 and image[..., :3].std() > 0.05


@pytest.mark.slow
def test_a_resumed_comparison_reuses_every_heldout_evaluation(comparison, tmp_path):
    out, store_path, outcome = comparison
    with ResultStore(store_path) as store:
        before = store.count()
    again = run_comparison(COMPARE, EvalConfig(task="quadratic"), tmp_path, store=str(store_path), backend="serial")
    with ResultStore(store_path) as store:
        added = store.results()[before:]
    assert added and all(r.cached for r in added)  # held-out re-evaluation and race: cache hits only
    assert {r.run_id for r in added} == {"heldout", "race"}
    assert again.data.heldout.by_fingerprint == outcome.data.heldout.by_fingerprint
