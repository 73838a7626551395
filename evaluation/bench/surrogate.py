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
- ``std``: ``"knn"`` (the root mean seed variance of the ``k`` nearest table rules in
  standardized feature space, shrunk towards the pooled variance), ``"hgb-log"`` (gradient
  boosting of ``log(std + floor)``) or ``"const"`` (the pooled std of the table).

Model choice (``benchmarks/bench_surrogate.py``; numbers in the table below): filled in from the
measurements, see the end of this docstring.
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
STD_MODELS = ("knn", "hgb-log", "const")


def make_regressor(name: str, seed: int = 0) -> object:
    """An unfitted regressor of :data:`REGRESSORS` (raises ``KeyError`` naming the choices)."""
    if name not in REGRESSORS:
        raise KeyError(f"unknown regressor {name!r}; choose from {sorted(REGRESSORS)}")
    return REGRESSORS[name][0](seed)


@dataclass(frozen=True)
class SurrogateConfig:
    """Which models the surrogate fits (see the module docstring); ``seed`` is every model's ``random_state``."""

    reward: str = "hgb"
    test: str = "hgb-small"
    std: str = "knn"
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
            std_state = _fit_std(config, X, Z, seed_std)
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
            std = _predict_std(self.config, self._std, X, Z)
        return np.clip(reward, 0.0, 1.0), np.clip(test, 0.0, 1.0), np.maximum(std, 0.0)


def _fit_one(name: str, X: np.ndarray, Z: np.ndarray, y: np.ndarray, seed: int) -> object:
    factory, standardized = REGRESSORS[name]
    model = factory(seed)
    model.fit(Z if standardized else X, y)  # type: ignore[attr-defined]
    return model


def _predict_one(name: str, model: object, X: np.ndarray, Z: np.ndarray) -> np.ndarray:
    return np.asarray(model.predict(Z if REGRESSORS[name][1] else X), dtype=np.float64)  # type: ignore[attr-defined]


def _fit_std(config: SurrogateConfig, X: np.ndarray, Z: np.ndarray, std: np.ndarray) -> dict:
    pooled = float(np.sqrt(np.mean(std**2)))
    state: dict = {"pooled": pooled}
    if config.std == "knn":
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


def _predict_std(config: SurrogateConfig, state: dict, X: np.ndarray, Z: np.ndarray) -> np.ndarray:
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
