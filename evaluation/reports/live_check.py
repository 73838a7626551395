"""The live check of a comparison run on a bench: do its best rules hold up in real training?

A bench's held-out scores are expectations (the table's means or the surrogate's), so a bench
comparison ranks searchers without evaluation noise, but a rule it found is only a candidate until
it is trained for real. :func:`live_check` takes the ``top`` rules of the bench leaderboard and
Adam, trains each fully on the **live** task on ``seeds`` held-out seeds (the same seeds for every
rule, none of them a table seed), and pairs each rule with Adam seed by seed.

Several rules are compared with Adam at once, so each interval is a Bonferroni interval at level
``1 - alpha / k`` for ``k`` rules: the chance that *any* of the ``k`` claims "beats Adam" or "loses
to Adam" is wrong stays at most ``alpha``. The verdict per rule is ``beats Adam``, ``loses to
Adam`` or ``no difference detectable at N seeds``.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

from .differences import paired_difference
from .formatting import code, write_csv
from .heldout import HELDOUT_SEED_BASE, evaluate_heldout

COLUMNS = ("rule", "bench_test_acc", "live_mean", "diff_vs_adam", "diff_ci_low", "diff_ci_high", "verdict", "seeds")
#: The live check's held-out seeds start here: disjoint from search seeds, table seeds and the
#: comparison's own held-out seeds (which, on a bench, are never trained).
LIVE_SEED_BASE = HELDOUT_SEED_BASE + 500_000


@dataclass(frozen=True)
class LiveCheckRow:
    """One rule's live result: bench expectation, live held-out mean and its paired difference to Adam."""

    rule: str
    bench_test_acc: float
    live_mean: float
    diff_vs_adam: float
    diff_ci_low: float
    diff_ci_high: float
    verdict: str
    seeds: int


def verdict(low: float, high: float, seeds: int) -> str:
    """``beats Adam`` (interval above 0), ``loses to Adam`` (below), else no difference detectable
    (with the interval's half-width: about the smallest difference these seeds could detect)."""
    if low > 0.0:
        return "beats Adam"
    if high < 0.0:
        return "loses to Adam"
    return f"no difference detectable at {seeds} seeds (±{(high - low) / 2:.3f})"


def live_check(
    evaluator, rules: Sequence[str], bench_scores: Sequence[float], seeds: int, alpha: float = 0.05
) -> list[LiveCheckRow]:
    """Train ``rules`` and Adam fully with ``evaluator`` (the live task, held-out config) on
    ``seeds`` live held-out seeds; one row per rule, with Bonferroni intervals over the rules."""
    if seeds < 2:
        raise ValueError(f"a paired interval needs at least 2 live seeds, got {seeds}")
    seed_list = tuple(range(LIVE_SEED_BASE, LIVE_SEED_BASE + seeds))
    scores, fingerprints = evaluate_heldout(evaluator, list(rules) + ["adam"], seed_list)
    adam = scores.scores(fingerprints[-1])
    confidence = 1.0 - alpha / max(1, len(rules))
    rows = []
    for rule, bench, fp in zip(rules, bench_scores, fingerprints):
        diff = paired_difference(scores.scores(fp), adam, confidence)
        rows.append(
            LiveCheckRow(rule, bench, statistics.fmean(scores.scores(fp)), diff.mean, diff.low, diff.high, verdict(diff.low, diff.high, seeds), seeds)
        )
    return rows


def write_live_check(rows: Sequence[LiveCheckRow], out_dir: Path, *, live_task: str, alpha: float = 0.05) -> tuple[Path, Path]:
    """Write ``live-check.csv`` and ``live-check.md``; return their paths."""
    csv_path = write_csv(out_dir / "live-check.csv", COLUMNS, [asdict(row) for row in rows])
    seeds = rows[0].seeds if rows else 0
    level = 100 * (1 - alpha / max(1, len(rows)))
    lines = [
        f"# Live check on {live_task}",
        "",
        f"| rule | bench (expected test acc) | live held-out mean | vs Adam (paired) [{level:.1f} % CI] | verdict |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {code(row.rule)} | {row.bench_test_acc:.3f} | {row.live_mean:.3f} | "
            f"{row.diff_vs_adam:+.3f} [{row.diff_ci_low:+.3f}, {row.diff_ci_high:+.3f}] | {row.verdict} |"
        )
    lines += [
        "",
        f"The best rules of the bench leaderboard, trained for real on {live_task} (full training, test accuracy at "
        f"the validation-chosen rate) on {seeds} held-out seeds no search or table used, each paired with Adam on the "
        f"same seeds. Intervals are Student-t at {level:.1f} % (Bonferroni over the {len(rows)} rules), so the chance "
        f"that any verdict above is wrong is at most {alpha:.0%}.",
        "",
    ]
    md_path = out_dir / "live-check.md"
    md_path.write_text("\n".join(lines))
    return csv_path, md_path
