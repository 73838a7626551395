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

Each run is :func:`~optsearch.evaluation.training.single.train_run`: an ordinary training loop
built from the same pieces as the search's trainer (:mod:`optsearch.evaluation.training.loop`).
Everything runs on ``device``; pass ``device="cuda"`` on a machine with a GPU (the data splits
are moved there once).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Mapping, Optional, Sequence, Union

import torch

from ...tasks import Task, get_task
from ...training.loop import torch_threads
from ...training.models import build_model, count_parameters
from ...training.single import SEED, TUNE, RunRecord, device_data, train_run
from .config import TransferConfig, resolve_device
from .records import RuleTransfer, TransferResult, worst_status
from .rules import entries

__all__ = ["Progress", "transfer"]

#: ``progress(done, total, record)``, called after every training run.
Progress = Callable[[int, int, RunRecord], None]


def _select(grid: Sequence[RunRecord]) -> Optional[float]:
    """The learning rate of the best finished tuning run (the earliest on ties); ``None`` if none."""
    best: Optional[RunRecord] = None
    for run in grid:
        if run.ok and (best is None or run.val_acc > best.val_acc):
            best = run
    return None if best is None else best.lr


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
    raises :class:`~optsearch.evaluation.tasks.DatasetNotFoundError` when missing).
    ``progress(done, total, record)`` is called after every training run (``total`` shrinks when
    a rule fails its whole grid and so skips its seed runs).

    Raises ``ValueError`` for a rule that does not parse, a name given twice with different rules,
    a function task, augmentation of a non-image task, or a ``device`` this machine lacks (see
    :func:`resolve_device`), all before any training.
    """
    start = time.perf_counter()
    device = resolve_device(device)
    chosen, notes = entries(rules)  # parse first: a typo fails before any data is loaded
    task = config.task if isinstance(config.task, Task) else get_task(config.task, data_dir=data_dir, download=download)
    if task.is_function or task.train is None:
        raise ValueError(f"task {task.name!r} is a function task: transfer needs an image, sequence or language task")
    if config.augment and task.kind != "image":
        raise ValueError(f"augmentation is for image tasks; {task.name!r} is a {task.kind} task")
    budget = config.budget(task)

    total = len(chosen) * (len(config.lrs) + len(config.seeds))
    done = 0
    results: list[RuleTransfer] = []
    with torch_threads(config.num_threads):
        common = dict(
            model=config.model,
            budget=budget,
            device=device,
            weight_decay=config.weight_decay,
            augment=config.augment,
            divergence_factor=config.divergence_factor,
            _data=device_data(task, device),
        )
        for name, text, baseline in chosen:
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
                notes.append(f"`{name}` failed at every learning rate of the grid ({worst_status([r.status for r in grid])})")
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
