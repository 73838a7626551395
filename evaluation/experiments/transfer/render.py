"""The files of a transfer: ``transfer.md``, ``transfer.csv``, ``transfer_curves.png``, ``transfer.json``.

- ``transfer.csv``: one row per rule, columns :data:`CSV_COLUMNS` (means and sample standard
  deviations over the seed runs, ``seeds`` = the number of seed runs; empty cells where there
  were none), ranked by ``val_mean``.
- ``transfer.md``: the protocol and budget, the same ranking, and the tuning grid (final
  validation accuracy or failure status of every learning rate).
- ``transfer_curves.png``: mean validation accuracy over the seeds against the step, with a
  min–max band, one line per rule (baselines dashed); beside it the mean training loss.
- ``transfer.json``: everything, including every run's curves.

Each function takes a :class:`~.records.TransferResult`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Optional, Union

import numpy as np

from .cells import md_escape, write_rows
from .records import CSV_COLUMNS, TransferResult

__all__ = ["plot", "to_markdown", "write", "write_csv"]


def _pct(mean: float, std: float) -> str:
    if math.isnan(mean):
        return "—"
    return f"{100 * mean:.2f} ± {100 * std:.2f}"


def write(result: TransferResult, out_dir: Union[str, Path]) -> dict[str, Path]:
    """Write the four files into ``out_dir`` (created if needed); ``{"md", "csv", "png", "json"}`` → path."""
    out = Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "md": out / "transfer.md",
        "csv": out / "transfer.csv",
        "png": out / "transfer_curves.png",
        "json": out / "transfer.json",
    }
    write_csv(result, paths["csv"])
    plot(result, paths["png"])
    paths["md"].write_text(to_markdown(result, curves=paths["png"].name), encoding="utf-8")
    paths["json"].write_text(json.dumps(result.to_dict(), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return paths


def write_csv(result: TransferResult, path: Union[str, Path]) -> Path:
    """The ranking as CSV, one row per rule."""
    return write_rows(path, CSV_COLUMNS, (rule.row() for rule in result.ranked))


def to_markdown(result: TransferResult, curves: Optional[str] = "transfer_curves.png") -> str:
    """The protocol, the budget, the ranking and the tuning grid; ``curves``: the figure to link."""
    cfg, budget = result.config, result.budget
    epochs = budget.steps * budget.batch_size / max(1, result.train_size)
    seeds = ", ".join(str(s) for s in cfg.seeds)
    lines = [
        f"# Transfer: `{result.task}`, model `{cfg.model}`",
        "",
        "DeepOBS protocol: every rule and baseline is trained once at each learning rate of the grid "
        f"with the tuning seed {cfg.tuning_seed}; the learning rate with the best final validation "
        "accuracy (failed runs rank last) is then trained with seeds "
        f"{seeds}. Accuracies are final values, mean ± sample std over those seeds (a failed run "
        "counts as 0); rules are ranked by validation accuracy. Test accuracy is measured only in "
        "the seed runs and never used for any choice.",
        "",
        f"- budget: {budget.steps} steps × batch {budget.batch_size} ({epochs:.2f} epochs of "
        f"{result.train_size} training examples), curve points every {budget.eval_every} steps",
        f"- model: `{cfg.model}` ({result.parameters:,} parameters); weight decay {cfg.weight_decay:g}; "
        f"augmentation {'on' if cfg.augment else 'off'}",
        f"- learning-rate grid: {', '.join(f'{lr:g}' for lr in cfg.lrs)}",
        f"- device `{result.device}`, {result.wall_s:.1f} s in all",
        "",
        "| rank | rule | text | best lr | val acc (%) | test acc (%) | seeds | status |",
        "| ---: | --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for rank, rule in enumerate(result.ranked, start=1):
        name = f"{rule.name} (baseline)" if rule.baseline else rule.name
        best = "—" if rule.best_lr is None else f"{rule.best_lr:g}"
        lines.append(
            f"| {rank} | {md_escape(name)} | `{md_escape(rule.text)}` | {best} | {_pct(rule.val_mean, rule.val_std)} | "
            f"{_pct(rule.test_mean, rule.test_std)} | {rule.seeds} | {rule.status} |"
        )
    lines += [
        "",
        f"## Tuning grid (seed {cfg.tuning_seed}): final validation accuracy (%)",
        "",
        "| rule | " + " | ".join(f"{lr:g}" for lr in cfg.lrs) + " |",
        "| --- |" + " ---: |" * len(cfg.lrs),
    ]
    for rule in result.ranked:
        cells = []
        for run in rule.grid:
            cell = f"{100 * run.val_acc:.2f}" if run.ok else run.status
            cells.append(f"**{cell}**" if run.lr == rule.best_lr else cell)
        lines.append(f"| {md_escape(rule.name)} | " + " | ".join(cells) + " |")
    if curves:
        lines += ["", "## Learning curves", "", f"![validation accuracy and training loss]({curves})"]
    if result.notes:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in result.notes]
    return "\n".join(lines) + "\n"


def plot(result: TransferResult, path: Union[str, Path]) -> Path:
    """Mean validation accuracy (min–max band over the seeds) and mean training loss per rule."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    fig = Figure(figsize=(12, 4.5))
    FigureCanvasAgg(fig)
    ax_val, ax_loss = fig.subplots(1, 2)
    colours = [f"C{i}" for i in range(10)]
    drawn = 0
    for i, rule in enumerate(result.rules):
        val = rule.curves("val")
        if val is None:
            continue
        steps, values = val
        colour = colours[i % len(colours)]
        style = "--" if rule.baseline else "-"
        label = f"{rule.name} (lr {rule.best_lr:g})"
        ax_val.plot(steps, values.mean(0), style, color=colour, label=label, lw=1.6)
        ax_val.fill_between(steps, values.min(0), values.max(0), color=colour, alpha=0.18, lw=0)
        _, losses = rule.curves("loss")  # type: ignore[misc]
        with np.errstate(all="ignore"):
            finite = np.where(np.isfinite(losses), losses, np.nan)
            counts = np.isfinite(finite).sum(0)
            mean_loss = np.where(counts > 0, np.nansum(finite, 0) / np.maximum(counts, 1), np.nan)
        ax_loss.plot(steps, mean_loss, style, color=colour, label=label, lw=1.6)
        drawn += 1
    ax_val.set_title(f"{result.task} / {result.config.model}: validation accuracy (mean, min–max over seeds)", fontsize=9)
    ax_val.set_xlabel("step")
    ax_val.set_ylabel("validation accuracy")
    ax_loss.set_title("training loss (mean over seeds)", fontsize=9)
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("cross-entropy")
    if drawn:
        ax_val.legend(fontsize=8, loc="best")
        ax_loss.set_yscale("log")
    else:
        ax_val.text(0.5, 0.5, "no rule finished a seed run", ha="center", va="center", transform=ax_val.transAxes)
    for ax in (ax_val, ax_loss):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path
