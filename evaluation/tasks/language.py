"""``arith``: character-level language modelling of generated arithmetic, with nothing to download.

The corpus is a stream of lines ``a+b=c;`` or ``a-b=c;`` (operands ``0 … 99`` drawn uniformly,
the operator with probability 1/2; a subtraction puts the larger operand first, so no result is
negative), generated from the fixed :data:`~.task.SPLIT_SEED` and concatenated into one token
stream over the vocabulary :data:`VOCAB` (``0123456789+-=;``, 14 tokens). The stream is cut into
three **disjoint** consecutive segments — train, validation, test — and each segment into
non-overlapping windows of :data:`SEQ_LEN` tokens: window ``k`` of a segment starting at ``s``
is ``x = tokens[s + kT : s + (k+1)T]`` with the next tokens ``y = tokens[s + kT + 1 : s + (k+1)T + 1]``
as its labels, so no token of one split appears in another's inputs or labels.

Inputs and labels are int64 ``[N, T]``; the task's ``input_shape`` is ``(T,)`` and its
``num_classes`` the vocabulary size. A model maps ``[B, T]`` to logits ``[B, V, T]`` (class
dimension second, as :func:`torch.nn.functional.cross_entropy` wants for ``[B, T]`` labels), and
accuracy is next-token accuracy over every position of every window.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
import torch

from .task import SPLIT_SEED, DataSplit, Task

if TYPE_CHECKING:
    from .registry import TaskSpec

__all__ = ["MAX_OPERAND", "SEQ_LEN", "SPLIT_WINDOWS", "VOCAB", "arith_stream", "decode", "encode", "load_arith"]

VOCAB = "0123456789+-=;"
SEQ_LEN = 32  # tokens per window (T)
MAX_OPERAND = 99
SPLIT_WINDOWS = (4000, 1000, 1000)  # windows of train / validation / test
_INDEX = {char: i for i, char in enumerate(VOCAB)}


def encode(text: str) -> np.ndarray:
    """The token ids (int64) of ``text``, which must use only :data:`VOCAB`."""
    return np.fromiter((_INDEX[char] for char in text), dtype=np.int64, count=len(text))


def decode(tokens) -> str:
    """The text of a sequence of token ids."""
    return "".join(VOCAB[int(t)] for t in tokens)


def _lines(rng: np.random.Generator, count: int) -> str:
    a = rng.integers(0, MAX_OPERAND + 1, count)
    b = rng.integers(0, MAX_OPERAND + 1, count)
    minus = rng.random(count) < 0.5
    hi, lo = np.maximum(a, b), np.minimum(a, b)
    return "".join(
        f"{h}-{l}={h - l};" if m else f"{x}+{y}={x + y};"
        for x, y, h, l, m in zip(a.tolist(), b.tolist(), hi.tolist(), lo.tolist(), minus.tolist())
    )


def arith_stream(length: int, seed: int = SPLIT_SEED) -> np.ndarray:
    """The first ``length`` tokens (int64) of the corpus generated from ``seed``."""
    rng = np.random.default_rng(seed)
    text = ""
    while len(text) < length:
        # Lines average ~8.9 characters; draw a little more than needed, in one go.
        text += _lines(rng, (length - len(text)) // 8 + 16)
    return encode(text[:length])


def _windows(segment: np.ndarray, count: int) -> DataSplit:
    starts = np.arange(count) * SEQ_LEN
    offsets = np.arange(SEQ_LEN)
    x = segment[starts[:, None] + offsets]
    y = segment[starts[:, None] + offsets + 1]
    return DataSplit(torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(np.ascontiguousarray(y)))


@lru_cache(maxsize=None)
def load_arith(spec: "TaskSpec") -> Task:
    """The ``arith`` task (module docstring): 4000 / 1000 / 1000 windows of 32 tokens."""
    sizes = [count * SEQ_LEN + 1 for count in SPLIT_WINDOWS]  # +1: the last window's last label
    stream = arith_stream(sum(sizes))
    bounds = np.cumsum([0, *sizes])
    train, val, test = (_windows(stream[lo:hi], count) for lo, hi, count in zip(bounds[:-1], bounds[1:], SPLIT_WINDOWS))
    return Task(
        name=spec.name,
        kind=spec.kind,
        num_classes=len(VOCAB),
        input_shape=(SEQ_LEN,),
        defaults=spec.defaults,
        train=train,
        val=val,
        test=test,
        description=spec.description,
    )
