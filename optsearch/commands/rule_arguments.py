"""Rules as a user writes them on a command line, and rules written out in each export format.

- :func:`resolve_rule_argument`: a rule from one argument: a named rule (``powersign``), rule text
  (``g * exp(sign(g) * sign(m))``) or tokens separated by spaces (``g g id id add``).
- :func:`resolve_rule_list`: the rules of a comma-separated list (``adam,powersign``), each checked.
- :func:`format_rule`: a rule as ``text``, ``latex``, ``tokens`` or ``json`` (:data:`RULE_FORMATS`).
- :func:`latex_or_blank`: the LaTeX of stored rule text, or ``""`` when it no longer parses.

Bad input raises the language's own errors: :class:`~optsearch.dsl.parser.ParseError` for text, and
:class:`~optsearch.dsl.tokens.TokenError` (naming the bad token and its position) for tokens.
"""

from __future__ import annotations

import json
from typing import Optional

from optsearch.dsl.canonical import canonical
from optsearch.dsl.expr import Expr
from optsearch.dsl.fingerprint import fingerprint
from optsearch.dsl.optimizer import resolve_rule
from optsearch.dsl.parser import ParseError, parse
from optsearch.dsl.printer import to_latex
from optsearch.dsl.tokens import from_tokens, to_tokens

#: The formats :func:`format_rule` writes.
RULE_FORMATS = ("text", "latex", "tokens", "json")

_GROUP = 5  # tokens per group: a whole number of groups is read as tokens


def resolve_rule_argument(text: str) -> Expr:
    """A rule from a command-line argument: a named rule, rule text, or tokens separated by spaces.

    Text that does not parse is read as tokens when it is a whole number of 5-token groups;
    otherwise the text's :class:`~optsearch.dsl.parser.ParseError` is raised.
    """
    try:
        return resolve_rule(text)
    except ParseError:
        words = text.split()
        if len(words) >= _GROUP and len(words) % _GROUP == 0:
            return from_tokens(words)  # a TokenError names the bad token and its position
        raise


def resolve_rule_list(text: Optional[str]) -> tuple[str, ...]:
    """The rules of a comma-separated list, as given (empty items skipped), each checked to resolve."""
    rules = tuple(rule for rule in (text or "").split(",") if rule)
    for rule in rules:
        resolve_rule_argument(rule)  # reject a bad rule before any work
    return rules


def format_rule(expr: Expr, fmt: str = "text", *, groups: Optional[int] = None) -> str:
    """``expr`` written as ``text``, ``latex``, ``tokens`` (``groups`` groups exactly, when given)
    or ``json`` (one object: text, canonical form, LaTeX, tokens and fingerprint).

    Raises ``ValueError`` for an unknown format, or when the rule does not fit in ``groups``.
    """
    if fmt == "text":
        return str(expr)
    if fmt == "latex":
        return to_latex(expr)
    if fmt == "tokens":
        return " ".join(to_tokens(expr, groups))
    if fmt == "json":
        return json.dumps(
            {
                "text": str(expr),
                "canonical": str(canonical(expr)),
                "latex": to_latex(expr),
                "tokens": to_tokens(expr),
                "fingerprint": fingerprint(expr),
            }
        )
    raise ValueError(f"unknown format {fmt!r}; formats are {', '.join(RULE_FORMATS)}")


def latex_or_blank(text: str) -> str:
    """The LaTeX of rule ``text``, or ``""`` when it does not parse (a rule stored by an older language)."""
    try:
        return to_latex(parse(text))
    except ParseError:
        return ""
