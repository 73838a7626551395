"""The racing procedure's error rate, power and seeds by alpha-spending plan, on synthetic data.

Chooses :data:`optsearch.evaluation.statistics.racing.SPENDING`. Null data: five rules equal to Adam
(paired differences with mean 0); power: one rule at δ (four at 0); a mixed case like a real
leaderboard (+0.03, +0.02, −0.02, +0.01, 0). Paired differences have spread σ = 0.02 (mnist1d's
seed-to-seed spread of a rule against Adam) and are correlated 0.5 across rules through Adam.

    python benchmarks/race_error_rates.py [--races 2000]
"""

from __future__ import annotations

import argparse
import time

from optsearch.evaluation.statistics.racing import SPENDING_PLANS, RacePlan, simulate_race

NULL = (0.0,) * 5
MIXED = (0.03, 0.02, -0.02, 0.01, 0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--races", type=int, default=2000)
    parser.add_argument("--first", type=int, default=5)
    parser.add_argument("--step", type=int, default=5)
    parser.add_argument("--cap", type=int, default=20)
    args = parser.parse_args()
    started = time.perf_counter()
    print(f"looks {RacePlan(args.first, args.step, args.cap).looks}, {args.races} races per cell, sigma 0.02, alpha 0.05")
    print("| spending | null FWER (normal) | null FWER (t3) | power δ=0.01 | δ=0.02 | δ=0.03 | mixed: FWER | mixed: power | mixed: seeds (of 100) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for spending in SPENDING_PLANS:
        plan = RacePlan(args.first, args.step, args.cap, spending=spending)
        null = simulate_race(NULL, plan, races=args.races, seed=1)
        heavy = simulate_race(NULL, plan, races=args.races, noise="t3", seed=2)
        powers = [simulate_race((d, 0.0, 0.0, 0.0, 0.0), plan, races=args.races // 2, seed=3)["power"] for d in (0.01, 0.02, 0.03)]
        mixed = simulate_race(MIXED, plan, races=args.races // 2, seed=4)
        print(
            f"| {spending} | {null['fwer']:.3f} | {heavy['fwer']:.3f} | {powers[0]:.2f} | {powers[1]:.2f} | {powers[2]:.2f} "
            f"| {mixed['fwer']:.3f} | {mixed['power']:.2f} | {mixed['seeds']:.1f} |",
            flush=True,
        )
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
