"""Build the table of the benchmark of update rules: real evaluations of a live task, kept as data.

``build(store, plan)`` evaluates chosen rules on the table's seeds through the **ordinary**
:class:`~optsearch.evaluation.evaluator.Evaluator` (same cache, screen, hurdle, store and
backends as any search), so the table equals the live task it stands for by construction. Every
result is in the store the moment it is final: an interrupted build started again resumes, the
evaluations already done answering as cache hits (searcher runs resume by proposal index).

The plan runs in stages, each ending with every screen-passing rule seen so far evaluated on all
table seeds (:func:`fill`):

1. ``named``: the named rules and the paper's table, on the table seeds and the noise seeds;
2. ``trajectories`` (run by :mod:`optsearch.searchers.studies.bench_stages`, above this package): every
   built-in searcher's runs, one per table seed (search seed = table seed),
   so the table covers the regions searchers actually visit;
3. ``random``: uniform random rules over 1, 2 and 3 groups, in chunks;
4. ``mutations`` (also there): one-token mutations of the best rules found, for density near the top;
5. ``top``: every rule whose mean test accuracy is within ``top_margin`` of Adam's or above, on
   ``top_seeds`` seeds (0 … ``top_seeds`` − 1), best first, in chunks of ``top_chunk`` rules, so
   that the rules a search ends on are measured well enough to hold live (an interrupted build has
   finished the best rules first);
6. ``incumbents`` (run by :mod:`~optsearch.searchers.studies.bench_stages`): the final incumbent of
   every run in the plan's ``incumbent_stores`` (the comparisons a study documents) on the same
   seeds, so that the rules searches end on are measured as well as the top.

A share of the screen-passing rules (chosen by fingerprint, so the choice never depends on the
order of the build) is also evaluated on the noise seeds, to measure the seed-to-seed spread on
more than three seeds. Seeds are never substituted: the coverage is what the store holds.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping, Optional, Sequence, Union

from optsearch.dsl import Expr, fingerprint, from_tokens, random_tokens, resolve_rule
from optsearch.dsl.library import NAMED_RULES, PAPER_TABLE

from ..config import EvalConfig
from ..evaluator import Evaluator
from ..records import ERROR, SCREENED, TIMEOUT, EvalResult
from ..store import SQLiteStore, Store, open_store

BUILDER = "bench-builder"
#: Statuses that say nothing about a rule's training (never a reason to evaluate further seeds).
NOT_TRAINED = (SCREENED, ERROR, TIMEOUT)


@dataclass(frozen=True)
class BuildPlan:
    """What the builder evaluates; the defaults are the shipped table's plan.

    ``random_rules``: ``(groups, count)`` pairs, drawn in chunks of ``chunk`` rules per group count
    in turn, so that an interrupted build has sampled every group count alike.
    ``searchers``/``searcher_budget``/``searcher_groups``: the trajectories (one run per table seed).
    ``mutations_top``/``mutations_per_rule``: the best rules by table mean, and their mutations.
    ``noise_share``: the share of screen-passing rules also evaluated on ``noise_seeds``.
    ``top_margin``/``top_seeds``/``top_chunk``: the ``top`` stage (rules within ``top_margin`` of
    Adam's mean test accuracy or above get ``top_seeds`` seeds).
    ``incumbent_stores``: comparison stores whose runs' final incumbents the ``incumbents`` stage
    gives ``top_seeds`` seeds too (the rules documented studies end on).
    """

    table_seeds: tuple[int, ...] = (0, 1, 2)
    noise_seeds: tuple[int, ...] = (3, 4)
    noise_share: float = 0.1
    random_rules: tuple[tuple[int, int], ...] = ((1, 1500), (2, 6000), (3, 4500))
    chunk: int = 250
    searchers: tuple[str, ...] = ("random", "evolution", "gp", "reinforce", "tpe", "ppo")
    searcher_budget: int = 200
    searcher_groups: int = 2
    mutations_top: int = 100
    mutations_per_rule: int = 10
    seed: int = 0
    top_margin: float = 0.01
    top_seeds: int = 10
    top_chunk: int = 50
    incumbent_stores: tuple[str, ...] = ()
    stages: tuple[str, ...] = ("named", "trajectories", "random", "mutations", "top", "incumbents")

    @property
    def all_seeds(self) -> tuple[int, ...]:
        return tuple(self.table_seeds) + tuple(self.noise_seeds)


def in_noise_subset(fingerprint: str, share: float) -> bool:
    """Whether a rule is one of the ``share`` of rules evaluated on the noise seeds too (by fingerprint)."""
    return int(fingerprint[:8], 16) / 16**8 < share


@dataclass
class Builder:
    """Runs a :class:`BuildPlan` against one evaluator (its store holds the table's rows)."""

    evaluator: Evaluator
    plan: BuildPlan = field(default_factory=BuildPlan)
    batch: int = 64
    log: Callable[[str], None] = print
    #: Stages defined above this package, by name: the searchers' (``trajectories``, ``mutations``:
    #: :data:`optsearch.searchers.studies.bench_stages.SEARCHER_STAGES`), each called with this builder.
    stages: Mapping[str, Callable[["Builder"], None]] = field(default_factory=dict)
    #: Called after every chunk of the ``top`` and ``incumbents`` stages and after every stage (for
    #: example to write a snapshot of the build's progress: ``bench build --snapshot``).
    checkpoint: Callable[[], None] = lambda: None

    @property
    def machine_kind(self) -> str:
        """The CPU capability torch dispatches to here: every row's run id names it
        (``bench-<source>@AVX2``), so the table records the machine kind of each row."""
        import torch

        return torch.backends.cpu.get_cpu_capability()

    def evaluate(self, exprs: Sequence[Expr], seed: int, source: str) -> list[EvalResult]:
        """One result per rule on ``seed``: the stored one, else a new evaluation (so a resumed
        build records nothing twice)."""
        evaluator = self.evaluator
        results: dict[int, EvalResult] = {}
        todo: dict[str, list[int]] = {}
        for i, expr in enumerate(exprs):
            try:
                fp = fingerprint(expr, evaluator.config.rule_config)
            except Exception:  # not even probed: the evaluator records it as an error
                fp = f"unprobed-{i}"
            stored = evaluator.store.lookup(fp, evaluator.task, evaluator.config_hash, seed)
            if stored is not None:
                results[i] = stored
            else:
                todo.setdefault(fp, []).append(i)
        firsts = [positions[0] for positions in todo.values()]
        for start in range(0, len(firsts), self.batch):
            part = firsts[start : start + self.batch]
            batch = evaluator.evaluate([exprs[i] for i in part], seed=seed, searcher=f"bench-{source}", run_id=f"bench-{source}@{self.machine_kind}")
            for i, result in zip(part, batch):
                results[i] = result
        for positions in todo.values():
            for i in positions[1:]:
                results[i] = results[positions[0]]
        return [results[i] for i in range(len(exprs))]

    def add(self, exprs: Sequence[Expr], source: str, *, all_seeds: bool = False) -> None:
        """Evaluate ``exprs`` on the first table seed, then the screen-passing ones on the others."""
        first = self.evaluate(exprs, self.plan.table_seeds[0], source)
        passing = [e for e, r in zip(exprs, first) if r.status not in NOT_TRAINED or all_seeds]
        self.fill_rules(passing, source, all_seeds=all_seeds)

    def fill_rules(self, exprs: Sequence[Expr], source: str, *, all_seeds: bool = False) -> None:
        for seed in self.plan.table_seeds[1:]:
            self.evaluate(exprs, seed, source)
        rule_config = self.evaluator.config.rule_config
        noisy = exprs if all_seeds else [e for e in exprs if in_noise_subset(fingerprint(e, rule_config), self.plan.noise_share)]
        for seed in self.plan.noise_seeds:
            self.evaluate(noisy, seed, source)

    def fill(self) -> None:
        """Every rule the store holds for this protocol that trained on some seed, on every table seed."""
        rows = self.evaluator.store.results(task=self.evaluator.task)
        ours = [r for r in rows if r.config_hash == self.evaluator.config_hash]
        trained: dict[str, str] = {}
        for row in ours:
            if row.status not in NOT_TRAINED:
                trained.setdefault(row.fingerprint, row.rule)
        self.fill_rules([resolve_rule(text) for text in trained.values()], "fill")

    # -- the stages -------------------------------------------------------------------------
    def named(self) -> None:
        texts = dict.fromkeys(list(NAMED_RULES.values()) + [row.rule for row in PAPER_TABLE])
        self.add([resolve_rule(t) for t in texts], "named", all_seeds=True)

    def random(self) -> None:
        rng = random.Random(self.plan.seed)
        pools = {groups: [from_tokens(random_tokens(groups, rng)) for _ in range(count)] for groups, count in self.plan.random_rules}
        longest = max((len(p) for p in pools.values()), default=0)
        for start in range(0, longest, self.plan.chunk):
            for groups, pool in pools.items():
                part = pool[start : start + self.plan.chunk]
                if part:
                    started = time.perf_counter()
                    self.add(part, f"random{groups}")
                    self.log(f"random {groups} groups: {start + len(part)}/{len(pool)} ({time.perf_counter() - started:.0f} s)")

    def top(self) -> None:
        evaluator = self.evaluator
        truth = shipped_truth(evaluator.task, evaluator.config_hash)
        texts = top_rules(evaluator.store, evaluator.task, evaluator.config_hash, evaluator.config.rule_config, self.plan.top_margin, truth)
        if texts is None:
            self.log("top: Adam is not in the store yet (run the named stage first)")
            return
        self.log(
            f"top: {len(texts)} rules within {self.plan.top_margin} of Adam's mean test accuracy or above"
            f"{' by their mean or the shipped bench truth' if truth else ''}, seeds 0-{self.plan.top_seeds - 1}"
        )
        self.on_top_seeds([resolve_rule(t) for t in texts], "top")

    def on_top_seeds(self, exprs: Sequence[Expr], source: str) -> None:
        """``exprs`` on seeds 0 to ``top_seeds - 1``, in chunks of ``top_chunk`` rules (best first:
        an interrupted stage has resolved the rules that matter most)."""
        seeds = range(self.plan.top_seeds)
        for start in range(0, len(exprs), self.plan.top_chunk):
            started = time.perf_counter()
            part = exprs[start : start + self.plan.top_chunk]
            for seed in seeds:
                self.evaluate(part, seed, source)
            self.log(f"{source}: {start + len(part)}/{len(exprs)} rules on {len(seeds)} seeds ({time.perf_counter() - started:.0f} s)")
            self.checkpoint()

    def run(self) -> None:
        for stage in self.plan.stages:
            started = time.perf_counter()
            own = {"named": Builder.named, "random": Builder.random, "top": Builder.top}
            run_stage = self.stages.get(stage) or own.get(stage)
            if run_stage is None:
                raise ValueError(f"stage {stage!r} is not one of this builder's ({', '.join([*own, *self.stages])})")
            run_stage(self)
            self.fill()
            self.log(f"stage {stage} done ({time.perf_counter() - started:.0f} s)")
            self.checkpoint()


def top_rules(
    store: Store, task: str, config_hash: str, rule_config, margin: float, truth: Optional[Mapping[str, float]] = None
) -> Optional[list[str]]:
    """The rules whose mean test accuracy is at least Adam's minus ``margin``, best first (None
    while Adam is not in the store).

    ``truth`` (fingerprint -> held-out test accuracy, :func:`shipped_truth`) adds the rules whose
    truth reaches the bar though their mean does not: the posterior shrinks a rule on few seeds
    towards the surrogate's prediction, and a search that ends on such a rule is scored by it, so
    it is a top rule too (bench 2's third export had 21 of them, on 2–3 seeds). A rule ranks by
    the higher of the two."""
    means = mean_test_accuracies(store, task, config_hash)
    adam = fingerprint(resolve_rule("adam"), rule_config)
    if adam not in means:
        return None
    bar = means[adam][1] - margin
    truth = truth or {}
    score = {fp: max(acc, truth.get(fp, acc)) for fp, (_, acc) in means.items()}
    return [means[fp][0] for fp in sorted(means, key=lambda fp: -score[fp]) if score[fp] >= bar]


def shipped_truth(task: str, config_hash: str) -> dict[str, float]:
    """Fingerprint -> held-out test accuracy of every trained rule in the shipped bench of ``task``
    (empty when there is none, or its table was built with another protocol)."""
    from .bench import BenchError, load_bench

    try:
        bench = load_bench(task)
    except BenchError:
        return {}
    if bench.config_hash != config_hash:
        return {}
    return {fp: bench.table_expected(fp).test_acc for fp in bench.table.trained_rules(min_seeds=1)}


def mean_test_accuracies(store: Store, task: str, config_hash: str) -> dict[str, tuple[str, float]]:
    """Fingerprint -> (rule text, mean test accuracy over its seeds) of every rule that trained."""
    accs: dict[str, dict[int, float]] = {}
    texts: dict[str, str] = {}
    screened: set[str] = set()
    for row in store.results(task=task):
        if row.config_hash != config_hash or row.cached or row.status in (ERROR, TIMEOUT):
            continue
        if row.status == SCREENED:
            screened.add(row.fingerprint)
            continue
        accs.setdefault(row.fingerprint, {})[row.seed] = row.test_acc
        texts.setdefault(row.fingerprint, row.rule)
    return {fp: (texts[fp], sum(a.values()) / len(a)) for fp, a in accs.items() if fp not in screened}


def table_means(store: Store, task: str, config_hash: str, seeds: Iterable[int]) -> dict[str, tuple[str, float]]:
    """Fingerprint -> (rule text, mean reward) over the rules evaluated on every one of ``seeds``."""
    wanted = set(seeds)
    rewards: dict[str, dict[int, float]] = {}
    texts: dict[str, str] = {}
    for row in store.results(task=task):
        if row.config_hash != config_hash or row.cached or row.status in (ERROR, TIMEOUT) or row.seed not in wanted:
            continue
        rewards.setdefault(row.fingerprint, {})[row.seed] = row.reward
        texts.setdefault(row.fingerprint, row.rule)
    return {fp: (texts[fp], sum(r.values()) / len(r)) for fp, r in rewards.items() if set(r) == wanted}


def ingest(target: Store, sources: Sequence[Union[str, Path]], task: str, config_hash: str) -> int:
    """Copy every final, non-cached result of ``task`` with ``config_hash`` from the ``sources``
    into ``target``, skipping (rule, seed) pairs the target already holds; returns how many rows
    were added. A source is a results store (its rows become runs ``ingested:<file name>``) or a
    table folder such as a build's snapshot (:func:`.publish.write_snapshot`; its rows keep their
    machine kind, as a restored table's do). Results of another protocol are never taken; a table
    of another protocol is an error."""
    from dataclasses import replace

    from ..store.base import FINAL_STATUSES
    from .publish import read_table_of, restore_store

    added = 0
    for path in sources:
        if Path(path).is_dir():
            added += restore_store(read_table_of(path, task, config_hash), target)
            continue
        source = open_store(str(path))
        try:
            for row in source.results(task=task):
                if row.config_hash != config_hash or row.cached or row.status not in FINAL_STATUSES:
                    continue
                if target.lookup(row.fingerprint, task, config_hash, row.seed) is not None:
                    continue
                target.record(replace(row, run_id=f"ingested:{Path(path).name}", index=None, searcher=row.searcher or "ingested"))
                added += 1
        finally:
            source.close()
    return added


def build(
    store: Union[str, Path, Store],
    plan: BuildPlan = BuildPlan(),
    *,
    config: EvalConfig = EvalConfig(),
    backend: str = "process",
    workers: Optional[int] = None,
    ingest_stores: Sequence[Union[str, Path]] = (),
    from_table: bool = False,
    log: Callable[[str], None] = print,
    stages: Mapping[str, Callable[[Builder], None]] = {},
    snapshot: Optional[Union[str, Path]] = None,
) -> None:
    """Build (or resume) the table in ``store`` (a store, or the path of a SQLite store); ``from_table``: first copy the
    shipped table's rows into it (so the build continues the table). ``stages``: the stages that run
    searchers (:data:`optsearch.searchers.studies.bench_stages.SEARCHER_STAGES`; this package imports no searcher).
    ``snapshot``: a folder kept up to date, after every chunk and stage, with the rows the store holds beyond
    the shipped table (:func:`.publish.write_snapshot`), so that the build's progress can be committed as it grows."""
    if not isinstance(store, Store):
        Path(store).parent.mkdir(parents=True, exist_ok=True)
        store = SQLiteStore(str(store))
    with Evaluator(config, store=store, backend=backend, workers=workers) as evaluator:
        if from_table:
            from .bench import load_bench
            from .publish import restore_store

            log(f"restored {restore_store(load_bench(evaluator.task).table, evaluator.store)} rows of the shipped table")
        if ingest_stores:
            log(f"ingested {ingest(evaluator.store, ingest_stores, evaluator.task, evaluator.config_hash)} results")
        checkpoint = _snapshot_writer(evaluator, snapshot, log) if snapshot is not None else (lambda: None)
        Builder(evaluator, plan, log=log, stages=stages, checkpoint=checkpoint).run()


def _snapshot_writer(evaluator: Evaluator, folder: Union[str, Path], log: Callable[[str], None]) -> Callable[[], None]:
    """A checkpoint that writes the snapshot of the build's store beyond the shipped table into ``folder``."""
    from .bench import BenchError, load_bench
    from .publish import write_snapshot

    try:
        base = load_bench(evaluator.task).table
    except BenchError:  # a task without a shipped bench: the snapshot holds every row
        base = None

    def checkpoint() -> None:
        rows = write_snapshot(evaluator.store, folder, base, task=evaluator.task)["coverage"]["rows"]
        log(f"snapshot: {rows} rows beyond the shipped table in {folder}")

    return checkpoint
