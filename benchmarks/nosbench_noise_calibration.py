"""Are the bench's fresh draws calibrated? Held-out seeds against the draw models' quantiles.

    python benchmarks/nosbench_noise_calibration.py [--live-store /tmp/spread/live.sqlite]

A tabulated rule's draw beyond its recorded search seeds is its search centre plus its spread
times a residual (:mod:`optsearch.evaluation.bench.truth`, *Fresh search noise*). This script
checks two residual models against values no model was fit on:

- the table's truth seeds (every rule's seeds from 3 on), with the empirical model cross-fitted by
  fold of rules (fit on the other folds' residuals);
- with ``--live-store`` (the live store of ``benchmarks/nosbench_search_spread.py``), the live
  evaluations of tabulated rules on search seeds 3 and above, with the model fit on the whole table.

Per group of spread it prints the share of held-out values above each model's 90 %, 95 % and 99 %
quantiles and below its 10 %, 5 % and 1 % quantiles (ideal: the level itself), and the mean PIT
(ideal 0.5). Models: ``normal`` (the draws before) and ``empirical`` (the table's residual
quantiles by spread bin: :func:`~optsearch.evaluation.bench.truth.fit_noise`, adopted).
"""

from __future__ import annotations

import argparse
import math
import sqlite3

import numpy as np

from optsearch.evaluation.bench.bench import load_bench
from optsearch.evaluation.bench.truth import NOISE_LEVELS, fit_noise, fold_of, search_centre, table_residuals

LEVELS = (0.9, 0.95, 0.99)


def _live_residuals(bench, values):
    """(fingerprint, standardized residual from the search centre, spread) of each (fingerprint,
    value) of a trained tabulated rule, as :func:`~optsearch.evaluation.bench.truth.table_residuals` gives the table's."""
    out = []
    for fp, value in values:
        rows = bench.table.rows[fp]
        if not all(r.trained for r in rows.values()):
            continue
        centre = search_centre(fp, rows, bench.truth_model)
        if centre.reward_std > 0:
            out.append((fp, (value - centre.reward) / centre.reward_std, centre.reward_std))
    return out


def _pit_empirical(z: float, spread: float, edges: np.ndarray, quantiles: np.ndarray) -> float:
    which = min(int(np.searchsorted(edges, spread, side="left")), len(quantiles) - 1)
    return float(np.interp(z, quantiles[which], NOISE_LEVELS, left=0.0, right=1.0))


def _report(label: str, data, fits) -> None:
    print(f"\n{label} (n = {len(data)})")
    print("| model | " + " | ".join(f"> q{int(l * 100)}" for l in LEVELS) + " | " + " | ".join(f"< q{round((1 - l) * 100):02d}" for l in LEVELS) + " | mean PIT |")
    print("|---|" + "---|" * (2 * len(LEVELS) + 1))
    normal = np.array([0.5 * math.erfc(-z / math.sqrt(2)) for _, z, _ in data])
    empirical = np.array([_pit_empirical(z, s, *fits(fp)) for fp, z, s in data])
    for name, pit in (("normal", normal), ("empirical by spread bin", empirical)):
        cells = [f"{np.mean(pit > l):.3f}" for l in LEVELS] + [f"{np.mean(pit < 1 - l):.3f}" for l in LEVELS]
        print(f"| {name} | " + " | ".join(cells) + f" | {pit.mean():.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--live-store", help="the live store of nosbench_search_spread.py")
    args = parser.parse_args()
    bench = load_bench("mnist1d")
    fingerprints, residuals, spreads = table_residuals(bench.table, bench.truth_model)
    table = list(zip(fingerprints, residuals, spreads))
    z, spread = np.array(residuals), np.array(spreads)
    folds = np.array([fold_of(fp) for fp in fingerprints])
    by_fold = {k: fit_noise(z[folds != k], spread[folds != k]) for k in range(folds.max() + 1)}
    whole = fit_noise(z, spread)
    groups = (("all", 0.0, math.inf), ("spread ≤ 0.03", 0.0, 0.03), ("spread 0.03–0.05", 0.03, 0.05), ("spread > 0.05", 0.05, math.inf))
    print(f"bench table {bench.content_hash[:16]}; residual bins up to {whole[0].tolist()}")
    for name, lo, hi in groups:
        _report(f"table truth seeds, {name}, cross-fitted", [d for d in table if lo < d[2] <= hi or (lo == 0 and d[2] <= hi)], lambda fp: by_fold[fold_of(fp)])
    if args.live_store:
        with sqlite3.connect(f"file:{args.live_store}?mode=ro", uri=True) as db:
            found = db.execute("select fingerprint, seed, reward, status from evaluations where task = 'mnist1d' and seed >= 3").fetchall()
        seen, values = set(), []
        for fp, seed, reward, status in found:
            if fp in bench.table.rows and status in ("ok", "hurdle") and (fp, seed) not in seen:
                seen.add((fp, seed))
                values.append((fp, reward))
        live = _live_residuals(bench, values)
        for name, lo, hi in groups:
            _report(f"live, {name}", [d for d in live if lo < d[2] <= hi or (lo == 0 and d[2] <= hi)], lambda fp: whole)


if __name__ == "__main__":
    main()
