"""Reading rules from text: ``parse("exp(sign(g) * sign(m)) * g")``.

Grammar (precedence as in mathematics, ``^`` right-associative)::

    sum     := product (("+" | "-") product)*
    product := signed (("*" | "/") signed)*
    signed  := "-" signed | power
    power   := primary ("^" signed)?
    primary := OPERAND | WEIGHT "*" "w" | NAME "(" args ")" | "(" sum ")"

A hand-written recursive-descent parser: user text is never handed to ``eval``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .expr import Binary, Expr, Operand, Unary
from .primitives import (
    BINARY_BY_SYMBOL,
    CLIP_BOUNDS,
    DROP_RATES,
    OPERAND_BY_NAME,
    WEIGHT_SCALES,
)

MAX_NESTING = 100  # about 7 Python frames a level: well inside the default recursion limit


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
_CONSTANTS = {1.0: "1", 2.0: "2"}
_WEIGHT_SCALE_BY_VALUE = {float(s): s for s in WEIGHT_SCALES}
_CLIP_BY_VALUE = {float(c): c for c in CLIP_BOUNDS}
_DROP_BY_VALUE = {float(p): p for p in DROP_RATES}


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


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = _tokenize(text)
        self.index = 0
        self.nesting = 0

    # -- helpers ---------------------------------------------------------------------------
    @property
    def current(self) -> _Token:
        return self.tokens[self.index]

    def error(self, message: str, token: _Token | None = None) -> ParseError:
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

    def enter(self) -> None:
        self.nesting += 1
        if self.nesting > MAX_NESTING:
            raise self.error(f"rule nested deeper than {MAX_NESTING} levels")

    # -- grammar ---------------------------------------------------------------------------
    def parse(self) -> Expr:
        if self.current.kind == "end":
            raise self.error("empty rule: expected an operand such as g, m or adam")
        expr = self.sum()
        if self.current.kind != "end":
            raise self.error(f"unexpected {_describe(self.current)}; expected an operator or end of rule")
        return expr

    def sum(self) -> Expr:
        expr = self.product()
        while self.at_symbol("+", "-"):
            symbol = self.advance().value
            expr = Binary(BINARY_BY_SYMBOL[symbol].name, expr, self.product())
        return expr

    def product(self) -> Expr:
        expr = self.signed()
        while self.at_symbol("*", "/"):
            symbol = self.advance().value
            expr = Binary(BINARY_BY_SYMBOL[symbol].name, expr, self.signed())
        return expr

    def signed(self) -> Expr:
        if self.at_symbol("-"):
            self.advance()
            self.enter()
            operand = self.signed()
            self.nesting -= 1
            return Unary("neg", operand)
        return self.power()

    def power(self) -> Expr:
        base = self.primary()
        if self.at_symbol("^"):
            self.advance()
            self.enter()
            exponent = self.signed()
            self.nesting -= 1
            return Binary("pow", base, exponent)
        return base

    def primary(self) -> Expr:
        token = self.current
        if token.kind == "number":
            return self.number()
        if token.kind == "name":
            return self.name()
        if self.at_symbol("("):
            self.advance()
            self.enter()
            expr = self.sum()
            self.nesting -= 1
            self.expect_symbol(")", "to close '('")
            return expr
        raise self.error(f"unexpected {_describe(token)}; expected an operand, a function or '('")

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

    def name(self) -> Expr:
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
        if name in _SIMPLE_FUNCTIONS or name in ("clip", "drop", "keep"):
            self.expect_symbol("(", f"after {name!r}")
            self.enter()
            expr = self.function(name)
            self.nesting -= 1
            self.expect_symbol(")", f"to close {name}(")
            return expr
        raise self.error(
            f"unknown name {name!r}; operands are {', '.join(sorted(_NAMED_OPERANDS))}, 1, 2 and weight "
            f"terms; functions are exp, log, sqrt, sign, clip, drop, keep",
            token,
        )

    def function(self, name: str) -> Expr:
        argument = self.sum()
        if name in _SIMPLE_FUNCTIONS:
            return Unary(name, argument)
        self.expect_symbol(",", f"between the arguments of {name}(")
        if name == "keep":
            return Binary("keep", argument, self.sum())
        allowed = _CLIP_BY_VALUE if name == "clip" else _DROP_BY_VALUE
        what = "clip bound" if name == "clip" else "drop rate"
        token = self.current
        value = None
        if token.kind == "number":
            self.advance()
            value = float(token.value)
        if value not in allowed:
            raise self.error(f"{what} must be one of {', '.join(allowed.values())}", token)
        return Unary(f"{name}{allowed[value]}", argument)


def parse(text: str) -> Expr:
    """Read a rule from text; raises :class:`ParseError` naming the position on malformed input.

    >>> str(parse("exp(sign(g)*sign(m)) * g"))
    'exp(sign(g) * sign(m)) * g'
    """
    if not isinstance(text, str):
        raise TypeError(f"parse expects a str, got {type(text).__name__}")
    parser = _Parser(text)
    try:
        return parser.parse()
    except RecursionError:  # a caller's own deep stack left less room than MAX_NESTING needs
        raise parser.error("rule nested too deeply") from None
