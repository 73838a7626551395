"""Fresh search noise, shown: a searcher's spread across search seeds on the bench against live.

    python benchmarks/nosbench_search_spread.py --bench-store default-run/results.sqlite \
        --out /tmp/spread [--searchers random,reinforce,gp] [--seeds 10] [--budget 200] \
        [--heldout 5] [--workers 2]

``--bench-store`` is a comparison's store on ``mnist1d-bench`` (the default run). The same
searchers then search the **live** task with the same seeds, budget and protocol (config hash
``233cc2ceffeb``; resumable: ``OUT/live.sqlite`` keeps every evaluation), and every live run's
final incumbent and Adam are trained fully on ``--heldout`` fresh seeds (from 4,000,000: no table,
search, held-out, race or validation seed).

Per searcher, relative to Adam (the bench's truth of Adam; live, Adam on the same fresh seeds):

- the mean and the spread (standard deviation over search seeds) of the runs' final scores: on
  the bench the truth of each run's final incumbent, live the fresh seeds' mean of it;
- live, the spread of the incumbents' *quality*: the observed spread with the fresh seeds' own
  noise taken out (``var − mean(paired seed variance) / heldout``), which is what the bench's
  spread stands for (its held-out scores are expectations);
- the width of the held-out IQM's 95 % bootstrap interval on each side: a bench comparison's
  intervals cover the live task's variability when the bench's are not narrower than live's;
- how many of the search seeds below 3 (those the table's trajectories recorded) end on the same
  rule on both sides.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from optsearch.evaluation.bench.bench import load_bench
from optsearch.evaluation.config import EvalConfig
from optsearch.evaluation.evaluator import Evaluator
from optsearch.evaluation.experiments.heldout import evaluate_heldout, heldout_config
from optsearch.evaluation.statistics.incumbents import final_incumbent
from optsearch.evaluation.statistics.stats import iqm_ci
from optsearch.searchers.lifecycle import default_run_id
from optsearch.searchers.registry import run_named_search
from optsearch.searchers.studies.bench_stages import final_incumbents

FRESH_SEED_BASE = 4_000_000
LIVE_CONFIG_HASH = "233cc2ceffeb"


def live_searches(names: list[str], seeds: int, budget: int, groups: int, store: Path, workers: int) -> dict[str, dict[int, str]]:
    """Searcher -> seed -> the rule text its live run ends on (resumed from ``store``)."""
    finals: dict[str, dict[int, str]] = {}
    with Evaluator(EvalConfig(task="mnist1d"), store=store, backend="process", workers=workers) as live:
        if live.config.config_hash() != LIVE_CONFIG_HASH:
            raise SystemExit(f"the live protocol's config hash is {live.config.config_hash()}, not the bench's {LIVE_CONFIG_HASH}")
        for seed in range(seeds):
            for name in names:
                outcome = run_named_search(name, live, budget=budget, seed=seed, groups=groups, run_id=default_run_id(name, seed, "mnist1d"))
                best = final_incumbent(list(outcome.results))
                finals.setdefault(name, {})[seed] = best.rule
                print(f"live {name} seed {seed}: {best.rule}", flush=True)
    return finals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench-store", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--searchers", default="random,reinforce,gp")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--budget", type=int, default=200)
    parser.add_argument("--groups", type=int, default=2)
    parser.add_argument("--heldout", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    names = args.searchers.split(",")

    bench = load_bench("mnist1d")
    bench_runs = final_incumbents(args.bench_store, ["mnist1d-bench"])
    missing = [(n, s) for n in names for s in range(args.seeds) if s not in bench_runs.get(n, {})]
    if missing:
        raise SystemExit(f"the bench store has no run for {missing[:3]}")
    live_runs = live_searches(names, args.seeds, args.budget, args.groups, out / "live.sqlite", args.workers)

    rules = sorted({live_runs[n][s] for n in names for s in range(args.seeds)} | {"adam"})
    seeds = list(range(FRESH_SEED_BASE, FRESH_SEED_BASE + args.heldout))
    with Evaluator(heldout_config(EvalConfig(task="mnist1d")), store=out / "live.sqlite", backend="process", workers=args.workers) as full:
        scores, fps = evaluate_heldout(full, rules, seeds, progress=lambda done, total: print(f"held out {done}/{total}", flush=True))
    fp_of = dict(zip(rules, fps))
    adam_live = np.array(scores.scores(fp_of["adam"]))
    adam_bench = bench.expected("adam").test_acc

    lines = [
        f"# A searcher's spread across search seeds: bench against live ({args.seeds} seeds × {args.budget} proposals)",
        "",
        f"Bench table `{bench.content_hash[:16]}`. Live final incumbents and Adam trained on {args.heldout} fresh seeds "
        f"({seeds[0]}–{seeds[-1]}); every score relative to Adam (bench: its truth; live: the same seeds).",
        "",
        "| searcher | bench mean ± spread | live mean ± spread | live quality spread | bench IQM CI width | live IQM CI width | same final rule, seeds 0–2 |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in names:
        bench_scores = np.array([bench.expected(bench_runs[name][s]).test_acc - adam_bench for s in range(args.seeds)])
        paired = [np.array(scores.scores(fp_of[live_runs[name][s]])) - adam_live for s in range(args.seeds)]
        live_scores = np.array([p.mean() for p in paired])
        noise = float(np.mean([p.var(ddof=1) for p in paired])) / args.heldout
        quality = float(np.sqrt(max(0.0, live_scores.var(ddof=1) - noise)))
        b_low, b_high = iqm_ci(bench_scores)
        l_low, l_high = iqm_ci(live_scores)
        same = sum(str(bench_runs[name][s]) == live_runs[name][s] for s in range(min(3, args.seeds)))
        lines.append(
            f"| {name} | {bench_scores.mean():+.4f} ± {bench_scores.std(ddof=1):.4f} | {live_scores.mean():+.4f} ± {live_scores.std(ddof=1):.4f} "
            f"| {quality:.4f} | {b_high - b_low:.4f} | {l_high - l_low:.4f} | {same} of {min(3, args.seeds)} |"
        )
    with open(out / "per_run.csv", "w") as handle:
        handle.write("searcher,seed,bench_rule,bench_minus_adam,live_rule,live_minus_adam\n")
        for name in names:
            for s in range(args.seeds):
                b, l = bench_runs[name][s], live_runs[name][s]
                live_rel = float(np.mean(np.array(scores.scores(fp_of[l])) - adam_live))
                handle.write(f'{name},{s},"{b}",{bench.expected(b).test_acc - adam_bench:+.4f},"{l}",{live_rel:+.4f}\n')
    (out / "spread.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
