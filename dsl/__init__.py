"""The language of update rules (Bello et al. 2017): ``Δw = λ · b(u1(op1), u2(op2))``, as trees.

Public API::

    from optsearch.dsl import parse, to_tokens, from_tokens, canonical, simplify, fingerprint, ParseError, DSLOptimizer

Trees are at most :data:`MAX_DEPTH` levels deep; making a deeper one raises :class:`RuleTooDeepError`
(``parse`` and ``from_tokens`` report it as their own ``ParseError`` and ``TokenError``).
"""

from .canonical import canonical
from .compiler import RuleConfig, UpdateRule, compile_rule
from .expr import MAX_DEPTH, Binary, Expr, Operand, RuleTooDeepError, Unary
from .fingerprint import fingerprint
from .library import NAMED_RULES
from .optimizer import DSLOptimizer, resolve_rule
from .parser import ParseError, parse
from .printer import to_latex, to_text
from .simplify import Simplified, simplify, simplify_checked
from .tokens import (
    GROUP_SIZE,
    TokenError,
    Vocabulary,
    from_tokens,
    groups_needed,
    random_tokens,
    to_tokens,
    valid_tokens,
)

compile = compile_rule  # the design card's name; shadows the builtin only inside this namespace

__all__ = [
    "Binary",
    "DSLOptimizer",
    "Expr",
    "GROUP_SIZE",
    "MAX_DEPTH",
    "NAMED_RULES",
    "Operand",
    "ParseError",
    "RuleConfig",
    "RuleTooDeepError",
    "Simplified",
    "TokenError",
    "Unary",
    "UpdateRule",
    "Vocabulary",
    "canonical",
    "compile",
    "compile_rule",
    "fingerprint",
    "from_tokens",
    "groups_needed",
    "parse",
    "random_tokens",
    "resolve_rule",
    "simplify",
    "simplify_checked",
    "to_latex",
    "to_text",
    "to_tokens",
    "valid_tokens",
]
