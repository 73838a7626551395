"""A failure-mixture truth against the shipped estimator: rules that sometimes fail.

    python benchmarks/nosbench_failure_mixture.py [--validation docs/bench/validation/per_rule.csv]

The bench's truth (:mod:`optsearch.evaluation.bench.truth`) is a normal posterior: a rule whose
seeds sometimes fail has a large own variance, so its seeds' mean weighs little against the
surrogate's prior, which cannot see a failure mode. The alternative measured here is a mixture::

    truth = (1 − f) · μ_ok + f · v_fail,     f = (k + a) / (n + a + b)

``k`` of the rule's ``n`` seeds not *ok* (diverged, NaN, stopped at the hurdle), ``(a, b)`` a beta
prior fit by maximum likelihood (beta-binomial) per decile of the rule's prior, ``μ_ok`` the
shipped posterior of its *ok* seeds, ``v_fail`` the mean of its failed seeds (else of every failed
seed of the table). Scored, test accuracy, against values neither estimate saw:

- the table's 10-seed rules, five seeds against the other five (alternating by fingerprint);
- rules with seeds 0–2 and ≥ 2 further seeds, estimated from seeds 0–2, by whether those three
  include a failure;
- with ``--validation`` (``per_rule.csv`` of ``nosbench_live_validation.py`` on this table), the
  live means of a study's incumbents, relative to Adam on each side.

Bias and MAE per check. The table is the bench ``load_bench`` finds (``$OPTSEARCH_BENCH_ROOT``).
"""

from __future__ import annotations

import argparse
import csv

import numpy as np
from scipy.special import betaln

from optsearch.evaluation.bench.bench import load_bench
from optsearch.evaluation.bench.truth import SEARCH_SEEDS, _spreads, posterior, truth_of
from optsearch.evaluation.records import OK

DECILES = 10


def beta_prior(k: np.ndarray, n: np.ndarray) -> tuple[float, float]:
    """Maximum-likelihood (a, b) of a beta-binomial over rules with ``k`` failures in ``n`` seeds (grid)."""
    best = (-np.inf, 1.0, 1.0)
    for a in np.exp(np.linspace(-7, 1, 81)):
        for b in np.exp(np.linspace(-2, 6, 81)):
            ll = float(np.sum(betaln(k + a, n - k + b) - betaln(a, b)))
            if ll > best[0]:
                best = (ll, a, b)
    return best[1], best[2]


class Mixture:
    """The mixture truth of the module docstring, fit on a bench's table."""

    def __init__(self, bench):
        self.bench, self.model = bench, bench.truth_model
        trained = [(fp, rows) for fp, rows in bench.table.rows.items() if all(r.trained for r in rows.values()) and len(rows) >= 3]
        k = np.array([sum(r.status != OK for r in rows.values()) for _, rows in trained])
        n = np.array([len(rows) for _, rows in trained])
        prior = np.array([self.model.priors.get(fp, (np.nan, np.nan))[1] for fp, _ in trained])
        self.edges = np.nanquantile(prior, np.linspace(0, 1, DECILES + 1))
        which = self._decile(prior)
        self.priors = [beta_prior(k[which == q], n[which == q]) for q in range(DECILES)]
        failed = [r for _, rows in trained for r in rows.values() if r.status != OK]
        self.failed_value = (float(np.mean([r.reward for r in failed])), float(np.mean([r.test_acc for r in failed])))
        for q, (a, b) in enumerate(self.priors):
            print(f"decile {q}: prior {np.nanmean(prior[which == q]):.3f}, beta a {a:.4f} b {b:.3f}, base rate {a / (a + b):.4f}")

    def _decile(self, prior):
        return np.clip(np.searchsorted(self.edges, prior, side="right") - 1, 0, DECILES - 1)

    def test_acc(self, fp: str, rows: dict) -> float:
        data = list(rows.values())
        ok = [r for r in data if r.status == OK]
        failed = [r for r in data if r.status != OK]
        a, b = self.priors[int(self._decile(np.array([self.model.priors[fp][1]]))[0])] if fp in self.model.priors else (0.0, 0.0)
        f = (len(failed) + a) / (len(data) + a + b)
        _, p, _, _, s2, t2 = _spreads(self.model, fp, [r.reward for r in ok] or [0.0], [r.test_acc for r in ok] or [0.0])
        working = posterior([r.test_acc for r in ok], [r.test_acc for r in ok], p, s2, t2) if ok else (p if p is not None else 0.0)
        fail = float(np.mean([r.test_acc for r in failed])) if failed else self.failed_value[1]
        return (1 - f) * working + f * fail


def row(label: str, n: int, shipped: np.ndarray, mixture: np.ndarray, target: np.ndarray) -> None:
    cells = [f"{np.mean(x - target):+.4f} · {np.mean(np.abs(x - target)):.4f}" for x in (shipped, mixture)]
    print(f"| {label} | {n} | {cells[0]} | {cells[1]} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--validation", help="per_rule.csv of nosbench_live_validation.py on this table")
    args = parser.parse_args()
    bench = load_bench("mnist1d")
    mixture = Mixture(bench)
    model, rows_of = bench.truth_model, bench.table.rows
    print(f"\nbench table {bench.content_hash[:16]}\n")
    print("| check | n | shipped: bias · MAE | mixture: bias · MAE |\n|---|---|---|---|")
    shipped, mixed, target = [], [], []
    for fp, rows in rows_of.items():
        if len(rows) < 10 or not all(r.trained for r in rows.values()):
            continue
        half = int(fp[:8], 16) % 2
        seen = {s: r for s, r in rows.items() if s % 2 == half}
        shipped.append(truth_of(fp, seen, model).test_acc)
        mixed.append(mixture.test_acc(fp, seen))
        target.append(np.mean([r.test_acc for s, r in rows.items() if s % 2 != half]))
    row("10-seed rules, 5 seeds against the other 5", len(target), *map(np.array, (shipped, mixed, target)))
    for label, wanted in (("seeds 0–2 including a failure, against the further seeds", True), ("seeds 0–2 clean, against the further seeds", False)):
        shipped, mixed, target = [], [], []
        for fp, rows in rows_of.items():
            first = {s: r for s, r in rows.items() if s < SEARCH_SEEDS}
            further = [r for s, r in rows.items() if s >= SEARCH_SEEDS]
            if len(first) < SEARCH_SEEDS or len(further) < 2 or not all(r.trained for r in rows.values()):
                continue
            if any(r.status != OK for r in first.values()) != wanted:
                continue
            shipped.append(truth_of(fp, first, model).test_acc)
            mixed.append(mixture.test_acc(fp, first))
            target.append(np.mean([r.test_acc for r in further]))
        row(label, len(target), *map(np.array, (shipped, mixed, target)))
    if args.validation:
        adam = bench.expected("adam")
        adam_mixture = mixture.test_acc(adam.fingerprint, rows_of[adam.fingerprint])
        shipped, mixed, target = [], [], []
        with open(args.validation, newline="") as file:
            for r in csv.DictReader(file):
                e = bench.expected(r["rule"])
                shipped.append(e.test_acc - adam.test_acc)
                mixed.append(mixture.test_acc(e.fingerprint, rows_of[e.fingerprint]) - adam_mixture if e.source == "table" else e.test_acc - adam.test_acc)
                target.append(float(r["live_minus_adam"]))
        row("live incumbents, relative to Adam", len(target), *map(np.array, (shipped, mixed, target)))


if __name__ == "__main__":
    main()
