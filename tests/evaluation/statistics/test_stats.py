"""The statistics of ``optsearch compare``: curves, IQM and its bootstrap CI, P(improvement), sample efficiency."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sst

from optsearch.evaluation.records import EvalResult
from optsearch.evaluation.statistics import stats


def result(reward: float, wall_s: float = 1.0) -> EvalResult:
    return EvalResult(
        rule="g", canonical="g", fingerprint="fp", task="quadratic", config_hash="h", reward=reward, status="ok", wall_s=wall_s
    )


# ------------------------------------------------------------------------------------------------
# curves
# ------------------------------------------------------------------------------------------------
def test_best_so_far_is_the_running_max():
    assert stats.best_so_far([0.2, 0.1, 0.5, 0.3, 0.7, 0.6]).tolist() == [0.2, 0.2, 0.5, 0.5, 0.7, 0.7]
    assert stats.best_so_far([]).tolist() == []
    # NaN rewards are ignored once a finite one was seen
    assert stats.best_so_far([0.3, math.nan, 0.1]).tolist() == [0.3, 0.3, 0.3]
    # EvalResults give their reward
    assert stats.best_so_far([result(0.4), result(0.9), result(0.1)]).tolist() == [0.4, 0.9, 0.9]


def test_curve_matrix_pads_short_runs_and_cuts_long_ones():
    runs = [[0.1, 0.5, 0.2], [0.3], [0.9, 0.1, 0.1, 0.95, 0.2]]
    m = stats.curve_matrix(runs, 4)
    assert m.shape == (3, 4)
    np.testing.assert_array_equal(m[0], [0.1, 0.5, 0.5, 0.5])
    np.testing.assert_array_equal(m[1], [0.3, 0.3, 0.3, 0.3])
    np.testing.assert_array_equal(m[2], [0.9, 0.9, 0.9, 0.95])
    # the default length is the longest run
    assert stats.curve_matrix(runs).shape == (3, 5)
    # EvalResults work the same, and an empty run is a row of NaN
    m = stats.curve_matrix([[result(0.2), result(0.6)], []], 3)
    np.testing.assert_array_equal(m[0], [0.2, 0.6, 0.6])
    assert np.isnan(m[1]).all()


def test_wall_time_curves_are_step_functions_of_cumulative_time():
    run = [result(0.2, 1.0), result(0.1, 0.5), result(0.7, 2.0), result(0.4, 0.0)]
    np.testing.assert_allclose(stats.cumulative_wall(run), [1.0, 1.5, 3.5, 3.5])
    grid = np.array([0.0, 0.99, 1.0, 2.0, 3.49, 3.5, 10.0])
    values = stats.best_so_far_at_times(stats.cumulative_wall(run), run, grid)
    assert math.isnan(values[0]) and math.isnan(values[1])  # nothing finished yet
    np.testing.assert_array_equal(values[2:], [0.2, 0.2, 0.2, 0.7, 0.7])
    other = [result(0.9, 4.0)]
    g = stats.time_grid([run, other], points=5)
    np.testing.assert_allclose(g, [0.0, 1.0, 2.0, 3.0, 4.0])
    m = stats.time_curve_matrix([run, other], g)
    assert m.shape == (2, 5)
    np.testing.assert_array_equal(m[0, 1:], [0.2, 0.2, 0.2, 0.7])
    assert np.isnan(m[1, :4]).all() and m[1, 4] == 0.9


# ------------------------------------------------------------------------------------------------
# IQM and its confidence interval
# ------------------------------------------------------------------------------------------------
def test_iqm_is_scipy_trim_mean():
    rng = np.random.default_rng(1)
    x = rng.exponential(size=(9, 4))
    np.testing.assert_allclose(stats.iqm(x, axis=0), sst.trim_mean(x, 0.25, axis=0))
    np.testing.assert_allclose(stats.iqm(x, axis=1), sst.trim_mean(x, 0.25, axis=1))
    # by hand: 8 values, the lowest 2 and highest 2 dropped
    assert stats.iqm([1, 2, 3, 4, 5, 6, 7, 1000]) == pytest.approx(4.5)
    assert isinstance(stats.iqm([1.0, 2.0, 3.0]), float)


@pytest.mark.parametrize("maker", ["normal", "skewed", "bimodal"])
def test_iqm_ci_contains_the_iqm(maker):
    rng = np.random.default_rng(7)
    for n in (3, 5, 10):
        if maker == "normal":
            x = rng.normal(0.8, 0.05, size=n)
        elif maker == "skewed":
            x = rng.exponential(size=n) ** 3
        else:
            x = np.where(rng.random(n) < 0.8, 0.1, 0.9) + rng.normal(0, 1e-3, size=n)
        low, high = stats.iqm_ci(x, seed=n)
        assert low <= stats.iqm(x) <= high
        assert low < high


def test_iqm_ci_shrinks_with_more_seeds_and_is_reproducible():
    rng = np.random.default_rng(3)
    population = rng.normal(0.7, 0.1, size=400)
    few, many = population[:5], population[:200]
    w_few = np.subtract(*reversed(stats.iqm_ci(few, seed=0)))
    w_many = np.subtract(*reversed(stats.iqm_ci(many, seed=0)))
    assert w_many < 0.5 * w_few
    assert stats.iqm_ci(few, seed=0) == stats.iqm_ci(few, seed=0)
    # a higher confidence gives a wider interval
    lo90, hi90 = stats.iqm_ci(many, confidence=0.9, seed=0)
    lo99, hi99 = stats.iqm_ci(many, confidence=0.99, seed=0)
    assert lo99 <= lo90 and hi99 >= hi90 and (hi99 - lo99) > (hi90 - lo90)


def test_iqm_ci_degenerate_cases():
    assert stats.iqm_ci([0.42]) == (0.42, 0.42)
    assert stats.iqm_ci([0.5, 0.5, 0.5, 0.5]) == (0.5, 0.5)
    assert stats.iqm_ci([0.5, 0.5, 0.5], method="BCa") == (0.5, 0.5)


def test_iqm_ci_of_a_matrix_is_the_ci_of_each_column():
    rng = np.random.default_rng(5)
    m = rng.normal(size=(6, 4))
    m[:, 2] = 0.25  # a constant column
    low, high = stats.iqm_ci(m, seed=11)
    assert low.shape == high.shape == (4,)
    assert low[2] == high[2] == 0.25
    center = stats.iqm(m, axis=0)
    assert np.all(low <= center) and np.all(center <= high)
    for j in (0, 1, 3):
        lo, hi = stats.iqm_ci(m[:, j], seed=11)
        # same generator seed, the same resampled seeds for every column: the same interval
        assert lo == pytest.approx(low[j], rel=1e-12) and hi == pytest.approx(high[j], rel=1e-12)


# ------------------------------------------------------------------------------------------------
# probability of improvement
# ------------------------------------------------------------------------------------------------
def test_probability_of_improvement_definition():
    x, y = [0.9, 0.95, 0.92], [0.1, 0.2, 0.3, 0.4]
    assert stats.probability_of_improvement(x, y) == 1.0
    assert stats.probability_of_improvement(y, x) == 0.0
    same = [0.3, 0.5, 0.5, 0.7]
    assert stats.probability_of_improvement(same, same) == 0.5
    # ties count half: 1 > 0 and 1 = 1 out of two pairs
    assert stats.probability_of_improvement([1.0], [0.0, 1.0]) == pytest.approx(0.75)
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=7).round(1), rng.normal(size=5).round(1)
    u = sst.mannwhitneyu(a, b).statistic
    assert stats.probability_of_improvement(a, b) == pytest.approx(u / (len(a) * len(b)))
    assert stats.probability_of_improvement(a, b) + stats.probability_of_improvement(b, a) == pytest.approx(1.0)


def test_probability_of_improvement_ci():
    x, y = [0.9, 0.95, 0.92], [0.1, 0.2, 0.3, 0.4]
    assert stats.probability_of_improvement_ci(x, y) == (1.0, 1.0)
    rng = np.random.default_rng(4)
    a, b = rng.normal(0.6, 0.1, size=8), rng.normal(0.5, 0.1, size=8)
    p = stats.probability_of_improvement(a, b)
    low, high = stats.probability_of_improvement_ci(a, b, seed=1)
    assert 0.0 <= low <= p <= high <= 1.0 and low < high
    same = rng.normal(size=6)
    low, high = stats.probability_of_improvement_ci(same, same)
    assert low < 0.5 < high
    assert stats.probability_of_improvement_ci([0.3], b) == (stats.probability_of_improvement([0.3], b),) * 2


# ------------------------------------------------------------------------------------------------
# sample efficiency
# ------------------------------------------------------------------------------------------------
def test_proposals_to_reach():
    assert stats.proposals_to_reach([0.1, 0.5, 0.8, 0.9], 0.8) == 3
    assert stats.proposals_to_reach([0.9], 0.8) == 1
    assert stats.proposals_to_reach([0.1, 0.2], 0.8) is None
    assert stats.proposals_to_reach([result(0.1), result(0.85)], 0.8) == 2


def test_median_proposals_to_reach():
    reach = [[0.9], [0.1, 0.9], [0.1, 0.1, 0.9]]  # 1, 2, 3 proposals
    never = [[0.1, 0.1]]
    assert stats.median_proposals_to_reach(reach, 0.8) == 2.0
    assert stats.median_proposals_to_reach(reach + never * 2, 0.8) == 3.0  # 3 of 5 reach
    assert stats.median_proposals_to_reach(reach[:2] + never * 3, 0.8) is None  # 2 of 5: fewer than half
    assert stats.median_proposals_to_reach(reach + never, 0.8) == 2.5  # 3 of 4: mean of the middle two
    assert stats.median_proposals_to_reach(reach[:2] + never * 2, 0.8) is None  # exactly half of 4
    assert stats.median_proposals_to_reach([], 0.8) is None
