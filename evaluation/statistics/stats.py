"""Statistics for comparing search strategies (``optsearch compare``), in the spirit of rliable.

Everything here is a pure function of numbers (``numpy`` arrays in, arrays or floats out). A
*run* is one searcher with one seed: its rewards in proposal order (every proposal, cache hits
included), given either as numbers or as :class:`~optsearch.evaluation.records.EvalResult`\\ s.

- Curves: :func:`best_so_far` (running maximum), :func:`curve_matrix` (``[seeds, proposals]``),
  and on wall time :func:`cumulative_wall`, :func:`best_so_far_at_times`, :func:`time_grid`,
  :func:`time_curve_matrix`.
- Aggregates across seeds (Agarwal et al. 2021, "Deep RL at the edge of the statistical
  precipice"): :func:`iqm` (interquartile mean) with a bootstrap confidence interval
  :func:`iqm_ci`, and the probability of improvement :func:`probability_of_improvement` with
  :func:`probability_of_improvement_ci`.
- Sample efficiency: :func:`proposals_to_reach` and :func:`median_proposals_to_reach`.

Confidence intervals use :func:`scipy.stats.bootstrap` (never a hand-written resampler).
rliable's *stratified* bootstrap resamples runs within each task; a comparison here is on one
task, so stratification reduces to resampling the seeds (with replacement). The default method
is the percentile interval (rliable's default); ``method="BCa"`` is accepted too.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Iterable, Optional, Sequence, Union

import numpy as np
from scipy import stats as _st

__all__ = [
    "DEFAULT_RESAMPLES",
    "best_so_far",
    "best_so_far_at_times",
    "cumulative_wall",
    "curve_matrix",
    "iqm",
    "iqm_ci",
    "median_proposals_to_reach",
    "probability_of_improvement",
    "probability_of_improvement_ci",
    "proposals_to_reach",
    "rewards_of",
    "time_curve_matrix",
    "time_grid",
]

DEFAULT_RESAMPLES = 2000  # bootstrap resamples (rliable uses 2000 for its interval estimates)
TRIM = 0.25  # the interquartile mean drops the lowest and the highest quarter

Run = Sequence[Any]  # a run: numbers, or EvalResults (anything with a ``reward``)


# ------------------------------------------------------------------------------------------------
# Curves
# ------------------------------------------------------------------------------------------------
def rewards_of(run: Run) -> np.ndarray:
    """The rewards of a run as a float array: ``EvalResult``\\ s give their ``reward``, numbers themselves."""
    return np.asarray([getattr(item, "reward", item) for item in run], dtype=float)


def walls_of(run: Run) -> np.ndarray:
    """The ``wall_s`` of each ``EvalResult`` of a run (NaN and negative times count as 0)."""
    walls = np.asarray([float(getattr(item, "wall_s", 0.0)) for item in run], dtype=float)
    return np.where(np.isfinite(walls) & (walls > 0.0), walls, 0.0)


def best_so_far(rewards: Union[Run, np.ndarray]) -> np.ndarray:
    """The running maximum of ``rewards`` (NaN rewards are ignored; leading NaNs stay NaN).

    >>> best_so_far([0.1, 0.5, 0.3, 0.7]).tolist()
    [0.1, 0.5, 0.5, 0.7]
    """
    values = rewards if isinstance(rewards, np.ndarray) else rewards_of(rewards)
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return values.copy()
    return np.fmax.accumulate(values)


def curve_matrix(runs: Sequence[Run], length: Optional[int] = None) -> np.ndarray:
    """Best-so-far reward per proposal index: an array ``[seeds, length]``.

    Row ``s`` column ``i`` is the best reward of seed ``s`` among its first ``i + 1`` proposals. A
    run shorter than ``length`` is padded with its last best-so-far value (it stopped there); a
    longer one is cut. ``length`` defaults to the longest run. An empty run gives a row of NaN.
    """
    curves = [best_so_far(run) for run in runs]
    if length is None:
        length = max((len(c) for c in curves), default=0)
    out = np.full((len(curves), int(length)), np.nan)
    for row, curve in zip(out, curves):
        if curve.size == 0 or length == 0:
            continue
        n = min(curve.size, length)
        row[:n] = curve[:n]
        row[n:] = curve[n - 1]
    return out


def cumulative_wall(run: Run) -> np.ndarray:
    """Cumulative evaluation time of a run (s): entry ``i`` is the sum of ``wall_s`` of proposals ``0..i``.

    This is the *sequential* compute time of the run (cache hits cost their few milliseconds),
    not the elapsed time of a run whose evaluations overlapped on parallel workers.
    """
    return np.cumsum(walls_of(run))


def best_so_far_at_times(times: np.ndarray, rewards: Union[Run, np.ndarray], grid: np.ndarray) -> np.ndarray:
    """The best-so-far step function of one run evaluated on a time ``grid``.

    ``times[i]`` is when proposal ``i`` finished (non-decreasing, e.g. :func:`cumulative_wall`).
    At time ``t`` the value is the best reward among the proposals with ``times <= t``; before
    the first proposal finished it is NaN; after the run's last proposal it stays at its final value.
    """
    times = np.asarray(times, dtype=float)
    curve = best_so_far(rewards)
    grid = np.asarray(grid, dtype=float)
    if curve.size == 0:
        return np.full(grid.shape, np.nan)
    index = np.searchsorted(times, grid, side="right") - 1
    return np.where(index >= 0, curve[np.clip(index, 0, curve.size - 1)], np.nan)


def time_grid(runs: Iterable[Run], points: int = 200) -> np.ndarray:
    """``points`` evenly spaced times from 0 to the longest cumulative wall time of ``runs``."""
    longest = max((float(cumulative_wall(run)[-1]) for run in runs if len(run)), default=0.0)
    return np.linspace(0.0, longest if longest > 0 else 1.0, int(points))


def time_curve_matrix(runs: Sequence[Run], grid: np.ndarray) -> np.ndarray:
    """Best-so-far reward vs cumulative wall time: ``[seeds, len(grid)]`` (see :func:`best_so_far_at_times`).

    The runs must carry ``wall_s`` (``EvalResult``\\ s).
    """
    grid = np.asarray(grid, dtype=float)
    out = np.full((len(runs), grid.size), np.nan)
    for row, run in zip(out, runs):
        row[:] = best_so_far_at_times(cumulative_wall(run), run, grid)
    return out


# ------------------------------------------------------------------------------------------------
# The interquartile mean and its confidence interval
# ------------------------------------------------------------------------------------------------
def iqm(x: Any, axis: Optional[int] = 0) -> Union[float, np.ndarray]:
    """The interquartile mean: ``scipy.stats.trim_mean(x, 0.25, axis=axis)``.

    The mean of the middle half of the values (for ``n`` values, ``int(0.25 n)`` are dropped at
    each end), robust to outlying seeds yet less noisy than the median. ``axis=None`` flattens.
    """
    result = _st.trim_mean(np.asarray(x, dtype=float), TRIM, axis=axis)
    return float(result) if np.ndim(result) == 0 else result


def _iqm_statistic(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return _st.trim_mean(x, TRIM, axis=axis)


def _check_method(method: str) -> str:
    if method.lower() not in ("percentile", "bca", "basic"):
        raise ValueError(f"method must be 'percentile', 'BCa' or 'basic', not {method!r}")
    return "BCa" if method.lower() == "bca" else method.lower()


def iqm_ci(
    samples: Any,
    confidence: float = 0.95,
    seed: int = 0,
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    method: str = "percentile",
    axis: int = 0,
) -> tuple[Any, Any]:
    """A bootstrap confidence interval ``(low, high)`` of the :func:`iqm` of ``samples`` over seeds.

    ``samples`` holds one value per seed (a run's final score, say). It may be 2-D: then the
    interval is computed for every column at once (``axis`` is the seed axis) and ``low`` and
    ``high`` are arrays — one :func:`scipy.stats.bootstrap` call for a whole curve.

    The bootstrap resamples seeds with replacement (``n_resamples`` times, generator seeded by
    ``seed``, so the interval is reproducible). This is rliable's stratified bootstrap for a
    single task: it resamples runs within each task, and here there is one task.

    Degenerate cases return ``(v, v)`` with ``v`` the IQM: fewer than two seeds, or all values
    equal (a BCa interval would be undefined there). The interval is widened, if needed, to
    contain the point estimate: a percentile interval of a trimmed statistic can exclude it when
    the bootstrap distribution is very skewed, which happens only with a handful of seeds.
    Values must be finite (a column with a NaN gives a NaN interval).
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    data = np.asarray(samples, dtype=float)
    if data.ndim == 0:
        data = data.reshape(1)
    data = np.moveaxis(data, axis, 0)
    scalar = data.ndim == 1
    if scalar:
        data = data[:, None]
    flat = data.reshape(data.shape[0], -1)
    n, columns = flat.shape
    if n == 0:
        nan = np.full(flat.shape[1:], np.nan)
        return _shape(nan, nan, data.shape[1:], scalar)
    point = _st.trim_mean(flat, TRIM, axis=0)
    low, high = point.copy(), point.copy()
    finite = np.all(np.isfinite(flat), axis=0)
    varies = finite & (np.ptp(np.where(np.isfinite(flat), flat, 0.0), axis=0) > 0)
    low[~finite] = high[~finite] = np.nan
    if n >= 2 and np.any(varies):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # BCa's DegenerateDataWarning: handled below
            result = _st.bootstrap(
                (flat[:, varies],),
                _iqm_statistic,
                n_resamples=int(n_resamples),
                vectorized=True,
                axis=0,
                confidence_level=confidence,
                method=_check_method(method),
                rng=np.random.default_rng(seed),
            )
        lo = np.asarray(result.confidence_interval.low, dtype=float)
        hi = np.asarray(result.confidence_interval.high, dtype=float)
        p = point[varies]
        lo = np.where(np.isfinite(lo), lo, p)
        hi = np.where(np.isfinite(hi), hi, p)
        low[varies] = np.minimum(lo, p)
        high[varies] = np.maximum(hi, p)
    return _shape(low, high, data.shape[1:], scalar)


def _shape(low: np.ndarray, high: np.ndarray, shape: tuple[int, ...], scalar: bool) -> tuple[Any, Any]:
    if scalar:
        return float(low[0]), float(high[0])
    return low.reshape(shape), high.reshape(shape)


# ------------------------------------------------------------------------------------------------
# Probability of improvement
# ------------------------------------------------------------------------------------------------
def _poi_statistic(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    x = np.moveaxis(np.asarray(x), axis, -1)
    y = np.moveaxis(np.asarray(y), axis, -1)
    greater = (x[..., :, None] > y[..., None, :]).mean(axis=(-2, -1))
    equal = (x[..., :, None] == y[..., None, :]).mean(axis=(-2, -1))
    return greater + 0.5 * equal


def probability_of_improvement(x: Any, y: Any) -> float:
    """``P(X > Y) + ½ P(X = Y)`` over all pairs of a run of X and a run of Y (rliable's definition).

    ``x`` and ``y`` hold one score per seed (e.g. each run's best reward within the budget). This
    is the Mann–Whitney U statistic of ``x`` against ``y`` divided by ``len(x) · len(y)``: 1 when
    every run of X beats every run of Y, 0.5 for identical samples, 0 when Y dominates.
    """
    a = np.asarray(x, dtype=float).ravel()
    b = np.asarray(y, dtype=float).ravel()
    if a.size == 0 or b.size == 0:
        raise ValueError("probability_of_improvement needs at least one value on each side")
    return float(_poi_statistic(a, b))


def probability_of_improvement_ci(
    x: Any,
    y: Any,
    confidence: float = 0.95,
    seed: int = 0,
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    method: str = "percentile",
) -> tuple[float, float]:
    """A bootstrap confidence interval ``(low, high)`` of :func:`probability_of_improvement`.

    The runs of X and those of Y are resampled independently (``scipy.stats.bootstrap`` with two
    unpaired samples), as rliable does within a task. Degenerate cases return ``(p, p)``: fewer
    than two values on either side, or a statistic that cannot vary (every value of ``x`` above,
    or below, every value of ``y``; all values equal). The interval always contains ``p``.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    a = np.asarray(x, dtype=float).ravel()
    b = np.asarray(y, dtype=float).ravel()
    p = probability_of_improvement(a, b)
    if a.size < 2 or b.size < 2 or not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return p, p
    if a.min() > b.max() or a.max() < b.min() or (np.ptp(a) == 0 and np.ptp(b) == 0 and a[0] == b[0]):
        return p, p  # every resample gives the same value
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = _st.bootstrap(
            (a, b),
            _poi_statistic,
            n_resamples=int(n_resamples),
            vectorized=True,
            paired=False,
            axis=-1,
            confidence_level=confidence,
            method=_check_method(method),
            rng=np.random.default_rng(seed),
        )
    low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
    low = low if math.isfinite(low) else p
    high = high if math.isfinite(high) else p
    return min(low, p), max(high, p)


# ------------------------------------------------------------------------------------------------
# Sample efficiency
# ------------------------------------------------------------------------------------------------
def proposals_to_reach(rewards: Union[Run, np.ndarray], target: float) -> Optional[int]:
    """The 1-based index of the first proposal whose reward is ``>= target``; None if none is.

    >>> proposals_to_reach([0.1, 0.8, 0.9], 0.8)
    2
    """
    values = rewards if isinstance(rewards, np.ndarray) else rewards_of(rewards)
    hits = np.flatnonzero(np.asarray(values, dtype=float) >= target)
    return int(hits[0]) + 1 if hits.size else None


def median_proposals_to_reach(runs: Sequence[Run], target: float) -> Optional[float]:
    """The median over seeds of :func:`proposals_to_reach`; None when the median is not reached.

    A seed that never reaches ``target`` counts as needing infinitely many proposals, so the
    median is finite only when **more than half** of the seeds reach the target: None when fewer
    than half do (and, with an even number of seeds, also when exactly half do — the median then
    lies between a finite count and infinity). With an even number of seeds the median is the
    mean of the two middle counts, so it may end in ``.5``. None for no runs at all.
    """
    if not runs:
        return None
    counts = [proposals_to_reach(run, target) for run in runs]
    median = float(np.median([math.inf if c is None else float(c) for c in counts]))
    return median if math.isfinite(median) else None
