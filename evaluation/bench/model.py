"""The surrogate of a bench, fit from its table when first needed (data in, no pickle).

The training set is every rule of the table that passed the screen and holds at least
:data:`MIN_SEEDS` seeds: its features (:mod:`.features`, shipped precomputed in
``features.npz`` beside the table and recomputed when their version differs), its mean search
reward, mean test accuracy and seed-to-seed spread. The model and its choice are described in
:mod:`.surrogate`.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from optsearch.dsl import Expr, RuleConfig, resolve_rule

from .table import Table

FEATURES_FILE = "features.npz"
MIN_SEEDS = 3


@dataclass(frozen=True)
class TrainingSet:
    """Per rule (fingerprint order): features and the three targets."""

    fingerprints: tuple[str, ...]
    rules: tuple[str, ...]
    sources: tuple[str, ...]
    X: np.ndarray
    reward_mean: np.ndarray
    test_mean: np.ndarray
    seed_std: np.ndarray


def targets(table: Table, min_seeds: int = MIN_SEEDS):
    """(fingerprints, rule texts, sources, reward means, test means, reward stds) of the trained rules."""
    fps = sorted(table.trained_rules(min_seeds=min_seeds))
    rows = [list(table.rows[fp].values()) for fp in fps]
    rules = tuple(r[0].rule for r in rows)
    sources = tuple(r[0].source for r in rows)
    reward = np.array([statistics.fmean(x.reward for x in r) for r in rows])
    test = np.array([statistics.fmean(x.test_acc for x in r) for r in rows])
    std = np.array([statistics.stdev([x.reward for x in r]) for r in rows])
    return tuple(fps), rules, sources, reward, test, std


def stored_features(path: Optional[Path]) -> dict[str, np.ndarray]:
    """Fingerprint -> feature row of a features file, empty when it is missing or of another version."""
    from .features import FEATURE_VERSION

    if path is None or not path.exists():
        return {}
    with np.load(path, allow_pickle=False) as data:
        if str(data["version"]) != FEATURE_VERSION:
            return {}
        return dict(zip(data["fingerprints"].tolist(), data["X"]))


def feature_matrix(fingerprints: Sequence[str], rules: Sequence[str], rule_config: RuleConfig, shipped: Optional[Path]) -> np.ndarray:
    """Features of ``rules``: the shipped ones when their version is current, else computed."""
    from .features import features

    known = stored_features(shipped)
    if all(fp in known for fp in fingerprints):
        return np.stack([known[fp] for fp in fingerprints]) if fingerprints else features([], rule_config)
    return features([resolve_rule(r) for r in rules], rule_config)


def write_features(folder: Path, table: Table, rule_config: RuleConfig) -> Path:
    """Compute the features of every trained rule of ``table`` and write ``features.npz`` beside it."""
    from .features import FEATURE_VERSION, features

    fps = sorted(table.trained_rules(min_seeds=1))
    path = folder / FEATURES_FILE
    known = stored_features(path)  # the features already written (same version) are not computed again
    new = [fp for fp in fps if fp not in known]
    for fp, row in zip(new, features([resolve_rule(next(iter(table.rows[fp].values())).rule) for fp in new], rule_config)):
        known[fp] = row
    X = np.stack([known[fp] for fp in fps]) if fps else features([], rule_config)
    np.savez_compressed(path, version=np.array(FEATURE_VERSION), fingerprints=np.array(fps), X=X.astype(np.float32))
    return path


def training_set(table: Table, rule_config: RuleConfig, folder: Optional[Path] = None) -> TrainingSet:
    fps, rules, sources, reward, test, std = targets(table)
    X = feature_matrix(fps, rules, rule_config, folder / FEATURES_FILE if folder is not None else None)
    return TrainingSet(fps, rules, sources, X, reward, test, std)


class FittedSurrogate:
    """A :class:`~.surrogate.Surrogate` fit on a table, answering for rules."""

    def __init__(self, model, rule_config: RuleConfig, size: int):
        self.model = model
        self.rule_config = rule_config
        self.size = size

    def predict_rule(self, expr: Expr) -> tuple[float, float, float]:
        """(expected reward, expected test accuracy, seed-to-seed spread) of one rule."""
        from .features import features

        mean, test, std = self.model.predict(features([expr], self.rule_config))
        return float(mean[0]), float(test[0]), float(std[0])


def fit_surrogate(table: Table, rule_config: RuleConfig, folder: Optional[Path] = None) -> FittedSurrogate:
    """The surrogate fit on every trained rule of ``table`` with at least :data:`MIN_SEEDS` seeds."""
    from .surrogate import Surrogate

    data = training_set(table, rule_config, folder)
    return FittedSurrogate(Surrogate.fit(data.X, data.reward_mean, data.test_mean, data.seed_std), rule_config, len(data.fingerprints))
