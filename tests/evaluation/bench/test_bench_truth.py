"""The bench's held-out truth (:mod:`optsearch.evaluation.bench.truth`) and its search draws.

- the estimator's arithmetic on a worked example;
- on constructed tables with known true means, the truth of the rules a selection puts at the
  top is not inflated (the plain mean is: the winner's curse), whether they hold only the seeds
  they were selected on or further seeds too;
- no two search seeds share a draw of a tabulated rule: the recorded search seeds first, then
  fresh draws, independent across seeds, around the search centre with the rule's spread;
- the draws' residuals follow the table's residual quantiles, fit by bins of spread, on
  constructed residuals of known distribution.
"""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest

from optsearch.evaluation.bench.bench import DRAWN_SOURCE, TABLE_SOURCE, load_bench
from optsearch.evaluation.bench.table import TableRow
from optsearch.evaluation.bench.truth import (
    NOISE_EDGES,
    NOISE_LEVELS,
    SEARCH_SEEDS,
    TruthModel,
    fit_noise,
    noise_z,
    posterior,
    search_centre,
    search_rows,
    table_residuals,
    truth_of,
)
from optsearch.evaluation.records import OK


def test_the_posterior_of_a_worked_example():
    # N = 2 seeds, s² = 0.005; σ² = (3·0.01 + 1·0.005) / 4 = 0.00875; w = 0.01 / (0.01 + 0.00875 / 2)
    w = 0.01 / (0.01 + 0.00875 / 2)
    assert posterior([0.8, 0.9], [0.8, 0.9], 0.7, 0.01, 0.01) == pytest.approx(w * 0.85 + (1 - w) * 0.7, abs=1e-12)
    assert posterior([0.8, 0.9], [0.8, 0.9], None, 0.01, 0.01) == pytest.approx(0.85)  # no prior: the mean
    # a spread-free prior is ignored, a prior of no spread wins
    assert posterior([0.8], [0.8, 0.6, 0.7], 0.5, 0.01, 1e9) == pytest.approx(0.8, abs=1e-6)
    assert posterior([0.8], [0.8, 0.6, 0.7], 0.5, 0.01, 0.0) == pytest.approx(0.5)


def _row(fp: str, seed: int, acc: float) -> TableRow:
    return TableRow(fp, seed, "rule", "rule", OK, acc, 0.01, acc, acc, 1.0, 0.0, "test")


PRIOR, TAU, SIGMA = 0.80, 0.03, 0.03


def _constructed(rules: int, rng: np.random.Generator):
    """True means around the prior, search seeds 0-2 of noise SIGMA; a model that knows the spreads."""
    mu = PRIOR + TAU * rng.standard_normal(rules)
    rows = {f"{i:016x}": {s: _row(f"{i:016x}", s, float(mu[i] + SIGMA * rng.standard_normal())) for s in range(SEARCH_SEEDS)} for i in range(rules)}
    model = TruthModel({fp: (PRIOR, PRIOR) for fp in rows}, (0.0, 1.0), (SIGMA**2,) * 2, (TAU**2,) * 2, (0.0, 1.0), (SIGMA**2,) * 2, (TAU**2,) * 2)
    return mu, rows, model


def test_the_truth_of_the_top_is_not_inflated_by_the_selection():
    rng = np.random.default_rng(0)
    mu, rows, model = _constructed(4000, rng)
    fps = list(rows)
    search_mean = np.array([statistics.fmean(r.test_acc for r in rows[fp].values()) for fp in fps])
    top = np.argsort(-search_mean)[:100]  # what a search (or the builder's top stage) ends on
    raw_bias = float(np.mean(search_mean[top] - mu[top]))
    truth = np.array([truth_of(fps[i], rows[fps[i]], model).test_acc for i in top])
    assert raw_bias > 0.012  # the winner's curse of the plain mean
    assert abs(float(np.mean(truth - mu[top]))) < 0.004

    # The builder then measures the top on seeds 3-9: their mean is the truth's data, not the
    # seeds that chose the rules, so the truth stays unbiased while the mean of all ten is not.
    for i in top:
        fp = fps[i]
        for s in range(SEARCH_SEEDS, 10):
            rows[fp][s] = _row(fp, s, float(mu[i] + SIGMA * rng.standard_normal()))
    all_seeds = np.array([statistics.fmean(r.test_acc for r in rows[fps[i]].values()) for i in top])
    truth = np.array([truth_of(fps[i], rows[fps[i]], model) for i in top])
    assert float(np.mean(all_seeds - mu[top])) > 0.003
    assert abs(float(np.mean([t.test_acc for t in truth] - mu[top]))) < 0.004
    assert {t.truth_seeds for t in truth} == {10 - SEARCH_SEEDS}
    # and the rules' errors shrink with the seeds: seven truth seeds against three search seeds
    assert np.mean(np.abs([t.test_acc for t in truth] - mu[top])) < np.mean(np.abs(search_mean[top] - mu[top])) / 2


def test_the_search_centre_never_reads_the_truth_seeds():
    rng = np.random.default_rng(1)
    _, rows, model = _constructed(3, rng)
    fp = next(iter(rows))
    before = search_centre(fp, rows[fp], model)
    for seed in (3, 4, 5):  # truth seeds well below: the truth moves, the search centre does not
        rows[fp][seed] = _row(fp, seed, 0.70)
    assert truth_of(fp, rows[fp], model).test_acc < before.test_acc - 0.02
    after = search_centre(fp, rows[fp], model)
    assert after.test_acc == pytest.approx(before.test_acc, abs=0.01)  # only the rule's spread, which moved, may move it
    assert [r.seed for r in search_rows(rows[fp])] == [0, 1, 2]


def test_no_two_search_seeds_share_a_draw_of_a_tabulated_rule():
    bench = load_bench("mnist1d")
    rule = "adam"
    recorded = search_rows(bench.table.rows[bench.expected(rule).fingerprint])
    answers = [bench.query(rule, seed) for seed in range(400)]
    for seed, row in enumerate(recorded):
        assert answers[seed].source == TABLE_SOURCE and answers[seed].reward == row.reward and answers[seed].table_seed == row.seed
    drawn = answers[len(recorded) :]
    assert {a.source for a in drawn} == {DRAWN_SOURCE}
    rewards = np.array([a.reward for a in drawn])
    assert len(set(rewards.tolist())) == len(rewards)  # seeds s and s + 3 no longer meet the same draw
    assert not set(rewards.tolist()) & {r.reward for r in recorded}
    centre = search_centre(bench.expected(rule).fingerprint, bench.table.rows[bench.expected(rule).fingerprint], bench.truth_model)
    n = len(rewards)
    # the draws' residuals follow the shipped model (normal, or the table's residual quantiles)
    residuals = np.array([noise_z(bench.truth_model, float(z), centre.reward_std) for z in np.random.default_rng(0).standard_normal(20_000)])
    expected_mean = centre.reward + centre.reward_std * residuals.mean()
    assert abs(rewards.mean() - expected_mean) < 4 * centre.reward_std * residuals.std() / math.sqrt(n)
    assert rewards.std() == pytest.approx(centre.reward_std * residuals.std(), rel=0.2)
    lag1 = np.corrcoef(rewards[:-1], rewards[1:])[0, 1]
    assert abs(lag1) < 4 / math.sqrt(n)  # consecutive seeds independent
    again = [bench.query(rule, seed).reward for seed in (3, 57, 399)]
    assert again == [answers[3].reward, answers[57].reward, answers[399].reward]  # deterministic per (rule, seed)


def test_the_shipped_truth_is_fit_and_used():
    bench = load_bench("mnist1d")
    model = bench.truth_model
    assert model is not None and len(model.priors) >= len(bench.table.trained_rules(min_seeds=3))
    adam = bench.expected("adam")
    rows = bench.table.rows[adam.fingerprint]
    assert adam.test_acc == truth_of(adam.fingerprint, rows, model).test_acc
    assert adam.truth_seeds == sum(1 for s in rows if s >= SEARCH_SEEDS)


def _skewed(n: int, rng: np.random.Generator) -> np.ndarray:
    """Residuals of mean 0 and variance 1, bounded above at 1 and with a long lower tail (1 − Exp(1))."""
    return 1.0 - rng.exponential(1.0, n)


def test_the_residual_quantiles_are_fit_by_bin_of_spread():
    rng = np.random.default_rng(3)
    skewed, normal = _skewed(20_000, rng), rng.standard_normal(20_000)
    spreads = np.r_[np.full(20_000, 0.02), np.full(20_000, 0.2)]
    edges, quantiles = fit_noise(np.r_[skewed, normal], spreads)
    # the empty bins between 0.02 and 0.2 are merged into the bin below: one bin up to 0.1, one above
    assert edges.tolist() == [NOISE_EDGES[-1], math.inf] and quantiles.shape == (2, len(NOISE_LEVELS))
    levels = np.array(NOISE_LEVELS)
    # each bin recovers its distribution: 1 + ln p for the skewed one, the normal's above
    exact = 1.0 + np.log(levels)
    assert np.all(np.abs(quantiles[0] - exact) <= 0.05 + 0.05 * np.abs(exact))
    from scipy.stats import norm

    np.testing.assert_allclose(quantiles[1][5:-5], norm.ppf(levels[5:-5]), atol=0.06)


def test_a_thin_bin_is_merged_into_its_neighbour():
    rng = np.random.default_rng(4)
    z = rng.standard_normal(400)
    spreads = np.r_[np.full(390, 0.02), np.full(10, 0.2)]  # 10 residuals cannot make a bin of their own
    edges, quantiles = fit_noise(z, spreads)
    assert len(edges) == 1 and edges[0] == math.inf
    np.testing.assert_array_equal(quantiles[0], np.quantile(z, NOISE_LEVELS))
    assert fit_noise(z[:5], spreads[:5])[1].shape[0] == 0  # too few residuals: no quantiles, normal draws


def test_draws_follow_the_residual_quantiles_of_their_spread_bin():
    rng = np.random.default_rng(5)
    edges, quantiles = fit_noise(np.r_[_skewed(20_000, rng), rng.standard_normal(20_000)], np.r_[np.full(20_000, 0.02), np.full(20_000, 0.2)])
    _, _, base = _constructed(1, rng)
    model = TruthModel(
        base.priors, base.centres_reward, base.sigma2_reward, base.tau2_reward, base.centres_test, base.sigma2_test, base.tau2_test,
        tuple(edges.tolist()), tuple(tuple(q) for q in quantiles.tolist()),
    )
    normals = np.random.default_rng(6).standard_normal(20_000)
    narrow = np.array([noise_z(model, float(z), 0.02) for z in normals])
    wide = np.array([noise_z(model, float(z), 0.2) for z in normals])
    assert narrow.max() < 1.05 and np.mean(narrow > 0.9) == pytest.approx(1.0 - math.exp(-0.1), abs=0.01)  # (nearly) bounded above
    assert np.mean(narrow < -2.0) == pytest.approx(math.exp(-3.0), abs=0.01)  # the long lower tail is kept
    assert np.mean(wide > 2.0) == pytest.approx(0.023, abs=0.006) and np.mean(wide < -2.0) == pytest.approx(0.023, abs=0.006)
    order = np.argsort(normals)
    assert np.all(np.diff(narrow[order]) >= 0)  # monotone in the normal: a draw's rank among seeds is kept
    assert len(set(narrow.tolist())) == len(narrow)  # distinct, in the tails beyond the outermost levels too
    assert [noise_z(None, z, 0.02) for z in (-1.5, 0.3)] == [-1.5, 0.3]  # no model: the normal itself
    assert noise_z(base, 0.3, 0.02) == 0.3  # a model exported without residual quantiles: normal draws


def test_the_residuals_are_the_truth_seeds_standardized_around_the_search_centre():
    rng = np.random.default_rng(7)
    mu, rows, model = _constructed(300, rng)
    with_truth = list(rows)[:200]
    for i, fp in enumerate(with_truth):  # further seeds: the true mean plus a skewed noise of sd SIGMA
        for seed in (3, 4):
            rows[fp][seed] = _row(fp, seed, float(mu[i] + SIGMA * _skewed(1, rng)[0]))

    class Table:
        pass

    table = Table()
    table.rows = rows
    fingerprints, residuals, spreads = table_residuals(table, model)
    assert len(residuals) == 400  # the truth seeds only: rules without any have no residual
    assert fingerprints[:2] == [with_truth[0]] * 2
    fp = with_truth[0]
    centre = search_centre(fp, rows[fp], model)
    assert residuals[:2] == [(rows[fp][s].reward - centre.reward) / centre.reward_std for s in (3, 4)]
    assert spreads[0] == centre.reward_std
    z = np.array(residuals)  # the noise's skew comes through the centre's own error
    assert np.mean(z > 1.5) < 0.5 * np.mean(z < -1.5)
