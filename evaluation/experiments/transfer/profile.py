"""The files of a transfer suite (:class:`~.suite.TransferSuite`):

- ``transfer-suite.md``: rows = rules, columns = tasks, cells ``+0.012 [−0.003, +0.026]`` with a
  verdict mark; the wins, losses and undecided per rule; the speedups over Adam.
- ``transfer-suite.csv``: one row per rule × task, columns :data:`CSV_COLUMNS` (``inf`` for a
  target never reached, empty for NaN).
- ``transfer-suite.json``: the same and the profile (non-finite numbers as ``null``).
- ``transfer-profile.csv``: the performance profile, columns ``rule, tau, fraction``.
- ``transfer-profile.png``: the performance profile, ρ(τ) against τ (log scale), one line per rule.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Mapping, Optional, Union

import numpy as np

from .cells import json_safe, md_escape, write_rows
from .suite import BEATS, FAILED, LOSES, UNDECIDED, SuiteCell, TransferSuite, performance_profile

__all__ = ["CSV_COLUMNS", "MARKS", "PROFILE_COLUMNS", "plot", "to_markdown", "write", "write_csv", "write_profile_csv"]

CSV_COLUMNS: tuple[str, ...] = (
    "rule",
    "task",
    "model",
    "diff_vs_adam",
    "ci_low",
    "ci_high",
    "verdict",
    "seeds",
    "steps_to_target",
    "adam_steps_to_target",
    "speedup",
)
PROFILE_COLUMNS: tuple[str, ...] = ("rule", "tau", "fraction")
MARKS = {BEATS: "▲", LOSES: "▼", UNDECIDED: "○", FAILED: "✗"}


def _signed(value: float) -> str:
    return f"{value:+.3f}".replace("-", "−")


def write(suite: TransferSuite, out_dir: Union[str, Path], reports: Optional[Mapping[str, str]] = None) -> dict[str, Path]:
    """Write the five files into ``out_dir`` (created if needed); ``{"md", "csv", "json", "profile_csv", "png"}`` → path.

    ``reports``: ``{entry label: relative path of its transfer.md}``, linked from the Markdown.
    """
    out = Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "md": out / "transfer-suite.md",
        "csv": out / "transfer-suite.csv",
        "json": out / "transfer-suite.json",
        "profile_csv": out / "transfer-profile.csv",
        "png": out / "transfer-profile.png",
    }
    write_csv(suite, paths["csv"])
    write_profile_csv(suite, paths["profile_csv"])
    plot(suite, paths["png"])
    paths["md"].write_text(to_markdown(suite, paths["png"].name, reports), encoding="utf-8")
    paths["json"].write_text(json.dumps(json_safe(suite.to_dict()), indent=1) + "\n", encoding="utf-8")
    return paths


def write_csv(suite: TransferSuite, path: Union[str, Path]) -> Path:
    """One row per rule × task (:data:`CSV_COLUMNS`)."""
    return write_rows(path, CSV_COLUMNS, (cell.row() for cell in suite.cells))


def write_profile_csv(suite: TransferSuite, path: Union[str, Path]) -> Path:
    """The performance profile, one row per rule and τ (:data:`PROFILE_COLUMNS`)."""
    taus, profiles = suite.profile()
    rows = (
        {"rule": rule, "tau": float(tau), "fraction": float(fraction)}
        for rule, fractions in profiles.items()
        for tau, fraction in zip(taus, fractions)
    )
    return write_rows(path, PROFILE_COLUMNS, rows)


def _difference(cell: Optional[SuiteCell]) -> str:
    if cell is None:
        return "—"
    if cell.verdict == FAILED:
        return f"{MARKS[FAILED]} failed"
    interval = "no interval" if math.isnan(cell.low) else f"[{_signed(cell.low)}, {_signed(cell.high)}]"
    return f"{MARKS[cell.verdict]} {_signed(cell.diff)} {interval}"


def _steps(value: float) -> str:
    return "—" if math.isnan(value) else ("never" if math.isinf(value) else f"{value:.0f}")


def _speed(cell: Optional[SuiteCell]) -> str:
    if cell is None or math.isnan(cell.speedup):
        return "—"
    if cell.speedup == 0.0:
        return f"0 (never; Adam {_steps(cell.adam_steps_to_target)})"
    return f"{cell.speedup:.2f}× ({_steps(cell.steps_to_target)} vs {_steps(cell.adam_steps_to_target)})"


def to_markdown(
    suite: TransferSuite, profile: Optional[str] = "transfer-profile.png", reports: Optional[Mapping[str, str]] = None
) -> str:
    """The cross-task table, the tallies and the speedups; ``profile``: the figure to link."""
    head = "| rule | " + " | ".join(f"{md_escape(e.task)} / {md_escape(e.model)}" for e in suite.entries) + " |"
    rule_line = "| --- |" + " ---: |" * len(suite.entries)
    seeds = ", ".join(str(s) for s in suite.seeds) or "—"
    lines = [
        f"# Transfer suite: {len(suite.rules)} rules against Adam on {len(suite.entries)} task(s)",
        "",
        f"Each task ran the DeepOBS protocol (learning rate tuned on a grid, then seeds {seeds} at the "
        "best one). A cell is the rule's test accuracy minus Adam's, the mean over the same seeds "
        "(a failed run counts 0), with a paired t interval. The intervals are Bonferroni-corrected "
        f"over all m = {suite.m} rule × task cells: each is at level 1 − α/m = {100 * suite.level:.2f} % "
        f"(α = {suite.alpha:g}), so all hold together with probability ≥ {100 * (1 - suite.alpha):.0f} % "
        "whatever their dependence.",
        "",
        f"{MARKS[BEATS]} beats Adam (interval above 0) · {MARKS[LOSES]} loses to Adam (below 0) · "
        f"{MARKS[UNDECIDED]} undecided (contains 0, or one seed) · {MARKS[FAILED]} failed (no seed runs)",
        "",
        "## Test accuracy minus Adam's",
        "",
        head,
        rule_line,
    ]
    for rule in suite.rules:
        lines.append(f"| {md_escape(rule)} | " + " | ".join(_difference(suite.cell(rule, e)) for e in suite.entries) + " |")
    lines += [
        "",
        "## Wins, losses and undecided per rule",
        "",
        "| rule | beats Adam | loses to Adam | undecided | failed |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for rule, counts in suite.tallies().items():
        lines.append(f"| {md_escape(rule)} | {counts[BEATS]} | {counts[LOSES]} | {counts[UNDECIDED]} | {counts[FAILED]} |")
    taus, profiles = suite.profile()
    at_one = {rule: float(values[list(taus).index(1.0)]) for rule, values in profiles.items()}
    lines += [
        "",
        "## Speed: steps to Adam's final validation accuracy",
        "",
        "The target on a task is Adam's final validation accuracy (mean over its seeds); steps-to-target "
        "is the first curve step at which a mean validation curve (mean over seeds) reaches it. "
        "Speedup = Adam's steps-to-target / the rule's (0: never reached). ρ(1): the share of tasks "
        "with speedup ≥ 1.",
        "",
        head[:-1] + "| ρ(1) |",
        rule_line + " ---: |",
    ]
    for rule in suite.rules:
        cells = " | ".join(_speed(suite.cell(rule, e)) for e in suite.entries)
        lines.append(f"| {md_escape(rule)} | {cells} | {at_one[rule]:.2f} |")
    if profile:
        lines += ["", f"![performance profile: share of tasks with speedup over Adam ≥ τ]({profile})"]
    if reports:
        lines += ["", "## Per-task reports", ""] + [f"- [{label}]({path})" for label, path in reports.items()]
    return "\n".join(lines) + "\n"


def plot(suite: TransferSuite, path: Union[str, Path]) -> Path:
    """The performance profile: ρ(τ), the share of tasks with speedup over Adam ≥ τ, against τ (log₂ axis)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    fig = Figure(figsize=(7, 4.5))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    taus, profiles = suite.profile()
    # ρ drops just after each speedup, so drawn exactly ("pre" steps) on the grid plus the speedups
    jumps = [s for c in suite.cells if taus[0] <= (s := c.speedup) <= taus[-1]]
    grid = np.unique(np.concatenate([taus, np.asarray(jumps, dtype=np.float64)]))
    for i, rule in enumerate(profiles):
        fractions = performance_profile(suite.speedups(rule), grid)
        style = ("-", "--", "-.", ":")[(i // 10) % 4]
        ax.step(grid, fractions, style, where="pre", color=f"C{i % 10}", lw=2.2 - 0.15 * (i % 8), label=rule)
    ax.axvline(1.0, color="grey", lw=0.8, ls=":")
    ax.set_xscale("log", base=2)
    ax.set_ylim(-0.03, 1.03)
    ax.set_xlabel("τ (speedup over Adam in steps to Adam's final validation accuracy)")
    ax.set_ylabel("share of tasks with speedup ≥ τ")
    ax.set_title(f"performance profile over {len(suite.entries)} task(s)", fontsize=9)
    if profiles:
        ax.legend(fontsize=8, loc="best")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path
