"""The bench builder's stages that run searchers.

The builder (:mod:`optsearch.evaluation.bench.builder`) sits below the searchers and imports none
of them; the command line hands it these stages by name (:data:`SEARCHER_STAGES`):

- ``trajectories``: every built-in searcher's runs, one per table seed (search seed = table seed),
  so the table covers the regions searchers actually visit;
- ``mutations``: one-token mutations (regularized evolution's) of the best rules by table mean,
  for density near the top;
- ``incumbents``: the final incumbents of the comparisons in the plan's ``incumbent_stores``, on
  the top stage's seeds.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Iterable, Union

from optsearch.dsl import Expr, from_tokens, resolve_rule, to_tokens
from optsearch.evaluation.bench.builder import Builder, table_means
from optsearch.evaluation.bench.table import bench_task_name
from optsearch.evaluation.statistics.incumbents import final_incumbent
from optsearch.evaluation.store import open_store

from ..lifecycle import default_run_id
from ..evolution import RegularizedEvolution
from ..registry import resolve_searcher, run_named_search


def trajectories(builder: Builder) -> None:
    """Each of the plan's searchers, one run per table seed, then every trained rule on every table seed."""
    plan, evaluator = builder.plan, builder.evaluator
    for seed in plan.table_seeds:
        for name in plan.searchers:
            try:
                resolve_searcher(name).load_factory() if resolve_searcher(name).load_runner() is None else None
            except ImportError as error:  # an optional searcher that is not installed
                builder.log(f"trajectories: {name} skipped ({error})")
                continue
            label = f"bench-{name}"
            started = time.perf_counter()
            run_named_search(
                name,
                evaluator,
                budget=plan.searcher_budget,
                seed=seed,
                groups=plan.searcher_groups,
                run_id=default_run_id(label, seed, evaluator.task),
                label=label,
            )
            builder.log(f"trajectories: {name} seed {seed} ({time.perf_counter() - started:.0f} s)")
    builder.fill()


def mutations(builder: Builder) -> None:
    """``mutations_per_rule`` one-token mutations of each of the ``mutations_top`` best rules by table mean."""
    plan, evaluator = builder.plan, builder.evaluator
    means = table_means(evaluator.store, evaluator.task, evaluator.config_hash, plan.table_seeds)
    best = sorted(means.items(), key=lambda item: -item[1][1])[: plan.mutations_top]
    children: dict[str, Expr] = {}
    for rank, (_, (text, _)) in enumerate(best):
        expr = resolve_rule(text)
        groups = max(1, min(3, _groups_of(expr)))
        try:
            tokens = to_tokens(expr, groups)
        except ValueError:
            continue
        mutator = RegularizedEvolution(groups=groups, seed=plan.seed + rank)
        for _ in range(plan.mutations_per_rule):
            child = from_tokens(mutator.mutate(tokens))
            children.setdefault(str(child), child)
    builder.add(list(children.values()), "mutation")


#: Runs of these labels re-score rules; they are not searches.
NOT_SEARCHES = ("heldout", "race")


def final_incumbents(store: Union[str, Path], tasks: Iterable[str]) -> dict[str, dict[int, str]]:
    """Searcher label -> search seed -> the rule text its run on one of ``tasks`` ends on (the rule
    with the run's best search reward, as the held-out protocol takes it), from a comparison's store."""
    wanted = set(tasks)
    opened = open_store(str(store))
    runs: dict[str, dict[int, str]] = {}
    try:
        for run in opened.runs():
            if run.get("task") not in wanted:
                continue
            best = final_incumbent(opened.results(run_id=run["run_id"]))
            if best is not None and best.searcher not in NOT_SEARCHES:
                runs.setdefault(best.searcher, {})[int(run["seed"])] = best.rule
    finally:
        opened.close()
    return runs


def incumbents(builder: Builder) -> None:
    """The final incumbent of every run in the plan's ``incumbent_stores`` (live or bench runs of the
    builder's task) on seeds 0 to ``top_seeds - 1``, in the order the stores list them."""
    task = builder.evaluator.task
    texts: dict[str, None] = {}
    for store in builder.plan.incumbent_stores:
        for by_seed in final_incumbents(store, (task, bench_task_name(task))).values():
            texts.update(dict.fromkeys(by_seed[s] for s in sorted(by_seed)))
    if not texts:
        builder.log("incumbents: no comparison store given (--incumbents-from)")
        return
    builder.log(f"incumbents: {len(texts)} distinct final incumbents of {len(builder.plan.incumbent_stores)} stores")
    builder.on_top_seeds([resolve_rule(t) for t in texts], "incumbents")


def _groups_of(expr: Expr) -> int:
    """The fewest groups whose token encoding holds ``expr`` (up to 3; 3 when none does)."""
    for groups in (1, 2, 3):
        try:
            to_tokens(expr, groups)
            return groups
        except ValueError:
            continue
    return 3


#: The stages above the builder, by name, for :func:`optsearch.evaluation.bench.builder.build`.
SEARCHER_STAGES: dict[str, Callable[[Builder], None]] = {"trajectories": trajectories, "mutations": mutations, "incumbents": incumbents}
