"""The pieces every training loop of the project is built from, so that they all agree.

- **Seeds**: :func:`derived_seeds` splits a run's seed into independent seeds for the
  initialisation, the data order (and gradient noise, augmentation) and the rule's own
  randomness; nothing reads torch's global generator.
- **Batches**: :func:`epoch_batches` / :func:`batch_indices` — consecutive epochs of seeded
  permutations, cut into mini-batches.
- **Accuracy**: :func:`accuracy` of one network or of K stacked copies, in eval mode (batch-norm
  running statistics), :data:`EVAL_BATCH` examples per forward pass; on a language task
  (labels ``[N, T]``) next-token accuracy over every position (:func:`token_accuracy`).
- **Health**: a loss that is NaN/inf is ``nan``; one above ``divergence_factor`` × the reference
  loss (:data:`DIVERGENCE_FACTOR`) or above :data:`LOSS_CAP` is ``diverged``
  (:func:`loss_failures`); weights with a NaN/inf are ``nan`` (:func:`nonfinite_copies`); a
  :class:`Clock` past its limit is ``timeout``. A rule that *raises* is :class:`RuleFailure`.
"""

from __future__ import annotations

import contextlib
import math
import time
from typing import Iterator, Optional, Sequence

import numpy as np
import torch
from torch import Tensor, nn

__all__ = [
    "DIVERGENCE_FACTOR",
    "EVAL_BATCH",
    "LOSS_CAP",
    "Clock",
    "RuleFailure",
    "accuracy",
    "batch_indices",
    "derived_seeds",
    "epoch_batches",
    "loss_failures",
    "nonfinite_copies",
    "token_accuracy",
    "torch_threads",
]

DIVERGENCE_FACTOR = 10.0  # a loss above this multiple of the initial loss is a divergence
LOSS_CAP = 1e6  # a loss above this value is a divergence, whatever the initial loss
EVAL_BATCH = 512  # examples per forward pass when measuring accuracy (small: big tensors page-fault)


class RuleFailure(RuntimeError):
    """The rule raised an exception while computing an update (record the evaluation as ``error``)."""

    def __init__(self, rule: str, message: str, step: int = 0):
        super().__init__(f"rule {rule!r} failed at step {step}: {message}")
        self.rule = rule
        self.message = message
        self.step = step


@contextlib.contextmanager
def torch_threads(num_threads: Optional[int]) -> Iterator[None]:
    """Run with ``torch.set_num_threads(num_threads)`` and restore the previous value (None: leave)."""
    if num_threads is None or num_threads == torch.get_num_threads():
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(max(1, int(num_threads)))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def derived_seeds(seed: int, stream: Optional[int] = None) -> tuple[int, int, int]:
    """Independent 63-bit seeds for (initialisation, data order / noise / augmentation, the rule).

    ``stream`` separates protocols that must not share random streams for the same seed (the
    transfer protocol uses its own, so its seed 1 is not the search's seed 1).
    """
    entropy = int(seed) % 2**64 if stream is None else [int(seed) % 2**64, int(stream)]
    words = np.random.SeedSequence(entropy).generate_state(3, dtype=np.uint64)
    return tuple(int(w) & 0x7FFF_FFFF_FFFF_FFFF for w in words)  # type: ignore[return-value]


def epoch_batches(n: int, batch_size: int, generator: torch.Generator) -> Iterator[Tensor]:
    """Endless mini-batch indices: consecutive epochs of seeded permutations, cut into batches.

    Permutations are drawn only when needed, so other draws from ``generator`` between batches
    (augmentation) interleave deterministically.
    """
    buffer = torch.empty(0, dtype=torch.long)
    while True:
        while buffer.numel() < batch_size:
            buffer = torch.cat([buffer, torch.randperm(n, generator=generator)])
        yield buffer[:batch_size]
        buffer = buffer[batch_size:]


def batch_indices(n: int, steps: int, batch_size: int, generator: torch.Generator) -> Tensor:
    """``[steps, batch_size]``: the first ``steps`` batches of :func:`epoch_batches`."""
    batches = epoch_batches(n, batch_size, generator)
    return torch.stack([next(batches) for _ in range(steps)])


@torch.no_grad()
def accuracy(model: nn.Module, x: Tensor, y: Tensor, memory_format: torch.memory_format = torch.channels_last) -> Tensor:
    """Accuracy on ``(x, y)`` in eval mode: float64 on the CPU, ``[K]`` for a stacked model.

    The model maps ``[B, ...]`` to logits ``[B, classes]`` or, stacked, ``[B, K, classes]``; 4-D
    inputs are passed in ``memory_format``. Labels ``[B, T]`` (a language task) give next-token
    accuracy instead (:func:`token_accuracy`). The model's training mode is restored afterwards.
    """
    if y.dim() == 2:
        return token_accuracy(model, x, y)
    was_training = model.training
    model.eval()
    correct: Optional[Tensor] = None
    for start in range(0, int(y.shape[0]), EVAL_BATCH):
        xb = x[start : start + EVAL_BATCH]
        if xb.dim() == 4:
            xb = xb.contiguous(memory_format=memory_format)
        predicted = model(xb).argmax(-1)  # [B] or [B, K]
        labels = y[start : start + EVAL_BATCH].view(-1, *([1] * (predicted.dim() - 1)))
        hits = (predicted == labels).sum(0)
        correct = hits if correct is None else correct + hits
    model.train(was_training)
    if correct is None:
        return torch.zeros(())
    return correct.to("cpu", torch.float64) / max(1, int(y.shape[0]))


@torch.no_grad()
def token_accuracy(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    """Next-token accuracy on token windows ``(x, y)`` (``[N, T]`` each), in eval mode, float64 on the CPU.

    The model maps ``[B, T]`` to logits ``[B, V, T]``; the prediction at each position is the
    argmax over ``V`` (dim 1), and the accuracy is correct tokens / all ``N·T`` tokens. The
    model's training mode is restored afterwards.
    """
    was_training = model.training
    model.eval()
    correct = torch.zeros((), dtype=torch.long, device=y.device)
    for start in range(0, int(y.shape[0]), EVAL_BATCH):
        predicted = model(x[start : start + EVAL_BATCH]).argmax(1)  # [B, T]
        correct += (predicted == y[start : start + EVAL_BATCH]).sum()
    model.train(was_training)
    return correct.to("cpu", torch.float64) / max(1, y.numel())


def loss_failures(losses: Tensor, reference, divergence_factor: float) -> tuple[Tensor, Tensor]:
    """``(nan, diverged)`` masks over copies: a loss that is NaN/inf, or above the cap or
    ``divergence_factor`` × ``reference`` (a tensor of per-copy references or one number)."""
    nonfinite = ~torch.isfinite(losses)
    blown = (losses > divergence_factor * reference) | (losses > LOSS_CAP)
    return nonfinite, blown


def nonfinite_copies(params: Sequence[Tensor], copies: int) -> Tensor:
    """Boolean ``[copies]``: copies with a NaN or inf anywhere in their parameters.

    Every parameter has the copy index first (``copies=1``: one ordinary network).
    """
    sums = torch.stack([p.detach().reshape(copies, -1).sum(1) for p in params]).sum(0)
    return ~torch.isfinite(sums)


class Clock:
    """The wall-clock limit of one training run (``math.inf``: none), started at construction."""

    def __init__(self, limit_s: float = math.inf):
        self.limit_s = float(limit_s)
        self.start = time.perf_counter()

    def expired(self) -> bool:
        """True once more than ``limit_s`` seconds have passed."""
        return time.perf_counter() - self.start > self.limit_s
