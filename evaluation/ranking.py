"""The best distinct rules: the one ranking behind every leaderboard of rules.

``best_distinct`` is the single implementation used by the table a search prints when it ends
(``optsearch search``), by every store's :meth:`~optsearch.evaluation.store.Store.top` (and so by
``optsearch show`` and ``optsearch transfer --store``), and by the comparison report's
:func:`~optsearch.evaluation.reports.leaderboard.leaderboard`.

The rule, once: items are grouped by ``key`` (the canonical form unless told otherwise); each group
is represented by its best-scored item; groups are ranked by that score, best first. A tie, inside
a group or between groups, goes to the item that comes first in the input (for a store: the
earliest stored). Items whose score is NaN rank after all others, in input order.
"""

from __future__ import annotations

import math
from typing import Callable, Hashable, Iterable, Optional, TypeVar

from .records import EvalResult

T = TypeVar("T")


def _canonical(result: EvalResult) -> str:
    return result.canonical


def _reward(result: EvalResult) -> float:
    return result.reward


def best_distinct(
    items: Iterable[T],
    k: Optional[int] = None,
    *,
    key: Optional[Callable[[T], Hashable]] = _canonical,
    score: Callable[[T], float] = _reward,
) -> list[T]:
    """The ``k`` best groups of ``items`` (every group when ``k`` is None), best first, each as its
    best-scored item.

    Defaults suit :class:`~optsearch.evaluation.records.EvalResult`: grouped by canonical form,
    scored by reward. ``key=None`` groups nothing (every item ranked on its own). Ties go to the
    earlier item; a NaN score ranks last.
    """
    if k is not None and k < 0:
        raise ValueError(f"k must be None or >= 0, not {k}")

    def rank(item: T) -> tuple[bool, float]:
        value = score(item)
        return (True, 0.0) if math.isnan(value) else (False, -value)

    seen: set[Hashable] = set()
    best: list[T] = []
    for item in sorted(items, key=rank):  # stable: equal scores keep the input's order
        if len(best) == k:
            break
        if key is not None:
            group = key(item)
            if group in seen:
                continue
            seen.add(group)
        best.append(item)
    return best
