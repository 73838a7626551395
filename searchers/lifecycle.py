"""The lifecycle of one search run, the same however its proposals are produced.

:class:`SearchRun` is the one home of what every run does around its proposals; the ask/tell
driver (:func:`~.driver.run_search`) and the Stable-Baselines3 adapter
(:func:`~.sb3.agents.run_sb3`) differ only in how they produce them. In order:

1. building a :class:`SearchRun` checks the budget and names the run (:func:`default_run_id`
   unless a run id is given); nothing is written yet;
2. entering it takes the run's lease (:func:`~optsearch.evaluation.lease.run_lease`: another
   process holding it is waited for ``lease_wait_s``, then ``RunLeased`` is raised), records the
   run's start (``store.start_run``) and reads the proposals already stored for it
   (:attr:`SearchRun.stored`, by proposal index, below the budget);
3. inside, the caller evaluates the proposals still owed (with their proposal indices) and saves
   its checkpoint (:meth:`SearchRun.save_checkpoint`) as it goes; a resumed run reads it back with
   :meth:`SearchRun.load_checkpoint`;
4. leaving it normally records the run's end (``store.finish_run``); leaving it by an exception
   does not. The lease is released either way;
5. :meth:`SearchRun.outcome` wraps every proposal's result, in order, as a :class:`SearchOutcome`.

A checkpoint is a dict of tensors and plain values, stored as ``torch.save`` bytes
(:func:`save_state`) under the run id and the checkpoint's name, and read back with
``weights_only`` (:func:`load_state`); stores written before keep resuming as long as the names
and the dicts' keys stay as they are.
"""

from __future__ import annotations

import io
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Optional, Sequence

import torch

from optsearch.evaluation.interfaces import RewardSource
from optsearch.evaluation.lease import run_lease
from optsearch.evaluation.records import EvalResult


@dataclass(frozen=True)
class SearchOutcome:
    """Every proposal's result in order, and the best one."""

    run_id: str
    searcher: str
    seed: int
    results: tuple[EvalResult, ...]

    @property
    def best(self) -> Optional[EvalResult]:
        return max(self.results, key=lambda r: r.reward, default=None)


def default_run_id(searcher: str, seed: int, task: str) -> str:
    """Runs are named by what they are, so running the same command again resumes."""
    return f"{searcher}-{task}-seed{seed}"


def save_state(state: dict) -> bytes:
    """A checkpoint's bytes as stored: ``torch.save`` of ``state``."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def load_state(blob: bytes) -> dict:
    """The state :func:`save_state` stored, loaded with ``weights_only`` (tensors and plain values only)."""
    return torch.load(io.BytesIO(blob), weights_only=True)


class SearchRun:
    """One run of a search in the evaluator's store, used as a ``with`` block (see the module docstring).

    ``label`` is the store's ``searcher`` column and names the run when ``run_id`` is None;
    ``config`` is recorded with the run's start; ``checkpoint`` is the name the run's checkpoint is
    stored under. :attr:`stored` is read when the block is entered.
    """

    def __init__(
        self,
        evaluator: RewardSource,
        *,
        label: str,
        seed: int,
        budget: int,
        config: Mapping[str, Any],
        checkpoint: str,
        run_id: Optional[str] = None,
        lease_wait_s: float = 0.0,
    ) -> None:
        if budget < 1:
            raise ValueError(f"budget must be at least 1, got {budget}")
        self.evaluator = evaluator
        self.store = evaluator.store
        self.label = label
        self.seed = seed
        self.budget = budget
        self.config = dict(config)
        self.checkpoint = checkpoint
        self.run_id = run_id or default_run_id(label, seed, evaluator.task)
        self.lease_wait_s = lease_wait_s
        #: The run's stored results below the budget, by proposal index (read on entering the block).
        self.stored: dict[int, EvalResult] = {}
        self._held: Optional[Any] = None

    @contextmanager
    def _hold(self) -> Iterator["SearchRun"]:
        with run_lease(self.store, self.run_id, wait_s=self.lease_wait_s):
            self.store.start_run(self.run_id, self.label, self.seed, self.evaluator.task, self.budget, self.config)
            self.stored = {
                r.index: r for r in self.store.results(run_id=self.run_id) if r.index is not None and r.index < self.budget
            }
            yield self
            self.store.finish_run(self.run_id)

    def __enter__(self) -> "SearchRun":
        self._held = self._hold()
        return self._held.__enter__()

    def __exit__(self, *exc_info: Any) -> Optional[bool]:
        held, self._held = self._held, None
        return held.__exit__(*exc_info)

    def missing_indices(self) -> list[int]:
        """The proposal indices below the budget that have no stored result, in order."""
        return [i for i in range(self.budget) if i not in self.stored]

    def stored_through(self, seen: int) -> Optional[list[EvalResult]]:
        """The results of proposals ``0 .. seen - 1`` (``seen`` capped at the budget) in order when
        every one is stored, else None.

        A checkpoint taken after ``seen`` proposals is usable only when this is not None (a store
        of an older version may lack some); otherwise the search starts again from its seed and the
        stored proposals are replayed by index.
        """
        told = min(int(seen), self.budget)
        if not all(i in self.stored for i in range(told)):
            return None
        return [self.stored[i] for i in range(told)]

    def load_checkpoint(self) -> Optional[dict]:
        """The state last saved with :meth:`save_checkpoint` for this run, or None."""
        blob = self.store.load_checkpoint(self.run_id, self.checkpoint)
        return load_state(blob) if blob is not None else None

    def save_checkpoint(self, state: dict) -> None:
        """Store ``state`` as this run's checkpoint, replacing the last one."""
        self.store.save_checkpoint(self.run_id, self.checkpoint, save_state(state))

    def outcome(self, results: Sequence[EvalResult]) -> SearchOutcome:
        """The run's outcome: ``results`` are every proposal's result in proposal order."""
        return SearchOutcome(self.run_id, self.label, self.seed, tuple(results))
