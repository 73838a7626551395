"""Immutable records that cross the boundary between the evaluator, the store and the searchers."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

# Statuses of one evaluation.
OK = "ok"
DIVERGED = "diverged"  # the loss blew up (grew past a multiple of its initial value)
NAN = "nan"  # NaN or inf in the loss or the weights
TIMEOUT = "timeout"  # the per-evaluation time limit ended the child
SCREENED = "screened"  # rejected by the cheap screen before any training on the task
HURDLE = "hurdle"  # stopped after the short first training (early hurdle)
ERROR = "error"  # the rule or a worker failed in an unexpected way
STATUSES = (OK, DIVERGED, NAN, TIMEOUT, SCREENED, HURDLE, ERROR)
#: Statuses that say what the rule *is* on this (task, config, seed): a stored result with one of
#: them answers the cache. ``timeout`` and ``error`` say what one attempt met (a loaded machine, a
#: dead worker), so they are recorded but a later evaluation trains the rule again.
CACHEABLE_STATUSES = (OK, DIVERGED, NAN, SCREENED, HURDLE)


@dataclass(frozen=True)
class LRResult:
    """The child trained at one learning rate."""

    lr: float
    val_acc: float
    test_acc: float
    status: str
    steps: int  # optimizer steps actually taken
    final_loss: float


@dataclass(frozen=True)
class EvalResult:
    """The outcome of evaluating one rule on one task with one seed.

    ``reward`` is the best validation accuracy over the learning-rate grid (the floor reward when
    the rule failed or was screened); ``test_acc`` is the test accuracy at that learning rate and
    is never used for selection. ``cost`` is the share of one full evaluation's training compute
    this proposal consumed (0 for a cache hit). ``index`` is the proposal's position in its run
    (0, 1, ...; ``None`` outside a run): a run holds at most one result per index, and a resumed
    run replays by index.
    """

    rule: str
    canonical: str
    fingerprint: str
    task: str
    config_hash: str
    reward: float
    status: str
    lr: Optional[float] = None
    val_acc: float = 0.0
    test_acc: float = 0.0
    per_lr: tuple[LRResult, ...] = ()
    cached: bool = False
    cost: float = 0.0
    wall_s: float = 0.0
    searcher: str = ""
    seed: int = 0
    run_id: str = ""
    tokens: Optional[tuple[str, ...]] = None
    detail: str = ""
    index: Optional[int] = None
    metrics: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def to_json(self) -> str:
        """The record as one JSON object."""
        return json.dumps(asdict(self), sort_keys=True)

    @staticmethod
    def from_json(text: str) -> "EvalResult":
        """The inverse of :meth:`to_json`."""
        data = json.loads(text)
        data["per_lr"] = tuple(LRResult(**row) for row in data.get("per_lr", ()))
        if data.get("tokens") is not None:
            data["tokens"] = tuple(data["tokens"])
        return EvalResult(**data)
