"""The typed meeting point of the evaluator and its callers (searchers, the environment).

Anything with this shape can score rules for a searcher: the shared
:class:`~optsearch.evaluation.evaluator.Evaluator`, or a user's own stand-in in a test.
"""

from __future__ import annotations

from typing import Optional, Protocol, Sequence, runtime_checkable

from optsearch.dsl.expr import Expr

from .records import EvalResult
from .store.base import Store


@runtime_checkable
class RewardSource(Protocol):
    """Scores rules: one :class:`EvalResult` per rule, in order, each recorded in ``store``."""

    store: Store

    @property
    def task(self) -> str:
        """The task every reward is measured on."""
        ...

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
        """Evaluate ``exprs`` with ``seed``; ``indices`` are their positions in run ``run_id``."""
        ...
