"""``optsearch bench``: build, export and describe the benchmark of update rules (NOS-Bench).

- ``bench build --store S``: evaluate the builder's plan on the live task through the ordinary
  evaluator into the SQLite store ``S`` (resumable: run it again to continue); ``--ingest`` adds
  the results of other stores of the same protocol, ``--from-table`` starts from the shipped table;
- ``bench export --store S [S ...] --out DIR``: write the table (and the surrogate's features);
- ``bench snapshot --store S --out DIR``: a build's progress, the rows ``S`` holds beyond the
  shipped table, as a small table to commit (``bench build --from-table --ingest DIR`` resumes it);
- ``bench info``: the shipped bench's protocol, content hash, coverage and best known rule.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace

from optsearch.cli_options import UsageError, add_backend_options, existing_store, positive_int, seed
from optsearch.evaluation.executor import PARALLEL_BACKEND


def cmd_build(args: argparse.Namespace) -> int:
    from optsearch.evaluation.bench.builder import BuildPlan, build

    stages = tuple(s for s in (args.stages or "").split(",") if s) or BuildPlan().stages
    unknown = [s for s in stages if s not in BuildPlan().stages]
    if unknown:
        raise UsageError(f"--stages: unknown stage {unknown[0]!r}; stages: {', '.join(BuildPlan().stages)}")
    plan = BuildPlan(
        stages=stages,
        searcher_budget=args.searcher_budget,
        mutations_top=args.mutations_top,
        mutations_per_rule=args.mutations_per_rule,
        seed=args.seed,
        incumbent_stores=tuple(_comparison_store(path) for path in args.incumbents_from or ()),
    )
    if args.random_rules is not None:
        groups = dict(plan.random_rules)
        plan = replace(plan, random_rules=tuple((g, args.random_rules * groups[g] // sum(groups.values())) for g in groups))
    started = time.perf_counter()

    def log(message: str) -> None:
        print(f"[{time.perf_counter() - started:7.0f} s] {message}", flush=True)

    ingest = [_ingest_source(path) for path in args.ingest or ()]
    from optsearch.searchers.studies.bench_stages import SEARCHER_STAGES

    build(
        args.store,
        plan,
        backend=args.backend,
        workers=args.workers,
        ingest_stores=ingest,
        from_table=args.from_table,
        log=log,
        stages=SEARCHER_STAGES,
        snapshot=args.snapshot,
    )
    return 0


def _ingest_source(path: str) -> str:
    """``path``, when a results store or a readable table folder of the live protocol is there."""
    from pathlib import Path

    from optsearch.evaluation.bench.publish import live_protocol, read_table_of

    if not Path(path).is_dir():
        return existing_store(path)
    protocol = live_protocol()[1]
    try:
        read_table_of(path, protocol.live_task, protocol.config_hash)
    except ValueError as error:
        raise UsageError(f"--ingest: {error}") from None
    return path


def _comparison_store(path: str) -> str:
    try:
        return existing_store(path)
    except UsageError as error:
        raise UsageError(f"--incumbents-from: {error}") from None


def cmd_export(args: argparse.Namespace) -> int:
    from optsearch.evaluation.bench.publish import export_store

    manifest = export_store([existing_store(path) for path in args.store], args.out, with_features=not args.no_features)
    print(json.dumps(manifest["coverage"], indent=2))
    print(f"wrote {args.out} (table sha256 {manifest['table_sha256'][:16]})")
    return 0


def cmd_snapshot(args: argparse.Namespace) -> int:
    from optsearch.evaluation.bench.bench import load_bench
    from optsearch.evaluation.bench.publish import write_snapshot

    manifest = write_snapshot(existing_store(args.store), args.out, load_bench().table)
    coverage = manifest["coverage"]
    print(f"wrote {args.out}: {coverage['rows']} rows beyond the shipped table (sha256 {manifest['table_sha256'][:16]})")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from optsearch.evaluation.bench.bench import BenchError, load_bench

    try:
        bench = load_bench(args.task)
    except BenchError as error:
        raise UsageError(str(error)) from None
    best = bench.best
    info = {**bench.protocol, "size": bench.size, "best": {"rule": best.rule, "test_acc": best.test_acc, "reward": best.reward, "seeds": best.seeds}}
    if "platform" in bench.table.manifest:  # tables exported since the platform was recorded
        info["platform"] = bench.table.manifest["platform"]
    info["query_cost"] = query_cost(bench, computed=args.measure_helper)
    print(json.dumps(info, indent=2))
    return 0


def query_cost(bench, computed: bool = False) -> dict:
    """What a query costs on this machine, measured now: a rule whose text the table records, a rule
    outside it whose facts are remembered (shipped or cached), and (``computed``) one the portable
    helper computes, after the helper's one-off start (:mod:`optsearch.evaluation.bench.facts`)."""
    import random
    import time

    from optsearch.dsl import from_tokens, parse
    from optsearch.dsl.tokens import random_tokens

    def per_query(texts: list[str]) -> float:
        exprs = [parse(t) for t in texts]
        started = time.perf_counter()
        for expr in exprs:
            bench.query(expr, 0)
        return (time.perf_counter() - started) / max(1, len(exprs))

    tabulated = sorted(bench.table_texts)[:: max(1, len(bench.table_texts) // 500)]
    remembered = sorted(t for t in bench.facts.facts if t not in bench.table_texts)[:500]
    cost = {
        "table_rule_us": round(per_query(tabulated) * 1e6, 1),
        "remembered_rule_us": round(per_query(remembered) * 1e6, 1) if remembered else None,
        "facts_shipped": bench.facts.shipped,
        "facts_cache": str(bench.facts.path) if bench.facts.path else "off",
    }
    if computed:
        rng = random.Random(time.time_ns())
        fresh = [str(from_tokens(random_tokens(2, rng))) for _ in range(40)]
        fresh = [t for t in dict.fromkeys(fresh) if t not in bench.table_texts and t not in bench.facts.facts]
        started = time.perf_counter()
        bench.query(parse(fresh[0]), 0)
        cost["helper_start_s"] = round(time.perf_counter() - started, 2)
        cost["computed_rule_ms"] = round(per_query(fresh[1:]) * 1e3, 1)
    return cost


def register(commands) -> None:
    """Add ``bench`` (with ``build``, ``export``, ``info``) to the subparsers ``commands``."""
    bench = commands.add_parser("bench", help="build, export and describe the benchmark of update rules (NOS-Bench)")
    actions = bench.add_subparsers(dest="bench_command", required=True, parser_class=type(bench))
    build = actions.add_parser("build", help="evaluate the builder's plan into a results store (resumable)")
    build.add_argument("--store", required=True, help="the SQLite store the table's evaluations go into")
    build.add_argument("--stages", default=None, help="comma-separated: named,trajectories,random,mutations,top,incumbents (default: all)")
    build.add_argument("--searcher-budget", type=positive_int, default=200, help="proposals per searcher run (trajectories)")
    build.add_argument("--random-rules", type=positive_int, default=None, help="uniform random rules over 1-3 groups (default 12000)")
    build.add_argument("--mutations-top", type=positive_int, default=100, help="mutate the best N rules by table mean (mutations)")
    build.add_argument("--mutations-per-rule", type=positive_int, default=10, help="one-token mutations per rule (mutations)")
    build.add_argument("--seed", type=seed, default=0, help="the plan's seed: its random rules and mutations (another seed: other rules)")
    build.add_argument(
        "--incumbents-from", action="append", metavar="STORE", help="a comparison's store: its runs' final incumbents get the top's seeds (incumbents)"
    )
    build.add_argument(
        "--ingest", action="append", help="another store, or a table folder such as a snapshot, of the same protocol whose results join the table"
    )
    build.add_argument("--from-table", action="store_true", help="start from the shipped table's rows (continue it)")
    build.add_argument(
        "--snapshot", default=None, metavar="DIR", help="keep DIR up to date with the rows beyond the shipped table, after every chunk (to commit)"
    )
    add_backend_options(build, PARALLEL_BACKEND)
    build.set_defaults(handler=cmd_build)
    export = actions.add_parser("export", help="write the table (and the surrogate's features) from stores")
    export.add_argument("--store", nargs="+", required=True, help="results stores of the live protocol")
    export.add_argument("--out", required=True, help="the table's folder")
    export.add_argument("--no-features", action="store_true", help="skip the surrogate's features")
    export.set_defaults(handler=cmd_export)
    snapshot = actions.add_parser("snapshot", help="write a build's rows beyond the shipped table (its progress, to commit)")
    snapshot.add_argument("--store", required=True, help="the build's store")
    snapshot.add_argument("--out", required=True, help="the snapshot's folder")
    snapshot.set_defaults(handler=cmd_snapshot)
    info = actions.add_parser("info", help="the shipped bench's protocol, hash, coverage and best rule")
    info.add_argument("--task", default="mnist1d-bench")
    info.add_argument("--measure-helper", action="store_true", help="also time a rule the portable helper computes (starts it)")
    info.set_defaults(handler=cmd_info)
