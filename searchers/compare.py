"""``optsearch compare``: every searcher × seed against one evaluator and one store, then reports.

The protocol (NAS-Bench-101/201 style): each searcher runs ``budget`` proposals for each seed,
all through the same :class:`~optsearch.evaluation.evaluator.Evaluator` (same reward, cache,
screen, hurdle and store), so differences are the searchers' alone. Runs are named by searcher,
task and seed, so an interrupted comparison started again resumes. Then:

- the baselines (Adam, momentum, SGD) are evaluated on the same task and seeds;
- the top rules across all searchers are re-trained over fresh seeds with full training (no
  screen, no hurdle) for their test accuracy, next to the baselines (the leaderboard);
- the report is written: ``curves.png``, ``summary.md``/``summary.csv``, ``leaderboard.md``,
  ``rosenbrock.png``.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Optional, Sequence

from optsearch.dsl import resolve_rule, to_latex
from optsearch.dsl.library import BASELINE_NAMES
from optsearch.evaluation.config import EvalConfig
from optsearch.evaluation.evaluator import Evaluator
from optsearch.evaluation.records import EvalResult

from .driver import default_run_id
from .registry import run_named_search

DEFAULT_SEARCHERS = ("reinforce", "ppo", "gp", "random", "evolution")
LEADERBOARD_SEEDS = (1000, 1001, 1002)


@dataclass(frozen=True)
class CompareConfig:
    """What ``optsearch compare`` runs (the defaults fit 10 minutes on a 2-core machine)."""

    searchers: tuple[str, ...] = DEFAULT_SEARCHERS
    budget: int = 48
    seeds: int = 5
    groups: int = 2
    batch_size: int = 8
    leaderboard_size: int = 5
    leaderboard_seeds: tuple[int, ...] = LEADERBOARD_SEEDS


@dataclass(frozen=True)
class CompareOutcome:
    """Per searcher, the results of every seed in proposal order; the baselines; the files."""

    runs: dict[str, list[list[EvalResult]]]
    baselines: dict[str, float]
    files: dict[str, Path]
    wall_s: float


def _baseline_rewards(evaluator: Evaluator, seeds: Sequence[int]) -> dict[str, float]:
    rules = [resolve_rule(name) for name in BASELINE_NAMES]
    rewards: dict[str, list[float]] = {name: [] for name in BASELINE_NAMES}
    for seed in seeds:
        for name, result in zip(BASELINE_NAMES, evaluator.evaluate(rules, seed=seed, searcher="baseline", run_id="baselines")):
            rewards[name].append(result.reward)
    return {name: statistics.fmean(values) for name, values in rewards.items()}


def _leaderboard(
    top: Sequence[EvalResult],
    baselines: dict[str, float],
    config: EvalConfig,
    store,
    backend,
    workers,
    data_dir,
    seeds: Sequence[int],
) -> list[dict]:
    """Re-train the top rules and the baselines over ``seeds`` with full training.

    A rule's validation reward is the one it had in the search; a baseline's is its mean over the
    search seeds, so the column compares like with like.
    """
    full = replace(config, screen=False, hurdle=False)
    entries = [(r.canonical, r.searcher, r.reward) for r in top]
    entries += [(name, "baseline", baselines[name]) for name in BASELINE_NAMES]
    exprs = [resolve_rule(text) for text, _, _ in entries]
    per_seed = []
    with Evaluator(full, store=store, backend=backend, workers=workers, data_dir=data_dir) as evaluator:
        for seed in seeds:  # one batch per seed, so the workers train the rules in parallel
            per_seed.append(evaluator.evaluate(exprs, seed=seed, searcher="leaderboard", run_id="leaderboard"))
    rows = []
    for index, ((text, searcher, val_reward), expr) in enumerate(zip(entries, exprs)):
        results = [batch[index] for batch in per_seed]
        tests = [r.test_acc for r in results]
        rows.append(
            {
                "rule": text if searcher == "baseline" else str(expr),  # baselines by name
                "latex": to_latex(expr),
                "searcher": searcher,
                "val_reward": val_reward,
                "test_mean": statistics.fmean(tests),
                "test_std": statistics.pstdev(tests),
                "seeds": len(seeds),
            }
        )
    return rows


def run_comparison(
    compare: CompareConfig,
    eval_config: EvalConfig,
    out_dir: Path,
    *,
    store: str,
    backend: str = "process",
    workers: Optional[int] = None,
    address: Optional[str] = None,
    data_dir: Optional[str] = None,
    progress: Optional[Callable[[str, int, int, list], None]] = None,
) -> CompareOutcome:
    """Run the comparison and write its report into ``out_dir``."""
    from optsearch.evaluation.reports.comparison import leaderboard_rows, write_report
    from optsearch.evaluation.rosenbrock_plot import plot_rosenbrock

    started = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    seeds = list(range(compare.seeds))
    runs: dict[str, list[list[EvalResult]]] = {name: [] for name in compare.searchers}
    with Evaluator(eval_config, store=store, backend=backend, workers=workers, address=address, data_dir=data_dir) as evaluator:
        for seed in seeds:
            for name in compare.searchers:
                run_id = default_run_id(name, seed, evaluator.task)

                def report(done: int, results: list, name: str = name, seed: int = seed) -> None:
                    if progress is not None:
                        progress(name, seed, done, results)

                outcome = run_named_search(
                    name,
                    evaluator,
                    budget=compare.budget,
                    seed=seed,
                    groups=compare.groups,
                    run_id=run_id,
                    batch_size=compare.batch_size,
                    progress=report,
                )
                runs[name].append(list(outcome.results))
        baselines = _baseline_rewards(evaluator, seeds)
        resolved = evaluator.config
    top = leaderboard_rows(runs, compare.leaderboard_size)
    leaderboard = _leaderboard(top, baselines, resolved, store, backend, workers, data_dir, compare.leaderboard_seeds)
    files = write_report(runs, baselines, out_dir, reference="random", leaderboard=leaderboard)
    rosenbrock_rules = {r.canonical: r.canonical for r in top[:3]}
    files["rosenbrock"] = plot_rosenbrock(rosenbrock_rules, out_dir / "rosenbrock.png")
    return CompareOutcome(runs, baselines, files, time.perf_counter() - started)
