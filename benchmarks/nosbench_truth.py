"""Which held-out truth: the winner's curse at the top of the table, measured on seeds held out.

    python benchmarks/nosbench_truth.py --store STORE [--table evaluation/bench/data/mnist1d] [--spread-only]

``STORE`` is a builder's store whose ``top`` stage measured the best rules on seeds 3-9 (seeds
that no search was served and that did not choose the rules: the table's seeds 0-2 did). Two
settings, each scored against the mean of seeds the estimator never sees (test accuracy):

1. **The 3-seed table** (bench 1): every estimator sees the shipped table only; scored against
   all the store's further seeds of the rules the top stage measured.
2. **Bench 2**: the table holds half of the top rules' further seeds, and the estimators are
   scored against the other half, which none of them sees. The halves alternate by rule (odd
   seeds held out for one rule, even ones for the next, by fingerprint), so that every seed is
   on both sides: seeds have effects common to many rules (measured: seed 5 is 0.013 below the
   ten seeds' mean for the top rules, seed 7 0.008 above), which a split by seed alone would
   count as bias.

3. **Rules that sometimes fail** (the shipped table alone): every rule with seeds 0-2 and at
   least two more, the estimators computed from seeds 0-2 as for a 3-seed rule, scored against
   its further seeds, by the spread of the three (a failed seed among them gives 0.1 and more).

Estimators: ``raw`` (the mean over every table seed, bench 1's truth), ``truth seeds only`` (the
mean over seeds >= 3 alone), ``EB on the further seeds only`` (the posterior of
:mod:`optsearch.evaluation.bench.truth` from seeds >= 3 alone), ``EB on every seed`` (the shipped
truth) and ``prior`` (the surrogate's out-of-fold prediction alone). Columns: bias and MAE over the rules,
the bias among the 24 best by the estimate (where a search's incumbents end), Kendall τ among those
24 and over all. Prints Markdown.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import tempfile
from pathlib import Path

import numpy as np
from scipy import stats

from optsearch.evaluation.bench.bench import Bench
from optsearch.evaluation.bench.model import FEATURES_FILE
from optsearch.evaluation.bench.table import export_table, read_table
from optsearch.evaluation.bench.truth import SEARCH_SEEDS, truth_of, write_truth
from optsearch.evaluation.config import EvalConfig

DEFAULT_TABLE = Path(__file__).resolve().parents[1] / "evaluation" / "bench" / "data" / "mnist1d"


def further_rows(store: str, table) -> dict:
    """The store's rows of the table's protocol that the table does not hold, by rule and seed."""
    from optsearch.evaluation.bench.table import TableRow
    from optsearch.evaluation.store import open_store

    rows: dict = {}
    for result in open_store(store).results(task=table.protocol.live_task):
        if result.config_hash != table.protocol.config_hash or result.cached or result.status in ("timeout", "error"):
            continue
        if result.fingerprint in table.rows and int(result.seed) not in table.rows[result.fingerprint]:
            rows.setdefault(result.fingerprint, {}).setdefault(int(result.seed), TableRow.of(result))
    return rows


def fitted(rows: dict, protocol, features: Path) -> Bench:
    folder = Path(tempfile.mkdtemp(prefix="bench-truth-"))
    export_table(rows, folder, protocol)
    shutil.copy(features, folder / FEATURES_FILE)
    write_truth(folder, EvalConfig().rule_config)
    return Bench(read_table(folder), "truth-check", folder)


def score(name: str, estimate: np.ndarray, live: np.ndarray) -> str:
    d = estimate - live
    top = np.argsort(-estimate)[:24]
    tau24 = stats.kendalltau(estimate[top], live[top]).statistic
    tau = stats.kendalltau(estimate, live).statistic
    return f"| {name} | {len(d)} | {d.mean():+.4f} | {np.abs(d).mean():.4f} | {d[top].mean():+.4f} | {tau24:.3f} | {tau:.3f} |"


HEADER = "| estimator | rules | bias | MAE | bias, best 24 | τ, best 24 | τ, all |\n|---|---|---|---|---|---|---|"


def eb_further(fp, rows, model) -> float:
    """The posterior from the seeds >= 3 alone (those no search is served), when the rule has any."""
    from optsearch.evaluation.bench.truth import _spreads, posterior

    values = [r.test_acc for r in rows.values()]
    further = [r.test_acc for s, r in rows.items() if s >= SEARCH_SEEDS] or values
    _, pt, _, _, s2t, t2t = _spreads(model, fp, values, values)
    return posterior(further, values, pt, s2t, t2t)


def estimates(bench: Bench, fps: list[str]) -> dict[str, np.ndarray]:
    rows = bench.table.rows
    model = bench.truth_model
    return {
        "raw (mean of every table seed)": np.array([np.mean([r.test_acc for r in rows[fp].values()]) for fp in fps]),
        "truth seeds only": np.array(
            [np.mean([r.test_acc for s, r in rows[fp].items() if s >= SEARCH_SEEDS] or [r.test_acc for r in rows[fp].values()]) for fp in fps]
        ),
        "EB on the further seeds only": np.array([eb_further(fp, rows[fp], model) for fp in fps]),
        "EB on every seed (shipped)": np.array([truth_of(fp, rows[fp], model).test_acc for fp in fps]),
        "prior (out-of-fold surrogate)": np.array([model.priors[fp][1] for fp in fps]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", help="the builder's store (sections 1 and 2)")
    parser.add_argument("--spread-only", action="store_true", help="print section 3 alone (it needs no store)")
    parser.add_argument("--table", default=str(DEFAULT_TABLE))
    parser.add_argument("--min-further", type=int, default=5, help="rules with at least this many further seeds")
    args = parser.parse_args()
    table = read_table(args.table)
    if args.spread_only:
        print(by_spread(Bench(table, "shipped", Path(args.table))))
        return
    if args.store is None:
        parser.error("--store is required unless --spread-only")
    further = further_rows(args.store, table)
    measured = sorted(fp for fp, seeds in further.items() if len(seeds) >= args.min_further)
    features = Path(args.table) / FEATURES_FILE

    print(f"## 1. The 3-seed table against {len(measured)} rules' further seeds\n")
    bench1 = Bench(table, "bench-1", None)
    bench1_model_folder = Path(tempfile.mkdtemp(prefix="bench-truth-"))
    shutil.copytree(args.table, bench1_model_folder, dirs_exist_ok=True)
    write_truth(bench1_model_folder, EvalConfig().rule_config)
    bench1.folder = bench1_model_folder
    live = np.array([np.mean([r.test_acc for r in further[fp].values()]) for fp in measured])
    print(HEADER)
    for name, estimate in estimates(bench1, measured).items():
        print(score(name, estimate, live))

    print("\n## 2. Bench 2: half the further seeds in the table, the other half held out\n")
    rows = {fp: dict(by_seed) for fp, by_seed in table.rows.items()}
    held: dict[str, list[float]] = {}
    for fp in measured:
        for seed, row in further[fp].items():
            if (seed + int(fp[:8], 16)) % 2 == 1:
                rows[fp][seed] = row
            else:
                held.setdefault(fp, []).append(row.test_acc)
    bench2 = fitted(rows, table.protocol, features)
    checked = [fp for fp in measured if len(held.get(fp, [])) >= 2]
    live = np.array([np.mean(held[fp]) for fp in checked])
    print(HEADER)
    for name, estimate in estimates(bench2, checked).items():
        print(score(name, estimate, live))
    seeds = [len(held[fp]) for fp in checked]
    print(f"\nHeld-out seeds per rule: {np.mean(seeds):.1f} (their noise adds about 0.02/sqrt(that) to the MAE).")

    print("\n## 3. Rules that sometimes fail: by the spread of a rule's first three seeds\n")
    print(by_spread(Bench(table, "shipped", Path(args.table))))


SPREAD_BANDS = ((0.0, 0.02), (0.02, 0.05), (0.05, 0.10), (0.10, 1.0))


def by_spread(bench: Bench) -> str:
    """Every trained rule with seeds 0-2 and at least two more: the estimators computed from seeds
    0-2 alone (as the table's 3-seed rules are), scored against the mean of its further seeds, in
    bands of the three seeds' standard deviation (a failed seed among three gives 0.1 and more)."""
    from optsearch.evaluation.bench.truth import _spreads, posterior

    model = bench.truth_model
    data, further, estimate = [], [], {"raw": [], "EB (shipped)": [], "prior": []}
    for fp, rows in bench.table.rows.items():
        seeds = sorted(rows)
        if fp not in model.priors or seeds[:3] != [0, 1, 2] or len(seeds) < 5 or not all(r.trained for r in rows.values()):
            continue
        first = [rows[s].test_acc for s in seeds[:3]]
        _, prior, _, _, s2t, t2t = _spreads(model, fp, first, first)
        data.append(np.std(first, ddof=1))
        further.append(np.mean([rows[s].test_acc for s in seeds[3:]]))
        estimate["raw"].append(np.mean(first))
        estimate["EB (shipped)"].append(posterior(first, first, prior, s2t, t2t))
        estimate["prior"].append(prior)
    data, further = np.array(data), np.array(further)
    lines = ["| std of seeds 0-2 | rules | " + " | ".join(f"{name}: bias, MAE" for name in estimate) + " |", "|---|---|" + "---|" * len(estimate)]
    for low, high in SPREAD_BANDS:
        band = (data >= low) & (data < high)
        cells = [f"{np.mean(np.array(e)[band] - further[band]):+.4f}, {np.mean(np.abs(np.array(e)[band] - further[band])):.4f}" for e in estimate.values()]
        lines.append(f"| {low:.2f}–{high:.2f} | {band.sum()} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
