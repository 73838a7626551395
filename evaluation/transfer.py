"""Transfer: evaluate chosen rules on a bigger task or network with the DeepOBS protocol.

Rules found on the search's small child transfer imperfectly (the Lion paper, Chen et al. 2023,
found PowerSign and AddSign below AdamW on ImageNet), so transfer has to be *measured*. This
module does it the way DeepOBS (Schneider et al. 2019) benchmarks optimizers:

1. **Tuning.** For every rule, and for each baseline of
   :data:`~optsearch.dsl.library.BASELINE_NAMES` (``adam``, ``momentum``, ``sgd``: always
   included), train once at every learning rate of the grid (:attr:`TransferConfig.lrs`) with the
   tuning seed, and pick the learning rate with the best **final validation accuracy**. Runs that
   end with NaN/inf (status ``nan``), a blown-up loss (``diverged``: above
   ``divergence_factor`` × the first mini-batch's loss) or an exception inside the rule
   (``error``) stop at once and rank below every finished run. Ties go to the earlier learning
   rate of the grid.
2. **Seeds.** Train at that learning rate once per seed of :attr:`TransferConfig.seeds` (disjoint
   from the tuning seed by default), recording learning curves — validation accuracy and the mean
   training loss of the mini-batches since the previous point, every ``eval_every`` steps and at
   the last step — the final validation accuracy and the **test accuracy**, which is measured
   only here and never used for any choice.

A rule whose every tuning run failed gets no seed runs and the status of its failures (``nan``
if any run went NaN, else ``diverged``, else ``error``): it ranks last. A seed run that fails
counts with the floor accuracy 0.0 (as in the search's trainer) and gives the rule its status.

Each run is an ordinary training loop: a fresh network from
:func:`~optsearch.evaluation.models.build_model`, :class:`~optsearch.dsl.optimizer.DSLOptimizer`
with ``total_steps = steps`` (for the decay schedules), shuffled mini-batches (consecutive epochs
of seeded permutations), cross-entropy loss (plus ``weight_decay``/2 · Σ‖W‖² over the weight
matrices and kernels, as DeepOBS puts L2 regularisation into the problem), ``model.train()`` for
the updates and ``model.eval()`` (batch-norm running statistics) for every accuracy. A run's seed
fixes the initialisation, the batch order, the augmentation and the rule's own randomness
(``noise``/``drop``) through independent derived seeds. Everything runs on ``device``; pass
``device="cuda"`` on a machine with a GPU (the data splits are moved there once).

Use::

    from optsearch.evaluation.transfer import TransferConfig, transfer, rules_from_store

    config = TransferConfig("cifar10", model="resnet", epochs=30, batch_size=128, augment=True)
    result = transfer({"powersign": "powersign"}, config, data_dir="~/data", device="cuda")
    result.write("runs/transfer-cifar10")  # transfer.md, transfer.csv, transfer_curves.png, transfer.json

Outputs of :meth:`TransferResult.write`:

- ``transfer.csv``: one row per rule, columns ``rule, text, best_lr, val_mean, val_std,
  test_mean, test_std, seeds, status`` (means and sample standard deviations over the seed runs,
  ``seeds`` = the number of seed runs; empty cells where there were none), ranked by ``val_mean``.
- ``transfer.md``: the protocol and budget, the same ranking, and the tuning grid (final
  validation accuracy or failure status of every learning rate).
- ``transfer_curves.png``: mean validation accuracy over the seeds against the step, with a
  min–max band, one line per rule (baselines dashed); beside it the mean training loss.
- ``transfer.json``: everything, including every run's curves.
"""

from __future__ import annotations

import csv
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from optsearch.dsl.fingerprint import fingerprint
from optsearch.dsl.library import BASELINE_NAMES, NAMED_RULES
from optsearch.dsl.optimizer import DSLOptimizer, resolve_rule
from optsearch.dsl.printer import to_text

from .models import build_model, count_parameters, parse_model_name
from .records import DIVERGED, ERROR, NAN, OK
from .tasks import LR_GRID, TASK_KINDS, Task, get_task
from .trainer import DIVERGENCE_FACTOR, LOSS_CAP, torch_threads

__all__ = [
    "CSV_COLUMNS",
    "Budget",
    "RuleTransfer",
    "RunRecord",
    "TransferConfig",
    "TransferResult",
    "resolve_device",
    "rules_from_store",
    "train_run",
    "transfer",
]

CSV_COLUMNS: tuple[str, ...] = (
    "rule",
    "text",
    "best_lr",
    "val_mean",
    "val_std",
    "test_mean",
    "test_std",
    "seeds",
    "status",
)
EVAL_BATCH = 512  # examples per forward pass when measuring accuracy
DEFAULT_CURVE_POINTS = 20  # eval_every defaults to steps // this
MAX_EPOCHS = 1e6  # far beyond any real budget; keeps the step count a finite integer
TUNE, SEED = "tune", "seed"
FAILED = (NAN, DIVERGED, ERROR)

Progress = Callable[[int, int, "RunRecord"], None]


# ------------------------------------------------------------------------------------------------
# Configuration
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Budget:
    """The resolved training budget of every run: steps, batch size and curve spacing."""

    steps: int
    batch_size: int
    eval_every: int

    @property
    def curve_steps(self) -> tuple[int, ...]:
        """The steps after which a curve point is recorded: every ``eval_every`` and the last."""
        points = list(range(self.eval_every, self.steps + 1, self.eval_every))
        if not points or points[-1] != self.steps:
            points.append(self.steps)
        return tuple(points)


@dataclass(frozen=True)
class TransferConfig:
    """What to train and how long (see the module docstring for the protocol).

    ``task``: a task name (or :class:`Task`) with data: ``digits``, ``mnist1d``, ``cifar10``.
    ``model``: ``"paper"`` (the search's child), ``"resnet"`` (WRN-16-2) or ``"wrn-D-K"``.
    ``lrs``: the tuning grid. ``tuning_seed``: the seed of every tuning run; ``seeds``: the seeds
    of the final runs. Budget: ``steps`` or ``epochs`` (passes over the training split, rounded
    up to whole steps, at most :data:`MAX_EPOCHS`; at most one of the two; neither = the task's
    default steps), ``batch_size`` (default: the task's), ``eval_every`` (default ``steps // 20``, at least 1).
    ``weight_decay``: L2 coefficient added to the loss (weights only, not biases or batch norm).
    ``augment``: random crops (zero padding of H/8 pixels) and horizontal flips of image
    batches, the usual CIFAR-10 augmentation. ``divergence_factor``: a loss above this multiple of
    the first mini-batch's loss (or above 1e6) ends a run as ``diverged``. ``num_threads``: torch
    intra-op threads during :func:`transfer` (``None``: leave torch's setting).
    """

    task: Union[str, Task]
    model: str = "paper"
    lrs: tuple[float, ...] = LR_GRID
    tuning_seed: int = 0
    seeds: tuple[int, ...] = (1, 2, 3)
    steps: Optional[int] = None
    epochs: Optional[float] = None
    batch_size: Optional[int] = None
    eval_every: Optional[int] = None
    weight_decay: float = 0.0
    augment: bool = False
    divergence_factor: float = DIVERGENCE_FACTOR
    num_threads: Optional[int] = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "lrs", tuple(float(lr) for lr in self.lrs))
        object.__setattr__(self, "seeds", tuple(int(s) for s in self.seeds))
        parse_model_name(self.model)  # raises for an unknown model
        if isinstance(self.task, str):
            _check_task_name(self.task, self.augment)
        if not self.lrs or any(not (lr > 0.0 and math.isfinite(lr)) for lr in self.lrs):
            raise ValueError(f"lrs must be a non-empty sequence of positive numbers, got {self.lrs}")
        if len(set(self.lrs)) != len(self.lrs):
            raise ValueError(f"lrs has duplicates: {self.lrs}")
        if not self.seeds:
            raise ValueError("seeds must not be empty")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds has duplicates: {self.seeds}")
        if self.steps is not None and self.epochs is not None:
            raise ValueError("give steps or epochs, not both")
        if self.steps is not None and int(self.steps) < 1:
            raise ValueError("steps must be >= 1")
        if self.epochs is not None and not 0 < self.epochs <= MAX_EPOCHS:
            raise ValueError(f"epochs must be > 0 and at most {MAX_EPOCHS:.0f}, got {self.epochs}")
        for name in ("batch_size", "eval_every"):
            value = getattr(self, name)
            if value is not None and int(value) < 1:
                raise ValueError(f"{name} must be >= 1")
        if not (self.weight_decay >= 0.0 and math.isfinite(self.weight_decay)):
            raise ValueError(f"weight_decay must be a finite number >= 0, got {self.weight_decay}")
        if not self.divergence_factor > 1.0:
            raise ValueError("divergence_factor must be > 1")

    @property
    def task_name(self) -> str:
        return self.task if isinstance(self.task, str) else self.task.name

    def budget(self, task: Task) -> Budget:
        """Steps, batch size and curve spacing of this config on ``task``."""
        if task.train is None:
            raise ValueError(f"task {task.name!r} has no data: transfer needs an image or sequence task")
        batch_size = int(self.batch_size if self.batch_size is not None else task.defaults.batch_size)
        if self.steps is not None:
            steps = int(self.steps)
        elif self.epochs is not None:
            steps = max(1, math.ceil(float(self.epochs) * len(task.train) / batch_size))
        else:
            steps = int(task.defaults.steps)
        every = int(self.eval_every) if self.eval_every is not None else max(1, steps // DEFAULT_CURVE_POINTS)
        return Budget(steps=steps, batch_size=batch_size, eval_every=min(every, steps))

    def to_dict(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        data["task"] = self.task_name
        data["lrs"], data["seeds"] = list(self.lrs), list(self.seeds)
        return data


def _check_task_name(name: str, augment: bool) -> None:
    """Raise ``ValueError`` unless ``name`` is a task with data that ``augment`` can apply to."""
    kind = TASK_KINDS.get(name.strip().lower())
    if kind is None:
        raise ValueError(f"unknown task {name!r}; known: {', '.join(TASK_KINDS)}")
    if kind == "function":
        raise ValueError(f"task {name!r} is a function task: transfer needs an image or sequence task")
    if augment and kind != "image":
        raise ValueError(f"augmentation is for image tasks; {name!r} is a {kind} task")


def resolve_device(device: Union[str, torch.device]) -> torch.device:
    """``device`` as a :class:`torch.device` that exists here: ``cpu``, ``cuda[:N]`` or ``mps``.

    Raises ``ValueError`` naming the device when torch does not know it or this machine lacks it.
    """
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"unknown device {str(device)!r}; use cpu, cuda, cuda:N or mps") from None
    if resolved.type == "cpu":
        return resolved
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {str(device)!r}: CUDA is not available on this machine; use cpu")
        count = torch.cuda.device_count()
        if resolved.index is not None and resolved.index >= count:
            raise ValueError(f"device {str(device)!r}: this machine has {count} CUDA device(s)")
        return resolved
    if resolved.type == "mps":
        if not torch.backends.mps.is_available():
            raise ValueError(f"device {str(device)!r}: MPS is not available on this machine; use cpu")
        return resolved
    raise ValueError(f"device {str(device)!r} is not supported; use cpu, cuda, cuda:N or mps")


# ------------------------------------------------------------------------------------------------
# Records
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunRecord:
    """One training run: a rule at one learning rate with one seed.

    ``phase`` is ``"tune"`` (the grid, with the tuning seed; no test accuracy) or ``"seed"``.
    ``status``: ``ok``, ``nan``, ``diverged`` or ``error`` (``detail`` says what the rule raised).
    ``steps``: optimizer steps taken. ``val_acc``: final validation accuracy (0.0 for a failed
    run); ``test_acc``: final test accuracy (seed runs; 0.0 when failed, ``None`` for tuning runs).
    Curves: ``curve_val[i]`` / ``curve_loss[i]`` after ``curve_steps[i]`` steps; a failed run's
    curves are as long as the finished runs', with the floor accuracy 0.0 and a NaN loss from the
    failure on.
    """

    rule: str
    phase: str
    lr: float
    seed: int
    status: str
    steps: int
    val_acc: float
    test_acc: Optional[float]
    final_loss: float
    curve_steps: tuple[int, ...]
    curve_val: tuple[float, ...]
    curve_loss: tuple[float, ...]
    wall_s: float
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status == OK


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    if not values:
        return math.nan, math.nan
    array = np.asarray(values, dtype=np.float64)
    return float(array.mean()), float(array.std(ddof=1)) if len(array) > 1 else 0.0


def _worst(statuses: Sequence[str]) -> str:
    for status in (NAN, DIVERGED, ERROR):
        if status in statuses:
            return status
    return OK


@dataclass(frozen=True)
class RuleTransfer:
    """The outcome for one rule: its tuning grid, the chosen learning rate and the seed runs."""

    name: str
    text: str
    baseline: bool
    best_lr: Optional[float]
    grid: tuple[RunRecord, ...]
    runs: tuple[RunRecord, ...]

    @property
    def grid_val(self) -> dict[float, float]:
        """Final validation accuracy of every tuning run by learning rate (NaN where it failed)."""
        return {r.lr: (r.val_acc if r.ok else math.nan) for r in self.grid}

    @property
    def grid_status(self) -> dict[float, str]:
        return {r.lr: r.status for r in self.grid}

    @property
    def status(self) -> str:
        """``ok``; the worst status of the seed runs; or, without any, of the tuning runs."""
        if not self.runs:
            return _worst([r.status for r in self.grid]) if self.grid else ERROR
        return _worst([r.status for r in self.runs])

    @property
    def seeds(self) -> int:
        return len(self.runs)

    @property
    def val_mean(self) -> float:
        return _mean_std([r.val_acc for r in self.runs])[0]

    @property
    def val_std(self) -> float:
        return _mean_std([r.val_acc for r in self.runs])[1]

    @property
    def test_mean(self) -> float:
        return _mean_std([float(r.test_acc or 0.0) for r in self.runs])[0]

    @property
    def test_std(self) -> float:
        return _mean_std([float(r.test_acc or 0.0) for r in self.runs])[1]

    def curves(self, what: str = "val") -> Optional[tuple[np.ndarray, np.ndarray]]:
        """``(steps [P], values [seeds, P])`` of the seed runs' curves (``"val"`` or ``"loss"``)."""
        if not self.runs:
            return None
        steps = np.asarray(self.runs[0].curve_steps)
        attr = "curve_val" if what == "val" else "curve_loss"
        return steps, np.asarray([getattr(r, attr) for r in self.runs], dtype=np.float64)

    def row(self) -> dict[str, Any]:
        """The CSV row (see :data:`CSV_COLUMNS`)."""
        return {
            "rule": self.name,
            "text": self.text,
            "best_lr": self.best_lr,
            "val_mean": self.val_mean,
            "val_std": self.val_std,
            "test_mean": self.test_mean,
            "test_std": self.test_std,
            "seeds": self.seeds,
            "status": self.status,
        }


def _rank_key(rule: RuleTransfer) -> tuple[int, float]:
    mean = rule.val_mean
    return (1, 0.0) if math.isnan(mean) else (0, -mean)


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def _pct(mean: float, std: float) -> str:
    if math.isnan(mean):
        return "—"
    return f"{100 * mean:.2f} ± {100 * std:.2f}"


@dataclass(frozen=True)
class TransferResult:
    """Everything :func:`transfer` measured; :meth:`write` turns it into the report files."""

    config: TransferConfig
    task: str
    budget: Budget
    rules: tuple[RuleTransfer, ...]
    device: str
    parameters: int
    train_size: int
    wall_s: float
    notes: tuple[str, ...] = field(default=())

    def __getitem__(self, name: str) -> RuleTransfer:
        for rule in self.rules:
            if rule.name == name:
                return rule
        raise KeyError(name)

    @property
    def ranked(self) -> tuple[RuleTransfer, ...]:
        """The rules by mean final validation accuracy, best first (rules without seed runs last)."""
        return tuple(sorted(self.rules, key=_rank_key))

    # -- files -----------------------------------------------------------------------------------
    def write(self, out_dir: Union[str, Path]) -> dict[str, Path]:
        """Write ``transfer.md``, ``transfer.csv``, ``transfer_curves.png`` and ``transfer.json``.

        Creates ``out_dir`` if needed; returns ``{"md", "csv", "png", "json"}`` → path.
        """
        out = Path(out_dir).expanduser()
        out.mkdir(parents=True, exist_ok=True)
        paths = {
            "md": out / "transfer.md",
            "csv": out / "transfer.csv",
            "png": out / "transfer_curves.png",
            "json": out / "transfer.json",
        }
        self.write_csv(paths["csv"])
        self.plot(paths["png"])
        paths["md"].write_text(self.to_markdown(curves=paths["png"].name), encoding="utf-8")
        paths["json"].write_text(json.dumps(self.to_dict(), indent=1, sort_keys=True) + "\n", encoding="utf-8")
        return paths

    def write_csv(self, path: Union[str, Path]) -> Path:
        path = Path(path)
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(CSV_COLUMNS)
            for rule in self.ranked:
                row = rule.row()
                writer.writerow([_cell(row[c]) for c in CSV_COLUMNS])
        return path

    def to_dict(self) -> dict[str, Any]:
        return _json_safe(
            {
                "config": self.config.to_dict(),
                "task": self.task,
                "budget": {**asdict(self.budget), "curve_steps": list(self.budget.curve_steps)},
                "device": self.device,
                "parameters": self.parameters,
                "train_size": self.train_size,
                "wall_s": self.wall_s,
                "notes": list(self.notes),
                "rules": [
                    {**rule.row(), "baseline": rule.baseline, "grid": [asdict(r) for r in rule.grid], "runs": [asdict(r) for r in rule.runs]}
                    for rule in self.ranked
                ],
            }
        )

    def to_markdown(self, curves: Optional[str] = "transfer_curves.png") -> str:
        cfg, budget = self.config, self.budget
        epochs = budget.steps * budget.batch_size / max(1, self.train_size)
        seeds = ", ".join(str(s) for s in cfg.seeds)
        lines = [
            f"# Transfer: `{self.task}`, model `{cfg.model}`",
            "",
            "DeepOBS protocol: every rule and baseline is trained once at each learning rate of the grid "
            f"with the tuning seed {cfg.tuning_seed}; the learning rate with the best final validation "
            "accuracy (failed runs rank last) is then trained with seeds "
            f"{seeds}. Accuracies are final values, mean ± sample std over those seeds (a failed run "
            "counts as 0); rules are ranked by validation accuracy. Test accuracy is measured only in "
            "the seed runs and never used for any choice.",
            "",
            f"- budget: {budget.steps} steps × batch {budget.batch_size} ({epochs:.2f} epochs of "
            f"{self.train_size} training examples), curve points every {budget.eval_every} steps",
            f"- model: `{cfg.model}` ({self.parameters:,} parameters); weight decay {cfg.weight_decay:g}; "
            f"augmentation {'on' if cfg.augment else 'off'}",
            f"- learning-rate grid: {', '.join(f'{lr:g}' for lr in cfg.lrs)}",
            f"- device `{self.device}`, {self.wall_s:.1f} s in all",
            "",
            "| rank | rule | text | best lr | val acc (%) | test acc (%) | seeds | status |",
            "| ---: | --- | --- | ---: | ---: | ---: | ---: | --- |",
        ]
        for rank, rule in enumerate(self.ranked, start=1):
            name = f"{rule.name} (baseline)" if rule.baseline else rule.name
            best = "—" if rule.best_lr is None else f"{rule.best_lr:g}"
            lines.append(
                f"| {rank} | {_md(name)} | `{_md(rule.text)}` | {best} | {_pct(rule.val_mean, rule.val_std)} | "
                f"{_pct(rule.test_mean, rule.test_std)} | {rule.seeds} | {rule.status} |"
            )
        lines += [
            "",
            f"## Tuning grid (seed {cfg.tuning_seed}): final validation accuracy (%)",
            "",
            "| rule | " + " | ".join(f"{lr:g}" for lr in cfg.lrs) + " |",
            "| --- |" + " ---: |" * len(cfg.lrs),
        ]
        for rule in self.ranked:
            cells = []
            for run in rule.grid:
                cell = f"{100 * run.val_acc:.2f}" if run.ok else run.status
                cells.append(f"**{cell}**" if run.lr == rule.best_lr else cell)
            lines.append(f"| {_md(rule.name)} | " + " | ".join(cells) + " |")
        if curves:
            lines += ["", "## Learning curves", "", f"![validation accuracy and training loss]({curves})"]
        if self.notes:
            lines += ["", "## Notes", ""] + [f"- {note}" for note in self.notes]
        return "\n".join(lines) + "\n"

    def plot(self, path: Union[str, Path]) -> Path:
        """Mean validation accuracy (min–max band over the seeds) and mean training loss per rule."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        path = Path(path)
        fig = Figure(figsize=(12, 4.5))
        FigureCanvasAgg(fig)
        ax_val, ax_loss = fig.subplots(1, 2)
        colours = [f"C{i}" for i in range(10)]
        drawn = 0
        for i, rule in enumerate(self.rules):
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
        ax_val.set_title(f"{self.task} / {self.config.model}: validation accuracy (mean, min–max over seeds)", fontsize=9)
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


# ------------------------------------------------------------------------------------------------
# One training run
# ------------------------------------------------------------------------------------------------
def _derived_seeds(seed: int) -> tuple[int, int, int]:
    """Independent 63-bit seeds for (initialisation, data order and augmentation, the rule)."""
    words = np.random.SeedSequence([int(seed) % 2**64, 0x7A4E5]).generate_state(3, dtype=np.uint64)
    return tuple(int(w) & 0x7FFF_FFFF_FFFF_FFFF for w in words)  # type: ignore[return-value]


def _batches(n: int, batch_size: int, generator: torch.Generator) -> Iterator[Tensor]:
    """Endless mini-batch indices: consecutive epochs of seeded permutations, cut into batches."""
    buffer = torch.empty(0, dtype=torch.long)
    while True:
        while buffer.numel() < batch_size:
            buffer = torch.cat([buffer, torch.randperm(n, generator=generator)])
        yield buffer[:batch_size]
        buffer = buffer[batch_size:]


def augment_images(x: Tensor, generator: torch.Generator) -> Tensor:
    """Random crops (zero padding of ``H // 8`` pixels, at least 1) and horizontal flips of ``[B, C, H, W]``."""
    b, _, h, w = x.shape
    pad = max(1, h // 8)
    padded = F.pad(x, (pad, pad, pad, pad)).permute(0, 2, 3, 1)  # [B, H + 2p, W + 2p, C]
    oy = torch.randint(0, 2 * pad + 1, (b,), generator=generator).to(x.device)
    ox = torch.randint(0, 2 * pad + 1, (b,), generator=generator).to(x.device)
    flip = (torch.rand(b, generator=generator) < 0.5).to(x.device)
    rows = oy[:, None] + torch.arange(h, device=x.device)
    cols = ox[:, None] + torch.arange(w, device=x.device)
    cols = torch.where(flip[:, None], cols.flip(1), cols)
    batch = torch.arange(b, device=x.device)[:, None, None]
    return padded[batch, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2).contiguous()


@torch.no_grad()
def _accuracy(model: nn.Module, x: Tensor, y: Tensor, memory_format: torch.memory_format) -> float:
    was_training = model.training
    model.eval()
    correct = 0
    for start in range(0, int(y.shape[0]), EVAL_BATCH):
        xb = x[start : start + EVAL_BATCH]
        if xb.dim() == 4:
            xb = xb.contiguous(memory_format=memory_format)
        correct += int((model(xb).argmax(-1) == y[start : start + EVAL_BATCH]).sum())
    model.train(was_training)
    return correct / max(1, int(y.shape[0]))


def _finite(params: Sequence[Tensor]) -> bool:
    return bool(torch.isfinite(torch.stack([p.detach().sum() for p in params])).all())


def _l2(weights: Sequence[Tensor]) -> Tensor:
    return sum((w * w).sum() for w in weights)  # type: ignore[return-value]


def train_run(
    rule: str,
    task: Task,
    *,
    lr: float,
    seed: int,
    budget: Budget,
    model: str = "paper",
    name: Optional[str] = None,
    phase: str = SEED,
    device: Union[str, torch.device] = "cpu",
    weight_decay: float = 0.0,
    augment: bool = False,
    divergence_factor: float = DIVERGENCE_FACTOR,
    test: bool = True,
    _data: Optional[dict[str, tuple[Tensor, Tensor]]] = None,
) -> RunRecord:
    """Train a fresh ``model`` on ``task`` with ``rule`` at ``lr``; one :class:`RunRecord`.

    ``rule`` is rule text or a name of ``NAMED_RULES``; ``seed`` fixes initialisation, batch order,
    augmentation and the rule's randomness. ``test`` measures the final test accuracy (else
    ``test_acc`` is ``None``). Never raises for a failing rule: NaN/inf gives status ``nan``, a
    blown-up loss ``diverged``, an exception in the rule ``error``.
    """
    start = time.perf_counter()
    device = torch.device(device)
    assert task.train is not None and task.val is not None and task.test is not None
    data = _data if _data is not None else _device_data(task, device)
    x_train, y_train = data["train"]
    init_seed, data_seed, rule_seed = _derived_seeds(seed)
    net = build_model(model, task, init_seed).to(device)
    channels_last = device.type == "cuda" and x_train.dim() == 4
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    net.train()
    params = [p for p in net.parameters() if p.requires_grad]
    weights = [p for p in params if p.dim() > 1]
    optimizer = DSLOptimizer(params, rule, lr=lr, total_steps=budget.steps, seed=rule_seed)
    data_gen = torch.Generator().manual_seed(data_seed)
    batches = _batches(len(y_train), budget.batch_size, data_gen)
    points = budget.curve_steps
    curve_val: list[float] = []
    curve_loss: list[float] = []
    status, detail, steps_done = OK, "", 0
    initial_loss: Optional[float] = None
    last_loss = math.nan
    window: list[float] = []

    for step in range(1, budget.steps + 1):
        index = next(batches).to(device)
        xb, yb = x_train.index_select(0, index), y_train.index_select(0, index)
        if augment:
            xb = augment_images(xb, data_gen)
        if xb.dim() == 4:
            xb = xb.contiguous(memory_format=fmt)
        loss = F.cross_entropy(net(xb), yb)
        value = float(loss.detach())
        if not math.isfinite(value):
            status, last_loss = NAN, value
            break
        if initial_loss is None:
            initial_loss = value
        if value > divergence_factor * initial_loss or value > LOSS_CAP:
            status, last_loss = DIVERGED, value
            break
        total = loss + 0.5 * weight_decay * _l2(weights) if weight_decay > 0.0 and weights else loss
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        try:
            optimizer.step()
        except Exception as error:  # a rule that raises is a failed run, not a crashed transfer
            status, detail, last_loss = ERROR, f"{type(error).__name__}: {error}", value
            break
        steps_done, last_loss = step, value
        window.append(value)
        if step == points[len(curve_val)]:
            if not _finite(params):
                status = NAN
                break
            curve_val.append(_accuracy(net, *data["val"], fmt))
            curve_loss.append(float(np.mean(window)))
            window = []

    if status == OK:
        val_acc = curve_val[-1]
        test_acc: Optional[float] = _accuracy(net, *data["test"], fmt) if test else None
    else:
        val_acc, test_acc = 0.0, (0.0 if test else None)
        missing = len(points) - len(curve_val)
        curve_val += [0.0] * missing
        curve_loss += [math.nan] * missing
    return RunRecord(
        rule=name if name is not None else rule,
        phase=phase,
        lr=float(lr),
        seed=int(seed),
        status=status,
        steps=steps_done,
        val_acc=float(val_acc),
        test_acc=test_acc,
        final_loss=float(last_loss),
        curve_steps=points,
        curve_val=tuple(curve_val),
        curve_loss=tuple(curve_loss),
        wall_s=time.perf_counter() - start,
        detail=detail,
    )


def _device_data(task: Task, device: torch.device) -> dict[str, tuple[Tensor, Tensor]]:
    splits = {"train": task.train, "val": task.val, "test": task.test}
    return {name: (split.x.to(device), split.y.to(device)) for name, split in splits.items()}  # type: ignore[union-attr]


# ------------------------------------------------------------------------------------------------
# The protocol
# ------------------------------------------------------------------------------------------------
def _rule_list(rules: Union[Mapping[str, str], Sequence[str]]) -> list[tuple[str, str]]:
    if isinstance(rules, str):
        raise TypeError("rules is a dict name -> rule text, or a list of rule names/texts, not one str")
    items = list(rules.items()) if isinstance(rules, Mapping) else [(r, r) for r in rules]
    return [(str(name).strip(), str(text)) for name, text in items]


def _select(grid: Sequence[RunRecord]) -> Optional[float]:
    """The learning rate of the best finished tuning run (the earliest on ties); ``None`` if none."""
    best: Optional[RunRecord] = None
    for run in grid:
        if run.ok and (best is None or run.val_acc > best.val_acc):
            best = run
    return None if best is None else best.lr


def _entries(rules: Union[Mapping[str, str], Sequence[str]]) -> tuple[list[tuple[str, str, bool]], list[str]]:
    """``[(name, text, baseline)]``: the requested rules, then the baselines; and notes on merges.

    Everything is parsed first, so a typo fails before any training. A requested rule that
    computes the same update as a baseline (same fingerprint) is left to the baseline; two
    requested rules computing the same update are trained once, under the first name.
    """
    baselines = {fingerprint(resolve_rule(b)): b for b in BASELINE_NAMES}
    entries: list[tuple[str, str, bool]] = []
    seen: dict[str, str] = {}  # fingerprint -> name
    notes: list[str] = []
    for name, text in _rule_list(rules):
        try:
            expr = resolve_rule(text)
        except Exception as error:
            raise ValueError(f"rule {name!r}: cannot parse {text!r}: {error}") from error
        printed = fingerprint(expr)
        if name in BASELINE_NAMES and baselines.get(printed) != name:
            raise ValueError(f"{name!r} is a baseline's name; give the rule {text!r} another name")
        if printed in baselines:
            if name != baselines[printed]:
                notes.append(f"`{name}` (`{to_text(expr)}`) is the baseline `{baselines[printed]}`: reported as it")
            continue
        if printed in seen:
            notes.append(f"`{name}` (`{to_text(expr)}`) computes the same update as `{seen[printed]}`: trained once")
            continue
        if name in seen.values():
            raise ValueError(f"rule name {name!r} given twice with different rules")
        seen[printed] = name
        entries.append((name, to_text(expr), False))
    entries += [(b, to_text(resolve_rule(b)), True) for b in BASELINE_NAMES]
    return entries, notes


def transfer(
    rules: Union[Mapping[str, str], Sequence[str]],
    config: TransferConfig,
    *,
    data_dir: Optional[Union[str, Path]] = None,
    download: bool = False,
    device: Union[str, torch.device] = "cpu",
    progress: Optional[Progress] = None,
) -> TransferResult:
    """Run the DeepOBS protocol (module docstring) for ``rules`` plus the baselines; see :class:`TransferResult`.

    ``rules``: ``{name: rule text or NAMED_RULES name}`` (or a list of names/texts, each its own
    name). The baselines ``adam``, ``momentum`` and ``sgd`` are always added; a rule that computes
    the same update as a baseline (same fingerprint) is trained once, under the baseline's name.
    ``data_dir``/``download`` are passed to :func:`~optsearch.evaluation.tasks.get_task` (CIFAR-10
    raises :class:`~optsearch.evaluation.cifar10.DatasetNotFoundError` when missing).
    ``progress(done, total, record)`` is called after every training run (``total`` shrinks when
    a rule fails its whole grid and so skips its seed runs).

    Raises ``ValueError`` for a rule that does not parse, a name given twice with different rules,
    a function task, augmentation of a non-image task, or a ``device`` this machine lacks (see
    :func:`resolve_device`), all before any training.
    """
    start = time.perf_counter()
    device = resolve_device(device)
    entries, notes = _entries(rules)  # parse first: a typo fails before any data is loaded
    task = config.task if isinstance(config.task, Task) else get_task(config.task, data_dir=data_dir, download=download)
    if task.is_function or task.train is None:
        raise ValueError(f"task {task.name!r} is a function task: transfer needs an image or sequence task")
    if config.augment and task.kind != "image":
        raise ValueError(f"augmentation is for image tasks; {task.name!r} is a {task.kind} task")
    budget = config.budget(task)

    total = len(entries) * (len(config.lrs) + len(config.seeds))
    done = 0
    results: list[RuleTransfer] = []
    with torch_threads(config.num_threads):
        data = _device_data(task, device)
        common = dict(
            model=config.model,
            budget=budget,
            device=device,
            weight_decay=config.weight_decay,
            augment=config.augment,
            divergence_factor=config.divergence_factor,
            _data=data,
        )
        for name, text, baseline in entries:
            grid = []
            for lr in config.lrs:
                record = train_run(text, task, lr=lr, seed=config.tuning_seed, name=name, phase=TUNE, test=False, **common)
                grid.append(record)
                done += 1
                if progress is not None:
                    progress(done, total, record)
            best_lr = _select(grid)
            runs = []
            if best_lr is None:
                total -= len(config.seeds)
                notes.append(f"`{name}` failed at every learning rate of the grid ({_worst([r.status for r in grid])})")
            else:
                for seed in config.seeds:
                    record = train_run(text, task, lr=best_lr, seed=seed, name=name, phase=SEED, **common)
                    runs.append(record)
                    done += 1
                    if progress is not None:
                        progress(done, total, record)
            results.append(RuleTransfer(name, text, baseline, best_lr, tuple(grid), tuple(runs)))
        for rule in results:
            if rule.best_lr is not None and rule.best_lr in (min(config.lrs), max(config.lrs)) and len(config.lrs) > 1:
                edge = "smallest" if rule.best_lr == min(config.lrs) else "largest"
                notes.append(f"`{rule.name}`: the best learning rate {rule.best_lr:g} is the grid's {edge}; widen the grid")
        parameters = count_parameters(build_model(config.model, task, 0))
    return TransferResult(
        config=config,
        task=task.name,
        budget=budget,
        rules=tuple(results),
        device=str(device),
        parameters=parameters,
        train_size=len(task.train),
        wall_s=time.perf_counter() - start,
        notes=tuple(notes),
    )


# ------------------------------------------------------------------------------------------------
# Rules from a search
# ------------------------------------------------------------------------------------------------
_UNUSABLE = (NAN, DIVERGED, ERROR, "screened", "hurdle")


def rules_from_store(store_path: Union[str, Path], k: int, *, task: Optional[str] = None) -> dict[str, str]:
    """The ``k`` best distinct rules (by canonical form) of a results store: ``{name: rule text}``.

    Uses :meth:`ResultStore.top` (best reward first), skipping rows without a finite reward or
    with a failed, screened or hurdle status. A rule equal to a named rule (``powersign``, …)
    is named so; others are named by their text. ``task`` restricts to one task's results. Raises
    :class:`~optsearch.evaluation.store.StoreError` when ``store_path`` is not a store.
    """
    from optsearch.dsl.canonical import canonical

    from .store import ResultStore

    if k < 1:
        raise ValueError("k must be >= 1")
    named = {}
    for rule_name, text in NAMED_RULES.items():
        named.setdefault(to_text(canonical(resolve_rule(text))), rule_name)
    chosen: dict[str, str] = {}
    seen: set[str] = set()
    with ResultStore(store_path, create=False) as store:
        limit = k
        while True:
            rows = store.top(limit, task=task, distinct_canonical=True)
            for row in rows:
                if row.canonical in seen:
                    continue
                seen.add(row.canonical)
                if row.status in _UNUSABLE or row.reward is None or not math.isfinite(row.reward):
                    continue
                text = row.rule
                try:
                    key = to_text(canonical(resolve_rule(text)))
                except Exception:
                    continue
                chosen[named.get(key, text)] = text
                if len(chosen) == k:
                    return chosen
            if len(rows) < limit:
                return chosen
            limit *= 4
