"""The best distinct rules of a set of results: the leaderboard a search prints when it ends.

Two results are the same rule when their canonical forms are equal; each rule is ranked by its
best reward (ties keep the order of ``results``).
"""

from __future__ import annotations

from typing import Iterable, Optional

from .records import EvalResult


def best_distinct(results: Iterable[EvalResult], k: Optional[int] = None) -> list[EvalResult]:
    """The results of the ``k`` best rules (every rule when ``k`` is None), best first, one per
    canonical form: the best-rewarded result of each."""
    seen: set[str] = set()
    best: list[EvalResult] = []
    for result in sorted(results, key=lambda r: -r.reward):
        if result.canonical in seen:
            continue
        seen.add(result.canonical)
        best.append(result)
        if len(best) == k:
            break
    return best
