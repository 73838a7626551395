"""One driver runs any ask/tell searcher to an exact budget of proposals, resumably.

Budget = rule proposals resolved: cache hits and screened rules count, since they are what the
searcher asked for. After every batch the searcher's state and the number of proposals told are
checkpointed in the results store, so a search killed at any moment and started again with the
same store, searcher, seed and run id continues where it was: proposals already evaluated (even
those of the interrupted batch) are replayed from the store, never trained again.
"""

from __future__ import annotations

import io
from collections import deque
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import torch

from optsearch.dsl import Expr, resolve_rule, to_tokens
from optsearch.evaluation.records import EvalResult

from .base import Searcher

CHECKPOINT = "searcher"


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
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def load_state(blob: bytes) -> dict:
    return torch.load(io.BytesIO(blob), weights_only=True)


def _tokens_for(expr: Expr, groups: int) -> Optional[tuple[str, ...]]:
    try:
        return tuple(to_tokens(expr, groups))
    except ValueError:
        return None


def run_search(
    searcher: Searcher,
    evaluator,
    *,
    budget: int,
    run_id: Optional[str] = None,
    batch_size: int = 8,
    seed_rules: Sequence[str] = (),
    progress: Optional[Callable[[int, list[EvalResult]], None]] = None,
) -> SearchOutcome:
    """Run ``searcher`` until exactly ``budget`` proposals are resolved by ``evaluator``.

    ``seed_rules`` (rule text or named rules) are evaluated first and told to the searcher; they
    count towards the budget. ``progress(done, results)`` is called after every batch.
    """
    if budget < 1:
        raise ValueError(f"budget must be at least 1, got {budget}")
    seed = searcher.seed
    run_id = run_id or default_run_id(searcher.name, seed, evaluator.task)
    store = evaluator.store
    seeds = [resolve_rule(text) for text in seed_rules]
    history: list[EvalResult] = []
    replay: deque[EvalResult] = deque()
    if store is not None:
        store.start_run(run_id, searcher.name, seed, evaluator.task, budget, {"groups": searcher.groups})
        blob = store.load_checkpoint(run_id, CHECKPOINT)
        recorded = store.results(run_id=run_id)
        told = 0
        if blob is not None:
            checkpoint = load_state(blob)
            searcher.load_state_dict(checkpoint["state"])
            told = int(checkpoint["told"])
        history = recorded[:told]
        replay = deque(recorded[told:])
    while len(history) < budget:
        n = min(batch_size, budget - len(history))
        if len(history) < len(seeds):
            exprs = seeds[len(history) : len(history) + n]
        else:
            exprs = searcher.ask(n)
        results: list[Optional[EvalResult]] = [None] * len(exprs)
        for index, expr in enumerate(exprs):
            if replay and replay[0].rule == str(expr):
                results[index] = replay.popleft()
            else:
                replay.clear()  # the searcher diverged from the record: evaluate from here on
        fresh = [i for i, r in enumerate(results) if r is None]
        if fresh:
            evaluated = evaluator.evaluate(
                [exprs[i] for i in fresh],
                seed=seed,
                searcher=searcher.name,
                run_id=run_id,
                tokens=[_tokens_for(exprs[i], searcher.groups) for i in fresh],
            )
            for i, result in zip(fresh, evaluated):
                results[i] = result
        searcher.tell(exprs, results)  # type: ignore[arg-type]
        history.extend(results)  # type: ignore[arg-type]
        if store is not None:
            store.save_checkpoint(run_id, CHECKPOINT, save_state({"state": searcher.state_dict(), "told": len(history)}))
        if progress is not None:
            progress(len(history), history)
    if store is not None:
        store.finish_run(run_id)
    return SearchOutcome(run_id, searcher.name, seed, tuple(history))
