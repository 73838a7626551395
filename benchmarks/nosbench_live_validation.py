"""The bench against live: a bench study's final incumbents trained live on fresh seeds.

    python benchmarks/nosbench_live_validation.py --store RUNS.sqlite --out docs/bench/validation \
        [--seeds 10] [--workers 2] [--runs 8] [--live-store validation.sqlite]

``RUNS.sqlite`` is the store of a comparison on ``mnist1d-bench`` (``optsearch compare --store``).
Every run's final incumbent (its best search reward, as the held-out protocol takes it) and Adam
are trained fully on ``--seeds`` fresh seeds (from 3,000,000: no table, search, held-out or race
seed) with the live held-out protocol, through the ordinary evaluator (resumable: the live store
keeps every training). Then, relative to Adam on the same seeds (paired):

- **per rule** (``per_rule.csv``, ``validation.md``): the bench's truth against the live mean:
  bias, MAE and Kendall τ, over all rules and among the 24 best by the bench, by provenance
  (tabulated, surrogate); with ``--top-seeds N``, the 24 best and Adam on ``N`` fresh seeds too,
  since their true differences are small against a 10-seed live mean's noise;
- **per searcher**: each searcher's held-out IQM over its seeds on the bench (the truth of its
  incumbents) and live (the live means of the same incumbents), their difference (as it is, and
  relative to Adam on each side: the fresh seeds move every rule alike), and for every
  pair of searchers whether the IQM difference's 95 % bootstrap interval excludes 0 on each side.
"""

from __future__ import annotations

import argparse
import csv
import itertools
from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy import stats as st

from optsearch.evaluation.bench.bench import load_bench
from optsearch.evaluation.config import EvalConfig
from optsearch.evaluation.evaluator import Evaluator
from optsearch.evaluation.experiments.heldout import evaluate_heldout, heldout_config
from optsearch.evaluation.statistics.incumbents import HeldoutScores
from optsearch.evaluation.statistics.stats import iqm
from optsearch.searchers.studies.bench_stages import final_incumbents

FRESH_SEED_BASE = 3_000_000


def relative(values: dict[str, float], adam: str) -> dict[str, float]:
    return {fp: v - values[adam] for fp, v in values.items()}


def summary_row(name: str, bench: np.ndarray, live: np.ndarray) -> str:
    d = bench - live
    if len(d) < 2:
        return f"| {name} | {len(d)} | | | |"
    tau = st.kendalltau(bench, live).statistic
    return f"| {name} | {len(d)} | {d.mean():+.4f} ± {d.std(ddof=1) / np.sqrt(len(d)):.4f} | {np.abs(d).mean():.4f} | {tau:.3f} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", required=True, help="the bench comparison's store")
    parser.add_argument("--out", required=True)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--live-store", default=None, help="where the live trainings go (default: OUT/live.sqlite)")
    parser.add_argument("--runs", type=int, default=None, help="each searcher's first RUNS search seeds only (default: all)")
    parser.add_argument("--top-seeds", type=int, default=None, help="train the 24 best by the bench and Adam on this many fresh seeds (default: --seeds); the top rows use them")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    bench = load_bench("mnist1d")
    runs = final_incumbents(args.store, ["mnist1d-bench"])
    if args.runs is not None:
        runs = {label: {s: by_seed[s] for s in sorted(by_seed)[: args.runs]} for label, by_seed in runs.items()}
    rules = sorted({rule for by_seed in runs.values() for rule in by_seed.values()} | {"adam"})
    config = EvalConfig(task="mnist1d")
    seeds = list(range(FRESH_SEED_BASE, FRESH_SEED_BASE + args.seeds))
    with Evaluator(heldout_config(config), store=args.live_store or out / "live.sqlite", backend="process", workers=args.workers) as live:
        scores: HeldoutScores
        scores, fps = evaluate_heldout(live, rules, seeds, progress=lambda done, total: print(f"live {done}/{total}", flush=True))
        fp_of = dict(zip(rules, fps))
        adam = fp_of["adam"]
        expected = {fp_of[r]: bench.expected(r) for r in rules}
        top_seed_list = seeds
        if args.top_seeds is not None and args.top_seeds > args.seeds:
            rule_of = {fp: r for r, fp in fp_of.items()}
            top_fps = sorted(set(fps) - {adam}, key=lambda fp: (-expected[fp].test_acc, fp))[:24]
            top_seed_list = list(range(FRESH_SEED_BASE, FRESH_SEED_BASE + args.top_seeds))
            top_scores, _ = evaluate_heldout(
                live, [rule_of[fp] for fp in top_fps] + ["adam"], top_seed_list, progress=lambda done, total: print(f"live top {done}/{total}", flush=True)
            )
    bench_rel = relative({fp: e.test_acc for fp, e in expected.items()}, adam)
    live_mean = {fp: scores.mean(fp) for fp in fps}
    live_rel = relative(live_mean, adam)
    adam_live = np.array(scores.scores(adam))
    paired_se = {fp: float(np.std(np.array(scores.scores(fp)) - adam_live, ddof=1) / np.sqrt(len(seeds))) for fp in fps}

    with open(out / "per_rule.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["rule", "fingerprint", "source", "table_seeds", "truth_seeds", "runs_ending_on_it", "bench_test_acc", "live_test_acc", "bench_minus_adam", "live_minus_adam", "live_minus_adam_se"])
        ending = defaultdict(int)
        for by_seed in runs.values():
            for rule in by_seed.values():
                ending[fp_of[rule]] += 1
        for rule in rules:
            fp = fp_of[rule]
            e = expected[fp]
            writer.writerow([rule, fp, e.source, e.seeds, e.truth_seeds, ending[fp], f"{e.test_acc:.4f}", f"{live_mean[fp]:.4f}", f"{bench_rel[fp]:+.4f}", f"{live_rel[fp]:+.4f}", f"{paired_se[fp]:.4f}"])

    others = [fp_of[r] for r in rules if fp_of[r] != adam]
    lines = [f"# The bench against live: {len(others)} final incumbents and Adam on {len(seeds)} fresh seeds", ""]
    lines += [f"Bench table `{bench.content_hash[:16]}`; live seeds {seeds[0]}–{seeds[-1]}; every number relative to Adam on the same seeds.", ""]
    lines += ["## Per rule (bench minus live)", "", "| rules | n | bias ± SE | MAE | Kendall τ |", "|---|---|---|---|---|"]
    b = np.array([bench_rel[fp] for fp in others])
    l = np.array([live_rel[fp] for fp in others])
    lines.append(summary_row("all final incumbents", b, l))
    top = np.argsort(-b)[:24]
    lines.append(summary_row("the 24 best by the bench", b[top], l[top]))
    if len(top_seed_list) > len(seeds):
        top_live = np.array([top_scores.mean(fp) - top_scores.mean(adam) for fp in top_fps])
        top_bench = np.array([bench_rel[fp] for fp in top_fps])
        lines.append(summary_row(f"the 24 best by the bench, on {len(top_seed_list)} live seeds", top_bench, top_live))
    for source in ("table", "surrogate"):
        mask = np.array([expected[fp].source == source for fp in others])
        if mask.any():
            lines.append(summary_row(f"answered by the {source}", b[mask], l[mask]))
    noise = float(np.sqrt(np.mean([paired_se[fp] ** 2 for fp in others])))
    lines += ["", f"The live means carry noise too: their paired SE is {noise:.4f} (rms), which the MAE includes."]
    if len(top_seed_list) > len(seeds):
        adam_top = np.array(top_scores.scores(adam))
        top_se = float(np.sqrt(np.mean([np.var(np.array(top_scores.scores(fp)) - adam_top, ddof=1) / len(top_seed_list) for fp in top_fps])))
        spread = float(np.std([bench_rel[fp] for fp in top_fps], ddof=1))
        lines.append(f"On {len(top_seed_list)} seeds the top rules' paired SE is {top_se:.4f} (rms), against a spread of {spread:.4f} of their bench scores.")
    lines.append("")

    adam_bench, adam_live_mean = expected[adam].test_acc, live_mean[adam]
    lines += ["## Per searcher (held-out IQM of the final incumbents over search seeds)", ""]
    lines += [
        f"Adam: bench {adam_bench:.4f}, live {adam_live_mean:.4f} on these seeds. *Relative to Adam* subtracts each side's Adam,",
        "as the per-rule figures do, so that the fresh seeds' common effect is not counted as the bench's error.",
        "",
        "| searcher | seeds | bench IQM | live IQM | bench − live | bench − live, relative to Adam |",
        "|---|---|---|---|---|---|",
    ]
    per = {}
    for label, by_seed in sorted(runs.items()):
        order = sorted(by_seed)
        bench_scores = np.array([expected[fp_of[by_seed[s]]].test_acc for s in order])
        live_scores = np.array([live_mean[fp_of[by_seed[s]]] for s in order])
        per[label] = (bench_scores, live_scores)
        gap = iqm(bench_scores) - iqm(live_scores)
        lines.append(
            f"| {label} | {len(order)} | {iqm(bench_scores):.4f} | {iqm(live_scores):.4f} | {gap:+.4f} | {gap - (adam_bench - adam_live_mean):+.4f} |"
        )
    lines += [
        "",
        "Pairs: the IQM difference with a 95 % bootstrap interval on each side, unadjusted (a check that both sides",
        "separate the same pairs, not a claim about any pair).",
        "",
        "| pair | bench: IQM difference [95 % CI] | live: IQM difference [95 % CI] | same verdict |",
        "|---|---|---|---|",
    ]
    for a, c in itertools.combinations(sorted(per), 2):
        verdicts = []
        cells = []
        for side in (0, 1):
            x, y = per[a][side], per[c][side]
            rng = np.random.default_rng(0)
            diffs = [iqm(rng.choice(x, len(x))) - iqm(rng.choice(y, len(y))) for _ in range(2000)]
            low, high = np.quantile(diffs, [0.025, 0.975])
            verdicts.append(">" if low > 0 else "<" if high < 0 else "=")
            cells.append(f"{iqm(x) - iqm(y):+.4f} [{low:+.4f}, {high:+.4f}]")
        lines.append(f"| {a} − {c} | {cells[0]} | {cells[1]} | {'yes' if verdicts[0] == verdicts[1] else 'no'} ({verdicts[0]} / {verdicts[1]}) |")
    (out / "validation.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
