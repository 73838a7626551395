"""The report of ``optsearch compare``: curves, a summary table and a leaderboard.

:func:`write_report` turns the runs of every searcher (``runs[searcher][seed_index]`` = that
run's :class:`~optsearch.evaluation.records.EvalResult`\\ s in proposal order, cache hits
included) and the baselines' mean validation rewards into files in ``out_dir``:

``curves.png``
    Best-so-far validation reward against proposals (left) and against cumulative evaluation
    wall time (right): per searcher the interquartile mean across seeds with a 95% bootstrap
    band, and the baselines as dashed horizontal lines.
``summary.csv`` / ``summary.md``
    One row per searcher, columns :func:`summary_columns` (see :func:`summarize` for their
    meaning); the markdown version adds a paragraph stating the protocol.
``leaderboard.md``
    The best rules, re-trained by the caller (rows of dicts, see :func:`write_leaderboard`),
    next to the baselines; each equation in text and in LaTeX.

The statistics are those of :mod:`.stats` (rliable-style IQM, percentile bootstrap over seeds,
probability of improvement).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np

from . import stats
from ..records import ERROR, SCREENED, EvalResult

__all__ = [
    "CURVE_POINTS",
    "leaderboard_rows",
    "plot_curves",
    "summarize",
    "summary_columns",
    "write_leaderboard",
    "write_report",
    "write_summary",
]

Runs = dict[str, list[list[EvalResult]]]

CURVE_POINTS = 50  # indices (and times) at which the bootstrap band of a curve is computed
TIME_POINTS = 200  # time-grid resolution of the wall-time curves
BASELINE_STYLE = {"adam": ":", "momentum": "--", "sgd": "-."}


# ------------------------------------------------------------------------------------------------
# Helpers
# ------------------------------------------------------------------------------------------------
def _task_of(runs: Runs) -> Optional[str]:
    """The task of the results when they all share one, else None."""
    tasks = {r.task for seeds in runs.values() for run in seeds for r in run if getattr(r, "task", "")}
    return next(iter(tasks)) if len(tasks) == 1 else None


def _seeds_of(runs: Runs) -> list[int]:
    seeds = {r.seed for per_seed in runs.values() for run in per_seed for r in run[:1]}
    return sorted(seeds)


def _final_scores(per_seed: Sequence[Sequence[EvalResult]]) -> np.ndarray:
    """Each run's best reward within its budget (NaN for an empty run)."""
    return np.asarray([float(np.nanmax(stats.rewards_of(run))) if len(run) else math.nan for run in per_seed])


def _is_training(result: EvalResult) -> bool:
    """A real child training: not a cache hit, not screened, not a rule that failed before training."""
    if result.cached or result.status == SCREENED:
        return False
    return not (result.status == ERROR and result.cost == 0.0)


def _budget(per_seed: Sequence[Sequence[EvalResult]]) -> int:
    return max((len(run) for run in per_seed), default=0)


def _fmt(value: Any, digits: int = 4) -> str:
    """A number for a markdown cell ("—" for None/NaN)."""
    if value is None:
        return "—"
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(float(value)):
            return "—"
        return f"{float(value):.{digits}f}"
    return str(value)


def _fmt_count(value: Optional[float]) -> str:
    """A median count: an integer, or one decimal for a half."""
    if value is None or not math.isfinite(value):
        return "—"
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def _cell(text: str) -> str:
    """Text safe inside a markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    return "`" + _cell(text).replace("`", "'") + "`"


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return "" if not math.isfinite(value) else repr(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


# ------------------------------------------------------------------------------------------------
# Summary
# ------------------------------------------------------------------------------------------------
def summary_columns(reference: str = "random") -> tuple[str, ...]:
    """The columns of ``summary.csv`` (and of :func:`summarize`'s rows), in order."""
    p = f"p_improvement_vs_{reference}"
    return (
        "searcher",
        "seeds",
        "budget",
        "final_iqm",
        "ci_low",
        "ci_high",
        p,
        f"{p}_ci_low",
        f"{p}_ci_high",
        "median_proposals_to_adam",
        "unique_trainings",
        "cache_hit_share",
        "best_reward",
        "best_rule",
    )


def summarize(
    runs: Runs,
    baselines: dict[str, float],
    *,
    reference: str = "random",
    confidence: float = 0.95,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """One dict per searcher (in ``runs`` order) with the keys of :func:`summary_columns`.

    - ``seeds``: runs (seeds) of the searcher; ``budget``: proposals of its longest run (all runs
      have the same length under the compare protocol).
    - ``final_iqm``, ``ci_low``, ``ci_high``: the IQM across seeds of each run's best validation
      reward within the budget, and its bootstrap confidence interval (:func:`.stats.iqm_ci`).
    - ``p_improvement_vs_<reference>`` (and ``_ci_low``/``_ci_high``): probability that a run of
      this searcher ends better than a run of ``reference``, with its bootstrap interval; empty
      when ``reference`` is not among the searchers (0.5 for the reference itself).
    - ``median_proposals_to_adam``: median over seeds of the 1-based index of the first proposal
      reaching the Adam baseline's reward (None unless more than half of the seeds reach it, see
      :func:`.stats.median_proposals_to_reach`; None without an ``adam`` baseline).
    - ``unique_trainings``: proposals that trained a child, summed over seeds — neither cache hits
      nor screened (nor rules that failed before any training).
    - ``cache_hit_share``: cache hits / proposals, over all seeds.
    - ``best_reward``, ``best_rule``: the best single result over all seeds and its canonical
      rule (the earliest one on ties).
    """
    columns = summary_columns(reference)
    p_col, p_low, p_high = columns[6], columns[7], columns[8]
    reference_scores = _final_scores(runs[reference]) if reference in runs else None
    if reference_scores is not None:
        reference_scores = reference_scores[np.isfinite(reference_scores)]
    adam = baselines.get("adam")
    rows = []
    for name, per_seed in runs.items():
        per_seed = [list(run) for run in per_seed]
        scores = _final_scores(per_seed)
        scores = scores[np.isfinite(scores)]
        row: dict[str, Any] = dict.fromkeys(columns)
        row.update(searcher=name, seeds=len(per_seed), budget=_budget(per_seed))
        if scores.size:
            row["final_iqm"] = stats.iqm(scores)
            row["ci_low"], row["ci_high"] = stats.iqm_ci(scores, confidence, seed)
        if scores.size and reference_scores is not None and reference_scores.size:
            row[p_col] = stats.probability_of_improvement(scores, reference_scores)
            row[p_low], row[p_high] = stats.probability_of_improvement_ci(scores, reference_scores, confidence, seed)
        if adam is not None and math.isfinite(adam):
            row["median_proposals_to_adam"] = stats.median_proposals_to_reach(per_seed, adam)
        results = [r for run in per_seed for r in run]
        row["unique_trainings"] = sum(_is_training(r) for r in results)
        row["cache_hit_share"] = (sum(bool(r.cached) for r in results) / len(results)) if results else None
        best = None
        for r in results:
            if math.isfinite(r.reward) and (best is None or r.reward > best.reward):
                best = r
        if best is not None:
            row["best_reward"], row["best_rule"] = float(best.reward), best.canonical or best.rule
        rows.append(row)
    return rows


def write_summary(
    rows: Sequence[dict[str, Any]],
    out_dir: Union[str, Path],
    *,
    reference: str = "random",
    baselines: Optional[dict[str, float]] = None,
    task: Optional[str] = None,
    seeds: Optional[Sequence[int]] = None,
    confidence: float = 0.95,
) -> tuple[Path, Path]:
    """Write ``summary.csv`` (exactly :func:`summary_columns`) and ``summary.md``; return their paths."""
    out = Path(out_dir)
    columns = summary_columns(reference)
    csv_path, md_path = out / "summary.csv", out / "summary.md"
    with csv_path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_csv_value(row.get(c)) for c in columns])

    p_col = columns[6]
    level = f"{round(confidence * 100):d}%"
    header = (
        "| searcher | seeds | budget | final IQM | "
        + f"{level} CI | P(improvement) vs {reference} [{level} CI] | proposals to Adam (median) | "
        + "unique trainings | cache-hit share | best reward | best rule |"
    )
    lines = [f"# Search strategies compared{f' on {task}' if task else ''}", "", header, "|" + "---|" * 11]
    for row in rows:
        p = row.get(p_col)
        p_text = "—" if p is None else f"{_fmt(p, 3)} [{_fmt(row.get(p_col + '_ci_low'), 3)}, {_fmt(row.get(p_col + '_ci_high'), 3)}]"
        share = row.get("cache_hit_share")
        lines.append(
            "| "
            + " | ".join(
                [
                    _cell(row["searcher"]),
                    _fmt(row.get("seeds")),
                    _fmt(row.get("budget")),
                    _fmt(row.get("final_iqm")),
                    "—" if row.get("ci_low") is None else f"[{_fmt(row.get('ci_low'))}, {_fmt(row.get('ci_high'))}]",
                    p_text,
                    _fmt_count(row.get("median_proposals_to_adam")),
                    _fmt(row.get("unique_trainings")),
                    "—" if share is None else f"{100 * share:.1f}%",
                    _fmt(row.get("best_reward")),
                    _code(row["best_rule"]) if row.get("best_rule") else "—",
                ]
            )
            + " |"
        )
    lines += ["", _protocol_paragraph(rows, reference, baselines or {}, task, seeds, confidence), ""]
    md_path.write_text("\n".join(lines))
    return csv_path, md_path


def _protocol_paragraph(
    rows: Sequence[dict[str, Any]],
    reference: str,
    baselines: dict[str, float],
    task: Optional[str],
    seeds: Optional[Sequence[int]],
    confidence: float,
) -> str:
    budgets = sorted({row["budget"] for row in rows})
    n_seeds = sorted({row["seeds"] for row in rows})
    budget_text = " to ".join(str(b) for b in (budgets[0], budgets[-1])) if len(budgets) > 1 else str(budgets[0] if budgets else 0)
    seeds_text = " to ".join(str(s) for s in (n_seeds[0], n_seeds[-1])) if len(n_seeds) > 1 else str(n_seeds[0] if n_seeds else 0)
    seed_list = f" ({', '.join(str(s) for s in seeds)})" if seeds else ""
    level = f"{round(confidence * 100):d}%"
    base = ", ".join(f"{name} {value:.4f}" for name, value in baselines.items()) or "none given"
    reference_text = (
        f"`{reference}`, the reference searcher" if any(row["searcher"] == reference for row in rows) else f"`{reference}` (not run: column left empty)"
    )
    return (
        f"**Protocol.** Each searcher made {budget_text} proposals per seed over {seeds_text} seeds{seed_list}"
        + (f" on task `{task}`" if task else "")
        + ", every proposal scored by the same shared evaluator (same reward, cache, screen and hurdle); "
        "cache hits count towards the budget. A run's score is the best validation reward among its "
        f"proposals. *Final IQM* is the interquartile mean of the run scores across seeds, with a {level} "
        f"percentile bootstrap confidence interval (scipy.stats.bootstrap, {stats.DEFAULT_RESAMPLES} resamples of the "
        "seeds: rliable's stratified bootstrap with a single task). *P(improvement)* is the probability "
        f"that a run of the searcher scores higher than a run of {reference_text} (ties count half), with "
        f"its {level} bootstrap interval; 0.5 means no difference. Baselines (mean validation reward over "
        f"the same seeds): {base}. *Proposals to Adam* is the median over seeds of the first proposal that "
        "reaches Adam's reward (— when the median seed never reaches it). *Unique trainings* counts the "
        "child networks actually trained (neither cache hits nor screened), summed over seeds."
    )


# ------------------------------------------------------------------------------------------------
# Curves
# ------------------------------------------------------------------------------------------------
def _band_indices(length: int, points: int = CURVE_POINTS) -> np.ndarray:
    return np.unique(np.linspace(0, max(length - 1, 0), min(points, max(length, 1))).round().astype(int))


def _iqm_with_band(matrix: np.ndarray, indices: np.ndarray, confidence: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """IQM over seeds at every column, and the bootstrap band at ``indices`` (columns with NaN skipped)."""
    center = np.asarray(stats.iqm(matrix, axis=0), dtype=float) if matrix.shape[0] else np.full(matrix.shape[1], np.nan)
    sub = matrix[:, indices]
    low = np.full(indices.shape, np.nan)
    high = np.full(indices.shape, np.nan)
    complete = np.all(np.isfinite(sub), axis=0) if sub.shape[0] else np.zeros(indices.shape, bool)
    if np.any(complete):
        lo, hi = stats.iqm_ci(sub[:, complete], confidence, seed)
        low[complete], high[complete] = lo, hi
    return center, low, high


def plot_curves(
    runs: Runs,
    baselines: dict[str, float],
    path: Union[str, Path],
    *,
    task: Optional[str] = None,
    confidence: float = 0.95,
    seed: int = 0,
    points: int = CURVE_POINTS,
) -> Path:
    """Write ``curves.png``: best-so-far reward vs proposals and vs wall time (IQM and band per searcher)."""
    import matplotlib
    from matplotlib.figure import Figure  # no pyplot: no global state, any backend

    path = Path(path)
    fig = Figure(figsize=(13, 5.4), layout="constrained")
    ax_p, ax_t = fig.subplots(1, 2)
    colors = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    all_runs = [run for per_seed in runs.values() for run in per_seed]
    grid = stats.time_grid(all_runs, TIME_POINTS)
    for i, (name, per_seed) in enumerate(runs.items()):
        color = colors[i % len(colors)]
        label = f"{name} ({len(per_seed)} seeds)"
        length = _budget(per_seed)
        if length == 0:
            continue
        matrix = stats.curve_matrix(per_seed, length)
        index = _band_indices(length, points)
        center, low, high = _iqm_with_band(matrix, index, confidence, seed)
        x = np.arange(1, length + 1)
        ax_p.plot(x, center, color=color, lw=1.8, label=label)
        ax_p.fill_between(x[index], low, high, color=color, alpha=0.2, lw=0)

        tmatrix = stats.time_curve_matrix(per_seed, grid)
        tindex = _band_indices(grid.size, points)
        tcenter, tlow, thigh = _iqm_with_band(tmatrix, tindex, confidence, seed)
        ax_t.plot(grid, tcenter, color=color, lw=1.8, label=label)
        ax_t.fill_between(grid[tindex], tlow, thigh, color=color, alpha=0.2, lw=0)

    for name, value in baselines.items():
        if value is None or not math.isfinite(value):
            continue
        style = BASELINE_STYLE.get(name, "--")
        for ax in (ax_p, ax_t):
            ax.axhline(value, color="0.3", ls=style, lw=1.2, label=f"{name} baseline ({value:.3f})")
            ax.annotate(name, xy=(1.0, value), xycoords=("axes fraction", "data"), xytext=(-3, 2),
                        textcoords="offset points", ha="right", va="bottom", fontsize=8, color="0.3")
    level = f"{round(confidence * 100):d}%"
    ax_p.set_xlabel("proposals")
    ax_t.set_xlabel("cumulative evaluation wall time (s)")
    for ax in (ax_p, ax_t):
        ax.set_ylabel("best-so-far validation reward")
        ax.grid(alpha=0.3)
    ax_p.set_title(f"vs proposals (IQM over seeds, {level} bootstrap CI)")
    ax_t.set_title("vs wall time")
    handles, labels = ax_p.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 4) or 1, fontsize=9)
    fig.suptitle("Search strategies" + (f" on {task}" if task else "") + ": best-so-far validation reward")
    fig.savefig(path, dpi=110)
    return path


# ------------------------------------------------------------------------------------------------
# Leaderboard
# ------------------------------------------------------------------------------------------------
LEADERBOARD_KEYS = ("rule", "latex", "searcher", "val_reward", "test_mean", "test_std", "seeds")


def leaderboard_rows(runs: Runs, k: int) -> list[EvalResult]:
    """The ``k`` best distinct rules across all searchers and seeds, by validation reward.

    Distinct means a new canonical form *and* a new fingerprint (two rules that compute the same
    update are one rule). Ties go to the earliest result: the lower proposal index, then the
    searcher's order in ``runs``, then the seed's order. Non-finite rewards are skipped.
    """
    candidates = []
    for s_order, per_seed in enumerate(runs.values()):
        for r_order, run in enumerate(per_seed):
            for index, result in enumerate(run):
                if math.isfinite(result.reward):
                    candidates.append((-result.reward, index, s_order, r_order, result))
    candidates.sort(key=lambda c: c[:4])
    chosen: list[EvalResult] = []
    canonicals: set[str] = set()
    fingerprints: set[str] = set()
    for *_, result in candidates:
        if len(chosen) >= k:
            break
        key = result.canonical or result.rule
        if key in canonicals or (result.fingerprint and result.fingerprint in fingerprints):
            continue
        canonicals.add(key)
        if result.fingerprint:
            fingerprints.add(result.fingerprint)
        chosen.append(result)
    return chosen


def _default_leaderboard(runs: Runs, baselines: dict[str, float], k: int = 5) -> list[dict[str, Any]]:
    """Leaderboard rows without re-training: search-time validation rewards only."""
    from optsearch.dsl import resolve_rule, to_latex

    def latex(text: str) -> str:
        try:
            return to_latex(resolve_rule(text))
        except Exception:  # a stored rule the current language cannot parse: show the text only
            return ""

    rows = []
    for r in leaderboard_rows(runs, k):
        text = r.canonical or r.rule
        rows.append(dict(rule=text, latex=latex(text), searcher=r.searcher, val_reward=r.reward, test_mean=None, test_std=None, seeds=1))
    seeds = len(_seeds_of(runs)) or None
    for name, value in baselines.items():
        rows.append(dict(rule=name, latex=latex(name), searcher="baseline", val_reward=value, test_mean=None, test_std=None, seeds=seeds))
    return rows


def write_leaderboard(rows: Sequence[dict[str, Any]], path: Union[str, Path], *, task: Optional[str] = None) -> Path:
    """Write ``leaderboard.md`` from rows with keys ``rule, latex, searcher, val_reward, test_mean, test_std, seeds``.

    Rows are sorted by mean test accuracy (then validation reward), best first; baseline rows
    (``searcher == "baseline"``) are ranked with the rest and shown in italics. Missing values
    show as "—".
    """
    path = Path(path)

    def key(row: dict[str, Any]) -> tuple[float, float]:
        test, val = row.get("test_mean"), row.get("val_reward")
        test = float(test) if test is not None and math.isfinite(float(test)) else -math.inf
        val = float(val) if val is not None and math.isfinite(float(val)) else -math.inf
        return (-test, -val)

    ordered = sorted(rows, key=key)  # stable: the caller's order on ties
    retrained = any(row.get("test_mean") is not None for row in rows)
    lines = [
        f"# Leaderboard{f' ({task})' if task else ''}",
        "",
        "| # | rule | equation | searcher | validation reward | test accuracy (mean ± std) | seeds |",
        "|---|---|---|---|---|---|---|",
    ]
    for rank, row in enumerate(ordered, start=1):
        is_baseline = row.get("searcher") == "baseline"
        searcher = "*baseline*" if is_baseline else _cell(row.get("searcher") or "—")
        latex = row.get("latex")
        equation = f"${_cell(latex)}$" if latex else "—"
        test_mean, test_std = row.get("test_mean"), row.get("test_std")
        if test_mean is None:
            test = "—"
        else:
            test = f"{_fmt(test_mean)} ± {_fmt(test_std)}" if test_std is not None else _fmt(test_mean)
        lines.append(
            f"| {rank} | {_code(row.get('rule', ''))} | {equation} | {searcher} | {_fmt(row.get('val_reward'))} | {test} | {_fmt(row.get('seeds'))} |"
        )
    lines.append("")
    if retrained:
        lines.append(
            "Validation reward: the rule's reward during the search (baselines: mean over the search seeds); "
            "test accuracy: mean ± standard deviation over the re-training seeds, with full training "
            "(no screen, no hurdle). Test accuracy was never used to select a rule."
        )
    else:
        lines.append(
            "Validation reward during the search only: these rules were not re-trained, so no test accuracy is shown."
        )
    lines.append("")
    path.write_text("\n".join(lines))
    return path


# ------------------------------------------------------------------------------------------------
# Everything
# ------------------------------------------------------------------------------------------------
def write_report(
    runs: Runs,
    baselines: dict[str, float],
    out_dir: Union[str, Path],
    *,
    reference: str = "random",
    leaderboard: Optional[list[dict[str, Any]]] = None,
    task: Optional[str] = None,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Path]:
    """Write ``curves.png``, ``summary.csv``, ``summary.md`` and ``leaderboard.md`` into ``out_dir``.

    ``runs[searcher]`` is one list per seed of that searcher's results in proposal order (every
    proposal, cache hits included); ``baselines`` maps ``adam``/``momentum``/``sgd`` to their mean
    validation reward on the same task and seeds. ``reference`` is the searcher the probability
    of improvement is measured against. ``leaderboard``: rows from the caller (keys
    ``rule, latex, searcher, val_reward, test_mean, test_std, seeds``, baseline rows with
    searcher ``"baseline"``); when None the leaderboard lists :func:`leaderboard_rows` with their
    search-time rewards and the baselines, without test accuracies. ``task`` (for titles)
    defaults to the results' task. ``seed`` seeds every bootstrap, so reports are reproducible.

    Returns ``{"curves", "summary_csv", "summary_md", "leaderboard"}`` → paths.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    task = task if task is not None else _task_of(runs)
    rows = summarize(runs, baselines, reference=reference, confidence=confidence, seed=seed)
    csv_path, md_path = write_summary(
        rows, out, reference=reference, baselines=baselines, task=task, seeds=_seeds_of(runs), confidence=confidence
    )
    curves = plot_curves(runs, baselines, out / "curves.png", task=task, confidence=confidence, seed=seed)
    board_rows = leaderboard if leaderboard is not None else _default_leaderboard(runs, baselines)
    board = write_leaderboard(board_rows, out / "leaderboard.md", task=task)
    return {"curves": curves, "summary_csv": csv_path, "summary_md": md_path, "leaderboard": board}
