"""The size of the CPU's effect on what the bench computes, over the table's rules.

For every screen-passing rule of the shipped table (or ``--rules N`` of them, evenly spaced by
fingerprint), this compares, with the kernels of this process (set ``ATEN_CPU_CAPABILITY`` to
choose them) against a reference:

- **features**: this process's native features (:func:`rule_features`) and the portable ones
  (:func:`features`, what the bench uses) against the shipped ``features.npz``, or against the
  ``--reference`` features file (for instance a version-3 file computed natively on another kind);
- **predictions**: the surrogate fit on the reference features of every rule, its predicted mean
  reward from each feature matrix;
- **screen verdicts**: the native screen and the portable one (what the bench uses for a rule
  outside its table) against the verdicts the table records, on ``--screen-rules`` rules of the
  whole table (screened ones included).

Usage::

    python benchmarks/cpu_effect.py                       # this machine's kernels
    ATEN_CPU_CAPABILITY=default python benchmarks/cpu_effect.py
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def _rows(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return dict(zip(data["fingerprints"].tolist(), data["X"]))


def _differences(name: str, X: np.ndarray, reference: np.ndarray) -> str:
    cells = X != reference
    largest = float(np.max(np.abs(X - reference))) if cells.any() else 0.0
    return f"| {name} | {int(cells.sum()):,} of {cells.size:,} | {int(cells.any(1).sum()):,} of {len(X):,} | {largest:.3g} |"


def main() -> None:
    import torch

    from optsearch.dsl import resolve_rule
    from optsearch.evaluation.bench.bench import load_bench
    from optsearch.evaluation.bench.features import features, rule_features
    from optsearch.evaluation.bench.model import FEATURES_FILE, targets
    from optsearch.evaluation.bench.portable import run_portable
    from optsearch.evaluation.bench.surrogate import Surrogate

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, default=0, help="screen-passing rules compared (0: all with >= 3 seeds)")
    parser.add_argument("--screen-rules", type=int, default=2000, help="table rules whose screen verdict is compared")
    parser.add_argument("--reference", type=Path, default=None, help="a features file to compare with (default: the shipped one)")
    args = parser.parse_args()

    bench = load_bench("mnist1d")
    reference = _rows(args.reference or bench.folder / FEATURES_FILE)
    all_fps, rules, _, reward, test, std = targets(bench.table)
    picks = np.arange(len(all_fps)) if not args.rules else np.linspace(0, len(all_fps) - 1, args.rules).astype(int)
    fps = [all_fps[i] for i in picks]
    exprs = [resolve_rule(rules[i]) for i in picks]
    ref = np.stack([reference[fp] for fp in fps])
    started = time.perf_counter()
    native = np.stack([rule_features(e, bench.rule_config) for e in exprs])
    native_s = time.perf_counter() - started
    started = time.perf_counter()
    portable = features(exprs, bench.rule_config)
    portable_s = time.perf_counter() - started
    print(f"capability {torch.backends.cpu.get_cpu_capability()}; {len(fps):,} rules; "
          f"native {native_s / len(fps) * 1e3:.0f} ms/rule, portable {portable_s / len(fps) * 1e3:.0f} ms/rule\n")
    print("| features | cells that differ | rules with any | largest difference |")
    print("|---|---|---|---|")
    print(_differences("native (this process's kernels)", native, ref))
    print(_differences("portable (what the bench uses)", portable, ref))

    # One model, fit on every rule's reference features: how far the features alone move its answers.
    model = Surrogate.fit(np.stack([reference[fp] for fp in all_fps]), reward, test, std)
    base = model.predict(ref)[0]
    print("\n| predicted mean reward of the surrogate fit on the reference, from | predictions that differ | largest difference |")
    print("|---|---|---|")
    for name, X in (("native features", native), ("portable features", portable)):
        pred = model.predict(X)[0]
        print(f"| {name} | {int((pred != base).sum()):,} of {len(pred):,} | {float(np.max(np.abs(pred - base))):.3g} |")

    table_fps = sorted(bench.table.rows)
    screen_picks = np.linspace(0, len(table_fps) - 1, min(args.screen_rules, len(table_fps))).astype(int)
    screen_exprs = [resolve_rule(next(iter(bench.table.rows[table_fps[i]].values())).rule) for i in screen_picks]
    recorded = np.array([bench.screen_verdict(table_fps[i]) for i in screen_picks])
    native_v = np.array(_screen_verdicts(screen_exprs, bench.rule_config))
    portable_v = np.array(run_portable(_screen_verdicts, screen_exprs, bench.rule_config))
    print("\n| screen verdicts against the table's record | flipped |")
    print("|---|---|")
    print(f"| native | {int((native_v != recorded).sum())} of {len(recorded):,} |")
    print(f"| portable | {int((portable_v != recorded).sum())} of {len(recorded):,} |")


def _screen_verdicts(exprs, rule_config) -> list[bool]:
    from optsearch.evaluation.screen import screen_rule

    return [screen_rule(e, rule_config=rule_config).passed for e in exprs]


if __name__ == "__main__":
    main()
