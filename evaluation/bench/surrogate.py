"""The benchmark's surrogate: a rule's mean reward, mean test accuracy and seed-to-seed spread,
predicted from its features (:mod:`.features`) for screen-passing rules the table does not hold.

It is fit from data arrays only, at load time (never pickled): :meth:`Surrogate.fit` takes the
feature matrix and, per rule, the mean search reward over its seeds, the mean test accuracy and
the standard deviation of the reward over seeds; :meth:`Surrogate.predict` gives the three back
(reward and test clipped to [0, 1], std >= 0). The fit is deterministic (fixed ``random_state``,
one thread).

Models (``SurrogateConfig``):

- ``reward``: a regressor of the mean reward, named in :data:`REGRESSORS`;
- ``test``: the mean test accuracy, as the predicted reward plus a regressor of
  ``test - reward`` (the two differ by a few points and the difference is nearly constant, so
  this is more exact than a second model of the accuracy itself);
- ``std``: ``"mean-bins"`` (the root mean seed variance of the table's rules in the same quantile
  bin of mean reward, read at the predicted mean by linear interpolation), ``"knn"`` (the root mean seed variance of the ``k`` nearest table rules in
  standardized feature space, shrunk towards the pooled variance), ``"hgb-log"`` (gradient
  boosting of ``log(std + floor)``) or ``"const"`` (the pooled std of the table).

Model choice, by held-out fidelity (``python benchmarks/nosbench_surrogate.py``, 2026-12-04: 1,338
screen-passing rules on 3 table seeds, 88 features; 5-fold CV by rule and leave-one-source-out,
target the rule's mean search reward over its table seeds; fit seconds on one core):

=========  =====  =====  ======  ==========  ======  ========  =========  ===================
model      CV τ   CV ρ   CV MAE  CV top-25%  LOSO τ  LOSO MAE  fit s (n)  fit s (6,000 rows)
=========  =====  =====  ======  ==========  ======  ========  =========  ===================
hgb        0.815  0.947  0.041   0.266       0.808   0.043     0.66       1.30
hgb-small  0.807  0.945  0.045   0.255       0.794   0.046     0.28       0.64
hgb-big    0.822  0.950  0.040   0.299       0.818   0.041     1.98       3.89
hgb-abs    0.827  0.952  0.039   0.312       0.823   0.041     1.06       2.02
et         0.831  0.955  0.037   0.294       0.818   0.040     0.68       3.14
rf         0.828  0.953  0.039   0.308       0.818   0.041     0.93       9.44
knn10      0.675  0.857  0.078   0.116       0.650   0.082     0.15       0.34
mlp        0.577  0.784  0.126   0.042       0.568   0.129     0.34       0.86
=========  =====  =====  ======  ==========  ======  ========  =========  ===================

A *perfect* surrogate would score τ 0.875, ρ 0.977, MAE 0.025 and top-quartile τ 0.356 against
these targets (the noise ceiling: each target is a mean of 3 noisy seeds, seed std 0.057), so the
tree ensembles are close to what 3-seed targets allow. ``hgb-abs`` (gradient boosting of the
absolute error) is the default: within noise of the best on every column, the best top-quartile
and leave-one-source-out τ, and a fit that stays fast as the table grows (the fit runs when a
bench first needs the surrogate). Feature groups (``hgb``, 5-fold CV): tree counts alone τ 0.50,
MAE 0.146; with the static probe 0.73, 0.069; with the quadratic probe 0.75, 0.063; with the MLP
probe too 0.82, 0.040; the MLP probe alone 0.82, 0.041: the small learning probe on mnist1d
signals carries most of the signal, which is why it is worth its ~40 ms per unknown rule.

Seed-to-seed spread (5-fold CV over 1,490 rules with >= 3 seeds: held-out mean log-likelihood per
seed of the seed rewards around the rule's mean; in the top quartile of mean reward too, with the
rms predicted std there against the measured 0.0229):

=========  ========  ===============  ===================
std model  log-lik   top-25% log-lik  top-25% rms std
=========  ========  ===============  ===================
mean-bins  1.786     2.511            0.0303
knn        1.761     2.249            0.0480
hgb-log    1.715     2.510            0.0330
const      1.608     2.040            0.0577
=========  ========  ===============  ===================

The spread depends on the rule, mostly through how good it is: rules that sometimes fail are
noisy (std ≈ 0.09 around a mean reward of 0.5), good rules are stable (≈ 0.02 above 0.8).
``mean-bins`` reads the spread off the predicted mean and is the default. ``knn`` (the first
default) gave good rules the spread of their noisy neighbours in feature space, about twice the
measured one, and searchers on the bench climbed those draws to rewards of 1.0 that no live
evaluation reaches (the table's best single-seed reward is 0.904).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

__all__ = ["REGRESSORS", "STD_MODELS", "Surrogate", "SurrogateConfig", "make_regressor"]

STD_FLOOR = 1e-3


def _hgb(**kw: object) -> Callable[[int], object]:
    def make(seed: int) -> object:
        from sklearn.ensemble import HistGradientBoostingRegressor

        return HistGradientBoostingRegressor(random_state=seed, **kw)

    return make


def _trees(kind: str, **kw: object) -> Callable[[int], object]:
    def make(seed: int) -> object:
        from sklearn import ensemble

        cls = ensemble.ExtraTreesRegressor if kind == "et" else ensemble.RandomForestRegressor
        return cls(random_state=seed, n_jobs=1, **kw)

    return make


def _knn(k: int) -> Callable[[int], object]:
    def make(seed: int) -> object:
        from sklearn.neighbors import KNeighborsRegressor

        return KNeighborsRegressor(n_neighbors=k, weights="distance")

    return make


def _mlp(**kw: object) -> Callable[[int], object]:
    def make(seed: int) -> object:
        from sklearn.neural_network import MLPRegressor

        return MLPRegressor(random_state=seed, **kw)

    return make


#: name -> (factory(seed) -> unfitted sklearn regressor, whether it wants standardized inputs)
REGRESSORS: dict[str, tuple[Callable[[int], object], bool]] = {
    "hgb": (_hgb(max_iter=200, learning_rate=0.05, max_leaf_nodes=15, min_samples_leaf=5, l2_regularization=1.0), False),
    "hgb-small": (_hgb(max_iter=100, learning_rate=0.1, max_leaf_nodes=7, min_samples_leaf=10), False),
    "hgb-big": (_hgb(max_iter=400, learning_rate=0.03, max_leaf_nodes=31, min_samples_leaf=3, l2_regularization=1.0), False),
    "hgb-abs": (_hgb(loss="absolute_error", max_iter=300, learning_rate=0.05, max_leaf_nodes=15, min_samples_leaf=5), False),
    "et": (_trees("et", n_estimators=100, min_samples_leaf=2, max_features=0.5), False),
    "rf": (_trees("rf", n_estimators=100, min_samples_leaf=2, max_features=0.33), False),
    "knn5": (_knn(5), True),
    "knn10": (_knn(10), True),
    "mlp": (_mlp(hidden_layer_sizes=(64, 64), alpha=1e-3, max_iter=400, early_stopping=False, learning_rate_init=1e-3), True),
}
STD_MODELS = ("mean-bins", "knn", "hgb-log", "const")
STD_BINS = 12


def make_regressor(name: str, seed: int = 0) -> object:
    """An unfitted regressor of :data:`REGRESSORS` (raises ``KeyError`` naming the choices)."""
    if name not in REGRESSORS:
        raise KeyError(f"unknown regressor {name!r}; choose from {sorted(REGRESSORS)}")
    return REGRESSORS[name][0](seed)


@dataclass(frozen=True)
class SurrogateConfig:
    """Which models the surrogate fits (see the module docstring); ``seed`` is every model's ``random_state``."""

    reward: str = "hgb-abs"
    test: str = "hgb-small"
    std: str = "mean-bins"
    std_k: int = 15
    seed: int = 0

    def __post_init__(self) -> None:
        for name in (self.reward, self.test):
            if name not in REGRESSORS:
                raise ValueError(f"unknown regressor {name!r}; choose from {sorted(REGRESSORS)}")
        if self.std not in STD_MODELS:
            raise ValueError(f"unknown std model {self.std!r}; choose from {STD_MODELS}")


class _Scaler:
    """Standardization fitted on the training rows (constant columns are left unscaled)."""

    def __init__(self, x: np.ndarray):
        self.mean = x.mean(0)
        std = x.std(0)
        self.scale = np.where(std > 1e-12, std, 1.0)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean) / self.scale


def _threadpool_one() -> object:
    try:
        from threadpoolctl import threadpool_limits

        return threadpool_limits(1)
    except Exception:  # pragma: no cover - threadpoolctl comes with scikit-learn
        import contextlib

        return contextlib.nullcontext()


class Surrogate:
    """Predicts ``(reward_mean, test_mean, seed_std)`` of rules from their feature vectors."""

    def __init__(self, config: SurrogateConfig, scaler: _Scaler, reward_model: object, test_model: object, std_state: dict):
        self.config = config
        self._scaler = scaler
        self._reward = reward_model
        self._test = test_model
        self._std = std_state

    @classmethod
    def fit(
        cls,
        X: np.ndarray,
        reward_mean: np.ndarray,
        test_mean: np.ndarray,
        seed_std: np.ndarray,
        config: SurrogateConfig = SurrogateConfig(),
    ) -> "Surrogate":
        """Fit on one row per rule: features ``X [n, f]``, mean reward, mean test accuracy and
        the reward's std over seeds (each ``[n]``). Deterministic for a fixed ``config.seed``."""
        X = np.asarray(X, dtype=np.float64)
        reward_mean = np.asarray(reward_mean, dtype=np.float64)
        test_mean = np.asarray(test_mean, dtype=np.float64)
        seed_std = np.maximum(np.asarray(seed_std, dtype=np.float64), 0.0)
        n = X.shape[0]
        if X.ndim != 2 or not (reward_mean.shape == test_mean.shape == seed_std.shape == (n,)):
            raise ValueError("X must be [n, f] and the three targets [n]")
        if n < 2:
            raise ValueError("the surrogate needs at least two rules")
        scaler = _Scaler(X)
        Z = scaler(X)
        with _threadpool_one():
            reward_model = _fit_one(config.reward, X, Z, reward_mean, config.seed)
            test_model = _fit_one(config.test, X, Z, test_mean - reward_mean, config.seed)
            std_state = _fit_std(config, X, Z, seed_std, reward_mean)
        return cls(config, scaler, reward_model, test_model, std_state)

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(reward_mean, test_mean, seed_std)`` for every row of ``X``."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim == 1:
            X = X[None, :]
        Z = self._scaler(X)
        with _threadpool_one():
            reward = _predict_one(self.config.reward, self._reward, X, Z)
            test = reward + _predict_one(self.config.test, self._test, X, Z)
            std = _predict_std(self.config, self._std, X, Z, np.clip(reward, 0.0, 1.0))
        return np.clip(reward, 0.0, 1.0), np.clip(test, 0.0, 1.0), np.maximum(std, 0.0)


def _fit_one(name: str, X: np.ndarray, Z: np.ndarray, y: np.ndarray, seed: int) -> object:
    factory, standardized = REGRESSORS[name]
    model = factory(seed)
    model.fit(Z if standardized else X, y)  # type: ignore[attr-defined]
    return model


def _predict_one(name: str, model: object, X: np.ndarray, Z: np.ndarray) -> np.ndarray:
    return np.asarray(model.predict(Z if REGRESSORS[name][1] else X), dtype=np.float64)  # type: ignore[attr-defined]


def _fit_std(config: SurrogateConfig, X: np.ndarray, Z: np.ndarray, std: np.ndarray, mean: np.ndarray) -> dict:
    pooled = float(np.sqrt(np.mean(std**2)))
    state: dict = {"pooled": pooled}
    if config.std == "mean-bins":
        # the spread as a function of the mean reward: rules that sometimes fail are noisy, good rules stable
        edges = np.unique(np.quantile(mean, np.linspace(0.0, 1.0, STD_BINS + 1)))
        which = np.clip(np.searchsorted(edges, mean, side="right") - 1, 0, max(len(edges) - 2, 0))
        centres, rms = [], []
        for b in range(max(len(edges) - 1, 1)):
            inside = which == b
            if inside.any():
                centres.append(float(mean[inside].mean()))
                rms.append(float(np.sqrt(np.mean(std[inside] ** 2))))
        state["centres"], state["rms"] = np.array(centres), np.array(rms)
    elif config.std == "knn":
        from sklearn.neighbors import NearestNeighbors

        k = max(1, min(config.std_k, len(std)))
        state["nn"] = NearestNeighbors(n_neighbors=k).fit(Z)
        state["var"] = std**2
    elif config.std == "hgb-log":
        from sklearn.ensemble import HistGradientBoostingRegressor

        model = HistGradientBoostingRegressor(
            max_iter=100, learning_rate=0.05, max_leaf_nodes=7, min_samples_leaf=20, random_state=config.seed
        )
        model.fit(X, np.log(std + STD_FLOOR))
        state["model"] = model
        # exp(E[log s]) underestimates the rms; rescale so the training rms matches the pooled std
        fitted = np.exp(model.predict(X)) - STD_FLOOR
        state["factor"] = pooled / max(float(np.sqrt(np.mean(np.maximum(fitted, 0.0) ** 2))), 1e-12)
    return state


def _predict_std(config: SurrogateConfig, state: dict, X: np.ndarray, Z: np.ndarray, mean: np.ndarray) -> np.ndarray:
    if config.std == "mean-bins":
        return np.interp(mean, state["centres"], state["rms"])
    if config.std == "knn":
        _, index = state["nn"].kneighbors(Z)
        var = state["var"][index]  # [n, k]
        k = index.shape[1]
        prior = 3.0  # pseudo-rules of pooled variance: 3-seed stds are noisy
        mixed = (var.sum(1) + prior * state["pooled"] ** 2) / (k + prior)
        return np.sqrt(mixed)
    if config.std == "hgb-log":
        return np.maximum(np.exp(state["model"].predict(X)) - STD_FLOOR, 0.0) * state["factor"]
    return np.full(X.shape[0], state["pooled"])
