"""``optsearch compare``: every searcher × seed against one evaluator and one store, then reports.

The protocol (NAS-Bench-101/201 style): each searcher runs ``budget`` proposals for each search
seed, all through the same :class:`~optsearch.evaluation.evaluator.Evaluator` (same reward,
cache, screen, hurdle and store), so differences are the searchers' alone. Runs are named by
searcher (or its label), task and seed, so an interrupted comparison started again resumes. Then:

- every incumbent any run ever had, and the baselines (Adam, momentum, SGD, ``ld * adam``), are
  re-trained on held-out seeds no search used, with full training (:mod:`~optsearch.evaluation.experiments.heldout`);
- the report speaks in those held-out numbers: ``curves.png``, ``summary.md``/``summary.csv``
  (with a verdict; with ``verdict_budgets``, also at those smaller budgets, from the same runs:
  ``budgets.csv``, ``verdicts.csv``), ``leaderboard.md``/``leaderboard.csv`` (paired against Adam),
  ``rosenbrock.png``;
- the leaderboard's best rules are raced against Adam on fresh held-out seeds until each is
  decided (``race.md``; on a bench they are trained for real on its live task).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Union

from optsearch.evaluation.config import EvalConfig
from optsearch.evaluation.evaluator import Evaluator
from optsearch.evaluation.executor import PARALLEL_BACKEND
from optsearch.evaluation.experiments.heldout import DEFAULT_HELDOUT_SEEDS, evaluate_heldout, heldout_config, heldout_seeds
from optsearch.evaluation.records import EvalResult
from optsearch.evaluation.reports.data import HELDOUT_BASELINES, ComparisonData
from optsearch.evaluation.statistics.incumbents import incumbents

from ..lifecycle import default_run_id
from ..registry import default_label, run_named_search

DEFAULT_SEARCHERS = ("reinforce", "ppo", "gp", "random", "evolution")
#: What ``optsearch compare`` runs by default: the bench of the embedded task, where a proposal costs
#: milliseconds, so that the default comparison has the seeds a verdict needs (see the README);
#: ``--task mnist1d`` runs the same comparison live.
DEFAULT_COMPARE_TASK = "mnist1d-bench"

#: ``phases(phase, done, total)``: how far each long phase of a comparison is, called in this
#: process only (never in its workers), for display: the files a comparison writes do not depend on it.
PhaseProgress = Callable[[str, int, int], None]
#: The phases, each named with what it counts: proposals of every searcher × seed; (rule, seed)
#: pairs re-evaluated on the held-out seeds; race seeds of the cap; transfer training runs.
SEARCH_PHASE, HELDOUT_PHASE, RACE_PHASE, TRANSFER_PHASE = "search (proposals)", "held-out (rules × seeds)", "race (seeds)", "transfer (runs)"


@dataclass(frozen=True)
class Arm:
    """One arm of a comparison: a searcher spec (a registered name, an entry point or
    ``module:attribute``), the keyword arguments it is built with, and the label that names its
    runs in the store and the report (the spec's :func:`~.registry.default_label` when None)."""

    searcher: str
    options: Mapping[str, Any] = field(default_factory=dict)
    label: Optional[str] = None

    @property
    def name(self) -> str:
        """The label, or the spec's default label."""
        return self.label if self.label is not None else default_label(self.searcher)


def check_label(label: str) -> str:
    """``label`` when it can name runs and files: not blank, no path separator, no control character."""
    if not label.strip() or label != label.strip():
        raise ValueError(f"label {label!r} must be non-empty, without leading or trailing spaces")
    if any(c in label for c in "/\\") or not label.isprintable():
        raise ValueError(f"label {label!r} must not contain '/', '\\' or control characters")
    return label


BENCH_BUDGET, BENCH_SEEDS = 200, 20


@dataclass(frozen=True)
class CompareConfig:
    """What ``optsearch compare`` runs (the defaults fit 10 minutes on a 2-core machine).

    ``searchers``: searcher specs or :class:`Arm` s, whose labels must differ.
    """

    searchers: tuple[Union[str, Arm], ...] = DEFAULT_SEARCHERS
    budget: int = 48
    seeds: int = 5
    #: The first search seed: the runs use seeds ``first_seed`` … ``first_seed + seeds - 1``, so a study
    #: can run in parts (disjoint seeds, on several machines) whose reports ``optsearch merge`` joins.
    first_seed: int = 0
    groups: int = 2
    batch_size: int = 8
    heldout_seeds: int = DEFAULT_HELDOUT_SEEDS
    leaderboard_size: int = 8
    #: The best found rules raced against Adam on fresh held-out seeds up to a seed cap (on a bench:
    #: trained for real on its live task; see :mod:`~optsearch.evaluation.experiments.race`);
    #: 0 rules: no race.
    race_top: int = 5
    race_seeds: int = 20
    #: The funnel's last stage: ``TASK[:MODEL],...`` the race's confirmed rules (else its best)
    #: are transferred to, and the seeds of each (see :mod:`~optsearch.evaluation.experiments.funnel`).
    transfer: str = ""
    transfer_seeds: int = 5
    #: Smaller budgets the verdict is also given at, from the same runs (each run's incumbent among its
    #: first b proposals; :mod:`~optsearch.evaluation.reports.budgets`); the final budget is always added.
    #: Empty: the verdict at the final budget only.
    verdict_budgets: tuple[int, ...] = ()

    @classmethod
    def for_task(cls, task: str) -> "CompareConfig":
        """The defaults for ``task``: a bench affords 20 seeds of 200 proposals within minutes, a live task
        48 proposals on 5 seeds within ten minutes (both measured on the 2-core dev machine)."""
        from optsearch.evaluation.rewards import source_info

        return cls(budget=BENCH_BUDGET, seeds=BENCH_SEEDS) if source_info(task).answers_in_process else cls()

    def verdict_steps(self) -> tuple[int, ...]:
        """The budgets the verdict is given at: ``verdict_budgets`` and ``budget``, sorted (empty without
        ``verdict_budgets``); ``ValueError`` for one below 1 or above ``budget``."""
        from optsearch.evaluation.reports.budgets import budget_steps

        return budget_steps(self.verdict_budgets, self.budget) if self.verdict_budgets else ()

    @property
    def search_seeds(self) -> range:
        """The search seeds of the runs, in order."""
        return range(self.first_seed, self.first_seed + self.seeds)

    def arms(self) -> tuple[Arm, ...]:
        """Every searcher as an :class:`Arm`; ``ValueError`` on a bad or repeated label."""
        arms = tuple(arm if isinstance(arm, Arm) else Arm(arm) for arm in self.searchers)
        seen: set[str] = set()
        for arm in arms:
            if check_label(arm.name) in seen:
                raise ValueError(f"two searchers are labelled {arm.name!r}; give each a label of its own")
            seen.add(arm.name)
        return arms


@dataclass(frozen=True)
class CompareOutcome:
    """Per searcher, the results of every seed in proposal order; the report's data and files."""

    runs: dict[str, list[list[EvalResult]]]
    data: ComparisonData
    files: dict[str, Path]
    wall_s: float


def _heldout_data(
    evaluator: Evaluator, runs: dict[str, list[list[EvalResult]]], compare: CompareConfig, progress: Optional[Callable[[int, int], None]] = None
) -> ComparisonData:
    """Re-train every incumbent and the baselines on the held-out seeds (cache hits on a resume)."""
    seeds = heldout_seeds(compare.heldout_seeds, compare.search_seeds)
    rules: dict[str, str] = {}  # fingerprint -> rule text, in order of first appearance
    for per_seed in runs.values():
        for run in per_seed:
            for incumbent in incumbents(run):
                rules.setdefault(incumbent.result.fingerprint, incumbent.result.rule)
    texts = list(rules.values()) + list(HELDOUT_BASELINES)
    with Evaluator(heldout_config(evaluator.config), store=evaluator.store, backend=evaluator.executor, data_dir=evaluator.data_dir) as full:
        scores, fingerprints = evaluate_heldout(full, texts, seeds, progress=progress)
    baselines = dict(zip(HELDOUT_BASELINES, fingerprints[len(rules):]))
    shortest = evaluator.store.shortest_rules(list(rules))
    return ComparisonData(runs, scores, baselines, shortest, task=evaluator.task)


def _run_seed(
    compare: CompareConfig, evaluator: Evaluator, seed: int, progress: Optional[Callable[[str, int, int, list], None]] = None
) -> tuple[dict[str, list[EvalResult]], dict[str, float]]:
    """Every arm's run on ``seed``, in arm order (so the cache is shared as in a sequential
    comparison), and the seconds each run took."""
    runs: dict[str, list[EvalResult]] = {}
    seconds: dict[str, float] = {}
    for arm in compare.arms():
        name = arm.name

        def report(done: int, results: list, name: str = name) -> None:
            if progress is not None:
                progress(name, seed, done, results)

        started = time.perf_counter()
        outcome = run_named_search(
            arm.searcher,
            evaluator,
            budget=compare.budget,
            seed=seed,
            groups=compare.groups,
            run_id=default_run_id(name, seed, evaluator.task),
            batch_size=compare.batch_size,
            progress=report,
            label=name,
            **arm.options,
        )
        runs[name] = list(outcome.results)
        seconds[name] = time.perf_counter() - started
    return runs, seconds


def _bench_processes(evaluator: Evaluator, backend: str, workers: Optional[int]) -> int:
    """Processes a comparison on a bench runs its seeds in (1: in this process).

    A bench answers in milliseconds in the calling process, so the parallel backends' workers would
    idle; its comparison runs whole seeds in parallel instead. Seeds never share cache entries (the
    cache is keyed by seed), so this gives exactly the results, costs and cache hits of the
    sequential loop."""
    if evaluator.source.kind == "live" or backend == "serial" or not isinstance(backend, str):
        return 1
    from optsearch.evaluation.executor.base import default_workers

    return max(1, workers if workers is not None else default_workers())


def _seed_job(compare: CompareConfig, eval_config: EvalConfig, store: str, seed: int, data_dir: Optional[str]):
    import torch

    torch.set_num_threads(1)  # one core per process: the processes are the parallelism
    with Evaluator(eval_config, store=store, backend="serial", data_dir=data_dir) as evaluator:
        return (seed, *_run_seed(compare, evaluator, seed))


def _seed_process(job: tuple) -> tuple:
    """:func:`_seed_job` of ``job`` (its arguments) in a worker process."""
    return _seed_job(*job)


def _seeds_in_processes(compare: CompareConfig, eval_config: EvalConfig, store: str, seeds: list[int], processes: int, data_dir: Optional[str]):
    """``(seed, {arm: results}, {arm: seconds})`` for every seed, computed on ``processes`` workers of
    the process backend, in seed order: each as soon as it and every seed before it are done
    (:func:`~optsearch.evaluation.executor.in_order.results_in_order`: a seed whose search raised
    raises its exception here once every seed's job has ended; the seeds after it are not yielded)."""
    from optsearch.evaluation.executor.in_order import results_in_order

    jobs = [(compare, eval_config, str(store), seed, data_dir) for seed in seeds]
    for _, value in results_in_order(_seed_process, jobs, processes, lambda index: f"the search of seed {seeds[index]}"):
        yield value


def _race(evaluator: Evaluator, rows: list, compare: CompareConfig, out_dir: Path, backend, workers, address, progress=None):
    """Race the best found rules against Adam on fresh held-out seeds: on a bench's live task (for
    real), or on the comparison's own task; write ``race.csv``/``.md``/``.png``."""
    from optsearch.evaluation.experiments.race import race_rules, write_race
    from optsearch.evaluation.rewards import source_info
    from optsearch.evaluation.statistics.racing import RacePlan

    source = source_info(evaluator.task)
    live = heldout_config(replace(evaluator.config, task=source.live_task))
    plan = RacePlan(first=min(5, compare.race_seeds), cap=compare.race_seeds)
    references = {row.rule: row.heldout_mean for row in rows}
    # A bench answers in this process, so its live trainings get workers of their own; a live
    # comparison's race reuses the comparison's workers.
    own = dict(backend=backend, workers=workers, address=address) if source.answers_in_process else dict(backend=evaluator.executor)
    with Evaluator(live, store=evaluator.store, data_dir=evaluator.data_dir, **own) as trainer:
        result = race_rules(trainer, [row.rule for row in rows], plan, references=references, progress=progress)
    label = "bench (expected test acc)" if source.heldout_is_expectation else "leaderboard held-out mean"
    return result, write_race(result, out_dir, reference_label=label)


def run_comparison(
    compare: CompareConfig,
    eval_config: EvalConfig,
    out_dir: Path,
    *,
    store: str,
    backend: str = PARALLEL_BACKEND,
    workers: Optional[int] = None,
    address: Optional[str] = None,
    data_dir: Optional[str] = None,
    progress: Optional[Callable[[str, int, int, list], None]] = None,
    phases: Optional[PhaseProgress] = None,
) -> CompareOutcome:
    """Run the comparison and write its report into ``out_dir``.

    ``progress(searcher, seed, done, results)`` follows each search run (after every batch; when
    seeds run in worker processes, as each seed finishes); ``phases(phase, done, total)`` follows
    every phase (:data:`PhaseProgress`). Both are for display only."""
    from optsearch.evaluation.experiments.rosenbrock import plot_rosenbrock
    from optsearch.evaluation.reports.comparison import write_report
    from optsearch.evaluation.reports.leaderboard import leaderboard

    started = time.perf_counter()
    verdict_budgets = compare.verdict_steps()  # a budget above the runs' fails before any work
    out_dir.mkdir(parents=True, exist_ok=True)
    seeds = list(compare.search_seeds)
    arms = compare.arms()
    runs: dict[str, list[list[EvalResult]]] = {arm.name: [] for arm in arms}
    search_seconds = {arm.name: 0.0 for arm in arms}
    proposals, searched = len(seeds) * len(arms) * compare.budget, {}

    def phase(name: str) -> Optional[Callable[[int, int], None]]:
        return partial(phases, name) if phases is not None else None

    def report(name: str, seed: int, done: int, results: list) -> None:
        if phases is not None:
            searched[(name, seed)] = min(done, compare.budget)
            phases(SEARCH_PHASE, sum(searched.values()), proposals)
        if progress is not None:
            progress(name, seed, done, results)

    if phases is not None:
        phases(SEARCH_PHASE, 0, proposals)
    with Evaluator(eval_config, store=store, backend=backend, workers=workers, address=address, data_dir=data_dir) as evaluator:
        processes = min(len(seeds), _bench_processes(evaluator, backend, workers))
        if processes > 1:
            for seed, per_arm, seconds in _seeds_in_processes(compare, eval_config, store, seeds, processes, data_dir):
                for arm in arms:
                    runs[arm.name].append(per_arm[arm.name])
                    search_seconds[arm.name] += seconds[arm.name]
                    report(arm.name, seed, len(per_arm[arm.name]), per_arm[arm.name])
        else:
            for seed in seeds:
                per_arm, seconds = _run_seed(compare, evaluator, seed, report if progress or phases else None)
                for name, results in per_arm.items():
                    runs[name].append(results)
                    search_seconds[name] += seconds[name]
        if phases is not None:
            phases(SEARCH_PHASE, proposals, proposals)  # every run holds its budget (a resumed one may report none)
        data = replace(_heldout_data(evaluator, runs, compare, phase(HELDOUT_PHASE)), search_seconds=search_seconds)
        board = leaderboard(data, compare.leaderboard_size)
        files = write_report(data, out_dir, reference="random", verdict_budgets=verdict_budgets, board=board)
        best = [row for row in board if row.searcher != "baseline"]
        raced = None
        if compare.race_top > 0 and best:
            raced, race_files = _race(evaluator, best[: compare.race_top], compare, out_dir, backend, workers, address, phase(RACE_PHASE))
            files.update(race_files)
        if compare.transfer and raced is not None:
            from optsearch.evaluation.executor.base import default_workers
            from optsearch.evaluation.experiments.funnel import transfer_found

            files.update(
                transfer_found(
                    raced, compare.transfer, compare.transfer_seeds, out_dir, processes=workers or default_workers(), data_dir=data_dir,
                    progress=phase(TRANSFER_PHASE),
                )
            )
    found = [row.rule for row in best]
    files["rosenbrock"] = plot_rosenbrock({rule: rule for rule in found[:3]}, out_dir / "rosenbrock.png")
    return CompareOutcome(runs, data, files, time.perf_counter() - started)
