"""One network, one learning rate, one seed: the training run of the transfer protocol.

:func:`train_run` is an ordinary training loop built from the pieces of :mod:`.loop` (the same
seeds, batches, accuracy and health policy as the search's stacked trainer): a fresh network from
:func:`~.models.build_model`, :class:`~optsearch.dsl.optimizer.DSLOptimizer` with
``total_steps = steps`` (for the decay schedules), cross-entropy loss (plus ``weight_decay``/2 ·
Σ‖W‖² over the weight matrices and kernels, as DeepOBS puts L2 regularisation into the problem),
``model.train()`` for the updates and ``model.eval()`` for every accuracy. The run's seed fixes
the initialisation, the batch order, the augmentation and the rule's own randomness through
independent derived seeds (a stream of their own: :data:`TRANSFER_STREAM`). Everything runs on
``device``; with ``device="cuda"`` image batches run in ``channels_last``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from optsearch.dsl.optimizer import DSLOptimizer

from ..records import DIVERGED, ERROR, NAN, OK
from ..tasks import Task
from .loop import DIVERGENCE_FACTOR, accuracy, derived_seeds, epoch_batches, loss_failures, nonfinite_copies
from .models import build_model

__all__ = ["SEED", "TRANSFER_STREAM", "TUNE", "Budget", "RunRecord", "augment_images", "device_data", "train_run"]

TRANSFER_STREAM = 0x7A4E5  # the transfer protocol's seeds are not the search's
TUNE, SEED = "tune", "seed"  # the phases of a run: the tuning grid, the final seeds


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
        """True when the run trained for its whole budget."""
        return self.status == OK


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


def _l2(weights: Sequence[Tensor]) -> Tensor:
    return sum((w * w).sum() for w in weights)  # type: ignore[return-value]


def device_data(task: Task, device: torch.device) -> dict[str, tuple[Tensor, Tensor]]:
    """The task's three splits as ``{"train" | "val" | "test": (x, y)}`` on ``device``."""
    splits = {"train": task.train, "val": task.val, "test": task.test}
    return {name: (split.x.to(device), split.y.to(device)) for name, split in splits.items()}  # type: ignore[union-attr]


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
    blown-up loss ``diverged``, an exception in the rule ``error``. ``_data`` is
    :func:`device_data` of the task, when the caller already moved it to ``device``.
    """
    start = time.perf_counter()
    device = torch.device(device)
    assert task.train is not None and task.val is not None and task.test is not None
    data = _data if _data is not None else device_data(task, device)
    x_train, y_train = data["train"]
    init_seed, data_seed, rule_seed = derived_seeds(seed, stream=TRANSFER_STREAM)
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
    batches = epoch_batches(len(y_train), budget.batch_size, data_gen)
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
        if initial_loss is None:
            initial_loss = value
        nan, blown = loss_failures(torch.tensor(value, dtype=torch.float64), initial_loss, divergence_factor)
        if bool(nan) or bool(blown):
            status, last_loss = (NAN if bool(nan) else DIVERGED), value
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
            if bool(nonfinite_copies(params, 1)):
                status = NAN
                break
            curve_val.append(float(accuracy(net, *data["val"], fmt)))
            curve_loss.append(float(np.mean(window)))
            window = []

    if status == OK:
        val_acc = curve_val[-1]
        test_acc: Optional[float] = float(accuracy(net, *data["test"], fmt)) if test else None
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
