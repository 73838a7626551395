"""Evaluate one rule, and optionally the baselines, with a fresh evaluator: ``optsearch eval``.

:func:`evaluate_rule` returns a :class:`RuleEvaluation`: the results by label (``"rule"``, then
each baseline's name), the evaluator's task, steps and learning rates, and, when the store could
not be written, that :class:`~.store.StoreError` along with the results finished before it.
:meth:`RuleEvaluation.to_dict` is its one JSON form (each result as :meth:`EvalResult.to_dict`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from .config import EvalConfig
from .executor import DEFAULT_BACKEND
from .records import EvalResult
from .store import StoreError

RULE_LABEL = "rule"


@dataclass(frozen=True)
class RuleEvaluation:
    """What :func:`evaluate_rule` found. ``results`` maps a label to its result, in order."""

    results: dict[str, EvalResult]
    task: str
    seed: int
    steps: int
    lrs: tuple[float, ...]
    error: Optional[StoreError] = None

    def to_dict(self, *, baselines: bool = False) -> Optional[dict[str, Any]]:
        """The rule's result as strict JSON, with ``"baselines"`` (label -> result) when asked;
        None when the rule itself has no result (a store error came first)."""
        results = dict(self.results)
        rule = results.pop(RULE_LABEL, None)
        if rule is None:
            return None
        payload = rule.to_dict()
        if baselines:
            payload["baselines"] = {label: result.to_dict() for label, result in results.items()}
        return payload


def evaluate_rule(
    rule: Any,
    config: EvalConfig,
    *,
    baselines: bool = False,
    seed: int = 0,
    store: Any = None,
    backend: str = DEFAULT_BACKEND,
    workers: Optional[int] = None,
    data_dir: Optional[str] = None,
    download: bool = False,
) -> RuleEvaluation:
    """Train the child with ``rule`` (and with adam, momentum and sgd when ``baselines``).

    ``download`` fetches the task's dataset first (CIFAR-10). The evaluations are recorded as run
    ``"eval"`` of searcher ``"eval"``. A :class:`~.store.StoreError` is returned in
    :attr:`RuleEvaluation.error` with what was finished, never lost, for the caller to raise.
    """
    from optsearch.dsl import resolve_rule
    from optsearch.dsl.library import BASELINE_NAMES

    from .evaluator import Evaluator

    rules = [(RULE_LABEL, resolve_rule(rule))]
    if baselines:
        rules += [(name, resolve_rule(name)) for name in BASELINE_NAMES]
    if download:
        from .tasks import get_task

        get_task(config.task, data_dir=data_dir, download=True)
    error: Optional[StoreError] = None
    with Evaluator(config, store=store, backend=backend, workers=workers, data_dir=data_dir) as evaluator:
        try:
            results = evaluator.evaluate([expr for _, expr in rules], seed=seed, searcher="eval", run_id="eval")
        except StoreError as caught:
            results, error = list(getattr(caught, "results", None) or []), caught
    labelled = {label: result for (label, _), result in zip(rules, results) if result is not None}
    return RuleEvaluation(
        labelled, evaluator.task, seed, evaluator.config.steps, tuple(evaluator.config.lrs), error
    )
