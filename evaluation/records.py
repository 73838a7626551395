"""Immutable records that cross the boundary between the evaluator, the store and the searchers.

- :class:`Status`: how one evaluation ended.
- :class:`LRResult`: the child trained at one learning rate.
- :class:`Proposal`: *what* is evaluated: a rule in a run, with its canonical form and
  fingerprint, on a task, config and seed.
- :class:`Outcome`: *what came of it*: status, reward, per-lr results and compute.
- :class:`EvalResult`: a proposal and its outcome in one flat, frozen record (what the store keeps,
  the searchers are told and the reports read); :meth:`EvalResult.of` joins the two.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from typing import Any, Optional


class Status(StrEnum):
    """How one evaluation ended (the values are what the store and JSON hold)."""

    OK = "ok"
    DIVERGED = "diverged"  # the loss blew up (grew past a multiple of its initial value)
    NAN = "nan"  # NaN or inf in the loss or the weights
    TIMEOUT = "timeout"  # the per-evaluation time limit ended the child
    SCREENED = "screened"  # rejected by the cheap screen before any training on the task
    HURDLE = "hurdle"  # stopped after the short first training (early hurdle)
    ERROR = "error"  # the rule or a worker failed in an unexpected way
    PRUNED = "pruned"  # one learning rate only: stopped by successive halving (never the reward)


OK, DIVERGED, NAN, TIMEOUT = Status.OK, Status.DIVERGED, Status.NAN, Status.TIMEOUT
SCREENED, HURDLE, ERROR, PRUNED = Status.SCREENED, Status.HURDLE, Status.ERROR, Status.PRUNED
STATUSES = (OK, DIVERGED, NAN, TIMEOUT, SCREENED, HURDLE, ERROR)  # of an evaluation
#: Statuses that say what the rule *is* on this (task, config, seed): a stored result with one of
#: them answers the cache. ``timeout`` and ``error`` say what one attempt met (a loaded machine, a
#: dead worker), so they are recorded but a later evaluation trains the rule again.
CACHEABLE_STATUSES = (OK, DIVERGED, NAN, SCREENED, HURDLE)


def _shallow(record: Any) -> dict[str, Any]:
    """A dataclass's fields as a dict, without converting nested records (unlike ``asdict``)."""
    return {f.name: getattr(record, f.name) for f in fields(record)}


def _strict(value: Any) -> Any:
    """``value`` ready for strict JSON: NaN and infinities become None, tuples lists."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (list, tuple)):
        return [_strict(v) for v in value]
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class LRResult:
    """The child trained at one learning rate."""

    lr: float
    val_acc: float
    test_acc: float
    status: Status
    steps: int  # optimizer steps actually taken
    final_loss: float


@dataclass(frozen=True)
class Proposal:
    """One rule to evaluate: its text, identity (canonical form, fingerprint) and context."""

    rule: str
    canonical: str
    fingerprint: str
    task: str
    config_hash: str
    seed: int = 0
    searcher: str = ""
    run_id: str = ""
    tokens: Optional[tuple[str, ...]] = None
    index: Optional[int] = None


@dataclass(frozen=True)
class Outcome:
    """What evaluating a proposal gave. ``cost``: share of one full evaluation's compute."""

    status: Status
    reward: float
    lr: Optional[float] = None
    val_acc: float = 0.0
    test_acc: float = 0.0
    per_lr: tuple[LRResult, ...] = ()
    cost: float = 0.0
    wall_s: float = 0.0
    detail: str = ""


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
    status: Status
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

    @staticmethod
    def of(proposal: Proposal, outcome: Outcome, *, cached: bool = False) -> "EvalResult":
        """The result of ``proposal`` with ``outcome``."""
        return EvalResult(**_shallow(proposal), **_shallow(outcome), cached=cached)

    @property
    def proposal(self) -> Proposal:
        """The proposal part of this result."""
        return Proposal(**{f.name: getattr(self, f.name) for f in fields(Proposal)})

    @property
    def outcome(self) -> Outcome:
        """The outcome part of this result."""
        return Outcome(**{f.name: getattr(self, f.name) for f in fields(Outcome)})

    def to_dict(self) -> dict[str, Any]:
        """The record as a dict for strict JSON (NaN and infinities as None): the one form every
        JSON output of optsearch (``eval --json``, ``show --json``) prints."""
        return _strict(asdict(self))

    def to_json(self) -> str:
        """The record as one JSON object, exact (NaN kept as JSON's ``NaN``): the store's form."""
        return json.dumps(asdict(self), sort_keys=True)

    @staticmethod
    def from_json(text: str) -> "EvalResult":
        """The inverse of :meth:`to_json`."""
        data = json.loads(text)
        data["status"] = Status(data["status"])
        data["per_lr"] = tuple(LRResult(**{**row, "status": Status(row["status"])}) for row in data.get("per_lr", ()))
        if data.get("tokens") is not None:
            data["tokens"] = tuple(data["tokens"])
        return EvalResult(**data)
