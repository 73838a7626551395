"""What the stacked loop of :mod:`.stacked` trains: K copies of the child on a data task, or K
points on a test function. Both answer the same questions, step by step, for the copies still
training (the loop drops stopped copies through :meth:`select`):

- ``params``: the stacked parameters (copy index first);
- ``gradients(step, params)``: ``(losses, grads)``; ``losses`` is the per-copy loss *before* the
  update when the problem has one (the child's mini-batch loss), else ``None``;
- ``pre_failures(losses)`` / ``post_failures(params)``: ``(nan, diverged)`` masks before and after
  the update, from the health policy of :mod:`.loop`;
- ``loss``: each copy's latest loss (the one recorded when it stops);
- ``val_scores()`` / ``test_scores()``: validation and test accuracy, or the progress score.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Optional

import torch
from torch import Tensor

from ..tasks import Task, TestFunction, progress_score
from ..tasks.task import DataSplit
from .child import StackedChild, child_spec
from .loop import accuracy, batch_indices, loss_failures, nonfinite_copies

#: ``failures(points, values) -> (nan, diverged)``: when a point of a function descent stops.
PointFailures = Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]


def stacked_cross_entropy(logits: Tensor, labels: Tensor) -> Tensor:
    """``[K]``: each copy's mean cross-entropy over the batch, from logits ``[B, K, classes]``.

    Computed row by row (log-softmax over the contiguous class dimension, then each copy's mean
    over a contiguous row of the batch) so that copy k's loss and gradients are bit-identical
    whatever the number of copies beside it: :func:`torch.nn.functional.cross_entropy` over the
    permuted logits, and a mean over the batch dimension, vectorise across copies and round
    differently for different K. That invariance is what lets a population of rules train
    exactly as each rule alone (:mod:`.stack_loop`).
    """
    log_probs = torch.log_softmax(logits, dim=-1)
    picked = log_probs.gather(2, labels.view(-1, 1, 1).expand(-1, logits.shape[1], 1)).squeeze(2)  # [B, K]
    return -picked.t().contiguous().mean(1)


def task_on(task: Task, device: torch.device) -> Task:
    """``task`` with its data splits on ``device`` (``task`` itself when they are there already)."""
    if task.train is None or task.train.x.device == device:
        return task
    moved = {
        name: DataSplit(split.x.to(device), split.y.to(device))
        for name, split in (("train", task.train), ("val", task.val), ("test", task.test))
        if split is not None
    }
    return dataclasses.replace(task, **moved)


def _prepare(x: Tensor) -> Tensor:
    return x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x


class ChildProblem:
    """K copies of the child (:class:`StackedChild`) on a data task, one mini-batch per step."""

    def __init__(
        self,
        task: Task,
        copies: int,
        steps: int,
        batch_size: int,
        *,
        init_seed: int,
        data_seed: int,
        divergence_factor: float,
        device: torch.device = torch.device("cpu"),
    ):
        assert task.train is not None and task.val is not None and task.test is not None
        self.task = task_on(task, device)
        self.model = StackedChild(child_spec(task), copies, seed=init_seed).to(device)
        self.model.train()
        self.params = list(self.model.parameters())
        # Batch order is drawn on the CPU whatever the device, so a seed means the same batches.
        batches = batch_indices(len(task.train), steps, batch_size, torch.Generator().manual_seed(data_seed))
        self.batches = batches.to(device)
        self.divergence_factor = divergence_factor
        self.initial: Optional[Tensor] = None  # each copy's first mini-batch loss
        self.loss = torch.full((copies,), float("nan"), device=device)

    def gradients(self, step: int, params: list[Tensor]) -> tuple[Optional[Tensor], list[Tensor]]:
        """Cross-entropy of every copy on batch ``step`` and its gradients."""
        x_train, y_train = self.task.train  # type: ignore[misc]
        index = self.batches[step - 1]
        xb, yb = _prepare(x_train.index_select(0, index)), y_train.index_select(0, index)
        with torch.enable_grad():
            losses = stacked_cross_entropy(self.model(xb), yb)
            grads = list(torch.autograd.grad(losses.sum(), params))
        losses = losses.detach()
        if self.initial is None:
            self.initial = losses.clone()
        return losses, grads

    def pre_failures(self, losses: Tensor) -> tuple[Tensor, Tensor]:
        """The loss of the weights after the previous step, against each copy's first loss."""
        return loss_failures(losses, self.initial, self.divergence_factor)

    def post_failures(self, params: list[Tensor]) -> tuple[Tensor, Tensor]:
        """Weights that became NaN/inf in this update."""
        broken = nonfinite_copies(params, self.model.copies)
        return broken, torch.zeros_like(broken)

    def select(self, keep: list[int]) -> list[Tensor]:
        """Keep the copies at positions ``keep``; returns the new parameters."""
        self.model = self.model.select(keep)
        self.params = list(self.model.parameters())
        index = torch.as_tensor(keep, dtype=torch.long, device=self.loss.device)
        if self.initial is not None:  # None when copies stop (time) before the first batch
            self.initial = self.initial[index]
        self.loss = self.loss[index]
        return self.params

    def val_scores(self) -> list[float]:
        """Validation accuracy of every copy."""
        return accuracy(self.model, *self.task.val).tolist()  # type: ignore[misc]

    def test_scores(self) -> list[float]:
        """Test accuracy of every copy."""
        return accuracy(self.model, *self.task.test).tolist()  # type: ignore[misc]


class PointsProblem:
    """K points descending a test function from ``x0`` (its dtype is the descent's precision).

    Gradients are exact plus, when the function has ``noise_std > 0``, one Gaussian draw per step
    shared by all copies. ``failures`` decides after each update which points stop; by default a
    value that is NaN/inf or blown up against ``f(x0)`` (the trainer's health policy).
    """

    def __init__(
        self,
        fn: TestFunction,
        x0: Tensor,
        copies: int,
        *,
        noise_seed: int,
        divergence_factor: float,
        failures: Optional[PointFailures] = None,
    ):
        self.fn = fn
        self.params = [x0.unsqueeze(0).repeat(copies, 1).contiguous()]
        self.noise_gen = torch.Generator().manual_seed(noise_seed)
        self.f0 = float(fn.value(x0))
        self.failures = failures or (lambda points, values: loss_failures(values, self.f0, divergence_factor))
        self.loss = fn.value(self.params[0])

    def gradients(self, step: int, params: list[Tensor]) -> tuple[Optional[Tensor], list[Tensor]]:
        """The (noisy) gradient at every point; there is no loss before the update."""
        fn = self.fn
        grad = fn.gradient(params[0])
        if fn.noise_std > 0.0:
            grad = grad + fn.noise_std * torch.randn(fn.dim, generator=self.noise_gen)  # one draw for all copies
        return None, [grad]

    def pre_failures(self, losses: Tensor) -> tuple[Tensor, Tensor]:  # pragma: no cover - never called
        """Never called: a descent has no loss before its update (``gradients`` gives ``None``)."""
        raise NotImplementedError

    def post_failures(self, params: list[Tensor]) -> tuple[Tensor, Tensor]:
        """``f`` at the new points, judged by ``failures``."""
        self.loss = self.fn.value(params[0])
        return self.failures(params[0], self.loss)

    def select(self, keep: list[int]) -> None:
        """Keep the points at positions ``keep`` (the stack selects the points themselves)."""
        self.loss = self.loss[keep]

    def val_scores(self) -> list[float]:
        """The progress score of every point."""
        return [progress_score(self.f0, float(v)) for v in self.loss]

    test_scores = val_scores
