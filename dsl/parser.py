"""Reading rules from text: ``parse("exp(sign(g) * sign(m)) * g")``.

Grammar (precedence as in mathematics, ``^`` right-associative)::

    sum     := product (("+" | "-") product)*
    product := signed (("*" | "/") signed)*
    signed  := "-" signed | power
    power   := primary ("^" signed)?
    primary := OPERAND | WEIGHT "*" "w" | NAME "(" args ")" | "(" sum ")"

A hand-written operator-precedence parser: user text is never handed to ``eval``. It keeps its own
stacks instead of recursing, so no input text, however long or deeply nested, can exhaust the
Python stack; rules deeper than :data:`~optsearch.dsl.expr.MAX_DEPTH` levels, or with more than
:data:`MAX_NESTING` brackets and function calls open at once, are a :class:`ParseError`. The work
is linear in the length of the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

from .expr import MAX_DEPTH, Binary, Expr, Operand, RuleTooDeepError, Unary
from .primitives import (
    BINARY_BY_SYMBOL,
    CLIP_BOUNDS,
    DROP_RATES,
    OPERAND_BY_NAME,
    WEIGHT_SCALES,
)

MAX_NESTING = MAX_DEPTH
"""Brackets and function calls open at once. A printed tree never needs more than one a level."""


class ParseError(ValueError):
    """A rule's text is malformed; the message names the position and what was expected."""

    def __init__(self, message: str, text: str, position: int):
        self.message = message
        self.text = text
        self.position = position
        super().__init__(f"{message} at position {position} in {text!r}")


@dataclass(frozen=True)
class _Token:
    kind: str  # "number", "name", "symbol", "end"
    value: str
    position: int


_TOKEN_RE = re.compile(
    r"(?P<number>(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<symbol>[-+*/^(),])"
)

_NAMED_OPERANDS = {name for name, spec in OPERAND_BY_NAME.items() if not spec.name.endswith("*w")} - {
    "1",
    "2",
}
_SIMPLE_FUNCTIONS = ("exp", "log", "sqrt", "sign")
_TWO_ARGUMENT_FUNCTIONS = ("clip", "drop", "keep")
_CONSTANTS = {1.0: "1", 2.0: "2"}
_WEIGHT_SCALE_BY_VALUE = {float(s): s for s in WEIGHT_SCALES}
_CLIP_BY_VALUE = {float(c): c for c in CLIP_BOUNDS}
_DROP_BY_VALUE = {float(p): p for p in DROP_RATES}

_BINARY_SYMBOLS = tuple(BINARY_BY_SYMBOL)
_NEGATION_PRECEDENCE = 3  # looser than "^", tighter than "*" and "/"
_TOO_DEEP = f"rule is nested deeper than {MAX_DEPTH} levels"


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(text):
        if text[position].isspace():
            position += 1
            continue
        match = _TOKEN_RE.match(text, position)
        if match is None:
            raise ParseError(f"unexpected character {text[position]!r}", text, position)
        kind = match.lastgroup or "symbol"
        tokens.append(_Token(kind, match.group(), position))
        position = match.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


def _describe(token: _Token) -> str:
    return "end of text" if token.kind == "end" else repr(token.value)


@dataclass(frozen=True)
class _Operator:
    """An operator waiting for its right operand: a binary one, or a prefix minus (``name="neg"``)."""

    name: str
    precedence: int
    position: int

    @property
    def is_prefix(self) -> bool:
        return self.name == "neg"


@dataclass
class _Group:
    """The text between an opening and its closing: the whole rule, a bracket or a function call.

    Within a group, operands and pending operators wait on two stacks (shunting-yard).
    """

    opener: Optional[_Token] = None  # None for the whole rule
    function: Optional[str] = None  # None for the whole rule and for a bracket
    arguments: list[Expr] = field(default_factory=list)  # finished arguments of a function call
    parameter: Optional[str] = None  # the clip bound or drop rate, as text
    operands: list[Expr] = field(default_factory=list)
    operators: list[_Operator] = field(default_factory=list)

    def closer(self) -> tuple[str, str]:
        """The symbol that ends the group's current part (a bracket or a call), and its context."""
        if self.function is None:
            return ")", "to close '('"
        if self.function in _TWO_ARGUMENT_FUNCTIONS and not self.arguments:
            return ",", f"between the arguments of {self.function}("
        return ")", f"to close {self.function}("


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = _tokenize(text)
        self.index = 0
        self.groups = [_Group()]

    # -- helpers ---------------------------------------------------------------------------
    @property
    def current(self) -> _Token:
        return self.tokens[self.index]

    def error(self, message: str, token: Optional[_Token] = None) -> ParseError:
        token = token or self.current
        return ParseError(message, self.text, token.position)

    def advance(self) -> _Token:
        token = self.current
        self.index += 1
        return token

    def at_symbol(self, *symbols: str) -> bool:
        return self.current.kind == "symbol" and self.current.value in symbols

    def expect_symbol(self, symbol: str, context: str) -> None:
        if not self.at_symbol(symbol):
            raise self.error(f"expected {symbol!r} {context}, found {_describe(self.current)}")
        self.advance()

    def node(self, position: int, kind: type, *fields) -> Expr:
        """``kind(*fields)``, or a :class:`ParseError` at ``position`` if that is too deep."""
        try:
            return kind(*fields)
        except RuleTooDeepError:
            raise ParseError(_TOO_DEEP, self.text, position) from None

    def open(self, opener: _Token, function: Optional[str] = None) -> None:
        if len(self.groups) > MAX_NESTING:
            raise self.error(f"rule is nested deeper than {MAX_NESTING} levels", opener)
        self.groups.append(_Group(opener, function))

    # -- the main loop ---------------------------------------------------------------------
    def parse(self) -> Expr:
        if self.current.kind == "end":
            raise self.error("empty rule: expected an operand such as g, m or adam")
        expecting_operand = True
        while True:
            if expecting_operand:
                self.operand()
                expecting_operand = False
            elif self.at_symbol(*_BINARY_SYMBOLS):
                self.binary_operator(self.advance())
                expecting_operand = True
            elif self.groups[-1].opener is None:
                return self.end()
            else:
                expecting_operand = self.close()

    def operand(self) -> None:
        """Read prefix minuses, brackets and function heads up to and including one operand."""
        while True:
            token = self.current
            group = self.groups[-1]
            if self.at_symbol("-"):
                self.advance()
                group.operators.append(_Operator("neg", _NEGATION_PRECEDENCE, token.position))
            elif self.at_symbol("("):
                self.open(self.advance())
            elif token.kind == "number":
                group.operands.append(self.number())
                return
            elif token.kind == "name":
                operand = self.name()
                if operand is not None:
                    group.operands.append(operand)
                    return
            else:
                raise self.error(f"unexpected {_describe(token)}; expected an operand, a function or '('")

    def binary_operator(self, token: _Token) -> None:
        spec = BINARY_BY_SYMBOL[token.value]
        group = self.groups[-1]
        right_associative = spec.name == "pow"
        while group.operators:
            top = group.operators[-1]
            if top.precedence < spec.precedence or (top.precedence == spec.precedence and right_associative):
                break
            self.reduce(group)
        group.operators.append(_Operator(spec.name, spec.precedence, token.position))

    def reduce(self, group: _Group) -> None:
        """Apply the group's most recent pending operator to its operands."""
        operator = group.operators.pop()
        if operator.is_prefix:
            group.operands.append(self.node(operator.position, Unary, "neg", group.operands.pop()))
            return
        right = group.operands.pop()
        left = group.operands.pop()
        group.operands.append(self.node(operator.position, Binary, operator.name, left, right))

    def finish(self, group: _Group) -> Expr:
        """The value of the group's current part: every pending operator applied."""
        while group.operators:
            self.reduce(group)
        (value,) = group.operands
        group.operands.clear()
        return value

    def end(self) -> Expr:
        """The whole rule, once nothing but the end of the text is left."""
        if self.current.kind != "end":
            raise self.error(f"unexpected {_describe(self.current)}; expected an operator or end of rule")
        return self.finish(self.groups[0])

    def close(self) -> bool:
        """Consume the ``)`` or ``,`` that ends the innermost group's current part.

        Returns whether an operand must follow (after the ``,`` of ``keep(``).
        """
        group = self.groups[-1]
        symbol, context = group.closer()
        self.expect_symbol(symbol, context)
        group.arguments.append(self.finish(group))
        if symbol == ",":
            if group.function == "keep":
                return True
            group.parameter = self.parameter(group.function)  # type: ignore[arg-type]
            self.expect_symbol(")", f"to close {group.function}(")
        self.groups.pop()
        self.groups[-1].operands.append(self.closed(group))
        return False

    def closed(self, group: _Group) -> Expr:
        """The node a closed bracket or function call stands for."""
        opener, function, arguments = group.opener, group.function, group.arguments
        assert opener is not None
        if function is None:
            return arguments[0]
        if function == "keep":
            return self.node(opener.position, Binary, "keep", *arguments)
        if function in _SIMPLE_FUNCTIONS:
            return self.node(opener.position, Unary, function, arguments[0])
        return self.node(opener.position, Unary, f"{function}{group.parameter}", arguments[0])

    # -- operands and function heads -------------------------------------------------------
    def number(self) -> Expr:
        token = self.advance()
        value = float(token.value)
        if value in _CONSTANTS:
            return Operand(_CONSTANTS[value])
        if value in _WEIGHT_SCALE_BY_VALUE:
            scale = _WEIGHT_SCALE_BY_VALUE[value]
            if self.at_symbol("*") and self.tokens[self.index + 1].value == "w":
                self.index += 2
                return Operand(f"{scale}*w")
            raise self.error(f"{token.value} may only appear as the weight term '{scale} * w'", token)
        raise self.error(
            f"constant {token.value} is not in the language: constants are 1 and 2, "
            f"weight terms are {', '.join(s + ' * w' for s in WEIGHT_SCALES)}",
            token,
        )

    def name(self) -> Optional[Expr]:
        """An operand, or ``None`` after opening a function call."""
        token = self.advance()
        name = token.value
        if name in _NAMED_OPERANDS:
            if self.at_symbol("("):
                raise self.error(f"{name!r} is an operand, not a function")
            return Operand(name)
        if name == "w":
            raise self.error(
                f"the weights appear only scaled: {', '.join(s + ' * w' for s in WEIGHT_SCALES)}", token
            )
        if name in _SIMPLE_FUNCTIONS or name in _TWO_ARGUMENT_FUNCTIONS:
            self.expect_symbol("(", f"after {name!r}")
            self.open(token, name)
            return None
        raise self.error(
            f"unknown name {name!r}; operands are {', '.join(sorted(_NAMED_OPERANDS))}, 1, 2 and weight "
            f"terms; functions are exp, log, sqrt, sign, clip, drop, keep",
            token,
        )

    def parameter(self, function: str) -> str:
        """The clip bound or drop rate after the ``,`` of ``clip(`` or ``drop(``, as its text."""
        allowed = _CLIP_BY_VALUE if function == "clip" else _DROP_BY_VALUE
        what = "clip bound" if function == "clip" else "drop rate"
        token = self.current
        value = None
        if token.kind == "number":
            self.advance()
            value = float(token.value)
        if value not in allowed:
            raise self.error(f"{what} must be one of {', '.join(allowed.values())}", token)
        return allowed[value]


def parse(text: str) -> Expr:
    """Read a rule from text; raises :class:`ParseError` naming the position on malformed input.

    >>> str(parse("exp(sign(g)*sign(m)) * g"))
    'exp(sign(g) * sign(m)) * g'
    """
    if not isinstance(text, str):
        raise TypeError(f"parse expects a str, got {type(text).__name__}")
    return _Parser(text).parse()
