"""The language of update rules (Bello et al. 2017): ``Δw = λ · b(u1(op1), u2(op2))``, as trees.

Public API::

    from optsearch.dsl import parse, to_tokens, from_tokens, canonical, fingerprint, ParseError, DSLOptimizer
"""

from .canonical import canonical
from .compiler import RuleConfig, UpdateRule, compile_rule
from .expr import Binary, Expr, Operand, Unary
from .fingerprint import fingerprint
from .library import NAMED_RULES
from .optimizer import DSLOptimizer, resolve_rule
from .parser import ParseError, parse
from .printer import to_latex, to_text
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
    "NAMED_RULES",
    "Operand",
    "ParseError",
    "RuleConfig",
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
    "to_latex",
    "to_text",
    "to_tokens",
    "valid_tokens",
]
