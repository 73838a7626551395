"""The one evaluator every searcher shares: cache → screen → train (with hurdle) → store.

``Evaluator.evaluate(exprs, seed=...)`` returns one :class:`EvalResult` per rule, in order:

1. the rule's canonical form and functional fingerprint are computed;
2. a cache keyed by (fingerprint, task, config hash, seed) answers rules seen before — by this
   evaluator, by another searcher, or by an earlier run in the same store — at zero cost, and equal
   rules inside one batch are trained once;
3. the screen resolves rules that cannot decrease a quadratic (status ``screened``); the rules
   the cache does not answer reach the source's ``prepare_scoring`` first, in one batch (a bench
   computes their screen verdicts and predictions only then);
4. the rest go to the task's **reward source** in one call (:mod:`.rewards`): live training on
   the executor's workers (``serial``, ``process`` or ``ray``), grouped into populations (several
   rules as one stacked child per worker, :mod:`.grouping`; a rule's result is the same as
   alone), with the early hurdle; or a bench's answers. Each result is written to the store the
   moment it is final, so an interrupted search loses nothing.

A rule's reward depends on the rule, the seed and the config alone, never on what was proposed
before: searchers sharing an evaluator are scored identically.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Optional, Sequence, Union

from optsearch.dsl import Expr, canonical

from .config import FLOOR_REWARD, EvalConfig
from .executor import DEFAULT_BACKEND, Executor, make_executor
from .grouping import resolve_population_size
from .records import ERROR, SCREENED, EvalResult, Outcome, Proposal
from .rewards import RewardSource
from .screen import SCREEN_COST
from .store import Store, StoreError, open_store

MAX_SEED = 2**63 - 1  # what the store (SQLite INTEGER) and torch's generators hold


class Evaluator:
    """Scores rules for every searcher of a comparison with one budget, cache and ledger.

    ``store``: a :class:`~.store.Store` or a path of a SQLite store (``None``: an in-memory store).
    ``backend``/``workers``/``address``: how children are trained (see :mod:`.executor`).
    """

    def __init__(
        self,
        config: EvalConfig = EvalConfig(),
        *,
        store: Union[Store, str, Path, None] = None,
        backend: Union[str, Executor] = DEFAULT_BACKEND,
        workers: Optional[int] = None,
        address: Optional[str] = None,
        data_dir: Optional[str] = None,
    ):
        from .rewards import open_source, source_info
        from .tasks import get_task, spec_for
        from .training.device import device_name

        info = source_info(config.task)
        # A source that does not train (a bench) needs only the live task's budget, never its data.
        defaults = get_task(config.task, data_dir=data_dir).defaults if info.trains else spec_for(config.task).defaults
        config = replace(config, device=device_name(config.device))
        self.config = config.with_task_defaults(defaults)
        self.config_hash = self.config.config_hash()
        if not info.trains and isinstance(backend, str):
            backend, workers, address = "serial", None, None  # answers in this process need no workers
        assert self.config.device is not None
        #: Rules trained together as one stacked child per worker (see :mod:`.grouping`).
        self.population_size = resolve_population_size(self.config.population_size, self.config.device)
        self.data_dir = data_dir
        self.store: Store = open_store(store)
        self._owns_executor = not isinstance(backend, Executor)
        self.executor = (
            make_executor(
                backend,
                workers,
                address=address,
                job_timeout_s=self.config.time_limit_s * 2 * self.population_size + 60,
                preload=("optsearch.evaluation.training",),
            )
            if isinstance(backend, str)
            else backend
        )
        #: What scores the rules that pass the screen: live training, or a bench's answers (:mod:`.rewards`).
        self.source: RewardSource = open_source(self.config, self.executor, self.population_size, data_dir)
        if self.source.version_tag:
            # A bench answers from its table, so its results belong to that table: a store keeps
            # the answers of each table version apart, and a grown table is never answered from
            # the results an older one gave (a run resumed across versions would mix them).
            tagged = f"{self.config_hash}:{self.source.version_tag}".encode()
            self.config_hash = hashlib.sha256(tagged).hexdigest()[:12]
        self._screen_verdicts: dict[str, bool] = {}
        self._write_error: Optional[StoreError] = None
        self.trainings = 0

    # -- lifecycle -------------------------------------------------------------------------------
    def close(self) -> None:
        """Stop the workers (the store stays open if it was passed in)."""
        if self._owns_executor:
            self.executor.close()

    def __enter__(self) -> "Evaluator":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def task(self) -> str:
        return self.config.task

    # -- the cache -----------------------------------------------------------------------------
    def _cached(self, fp: str, seed: int) -> Optional[EvalResult]:
        return self.store.lookup(fp, self.config.task, self.config_hash, seed)

    def _remember(self, result: EvalResult) -> EvalResult:
        if self._write_error is None:
            try:
                self.store.record(result)
            except StoreError as error:  # keep evaluating: the results reach the caller with it
                self._write_error = error
        return result

    def _screen(self, expr: Expr, fp: str) -> bool:
        if fp not in self._screen_verdicts:
            self._screen_verdicts[fp] = self.source.passes_screen(expr, fp)
        return self._screen_verdicts[fp]

    # -- evaluation ----------------------------------------------------------------------------
    def evaluate(
        self,
        exprs: Sequence[Expr],
        *,
        seed: int,
        searcher: str = "",
        run_id: str = "",
        tokens: Optional[Sequence[Optional[Sequence[str]]]] = None,
        indices: Optional[Sequence[int]] = None,
    ) -> list[EvalResult]:
        """One result per rule, in order; every result is in the store when this returns.

        ``indices`` are the proposals' positions in the run ``run_id`` (stored with each result).
        When the store cannot be written, every rule is still evaluated and a
        :class:`StoreError` is raised at the end, carrying the results in ``error.results``.
        """
        if not 0 <= int(seed) <= MAX_SEED:
            raise ValueError(f"seed must be between 0 and 2**63 - 1, got {seed}")
        if indices is not None and len(indices) != len(exprs):
            raise ValueError(f"{len(indices)} proposal indices for {len(exprs)} rules")
        self.source.prepare(exprs)
        identified = [
            self._proposal(
                expr,
                seed=seed,
                searcher=searcher,
                run_id=run_id,
                tokens=tokens[position] if tokens is not None else None,
                index=indices[position] if indices is not None else None,
            )
            for position, expr in enumerate(exprs)
        ]
        hits = self._look_up(exprs, identified, seed)
        results: list[Optional[EvalResult]] = [None] * len(exprs)
        waiting: dict[str, list[int]] = {}  # fingerprint -> indices of proposals awaiting training
        jobs: list[tuple[int, str]] = []  # (position, rule text) of each training
        proposals: list[Proposal] = []
        for position, (expr, (proposal, error)) in enumerate(zip(exprs, identified)):
            started = time.perf_counter()
            proposals.append(proposal)
            if error is not None:  # a rule that cannot even be probed is data, not a crash
                results[position] = self._remember(
                    EvalResult.of(proposal, Outcome(ERROR, FLOOR_REWARD, detail=f"{type(error).__name__}: {error}"))
                )
                continue
            fp = proposal.fingerprint
            if fp in waiting:
                waiting[fp].append(position)
                continue
            hit = hits.get(fp)
            if hit is not None:
                results[position] = self._remember(self._as_cache_hit(hit, proposal, started))
                continue
            if self.config.screen and not self._screen(expr, fp):
                outcome = Outcome(SCREENED, FLOOR_REWARD, cost=SCREEN_COST, wall_s=time.perf_counter() - started)
                results[position] = self._remember(EvalResult.of(proposal, outcome))
                continue
            waiting[fp] = [position]
            jobs.append((position, proposal.rule))

        def finish(position: int, outcome: Outcome) -> None:
            proposal = proposals[position]
            if outcome.status != ERROR:
                self.trainings += 1
            result = results[position] = self._remember(EvalResult.of(proposal, outcome))
            for duplicate in waiting[proposal.fingerprint][1:]:
                results[duplicate] = self._remember(self._as_cache_hit(result, proposals[duplicate], time.perf_counter()))

        self.source.objective(
            [exprs[position] for position, _ in jobs],
            [proposals[position].fingerprint for position, _ in jobs],
            seed,
            lambda number, outcome: finish(jobs[number][0], outcome),
        )
        if self._write_error is not None:
            error, self._write_error = self._write_error, None
            error.results = list(results)
            raise error
        return results  # type: ignore[return-value]

    def _look_up(self, exprs: Sequence[Expr], identified: Sequence[tuple[Proposal, Optional[Exception]]], seed: int) -> dict[str, EvalResult]:
        """The cache's results on ``seed`` for the batch's fingerprints; the rules it does not answer
        (the first of each fingerprint, not already screened out) go to the source's
        ``prepare_scoring`` in one batch, so that only they are screened and scored."""
        hits: dict[str, EvalResult] = {}
        misses: dict[str, Expr] = {}
        for expr, (proposal, error) in zip(exprs, identified):
            fp = proposal.fingerprint
            if error is not None or fp in hits or fp in misses:
                continue
            hit = self._cached(fp, seed)
            if hit is not None:
                hits[fp] = hit
            elif not (self.config.screen and self._screen_verdicts.get(fp) is False):
                misses[fp] = expr
        if misses:
            self.source.prepare_scoring(list(misses.values()))
        return hits

    def _proposal(
        self,
        expr: Expr,
        *,
        seed: int,
        searcher: str,
        run_id: str,
        tokens: Optional[Sequence[str]],
        index: Optional[int],
    ) -> tuple[Proposal, Optional[Exception]]:
        """The proposal for ``expr``, and the error that kept it from being probed (or None)."""
        context = dict(
            rule=str(expr),
            task=self.config.task,
            config_hash=self.config_hash,
            seed=seed,
            searcher=searcher,
            run_id=run_id,
            tokens=tuple(tokens) if tokens is not None else None,
            index=int(index) if index is not None else None,
        )
        try:
            identity = dict(canonical=str(canonical(expr)), fingerprint=self.source.fingerprint(expr))
        except Exception as error:
            return Proposal(canonical=str(expr), fingerprint="error-" + uuid.uuid4().hex[:8], **context), error
        return Proposal(**identity, **context), None

    @staticmethod
    def _as_cache_hit(hit: EvalResult, proposal: Proposal, started: float) -> EvalResult:
        """``hit``'s outcome for ``proposal``, at no cost."""
        outcome = replace(hit.outcome, cost=0.0, wall_s=time.perf_counter() - started)
        return EvalResult.of(proposal, outcome, cached=True)

