"""One driver runs any ask/tell searcher to an exact budget of proposals, resumably.

Budget = rule proposals resolved: cache hits and screened rules count, since they are what the
searcher asked for. After every batch the searcher's state and the number of proposals told are
checkpointed in the results store, and every proposal is stored with its index in the run, so a
search killed at any moment and started again with the same store, searcher, seed and run id
continues where it was: proposals already evaluated (even those of the interrupted batch) are
replayed from the store by index, never trained again nor recorded twice.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import torch

from optsearch.dsl import Expr, parse, resolve_rule, to_tokens
from optsearch.evaluation.lease import run_lease
from optsearch.evaluation.interfaces import RewardSource
from optsearch.evaluation.records import EvalResult
from optsearch.evaluation.store import Store

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


def stored_proposals(store: Store, run_id: str, budget: int) -> dict[int, EvalResult]:
    """The run's stored results below ``budget``, by proposal index."""
    return {r.index: r for r in store.results(run_id=run_id) if r.index is not None and r.index < budget}


def run_search(
    searcher: Searcher,
    evaluator: RewardSource,
    *,
    budget: int,
    run_id: Optional[str] = None,
    batch_size: int = 8,
    seed_rules: Sequence[str] = (),
    progress: Optional[Callable[[int, list[EvalResult]], None]] = None,
    lease_wait_s: float = 0.0,
    label: Optional[str] = None,
) -> SearchOutcome:
    """Run ``searcher`` until exactly ``budget`` proposals are resolved by ``evaluator``.

    The run is recorded under ``label`` (the store's ``searcher`` column and the default run id),
    the searcher's ``name`` when None.

    ``seed_rules`` (rule text or named rules) are evaluated first and told to the searcher; they
    count towards the budget. ``progress(done, results)`` is called after every batch. The run is
    written under its lease (:mod:`optsearch.evaluation.lease`): another process on the same run
    waits ``lease_wait_s`` and then fails with ``RunLeased``.

    Resuming: proposal ``i`` of the run is stored with index ``i``. The searcher restarts from its
    last checkpoint (taken after a whole batch was told) and asks again; every proposal whose index
    already has a result is answered from the store, so a half-finished batch is completed, never
    recorded twice.
    """
    if budget < 1:
        raise ValueError(f"budget must be at least 1, got {budget}")
    seed = searcher.seed
    name = label if label is not None else searcher.name
    run_id = run_id or default_run_id(name, seed, evaluator.task)
    store = evaluator.store
    seeds = [resolve_rule(text) for text in seed_rules]
    with run_lease(store, run_id, wait_s=lease_wait_s):
        store.start_run(run_id, name, seed, evaluator.task, budget, {"groups": searcher.groups})
        recorded = stored_proposals(store, run_id, budget)
        blob = store.load_checkpoint(run_id, CHECKPOINT)
        checkpoint = load_state(blob) if blob is not None else None
        told = 0
        # A checkpoint is used only when every proposal it has seen is stored (a store of an
        # older version may lack some); otherwise the searcher starts again from its seed and
        # the stored proposals are replayed by index.
        if checkpoint is not None and all(i in recorded for i in range(min(int(checkpoint["told"]), budget))):
            searcher.load_state_dict(checkpoint["state"])
            told = min(int(checkpoint["told"]), budget)
        history = [recorded[i] for i in range(told)]
        while len(history) < budget:
            start = len(history)
            n = min(batch_size, budget - start)
            exprs = seeds[start : start + n] if start < len(seeds) else searcher.ask(n)
            indices = list(range(start, start + len(exprs)))
            results: list[Optional[EvalResult]] = [recorded.get(i) for i in indices]
            for k, result in enumerate(results):
                if result is not None and result.rule != str(exprs[k]):
                    exprs[k] = parse(result.rule)  # a searcher that is not deterministic: tell what was stored
            fresh = [k for k, r in enumerate(results) if r is None]
            if fresh:
                evaluated = evaluator.evaluate(
                    [exprs[k] for k in fresh],
                    seed=seed,
                    searcher=name,
                    run_id=run_id,
                    tokens=[_tokens_for(exprs[k], searcher.groups) for k in fresh],
                    indices=[indices[k] for k in fresh],
                )
                for k, result in zip(fresh, evaluated):
                    results[k] = result
            searcher.tell(exprs, results)  # type: ignore[arg-type]
            history.extend(results)  # type: ignore[arg-type]
            store.save_checkpoint(run_id, CHECKPOINT, save_state({"state": searcher.state_dict(), "told": len(history)}))
            if progress is not None:
                progress(len(history), history)
        store.finish_run(run_id)
    return SearchOutcome(run_id, name, seed, tuple(history))
