"""Is the trainer still bit-identical? A snapshot of ``train_rule`` outputs, written or compared.

    python benchmarks/trainer_snapshot.py --write before.json      # on the old code
    python benchmarks/trainer_snapshot.py --compare before.json    # on the new code

The snapshot holds every field of every :class:`~optsearch.evaluation.records.LRResult` (floats by
``repr``, so equal means bit-equal) of the search protocol's training, through the evaluator's own
training call (the default config resolved for the task: its grid, halving and early hurdle), for
named rules and rules that diverge, get pruned or stop at the hurdle, on ``mnist1d`` (two seeds)
and ``digits`` (one seed), plus one population of several rules trained as one stack. A change to
the child or the loop that claims not to change the numerics (so that ``TRAINER_VERSION`` and the
bench's table stay valid) must compare equal; the script names every difference and exits 1.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict

from optsearch.dsl.optimizer import resolve_rule
from optsearch.evaluation.config import EvalConfig
from optsearch.evaluation.jobs import _train as evaluator_training  # what the evaluator's workers run
from optsearch.evaluation.tasks import get_task
from optsearch.evaluation.training import RuleFailure

RULES = (
    "adam",
    "sgd",
    "rmsprop",
    "sign(m) * sqrt(ld)",
    "ld * sign(adam)",
    "exp(sign(m)) - sign(cd)",
    "drop(adam, 0.3) + drop(m, 0.1)",  # the rule's own randomness
    "g * 2",  # diverges at the large rates
    "exp(g) * 2",  # overflows at the large rates
    "sqrt(cd) / sign(m)",
    "rmsprop + noise",
)
SEEDS = {"mnist1d": (0, 1), "digits": (0,)}
POPULATION = ("adam", "g * 2", "drop(adam, 0.3) + drop(m, 0.1)", "sign(m) * sqrt(ld)")


def _record(results) -> object:
    if isinstance(results, RuleFailure):
        return {"failure": str(results)}
    return [{k: repr(v) for k, v in asdict(r).items()} for r in results]


def snapshot() -> dict:
    """Every output of the trainer the snapshot covers, keyed by what produced it."""
    out: dict = {}
    for task_name, seeds in SEEDS.items():
        config = EvalConfig(task=task_name).with_task_defaults(get_task(task_name).defaults)
        for seed in seeds:
            for rule in RULES:
                (results,) = evaluator_training((str(resolve_rule(rule)),), config, seed, None)
                out[f"{task_name}/{seed}/{rule}"] = _record(results)
        together = evaluator_training(tuple(str(resolve_rule(r)) for r in POPULATION), config, seeds[0], None)
        for rule, results in zip(POPULATION, together):
            out[f"{task_name}/{seeds[0]}/population/{rule}"] = _record(results)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", help="write the snapshot to this JSON file")
    group.add_argument("--compare", help="compare against the snapshot in this JSON file")
    args = parser.parse_args()
    started = time.perf_counter()
    now = snapshot()
    print(f"{len(now)} trainings in {time.perf_counter() - started:.1f} s")
    if args.write:
        with open(args.write, "w") as handle:
            json.dump(now, handle, indent=1, sort_keys=True)
        print(f"wrote {args.write}")
        return 0
    with open(args.compare) as handle:
        before = json.load(handle)
    different = [key for key in sorted(set(before) | set(now)) if before.get(key) != now.get(key)]
    for key in different:
        print(f"DIFFERENT: {key}\n  before: {before.get(key)}\n  now:    {now.get(key)}")
    print("bit-identical" if not different else f"{len(different)} of {len(now)} differ")
    return 1 if different else 0


if __name__ == "__main__":
    sys.exit(main())
