"""The bench's held-out truth: a tabulated rule's expected scores, without the winner's curse.

**The curse.** A search ends on the rules whose rewards were highest, and the builder measures
further the rules whose three-seed means were highest; either way the plain mean of a rule's
seeds is inflated exactly where it is read: at the top (measured: +0.016 against the top rules'
further seeds on the 3-seed table).

**The estimator** is an empirical-Bayes posterior mean, which stays unbiased whatever was selected
on the data it is computed from (it is the expectation of the rule's true mean given those data).
The prior is a normal around ``p``, the surrogate's *out-of-fold* prediction for the rule (fit on
the other four fifths of the rules, so the rule's own noise is not in it), with spread ``τ²(p)``;
the data are the mean ``m`` of every table seed of the rule, ``n`` seeds of per-seed variance
``σ²``::

    truth = w · m + (1 − w) · p,        w = τ²(p) / (τ²(p) + σ² / n)

    σ² = (k · σ²_bin(p) + (n − 1) · s²) / (k + n − 1)

``s²`` is the rule's sample variance, shrunk towards the mean variance of rules with a similar
prediction with ``k`` = :data:`PSEUDO_SEEDS` pseudo-seeds (three seeds give a poor variance, and
the rules at the top of three seeds are those whose seeds happened to agree). ``σ²_bin`` and
``τ²`` are read by linear interpolation from :data:`BINS` quantile bins of ``p``; in each bin
``τ² = mean((m_search − p)² − σ²_bin / n_search)`` (moments, floored at :data:`TAU2_FLOOR`). A
rule measured on ten seeds keeps nearly its own mean; a rule on three is pulled towards what
rules like it score, by as much as its noise warrants.

**Two roles for seeds.** The table seeds below :data:`SEARCH_SEEDS` (0, 1, 2) are a rule's
*search seeds*: search seed ``s`` below their count is served the recorded row of the ``s``-th,
and every later search seed a fresh draw around the *search centre* (:func:`search_centre`: the
same posterior from the search seeds alone), so no two search seeds share a draw and no search is
ever served the further seeds (*truth seeds*, from :data:`SEARCH_SEEDS` on) that the truth adds.

**Fresh search noise.** A draw beyond a rule's recorded search seeds is its centre plus its spread
``s`` times a residual ``z``. ``z`` is not a standard normal: it is read from the quantiles of the
table's own standardized residuals, ``(truth seed − search centre) / s`` over every rule with truth
seeds, by bins of ``s`` (:data:`NOISE_EDGES`; :func:`noise_z`). Those residuals are skewed and
light above (table: P(z > 2) = 0.003 against the normal's 0.023; 99.5 % quantile 1.8 against
2.6), so a mediocre rule with a wide spread is no longer drawn far above every rule it trails.
Measured against live in ``docs/bench/README.md``, *Fresh noise against live*.

The model (priors, bins and residual quantiles) is fit once, when the table is exported, with the portable kernels,
and shipped as data (``truth.npz``, no pickle); the per-rule arithmetic runs in plain Python
floats, so the truth is the same on every CPU. Choice measured in ``benchmarks/nosbench_truth.py``
(table in ``docs/bench/README.md``, "The truth at the top").
"""

from __future__ import annotations

import bisect
import math
from statistics import NormalDist
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional, Sequence

import numpy as np

from .table import TableRow

TRUTH_FILE = "truth.npz"
TRUTH_VERSION = "1"
#: Table seeds below this serve search rewards; the seeds from it on define the truth.
SEARCH_SEEDS = 3
#: Pseudo-seeds of the bin's variance mixed into a rule's own seed variance.
PSEUDO_SEEDS = 3.0
#: Quantile bins of the prior for the variances.
BINS = 10
TAU2_FLOOR = 1e-6
FOLDS = 5
#: Bin edges of a rule's spread ``s`` for the residual quantiles (chosen on the table's truth
#: seeds: the upper tail narrows as ``s`` grows, and beyond 0.1 the residuals are bimodal).
NOISE_EDGES = (0.03, 0.05, 0.1)
#: A bin with fewer residuals than this is merged into the bin below it.
NOISE_MIN_RESIDUALS = 30
#: Probability levels at which the residual quantiles are stored.
NOISE_LEVELS = tuple(float(v) for v in np.linspace(0.0025, 0.9975, 399))
#: The normal's quantiles at the two outermost levels on each side (for :func:`noise_z`'s tails).
_LEVEL_Z = tuple(NormalDist().inv_cdf(p) for p in (NOISE_LEVELS[0], NOISE_LEVELS[1], NOISE_LEVELS[-2], NOISE_LEVELS[-1]))


@dataclass(frozen=True)
class TruthModel:
    """Per rule the out-of-fold prior ``(reward, test accuracy)``; per bin of the prior the
    per-seed variance ``σ²_bin`` and the prior's spread ``τ²`` (for the reward and the test accuracy)."""

    priors: Mapping[str, tuple[float, float]]
    centres_reward: tuple[float, ...]
    sigma2_reward: tuple[float, ...]
    tau2_reward: tuple[float, ...]
    centres_test: tuple[float, ...]
    sigma2_test: tuple[float, ...]
    tau2_test: tuple[float, ...]
    #: Upper edges of the spread bins and, per bin, the residuals' quantiles at
    #: :data:`NOISE_LEVELS` (empty: a table exported before them; draws are then normal).
    noise_edges: tuple[float, ...] = ()
    noise_quantiles: tuple[tuple[float, ...], ...] = ()


@dataclass(frozen=True)
class Truth:
    """A tabulated rule's truth: expected reward and test accuracy, per-seed spreads, seeds used."""

    reward: float
    test_acc: float
    reward_std: float
    test_std: float
    truth_seeds: int


def _interp(x: float, xs: Sequence[float], ys: Sequence[float]) -> float:
    """Piecewise-linear interpolation, constant beyond the ends (plain floats: the same everywhere)."""
    if x <= xs[0]:
        return ys[0]
    if x >= xs[-1]:
        return ys[-1]
    i = bisect.bisect_right(xs, x)
    t = (x - xs[i - 1]) / (xs[i] - xs[i - 1])
    return ys[i - 1] + t * (ys[i] - ys[i - 1])


def _mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values)


def _var(values: Sequence[float]) -> float:
    if len(values) < 2:
        return 0.0
    m = _mean(values)
    return math.fsum((v - m) ** 2 for v in values) / (len(values) - 1)


def posterior(values: Sequence[float], all_values: Sequence[float], prior: Optional[float], sigma2_bin: float, tau2: float) -> float:
    """The empirical-Bayes posterior mean of the module docstring (``values``: the seeds that are
    data; ``all_values``: every seed, for the variance); without a prior, the mean of ``values``."""
    m = _mean(values)
    if prior is None:
        return m
    n_all = len(all_values)
    sigma2 = (PSEUDO_SEEDS * sigma2_bin + (n_all - 1) * _var(all_values)) / (PSEUDO_SEEDS + n_all - 1)
    w = tau2 / (tau2 + sigma2 / len(values))
    return w * m + (1.0 - w) * prior


def _split(rows: Mapping[int, TableRow]) -> tuple[list[TableRow], list[TableRow]]:
    search = [rows[s] for s in sorted(rows) if s < SEARCH_SEEDS]
    truth = [rows[s] for s in sorted(rows) if s >= SEARCH_SEEDS]
    return search, truth


def search_rows(rows: Mapping[int, TableRow]) -> list[TableRow]:
    """A rule's rows that serve search rewards (seed order); all of them if it has no search seed."""
    search, truth = _split(rows)
    return search or truth


def _spreads(model: Optional[TruthModel], fp: str, reward: list[float], test: list[float]) -> tuple:
    """(prior reward, prior test, σ²_bin, τ² of each) of one rule; priors None without a model."""
    if model is None or fp not in model.priors:
        return None, None, _var(reward), 0.0, _var(test), 0.0
    pr, pt = model.priors[fp]
    return (
        pr,
        pt,
        _interp(pr, model.centres_reward, model.sigma2_reward),
        _interp(pr, model.centres_reward, model.tau2_reward),
        _interp(pt, model.centres_test, model.sigma2_test),
        _interp(pt, model.centres_test, model.tau2_test),
    )


def _shrunk_std(sigma2_bin: float, values: Sequence[float], has_prior: bool) -> float:
    if not has_prior:
        return math.sqrt(_var(values))
    n = len(values)
    return math.sqrt((PSEUDO_SEEDS * sigma2_bin + (n - 1) * _var(values)) / (PSEUDO_SEEDS + n - 1))


def _posterior_from(fp: str, rows: Mapping[int, TableRow], data: Sequence[TableRow], model: Optional[TruthModel], truth_seeds: int) -> Truth:
    """The posterior of a rule from ``data`` (some of its rows), with the spreads of all its rows."""
    reward_all = [r.reward for r in rows.values()]
    test_all = [r.test_acc for r in rows.values()]
    pr, pt, s2r, t2r, s2t, t2t = _spreads(model, fp, reward_all, test_all)
    return Truth(
        posterior([r.reward for r in data], reward_all, pr, s2r, t2r),
        posterior([r.test_acc for r in data], test_all, pt, s2t, t2t),
        _shrunk_std(s2r, reward_all, pr is not None),
        _shrunk_std(s2t, test_all, pt is not None),
        truth_seeds,
    )


def truth_of(fp: str, rows: Mapping[int, TableRow], model: Optional[TruthModel]) -> Truth:
    """The truth of a trained tabulated rule (module docstring): the mean of all its seeds, shrunk
    towards its out-of-fold prior when the model has one."""
    _, truth = _split(rows)
    return _posterior_from(fp, rows, list(rows.values()), model, len(truth))


def search_centre(fp: str, rows: Mapping[int, TableRow], model: Optional[TruthModel]) -> Truth:
    """Where a search's draws beyond a rule's recorded search seeds are centred: the posterior
    from its search seeds alone (never its truth seeds), with its per-seed spreads."""
    return _posterior_from(fp, rows, search_rows(rows), model, 0)


def _normal_cdf(z: float) -> float:
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


def noise_z(model: Optional[TruthModel], normal: float, spread: float) -> float:
    """The residual of a draw whose standard normal is ``normal``, for a rule of spread ``spread``:
    the quantile, at Φ(normal), of the table's residuals in the rule's spread bin (module
    docstring); ``normal`` itself without a model or residual quantiles. Monotone in ``normal``,
    and plain floats: the same on every CPU."""
    if model is None or not model.noise_quantiles:
        return normal
    which = min(bisect.bisect_left(model.noise_edges, spread), len(model.noise_quantiles) - 1)
    quantiles = model.noise_quantiles[which]
    # Beyond the outermost levels, go on along the last segment (in the normal's z), so that draws
    # stay distinct there instead of piling up on the end quantile.
    if normal < _LEVEL_Z[0]:
        return quantiles[0] + (quantiles[1] - quantiles[0]) / (_LEVEL_Z[1] - _LEVEL_Z[0]) * (normal - _LEVEL_Z[0])
    if normal > _LEVEL_Z[-1]:
        return quantiles[-1] + (quantiles[-1] - quantiles[-2]) / (_LEVEL_Z[-1] - _LEVEL_Z[-2]) * (normal - _LEVEL_Z[-1])
    return _interp(_normal_cdf(normal), NOISE_LEVELS, quantiles)


def fit_noise(residuals: Sequence[float], spreads: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """(upper edges of the spread bins, per bin the quantiles at :data:`NOISE_LEVELS`) of
    standardized residuals; a bin with fewer than :data:`NOISE_MIN_RESIDUALS` is merged into the
    one below it. Empty arrays without residuals."""
    z, s = np.asarray(residuals, dtype=np.float64), np.asarray(spreads, dtype=np.float64)
    if len(z) < NOISE_MIN_RESIDUALS:
        return np.zeros(0), np.zeros((0, len(NOISE_LEVELS)))
    edges = list(NOISE_EDGES)
    while edges:
        which = np.searchsorted(np.array(edges), s, side="left")
        counts = np.bincount(which, minlength=len(edges) + 1)
        small = [b for b in range(len(edges) + 1) if counts[b] < NOISE_MIN_RESIDUALS]
        if not small:
            break
        del edges[max(small[0] - 1, 0)]  # merge the thin bin with its lower neighbour
    which = np.searchsorted(np.array(edges), s, side="left")
    quantiles = np.stack([np.quantile(z[which == b], NOISE_LEVELS) for b in range(len(edges) + 1)])
    return np.array(edges + [math.inf]), quantiles


def table_residuals(table, model: TruthModel) -> tuple[list[str], list[float], list[float]]:
    """Every truth seed's rule (fingerprint), standardized residual from the rule's search centre,
    and the rule's spread."""
    fingerprints, residuals, spreads = [], [], []
    for fp, rows in table.rows.items():
        if not all(r.trained for r in rows.values()):
            continue
        search, truth = _split(rows)
        if not search or not truth:
            continue
        centre = search_centre(fp, rows, model)
        if centre.reward_std <= 0:
            continue
        for row in truth:
            fingerprints.append(fp)
            residuals.append((row.reward - centre.reward) / centre.reward_std)
            spreads.append(centre.reward_std)
    return fingerprints, residuals, spreads


# -- fitting (at export, in the portable helper) ----------------------------------------------
def fold_of(fp: str) -> int:
    """The cross-validation fold of a rule, by fingerprint (independent of the table's order)."""
    return int(fp[:8], 16) % FOLDS


def _bins(prior: np.ndarray, sigma2: np.ndarray, search_mean: np.ndarray, search_n: np.ndarray) -> tuple:
    edges = np.quantile(prior, np.linspace(0.0, 1.0, BINS + 1))
    which = np.clip(np.searchsorted(edges, prior, side="right") - 1, 0, BINS - 1)
    centres, s2, t2 = [], [], []
    for b in range(BINS):
        inside = which == b
        if not inside.any():
            continue
        var = float(np.mean(sigma2[inside]))
        spread = float(np.mean((search_mean[inside] - prior[inside]) ** 2 - var / search_n[inside]))
        centres.append(float(np.mean(prior[inside])))
        s2.append(var)
        t2.append(max(spread, TAU2_FLOOR))
    return tuple(centres), tuple(s2), tuple(t2)


def fit_truth_arrays(folder: str, rule_config) -> dict[str, np.ndarray]:
    """The arrays of ``truth.npz`` for the table in ``folder`` (run it in the portable helper)."""
    from .model import MIN_SEEDS, stored_features, FEATURES_FILE, training_set
    from .surrogate import Surrogate
    from .table import read_table

    table = read_table(folder)
    data = training_set(table, rule_config, Path(folder))
    folds = np.array([fold_of(fp) for fp in data.fingerprints])
    prior_r = np.zeros(len(folds))
    prior_t = np.zeros(len(folds))
    for k in range(FOLDS):
        test = folds == k
        if not test.any() or test.all():
            continue
        fit = Surrogate.fit(data.X[~test], data.reward_mean[~test], data.test_mean[~test], data.seed_std[~test])
        prior_r[test], prior_t[test], _ = fit.predict(data.X[test])
    fps = list(data.fingerprints)
    # Trained rules on fewer seeds are outside the surrogate's training set: a full fit predicts them.
    others = [fp for fp in table.trained_rules(min_seeds=1) if len(table.rows[fp]) < MIN_SEEDS]
    known = stored_features(Path(folder) / FEATURES_FILE)
    others = [fp for fp in others if fp in known]
    if others:
        full = Surrogate.fit(data.X, data.reward_mean, data.test_mean, data.seed_std)
        r, t, _ = full.predict(np.stack([known[fp] for fp in others]))
        fps += others
        prior_r, prior_t = np.concatenate([prior_r, r]), np.concatenate([prior_t, t])
    search = [search_rows(table.rows[fp]) for fp in data.fingerprints]
    n = np.array([len(s) for s in search], dtype=np.float64)
    mean_r = np.array([np.mean([r.reward for r in s]) for s in search])
    mean_t = np.array([np.mean([r.test_acc for r in s]) for s in search])
    var_r = np.array([np.var([r.reward for r in table.rows[fp].values()], ddof=1) for fp in data.fingerprints])
    var_t = np.array([np.var([r.test_acc for r in table.rows[fp].values()], ddof=1) for fp in data.fingerprints])
    m = len(data.fingerprints)
    cr, s2r, t2r = _bins(prior_r[:m], var_r, mean_r, n)
    ct, s2t, t2t = _bins(prior_t[:m], var_t, mean_t, n)
    priors = {fp: (float(r), float(t)) for fp, r, t in zip(fps, prior_r, prior_t)}
    model = TruthModel(priors, cr, s2r, t2r, ct, s2t, t2t)
    _, residuals, spreads = table_residuals(table, model)
    noise_edges, noise_quantiles = fit_noise(residuals, spreads)
    return {
        "version": np.array(TRUTH_VERSION),
        "fingerprints": np.array(fps),
        "prior_reward": prior_r,
        "prior_test": prior_t,
        "centres_reward": np.array(cr),
        "sigma2_reward": np.array(s2r),
        "tau2_reward": np.array(t2r),
        "centres_test": np.array(ct),
        "sigma2_test": np.array(s2t),
        "tau2_test": np.array(t2t),
        "noise_edges": noise_edges,
        "noise_quantiles": noise_quantiles,
    }


def write_truth(folder: Path, rule_config) -> Optional[Path]:
    """Fit the truth model of the table in ``folder`` with the portable kernels and write ``truth.npz``
    (None, and nothing written, when the table has too few rules on three seeds for a surrogate)."""
    from .portable import run_portable

    try:
        arrays = run_portable(fit_truth_arrays, str(folder), rule_config)
    except ValueError:  # the surrogate needs at least two rules with features
        return None
    path = folder / TRUTH_FILE
    np.savez_compressed(path, **arrays)
    return path


def read_truth(path: Path) -> Optional[TruthModel]:
    """The model in ``truth.npz`` (None when it is missing or of another version)."""
    if not path.exists():
        return None
    with np.load(path, allow_pickle=False) as data:
        if str(data["version"]) != TRUTH_VERSION:
            return None
        priors = {fp: (float(r), float(t)) for fp, r, t in zip(data["fingerprints"].tolist(), data["prior_reward"], data["prior_test"])}

        def floats(name: str) -> tuple[float, ...]:
            return tuple(float(v) for v in data[name])

        return TruthModel(
            priors,
            floats("centres_reward"),
            floats("sigma2_reward"),
            floats("tau2_reward"),
            floats("centres_test"),
            floats("sigma2_test"),
            floats("tau2_test"),
            floats("noise_edges") if "noise_edges" in data else (),
            tuple(tuple(float(v) for v in row) for row in data["noise_quantiles"]) if "noise_quantiles" in data else (),
        )
