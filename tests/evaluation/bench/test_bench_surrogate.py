"""The benchmark's rule features and surrogate: real computations on tiny inputs."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import kendalltau

from optsearch.dsl import parse
from optsearch.dsl.library import NAMED_RULES
from optsearch.evaluation.bench.features import FEATURE_VERSION, feature_names, features, rule_features
from optsearch.evaluation.bench.surrogate import Surrogate, SurrogateConfig

RULES = [NAMED_RULES[name] for name in ("sgd", "adam", "powersign-ld", "paper-02")]
PATHOLOGICAL = ["exp(exp(exp(g)))", "g / (g - g)", "log(g - g)", "g3 ^ exp(g3)", "noise", "1"]


@pytest.mark.slow
def test_features_are_finite_deterministic_and_named():
    names = feature_names()
    assert isinstance(FEATURE_VERSION, str) and len(set(names)) == len(names)
    exprs = [parse(text) for text in RULES + PATHOLOGICAL]
    first = features(exprs)
    assert first.dtype == np.float32 and first.shape == (len(exprs), len(names))
    assert np.all(np.isfinite(first))
    assert np.array_equal(first, features(exprs))  # the same on a second call
    assert np.array_equal(first[1], features([exprs[1]])[0])  # the same alone as in a batch
    # This process's native kernels round otherwise: close for a well-behaved rule like Adam
    # (a probe accuracy may move by a signal or two of 500).
    np.testing.assert_allclose(first[1], rule_features(exprs[1]), atol=5e-3, rtol=1e-3)


def test_features_tell_rules_apart():
    names = feature_names()
    adam, broken = rule_features(parse("adam")), rule_features(parse("g / (g - g)"))
    best = names.index("mlp_best_acc")
    assert adam[best] > 0.2 > broken[best]  # the learning probe learns with adam, not with a broken rule
    assert adam[names.index("n_adam")] == 1 and broken[names.index("n_div")] == 1
    sgd = rule_features(parse("g"))
    assert sgd[names.index("static_1_cos_mean")] == pytest.approx(1.0, abs=1e-5)
    neg = rule_features(parse("-g"))
    assert neg[names.index("static_1_cos_mean")] == pytest.approx(-1.0, abs=1e-5)


def _synthetic(n: int, seed: int):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6))
    reward = 1.0 / (1.0 + np.exp(-(1.5 * X[:, 0] - X[:, 1] + 0.5 * X[:, 2] ** 2)))
    test = np.clip(reward + 0.01, 0, 1)
    std = 0.005 + 0.04 * (X[:, 3] > 0)  # heteroscedastic: noisy where x3 > 0
    return X, reward, test, std


@pytest.mark.slow
def test_surrogate_ranks_held_out_rules_and_follows_the_noise():
    X, reward, test, std = _synthetic(600, 0)
    Xh, reward_h, test_h, std_h = _synthetic(200, 1)
    model = Surrogate.fit(X, reward, test, std)
    pred_r, pred_t, pred_s = model.predict(Xh)
    assert kendalltau(reward_h, pred_r)[0] > 0.7
    assert np.all((pred_r >= 0) & (pred_r <= 1) & (pred_t >= 0) & (pred_t <= 1) & (pred_s >= 0))
    assert np.mean(np.abs(pred_t - test_h)) < 0.1
    noisy = Xh[:, 3] > 0
    # nearest neighbours over all features (shrunk to the pooled std) follow noise set by a feature
    _, _, near = Surrogate.fit(X, reward, test, std, SurrogateConfig(std="knn")).predict(Xh)
    assert near[noisy].mean() > 1.5 * near[~noisy].mean()
    _, _, boosted = Surrogate.fit(X, reward, test, std, SurrogateConfig(std="hgb-log")).predict(Xh)
    assert boosted[noisy].mean() > 3 * boosted[~noisy].mean()
    _, _, const = Surrogate.fit(X, reward, test, std, SurrogateConfig(std="const")).predict(Xh)
    assert np.all(const == const[0]) and const[0] > 0


def test_the_default_spread_follows_the_mean_reward():
    """Live, rules that sometimes fail are noisy and good rules stable: the default reads the spread
    off the predicted mean, so a good rule is never given a bad neighbour's noise."""
    X, reward, test, _ = _synthetic(800, 3)
    std = np.where(reward < 0.5, 0.08, 0.01)
    model = Surrogate.fit(X, reward, test, std)
    assert model.config.std == "mean-bins"
    Xh, reward_h, _, _ = _synthetic(300, 4)
    pred_r, _, pred_s = model.predict(Xh)
    good, bad = pred_r > 0.7, pred_r < 0.3
    assert pred_s[good].max() < 0.03 and pred_s[bad].min() > 0.06


@pytest.mark.slow
def test_fitting_is_deterministic():
    X, reward, test, std = _synthetic(300, 2)
    a = Surrogate.fit(X, reward, test, std).predict(X[:50])
    b = Surrogate.fit(X, reward, test, std).predict(X[:50])
    for x, y in zip(a, b):
        assert np.array_equal(x, y)


def test_the_shipped_probe_signals_are_the_generated_ones():
    from optsearch.evaluation.bench.features import PROBE_SIGNALS, generated_probe_signals

    assert PROBE_SIGNALS.exists()
    generated = generated_probe_signals()
    with np.load(PROBE_SIGNALS, allow_pickle=False) as shipped:
        assert sorted(shipped.files) == sorted(generated)
        for name, array in generated.items():
            assert np.array_equal(shipped[name], array), name


def test_the_shipped_features_are_what_the_features_compute_now():
    """A feature definition changed without a new FEATURE_VERSION would serve stale features."""
    from optsearch.dsl import resolve_rule
    from optsearch.evaluation.bench.bench import DATA_ROOT, load_bench

    table = load_bench("mnist1d").table
    with np.load(DATA_ROOT / "mnist1d" / "features.npz", allow_pickle=False) as data:
        assert str(data["version"]) == FEATURE_VERSION
        fingerprints, X = data["fingerprints"], data["X"]
    picks = np.linspace(0, len(fingerprints) - 1, 12).astype(int)
    rules = [resolve_rule(next(iter(table.rows[str(fingerprints[i])].values())).rule) for i in picks]
    assert np.array_equal(features(rules), X[picks])
