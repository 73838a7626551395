"""``summary.csv`` and ``summary.md``: each searcher in held-out numbers, and a verdict in words.

A run's score is the **held-out** score of the rule it returns at the end of its budget (its
final incumbent, re-trained on seeds the search never saw), never the maximum of its noisy
search rewards. Per searcher:

- ``heldout_iqm`` and its 95 % interval (``heldout_ci_low``/``_high``): the interquartile mean of
  the run scores over search seeds, with rliable's stratified bootstrap (one task: the seeds are
  resampled; ``scipy.stats.bootstrap``);
- ``p_improvement_vs_<reference>`` with its interval: the probability that a run of the searcher
  ends better than a run of the reference;
- ``compute``: mean Σ cost of a run (full-evaluation units), ``proposals``, ``unique_trainings``
  (summed over seeds), ``cache_hit_share``; ``search_best_iqm``: the raw search statistic, kept
  for contrast.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from ..rewards import source_info
from ..statistics import stats
from ..statistics.differences import Difference, seeds_to_separate, unpaired_difference
from .data import ComparisonData, final_budget
from .runs import RunRow, mean_compute_of, rows_at, run_rows, scores_of
from .formatting import cell, code, fmt, interval, write_csv
from .leaderboard import readable_rule


#: Past this many seeds per searcher, the seeds a pair would need to be separated are not worth
#: printing (a difference near zero needs billions): the verdict says no practical study separates it.
PRACTICAL_SEEDS = 10_000


def summary_columns(reference: str = "random") -> tuple[str, ...]:
    """The columns of ``summary.csv``, in order."""
    p = f"p_improvement_vs_{reference}"
    return (
        "searcher", "seeds", "heldout_iqm", "heldout_ci_low", "heldout_ci_high", p, f"{p}_ci_low", f"{p}_ci_high",
        "compute", "proposals", "unique_trainings", "cache_hit_share", "search_best_iqm", "final_rule",
    )  # fmt: skip


def heldout_iqm(scores: np.ndarray, confidence: float, seed: int = 0) -> tuple[Any, Any, Any]:
    """``(iqm, ci_low, ci_high)`` of a searcher's run scores (one held-out mean per search seed) with the
    stratified bootstrap interval at ``confidence``; ``(None, None, None)`` without scores."""
    if not scores.size:
        return None, None, None
    low, high = stats.iqm_ci(scores, confidence, seed)
    return stats.iqm(scores), low, high


def summarize(data: ComparisonData, *, reference: str = "random", seed: int = 0) -> list[dict[str, Any]]:
    """One row per searcher (in ``data.runs`` order) with the keys of :func:`summary_columns`."""
    budget = final_budget(data)
    return summarize_runs(rows_at(run_rows(data, [budget]), budget), confidence=data.confidence, reference=reference, seed=seed)


def summarize_runs(
    per_searcher: Mapping[str, Sequence[RunRow]], *, confidence: float = 0.95, reference: str = "random", seed: int = 0
) -> list[dict[str, Any]]:
    """:func:`summarize` of the runs' lines at the final budget (:mod:`.runs`), by searcher."""
    columns = summary_columns(reference)
    p_col = columns[5]
    scores_by_label = scores_of(dict(per_searcher))
    reference_scores = scores_by_label.get(reference)
    rows = []
    for label, per_seed in per_searcher.items():
        scores = scores_by_label[label]
        row: dict[str, Any] = dict.fromkeys(columns)
        row.update(searcher=label, seeds=len(per_seed), proposals=max((r.proposals for r in per_seed), default=0))
        row["heldout_iqm"], row["heldout_ci_low"], row["heldout_ci_high"] = heldout_iqm(scores, confidence, seed)
        if reference_scores is not None and scores.size and reference_scores.size:
            row[p_col] = stats.probability_of_improvement(scores, reference_scores)
            row[f"{p_col}_ci_low"], row[f"{p_col}_ci_high"] = stats.probability_of_improvement_ci(scores, reference_scores, confidence, seed)
        row["compute"] = mean_compute_of(per_seed)
        row["unique_trainings"] = sum(r.trainings for r in per_seed)
        proposals = sum(r.proposals for r in per_seed)
        row["cache_hit_share"] = sum(r.cache_hits for r in per_seed) / proposals if proposals else None
        row["search_best_iqm"] = stats.iqm([r.search_best for r in per_seed if r.search_best is not None])
        finals = [r for r in per_seed if r.final_fingerprint is not None]
        if finals:
            row["final_rule"] = readable_rule(max(finals, key=lambda r: r.heldout_mean).final_rule)
        rows.append(row)
    return rows


def final_scores(data: ComparisonData) -> dict[str, np.ndarray]:
    """Per searcher (in ``data.runs`` order), the held-out score of each run's final incumbent, by search seed."""
    return {label: data.final_heldout(label) for label in data.runs}


def pairwise(data: ComparisonData) -> list[tuple[str, str, Difference, Any]]:
    """For every pair of searchers: (a, b, difference of final held-out means at ``data.confidence``,
    seeds per searcher to separate it at the error rate ``1 − data.confidence``)."""
    return pairwise_scores(final_scores(data), data.confidence)


def pairwise_scores(scores: Mapping[str, np.ndarray], confidence: float) -> list[tuple[str, str, Difference, Any]]:
    """:func:`pairwise` of per-searcher run scores: every pair ``(a, b)`` in ``scores`` order, the
    Yuen interval of the difference of their 10 % trimmed means at ``confidence``
    (:func:`~..statistics.differences.unpaired_difference`), and the seeds per searcher it would
    take to separate a difference that size at the error rate ``1 − confidence`` (80 % power)."""
    out = []
    for a, b in itertools.combinations(scores, 2):
        x, y = scores[a], scores[b]
        out.append((a, b, unpaired_difference(x, y, confidence), seeds_to_separate(x, y, alpha=1.0 - confidence)))
    return out


def bonferroni_level(confidence: float, intervals: int) -> float:
    """The Bonferroni level of ``intervals`` intervals, ``1 − (1 − confidence) / intervals``: the chance
    that any of them misses its true difference is then at most ``1 − confidence``."""
    return 1.0 - (1.0 - confidence) / max(1, intervals)


def bonferroni(data: ComparisonData, intervals: int) -> ComparisonData:
    """``data`` at the Bonferroni level of ``intervals`` intervals (:func:`bonferroni_level`)."""
    return replace(data, confidence=bonferroni_level(data.confidence, intervals))


def familywise(data: ComparisonData) -> ComparisonData:
    """``data`` at the Bonferroni level of its pairs of searchers (:func:`bonferroni`)."""
    k = len(data.runs)
    return bonferroni(data, k * (k - 1) // 2)


def verdict_lines(data: ComparisonData) -> list[str]:
    """The **Verdict** section: which searchers are separated at this budget, family-wise (a claim
    about every pair at once, :func:`familywise`), which are not."""
    return verdict_lines_of(final_scores(data), final_budget(data), len(data.search_seeds), data.confidence)


def verdict_lines_of(
    scores: Mapping[str, np.ndarray], budget: int, n: int, confidence: float = 0.95, curves: str = "`curves.png`", looks: int = 1
) -> list[str]:
    """:func:`verdict_lines` of per-searcher run scores at ``budget`` proposals on ``n`` search seeds
    (``curves``: where the report's held-out curves are). ``looks``: the looks the study plans (a study
    run in parts and merged after each); the error ``1 − confidence`` is then shared by every pair at
    every look (Bonferroni), so a separation read at any of them is wrong with at most that chance."""
    k = len(scores)
    wide = bonferroni_level(confidence, k * (k - 1) // 2 * looks)  # the level of :func:`familywise`, over the looks
    pairs = pairwise_scores(scores, wide)
    level = f"{round(confidence * 100)} %"
    separated = [(a, b, d) for a, b, d, _ in pairs if d.separated]
    unresolved = [(a, b, d, need) for a, b, d, need in pairs if not d.separated]
    lines = ["## Verdict", ""]
    if not pairs:
        return lines + ["Only one searcher ran: nothing to compare.", ""]
    errors = 100 - round(confidence * 100)
    named = f"the {len(pairs)} pairs" if len(pairs) > 1 else "the pair"
    over = f"{named} × the study's {looks} planned looks (it is read after every part: `benchmarks/sequential_verdicts.py`)" if looks > 1 else named
    if len(pairs) > 1 or looks > 1:
        rule = (
            f"the interval (Yuen's t) of the difference of their final held-out scores' 10 % trimmed means excludes 0 at the family-wise "
            f"level of {level}: each interval is at {wide:.3%} (Bonferroni over {over}), so the "
            f"chance that any separation below is wrong is at most {errors} % (with {level} per pair, one of "
            f"{len(pairs)} would often be: `benchmarks/verdict_error_rates.py`)."
        )
    else:
        rule = f"the {level} interval (Yuen's t) of the difference of their final held-out scores' 10 % trimmed means excludes 0."
    lines.append(f"At {budget} proposals and {n} search seeds, a pair of searchers is *separated* when {rule}")
    if n < 5:
        lines.append(
            f"With only {n} seeds per searcher the interval rests on the final scores being about normal, which so few "
            "cannot show: treat the separations below as provisional, and run more seeds (`--seeds`) before publishing them."
        )
    lines.append("")
    for a, b, d in separated:
        winner, loser, low, high = (a, b, d.low, d.high) if d.mean > 0 else (b, a, -d.high, -d.low)
        lines.append(f"- **{winner} beats {loser}**: by {abs(d.mean):.3f} {interval(low, high)}.")
    if not separated:
        lines.append("- No pair of searchers is separated at this budget.")
    for a, b, d, need in unresolved:
        if need is None:
            hint = "their final scores are identical: no number of seeds would separate them"
        elif need > PRACTICAL_SEEDS:
            hint = (
                f"more than {PRACTICAL_SEEDS:,} seeds per searcher would be needed to separate a difference this size "
                "at this level: for any practical study the two are equal"
            )
        elif need > n:
            hint = f"about {need} seeds per searcher would be needed to separate a difference this size at this level (80 % power)"
        else:
            hint = "the difference is within the noise although enough seeds ran: it is most likely smaller than it looks"
        lines.append(f"- {a} vs {b}: not separated ({d.mean:+.3f} {interval(d.low, d.high)}); {hint}.")
    lines += [
        "",
        f"A larger budget moves the incumbents, not the noise: where the held-out curves in {curves} "
        "are still rising at the last proposal, a longer run can change the order; where they are flat, "
        "only more seeds narrow the intervals.",
        "",
    ]
    return lines


def summary_table_lines(rows: Sequence[dict[str, Any]], reference: str, title: str) -> list[str]:
    """The title and table of ``summary.md``: a line per row of :func:`summarize`."""
    p = summary_columns(reference)[5]
    lines = [
        f"# {title}",
        "",
        f"| searcher | seeds | held-out IQM [95 % CI] | P(improvement) vs {reference} [95 % CI] | compute | "
        "proposals per run | trainings (all seeds) | cache-hit share | search-best IQM | best final rule |",
        "|" + "---|" * 10,
    ]
    for row in rows:
        p_text = "—" if row.get(p) is None else f"{fmt(row[p], 3)} {interval(row[p + '_ci_low'], row[p + '_ci_high'])}"
        share = row.get("cache_hit_share")
        lines.append(
            "| " + " | ".join([
                cell(row["searcher"]), fmt(row["seeds"]),
                f"{fmt(row['heldout_iqm'], 3)} {interval(row['heldout_ci_low'], row['heldout_ci_high'])}",
                p_text, fmt(row["compute"], 1), fmt(row["proposals"]), fmt(row["unique_trainings"]),
                "—" if share is None else f"{100 * share:.1f}%", fmt(row["search_best_iqm"], 3),
                code(row["final_rule"]) if row.get("final_rule") else "—",
            ]) + " |"
        )  # fmt: skip
    return lines


def write_summary(
    data: ComparisonData,
    out_dir: Path,
    *,
    reference: str = "random",
    seed: int = 0,
    more: Sequence[str] = (),
    runs: Optional[Sequence[RunRow]] = None,
) -> tuple[Path, Path]:
    """Write ``summary.csv`` and ``summary.md`` (table, protocol, verdict, then the lines ``more``); return their paths.
    ``runs``: the runs' lines (:func:`.runs.run_rows`, the final budget among them) when the caller has them."""
    budget = final_budget(data)
    per_searcher = rows_at(runs if runs is not None else run_rows(data, [budget]), budget)
    rows = summarize_runs(per_searcher, confidence=data.confidence, reference=reference, seed=seed)
    csv_path = write_csv(out_dir / "summary.csv", summary_columns(reference), rows)
    lines = summary_table_lines(rows, reference, f"Search strategies compared{f' on {data.task}' if data.task else ''}")
    lines += ["", _protocol(data, reference), ""]
    if data.search_seconds:
        lines += [speed_line(data), ""]
    lines += verdict_lines_of(scores_of(per_searcher), budget, len(data.search_seeds), data.confidence)
    lines += more
    md_path = out_dir / "summary.md"
    md_path.write_text("\n".join(lines))
    return csv_path, md_path


def speed_line(data: ComparisonData) -> str:
    """Proposals per second of each searcher's search, as measured in the invocation that wrote the
    report (a measurement: it differs from run to run, unlike every other line)."""
    parts = []
    for label, seconds in data.search_seconds.items():
        count = sum(len(run) for run in data.runs.get(label, ()))
        if seconds > 0 and count:
            parts.append(f"{label} {count / seconds:,.0f} ({1000 * seconds / count:.2f} ms a proposal)")
    return (
        "**Speed.** Proposals per second of search, one core per process, measured in the invocation that "
        f"wrote this report (a resumed run's stored proposals count at their read-back cost): {'; '.join(parts)}."
    )


def _protocol(data: ComparisonData, reference: str) -> str:
    baselines = ", ".join(f"{name} {np.mean(data.baseline_scores(name)):.3f}" for name in data.baselines)
    seeds = data.search_seeds
    if source_info(data.task, strict=False).heldout_is_expectation:
        heldout = (
            "the **expected** full-training test accuracy at the validation-chosen rate: on a bench, for a tabulated "
            "rule, its mean over the table's seeds shrunk towards the surrogate's out-of-fold prediction (an "
            "empirical-Bayes posterior, which a search's selection does not inflate), else the surrogate's "
            "prediction (no evaluation noise: the intervals below are the searchers' own spread across search seeds)."
        )
    else:
        heldout = (
            f"the test accuracy, at the learning rate chosen by validation accuracy, averaged over "
            f"{len(data.heldout.seeds)} held-out seeds ({', '.join(map(str, data.heldout.seeds))}) that no search "
            "used, with full training (no screen, no hurdle)."
        )
    return (
        f"**Protocol.** Every searcher made the same number of proposals on each of {len(seeds)} search seeds "
        f"({', '.join(map(str, seeds))}), all scored by one shared evaluator (same reward, cache, screen, hurdle). "
        "A run's score is the **held-out** score of its final incumbent (the rule with its best search reward): "
        f"{heldout} *Held-out IQM*: interquartile mean over search seeds with a "
        "95 % stratified bootstrap interval (scipy.stats.bootstrap). *P(improvement)*: probability that a run "
        f"ends better than a run of `{reference}` (0.5: no difference). *Compute*: mean Σ cost of a run in "
        "full-evaluation units. *Search-best IQM*: the maximum of single-seed search rewards, shown only to "
        f"contrast with the held-out numbers (it rewards luck). Baselines on the held-out seeds: {baselines}."
    )
