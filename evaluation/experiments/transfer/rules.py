"""Which rules a transfer trains: the requested ones merged with the baselines, or a search's best."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping, Optional, Sequence, Union

from optsearch.dsl.fingerprint import fingerprint
from optsearch.dsl.library import BASELINE_NAMES, NAMED_RULES
from optsearch.dsl.optimizer import resolve_rule
from optsearch.dsl.printer import to_text

from ...records import DIVERGED, ERROR, NAN

__all__ = ["entries", "rules_from_store"]

_UNUSABLE = (NAN, DIVERGED, ERROR, "screened", "hurdle")


def _rule_list(rules: Union[Mapping[str, str], Sequence[str]]) -> list[tuple[str, str]]:
    if isinstance(rules, str):
        raise TypeError("rules is a dict name -> rule text, or a list of rule names/texts, not one str")
    items = list(rules.items()) if isinstance(rules, Mapping) else [(r, r) for r in rules]
    return [(str(name).strip(), str(text)) for name, text in items]


def entries(rules: Union[Mapping[str, str], Sequence[str]]) -> tuple[list[tuple[str, str, bool]], list[str]]:
    """``[(name, text, baseline)]``: the requested rules, then the baselines; and notes on merges.

    Everything is parsed first, so a typo fails before any training. A requested rule that
    computes the same update as a baseline (same fingerprint) is left to the baseline; two
    requested rules computing the same update are trained once, under the first name.
    """
    baselines = {fingerprint(resolve_rule(b)): b for b in BASELINE_NAMES}
    found: list[tuple[str, str, bool]] = []
    seen: dict[str, str] = {}  # fingerprint -> name
    notes: list[str] = []
    for name, text in _rule_list(rules):
        try:
            expr = resolve_rule(text)
        except Exception as error:
            raise ValueError(f"rule {name!r}: cannot parse {text!r}: {error}") from error
        printed = fingerprint(expr)
        if name in BASELINE_NAMES and baselines.get(printed) != name:
            raise ValueError(f"{name!r} is a baseline's name; give the rule {text!r} another name")
        if printed in baselines:
            if name != baselines[printed]:
                notes.append(f"`{name}` (`{to_text(expr)}`) is the baseline `{baselines[printed]}`: reported as it")
            continue
        if printed in seen:
            notes.append(f"`{name}` (`{to_text(expr)}`) computes the same update as `{seen[printed]}`: trained once")
            continue
        if name in seen.values():
            raise ValueError(f"rule name {name!r} given twice with different rules")
        seen[printed] = name
        found.append((name, to_text(expr), False))
    found += [(b, to_text(resolve_rule(b)), True) for b in BASELINE_NAMES]
    return found, notes


def rules_from_store(store_path: Union[str, Path], k: int, *, task: Optional[str] = None) -> dict[str, str]:
    """The ``k`` best distinct rules (by canonical form) of a results store: ``{name: rule text}``.

    Uses :meth:`~optsearch.evaluation.store.Store.top` (best reward first), skipping
    rows without a finite reward or with a failed, screened or hurdle status. A rule equal to a
    named rule (``powersign``, …) is named so; others are named by their text. ``task`` restricts
    to one task's results. Raises :class:`~optsearch.evaluation.store.StoreError` when
    ``store_path`` is not a store.
    """
    from optsearch.dsl.canonical import canonical

    from ...store import SQLiteStore

    if k < 1:
        raise ValueError("k must be >= 1")
    named = {}
    for rule_name, text in NAMED_RULES.items():
        named.setdefault(to_text(canonical(resolve_rule(text))), rule_name)
    chosen: dict[str, str] = {}
    seen: set[str] = set()
    with SQLiteStore(store_path, create=False) as store:
        limit = k
        while True:
            rows = store.top(limit, task=task, distinct_canonical=True)
            for row in rows:
                if row.canonical in seen:
                    continue
                seen.add(row.canonical)
                if row.status in _UNUSABLE or row.reward is None or not math.isfinite(row.reward):
                    continue
                text = row.rule
                try:
                    key = to_text(canonical(resolve_rule(text)))
                except Exception:
                    continue
                chosen[named.get(key, text)] = text
                if len(chosen) == k:
                    return chosen
            if len(rows) < limit:
                return chosen
            limit *= 4
