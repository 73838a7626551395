"""One driver runs any ask/tell searcher to an exact budget of proposals, resumably.

Budget = rule proposals resolved: cache hits and screened rules count, since they are what the
searcher asked for. After every batch the searcher's state and the number of proposals told are
checkpointed in the results store, and every proposal is stored with its index in the run, so a
search killed at any moment and started again with the same store, searcher, seed and run id
continues where it was: proposals already evaluated (even those of the interrupted batch) are
replayed from the store by index, never trained again nor recorded twice. The run's lease, store
records and checkpoint are those of :class:`~.lifecycle.SearchRun`; this module only asks and tells.
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

from optsearch.dsl import Expr, parse, resolve_rule, to_tokens
from optsearch.evaluation.interfaces import RewardSource
from optsearch.evaluation.records import EvalResult

from .base import Searcher
from .lifecycle import SearchOutcome, SearchRun

#: The name of the searcher's checkpoint in the store: ``{"state": searcher.state_dict(), "told": n}``.
CHECKPOINT = "searcher"


def _tokens_for(expr: Expr, groups: int) -> Optional[tuple[str, ...]]:
    try:
        return tuple(to_tokens(expr, groups))
    except ValueError:
        return None


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
    waits ``lease_wait_s`` and then fails with ``RunLeased``. The lease, the store's run record and
    the checkpoint are the run's :class:`~.lifecycle.SearchRun`'s.

    Resuming: proposal ``i`` of the run is stored with index ``i``. The searcher restarts from its
    last checkpoint (taken after a whole batch was told), when every proposal it had been told is
    stored, and asks again; every proposal whose index already has a result is answered from the
    store, so a half-finished batch is completed, never recorded twice.
    """
    name = label if label is not None else searcher.name
    run = SearchRun(
        evaluator,
        label=name,
        seed=searcher.seed,
        budget=budget,
        config={"groups": searcher.groups},
        checkpoint=CHECKPOINT,
        run_id=run_id,
        lease_wait_s=lease_wait_s,
    )
    seeds = [resolve_rule(text) for text in seed_rules]
    with run:
        history: list[EvalResult] = []
        checkpoint = run.load_checkpoint()
        # Without every proposal the checkpoint has seen, the searcher starts again from its seed.
        if checkpoint is not None and (told := run.stored_through(checkpoint["told"])) is not None:
            searcher.load_state_dict(checkpoint["state"])
            history = told
        while len(history) < budget:
            start = len(history)
            n = min(batch_size, budget - start)
            exprs = seeds[start : start + n] if start < len(seeds) else searcher.ask(n)
            indices = list(range(start, start + len(exprs)))
            results: list[Optional[EvalResult]] = [run.stored.get(i) for i in indices]
            for k, result in enumerate(results):
                if result is not None and result.rule != str(exprs[k]):
                    exprs[k] = parse(result.rule)  # a searcher that is not deterministic: tell what was stored
            fresh = [k for k, r in enumerate(results) if r is None]
            if fresh:
                evaluated = evaluator.evaluate(
                    [exprs[k] for k in fresh],
                    seed=run.seed,
                    searcher=name,
                    run_id=run.run_id,
                    tokens=[_tokens_for(exprs[k], searcher.groups) for k in fresh],
                    indices=[indices[k] for k in fresh],
                )
                for k, result in zip(fresh, evaluated):
                    results[k] = result
            searcher.tell(exprs, results)  # type: ignore[arg-type]
            history.extend(results)  # type: ignore[arg-type]
            run.save_checkpoint({"state": searcher.state_dict(), "told": len(history)})
            if progress is not None:
                progress(len(history), history)
    return run.outcome(history)
