"""Reward sources: what scores a rule that passed the screen, on one seed.

The evaluator (cache, screen, store) hands every rule it must score to one object behind one call,
as HPOBench's ``objective_function(config, fidelity, rng)``::

    source.objective(exprs, fingerprints, seed, finish)   # finish(i, outcome) as each is final

Two kinds answer it:

- :class:`LiveTraining` trains the rules on the task, on the executor's workers, in populations
  (several rules as one stacked child, grouped by :mod:`.grouping`);
- :class:`BenchAnswers` answers from a bench's table and surrogate (:mod:`.bench`), in this
  process, in the protocol the config names (the search protocol, or held-out full training).

Everything else optsearch asks about a task's rewards without opening them (are held-out scores
expectations? which live task does a bench stand for? what identifies it in a manifest?) is one
call too, :func:`source_info`, whose :class:`SourceInfo` says it in those words. A second bench is
then a data folder (``evaluation/bench/data/<live task>/``) and a registry entry
(``TaskSpec(..., bench="<live task>")``); nothing else names benches.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Callable, Optional, Protocol, Sequence, runtime_checkable

from optsearch.dsl import Expr, fingerprint

from .config import EvalConfig
from .executor import Executor
from .grouping import group_rules
from .jobs import TrainingJob, failure_outcome, run_training_job
from .records import Outcome
from .screen import screen_rule

Finish = Callable[[int, Outcome], None]


@runtime_checkable
class RewardSource(Protocol):
    """What the evaluator asks for rewards (see the module docstring)."""

    #: ``"live"`` or ``"bench"``.
    kind: str
    #: Folded into the evaluator's config hash, so a store keeps the answers of each source version
    #: apart ("" for live training, whose results depend on the config alone).
    version_tag: str

    def fingerprint(self, expr: Expr) -> str:
        """The rule's fingerprint, the key of its results (raises for a rule that cannot be probed)."""

    def prepare(self, exprs: Sequence[Expr]) -> None:
        """Get ready to fingerprint ``exprs`` (a bench computes their keys in one batch)."""

    def prepare_scoring(self, exprs: Sequence[Expr]) -> None:
        """Get ready to screen and score ``exprs``: the rules of a batch that the cache does not
        answer (a bench resolves them in one batch; the others never need it)."""

    def passes_screen(self, expr: Expr, fingerprint: str) -> bool:
        """The screen's verdict for a rule (the same on every machine)."""

    def objective(self, exprs: Sequence[Expr], fingerprints: Sequence[str], seed: int, finish: Finish) -> None:
        """Score every rule on ``seed``; ``finish(i, outcome)`` as each is final (any order)."""


class LiveTraining:
    """Rewards by training on the task: the executor's workers, populations of rules per child.

    A population that failed as a whole (its worker crashed, ran past the executor's time limit,
    or raised outside any one rule, e.g. out of memory) gives its rules a second chance one by one,
    so one rule that kills its process harms no other.
    """

    kind = "live"
    version_tag = ""

    def __init__(self, config: EvalConfig, executor: Executor, population_size: int, data_dir: Optional[str] = None):
        self.config = config
        self.executor = executor
        self.population_size = population_size
        self.data_dir = data_dir

    def fingerprint(self, expr: Expr) -> str:
        return fingerprint(expr, self.config.rule_config)

    def prepare(self, exprs: Sequence[Expr]) -> None:
        pass

    def prepare_scoring(self, exprs: Sequence[Expr]) -> None:
        pass

    def passes_screen(self, expr: Expr, fingerprint: str) -> bool:
        return screen_rule(expr, rule_config=self.config.rule_config).passed

    def objective(self, exprs: Sequence[Expr], fingerprints: Sequence[str], seed: int, finish: Finish) -> None:
        rules = [str(e) for e in exprs]
        groups = group_rules(len(rules), self.population_size, self.executor.workers)
        while groups:
            jobs = [TrainingJob(tuple(rules[i] for i in group), self.config, seed, self.data_dir) for group in groups]
            alone: list[list[int]] = []
            for number, finished in self.executor.run(run_training_job, jobs):
                group = groups[number]
                if finished.ok:
                    for index, outcome in zip(group, finished.value):
                        finish(index, outcome)
                elif len(group) > 1:
                    alone += [[index] for index in group]
                else:
                    finish(group[0], failure_outcome(str(finished.error), finished.wall_s, finished.kind))
            groups = alone


class BenchAnswers:
    """Rewards from a bench (:class:`~.bench.bench.Bench`) in the protocol ``config`` names: its
    search protocol (``mode == "search"``) or held-out full training (``"full"``)."""

    kind = "bench"

    def __init__(self, bench, config: EvalConfig):
        self.bench = bench
        self.mode = bench.mode(config)  # BenchError (a ValueError) for another protocol
        self.version_tag = bench.content_hash

    @property
    def live_task(self) -> str:
        return self.bench.live_task

    def fingerprint(self, expr: Expr) -> str:
        # the table's fingerprint, else the portable one: the same on every CPU
        return self.bench.fingerprint(expr)

    def prepare(self, exprs: Sequence[Expr]) -> None:
        try:
            self.bench.keys_many(exprs)  # the portable fingerprints of the rules outside the table: one call to the helper
        except ValueError:
            pass  # a rule that cannot be probed: the evaluator records its error

    def prepare_scoring(self, exprs: Sequence[Expr]) -> None:
        try:
            self.bench.resolve_many(exprs)  # their screen verdicts and predictions: one call to the helper
        except ValueError:
            pass

    def passes_screen(self, expr: Expr, fingerprint: str) -> bool:
        # the table's record, else the portable screen: the same on every CPU
        return self.bench.passes_screen(expr)

    def objective(self, exprs: Sequence[Expr], fingerprints: Sequence[str], seed: int, finish: Finish) -> None:
        for i, expr in enumerate(exprs):
            finish(i, self.bench.answer(expr, seed, self.mode).outcome)


@dataclass(frozen=True)
class SourceInfo:
    """What a task's rewards are, known without training or answering anything (:func:`source_info`).

    ``kind``: ``"live"`` or ``"bench"``; ``live_task``: the task whose training the rewards are
    (a bench's live task, else the task itself). On a bench, held-out scores are the rules'
    expectations (``heldout_is_expectation``: no seed noise, nothing to race there) and a
    proposal is answered in this process in milliseconds (``answers_in_process``).
    """

    task: str
    kind: str
    live_task: str
    bench_name: Optional[str] = None

    @property
    def trains(self) -> bool:
        """Whether rewards come from training on the task (so its data and workers are needed)."""
        return self.kind == "live"

    @property
    def heldout_is_expectation(self) -> bool:
        return self.kind == "bench"

    @property
    def answers_in_process(self) -> bool:
        return self.kind == "bench"

    @cached_property
    def record(self) -> Optional[dict]:
        """What identifies the source in a manifest: a bench's protocol and table hash (None live)."""
        if self.bench_name is None:
            return None
        from .bench.bench import load_bench

        return load_bench(self.bench_name).protocol


def source_info(task: str, *, strict: bool = True) -> SourceInfo:
    """The :class:`SourceInfo` of a registered task: ``ValueError`` for an unknown one, or with
    ``strict=False`` (reports of stores written elsewhere) a live source of that name."""
    from .tasks import REGISTRY, spec_for

    if not strict and task.strip().lower() not in REGISTRY:
        return SourceInfo(task, "live", task)
    spec = spec_for(task)
    if spec.bench is None:
        return SourceInfo(spec.name, "live", spec.name)
    return SourceInfo(spec.name, "bench", spec.bench, spec.bench)  # spec.bench: the live task it stands for


def open_source(config: EvalConfig, executor: Executor, population_size: int, data_dir: Optional[str]) -> RewardSource:
    """The reward source of ``config``'s task: a bench's answers, or live training on ``executor``'s workers."""
    info = source_info(config.task)
    if info.bench_name is not None:
        from .bench.bench import load_bench

        return BenchAnswers(load_bench(info.bench_name), config)
    return LiveTraining(config, executor, population_size, data_dir)
