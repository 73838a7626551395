"""Verdicts that do not depend on the table's coverage: a comparison on thinned tables.

    python benchmarks/nosbench_thinning.py --reference docs/default-run --out /tmp/thinning \
        [--subsets 3] [--share 0.8] [--seeds 20] [--budget 200]

Each subset keeps ``--share`` of the table's rules (chosen by a hash of (subset, fingerprint);
Adam, the comparison's reference, is always kept), with the truth model and the surrogate refit on
what is left, and runs the default comparison (``optsearch compare``, no race) on it through
``$OPTSEARCH_BENCH_ROOT``. Rules dropped from the table are answered by the surrogate, as rules
outside any table are. Prints, per searcher, the held-out IQM on the full table (the reference
run's ``summary.csv``) and on every subset, the largest move against the reference's interval
half-width, and whether every pair's verdict (separated or not, and which way) is the same.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from optsearch.dsl import fingerprint, resolve_rule
from optsearch.evaluation.bench.bench import ALIASES_FILE, DATA_ROOT
from optsearch.evaluation.bench.model import FEATURES_FILE
from optsearch.evaluation.bench.table import export_table, read_table
from optsearch.evaluation.bench.truth import write_truth
from optsearch.evaluation.config import EvalConfig


def kept(subset: int, fp: str, share: float) -> bool:
    return int(hashlib.sha256(f"{subset}:{fp}".encode()).hexdigest()[:8], 16) / 16**8 < share


def thinned(source: Path, root: Path, subset: int, share: float) -> Path:
    table = read_table(source)
    adam = fingerprint(resolve_rule("adam"), EvalConfig().rule_config)
    rows = {fp: by_seed for fp, by_seed in table.rows.items() if fp == adam or kept(subset, fp, share)}
    folder = root / source.name
    extra = {k: v for k, v in table.manifest.items() if k in ("optsearch", "exported", "platform")}
    export_table(rows, folder, table.protocol, {**extra, "thinned": {"subset": subset, "share": share}})
    shutil.copy(source / FEATURES_FILE, folder / FEATURES_FILE)
    aliases = json.loads((source / ALIASES_FILE).read_text())
    (folder / ALIASES_FILE).write_text(json.dumps({k: v for k, v in aliases.items() if v in rows}, indent=1) + "\n")
    write_truth(folder, EvalConfig().rule_config)
    return folder


def summary(folder: Path) -> dict[str, tuple[float, float, float]]:
    with open(folder / "summary.csv") as handle:
        return {r["searcher"]: (float(r["heldout_iqm"]), float(r["heldout_ci_low"]), float(r["heldout_ci_high"])) for r in csv.DictReader(handle)}


def verdicts(folder: Path) -> dict[tuple[str, str], tuple[str, float, float]]:
    """(a, b) -> (verdict, difference a − b, interval half-width) from summary.md's verdict lines;
    verdict '>' (a beats b), '<' or '=' (not separated)."""
    number = r"([+-]?[0-9.]+)"
    out = {}
    for line in (folder / "summary.md").read_text().splitlines():
        beat = re.match(rf"- \*\*(\S+) beats (\S+)\*\*: by {number} \[{number}, {number}\]", line)
        tie = re.match(rf"- (\S+) vs (\S+): not separated \({number} \[{number}, {number}\]\)", line)
        if beat:
            a, b, diff, low, high = beat.groups()
        elif tie:
            a, b, diff, low, high = tie.groups()
        else:
            continue
        pair = tuple(sorted((a, b)))
        sign = 1.0 if (a, b) == pair else -1.0
        verdict = "=" if tie else (">" if sign > 0 else "<")
        out[pair] = (verdict, sign * float(diff), (float(high) - float(low)) / 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", required=True, help="a default comparison's output folder on the full table")
    parser.add_argument("--out", required=True)
    parser.add_argument("--subsets", type=int, default=3)
    parser.add_argument("--share", type=float, default=0.8)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--budget", type=int, default=200)
    args = parser.parse_args()
    out = Path(args.out)
    results = {}
    for subset in range(args.subsets):
        root = out / f"bench-{subset}"
        if not (root / "mnist1d" / "table.csv.gz").exists():
            thinned(DATA_ROOT / "mnist1d", root, subset, args.share)
        run = out / f"compare-{subset}"
        if not (run / "summary.csv").exists():
            env = {**os.environ, "OPTSEARCH_BENCH_ROOT": str(root)}
            command = [sys.executable, "-m", "optsearch", "compare", "--seeds", str(args.seeds), "--budget", str(args.budget), "--race-top", "0", "--out", str(run)]
            subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
        results[subset] = (summary(run), verdicts(run))
    reference = summary(Path(args.reference))  # read last: the reference run may still be running when this starts
    reference_verdicts = verdicts(Path(args.reference))
    names = list(reference)
    print(f"Held-out IQM on the full table and on {args.subsets} subsets keeping {args.share:.0%} of the rules:\n")
    print("| searcher | full table [95 % CI] | " + " | ".join(f"subset {k}" for k in results) + " | largest move / CI half-width |")
    print("|---|---|" + "---|" * len(results) + "---|")
    for name in names:
        iqm, low, high = reference[name]
        moves = [results[k][0][name][0] - iqm for k in results]
        worst = max(moves, key=abs)
        print(f"| {name} | {iqm:.4f} [{low:.4f}, {high:.4f}] | " + " | ".join(f"{results[k][0][name][0]:.4f}" for k in results) + f" | {worst:+.4f} / {(high - low) / 2:.4f} |")
    print("\nVerdicts (> : the first beats the second, = : not separated), and the difference of means:\n")
    print("| pair | full table | " + " | ".join(f"subset {k}" for k in results) + " | largest move of the difference / its half-width |")
    print("|---|---|" + "---|" * len(results) + "---|")
    for pair, (verdict, diff, half) in sorted(reference_verdicts.items()):
        cells = [f"{results[k][1][pair][0]} ({results[k][1][pair][1]:+.3f})" if pair in results[k][1] else "?" for k in results]
        worst = max((results[k][1][pair][1] - diff for k in results if pair in results[k][1]), key=abs, default=float("nan"))
        print(f"| {pair[0]} vs {pair[1]} | {verdict} ({diff:+.3f}) | " + " | ".join(cells) + f" | {worst:+.3f} / {half:.3f} |")


if __name__ == "__main__":
    main()
