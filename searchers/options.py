"""A searcher's options (its keyword arguments): which it accepts, their types, and the checks.

An ask/tell searcher accepts the keyword parameters of its factory (``groups`` and ``seed`` are
set by the run); a push-style runner accepts what its entry's ``options`` lists, or its own
keyword-only parameters. Values come typed (a TOML file, Python) or as text (``--option
key=value``); :func:`parse_option` turns text into the parameter's type, :func:`check_options`
refuses unknown names and ill-typed values with one line that names every accepted option.

The expected type of a parameter is its default's (``bool``, ``int``, ``float``, ``str``, a
tuple of those), else its annotation's first simple type; a parameter of no recognisable type
takes any value (a text value is read as a TOML literal, else kept as text).
"""

from __future__ import annotations

import inspect
import re
import tomllib
import typing
from typing import Any, Mapping, Optional

from .registry import SearcherEntry, load_object

#: Set by the run itself, never an option.
RUN_PARAMETERS = frozenset({"groups", "seed", "evaluator", "budget", "run_id", "progress", "label"})

SIMPLE_TYPES: dict[str, type] = {"bool": bool, "int": int, "float": float, "str": str}
_TYPE_NAMES = {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}


class SearcherOptionError(ValueError):
    """An unknown or ill-typed searcher option (a one-line message)."""


def accepted_options(entry: SearcherEntry) -> Optional[dict[str, inspect.Parameter]]:
    """The options ``entry`` accepts by name, or ``None`` when it takes any keyword (``**kwargs``)."""
    if entry.runner is not None and entry.options is not None:
        source = load_object(entry.options) if isinstance(entry.options, str) else entry.options
        return dict(source())
    target = entry.load_runner() if entry.runner is not None else entry.load_factory()
    try:
        parameters = inspect.signature(target).parameters  # type: ignore[arg-type]
    except (TypeError, ValueError):  # a builtin without a signature: nothing to check against
        return None
    if any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        return None
    wanted = (inspect.Parameter.KEYWORD_ONLY,) if entry.runner is not None else (
        inspect.Parameter.KEYWORD_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
    )
    return {name: p for name, p in parameters.items() if p.kind in wanted and name not in RUN_PARAMETERS}


def expected_type(parameter: inspect.Parameter) -> Optional[type]:
    """``bool``/``int``/``float``/``str``/``tuple``, or ``None`` when any value goes."""
    default = parameter.default
    if default is not inspect.Parameter.empty and default is not None:
        for kind in (bool, int, float, str, tuple):  # bool before int: True is an int too
            if isinstance(default, kind):
                return kind
        return None
    annotation = parameter.annotation
    if annotation is inspect.Parameter.empty:
        return None
    text = annotation if isinstance(annotation, str) else _annotation_text(annotation)
    first = re.match(r"\s*(?:Optional\[|Union\[)?\s*(bool|int|float|str|tuple)\b", text)
    if first is None:
        return None
    return tuple if first.group(1) == "tuple" else SIMPLE_TYPES[first.group(1)]


def _annotation_text(annotation: Any) -> str:
    if isinstance(annotation, type):
        return annotation.__name__
    if typing.get_origin(annotation) is tuple:
        return "tuple"
    return str(annotation).replace("typing.", "")


def _element_type(parameter: inspect.Parameter) -> Optional[type]:
    """The element type of a tuple parameter, from its default's first element."""
    default = parameter.default
    if isinstance(default, tuple) and default:
        return expected_type(inspect.Parameter("x", inspect.Parameter.KEYWORD_ONLY, default=default[0]))
    return None


def describe(options: Optional[Mapping[str, inspect.Parameter]]) -> str:
    """``"hidden (int), lr (float), ..."``: every accepted option with its type."""
    if options is None:
        return "any keyword"
    if not options:
        return "none"
    words = []
    for name, parameter in options.items():
        kind = expected_type(parameter)
        words.append(f"{name} ({kind.__name__})" if kind is not None else name)
    return ", ".join(words)


def _typed(value: Any, kind: Optional[type], element: Optional[type]) -> Any:
    """``value`` as ``kind``, or ``TypeError`` naming what was expected."""
    if kind is None:
        return value
    if kind is tuple:
        if not isinstance(value, (list, tuple)):
            raise TypeError("a list")
        return tuple(_typed(item, element, None) for item in value)
    if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise TypeError(_TYPE_NAMES[int])
    if not isinstance(value, kind):
        raise TypeError(_TYPE_NAMES[kind])
    return value


def _from_text(text: str, kind: Optional[type], element: Optional[type]) -> Any:
    """``text`` read as ``kind`` (``ValueError`` if it cannot be)."""
    if kind is bool:
        lowered = text.strip().lower()
        if lowered in ("true", "yes", "on", "1"):
            return True
        if lowered in ("false", "no", "off", "0"):
            return False
        raise ValueError(text)
    if kind in (int, float):
        return kind(text.strip())
    if kind is str:
        return text
    if kind is tuple:
        words = [w for w in text.split(",") if w.strip()]
        return tuple(_from_text(word, element, None) if element is not None else _literal(word) for word in words)
    return _literal(text)


def _literal(text: str) -> Any:
    """A TOML literal (``3``, ``0.5``, ``true``, ``[1, 2]``), else the text itself."""
    try:
        return tomllib.loads(f"value = {text.strip()}")["value"]
    except tomllib.TOMLDecodeError:
        return text


def _who(entry: SearcherEntry) -> str:
    return f"searcher {entry.name!r}"


def parse_option(entry: SearcherEntry, text: str) -> tuple[str, Any]:
    """``key=value`` text as ``(key, typed value)`` for ``entry`` (:class:`SearcherOptionError`)."""
    key, equals, value = text.partition("=")
    key = key.strip()
    if not equals or not key:
        raise SearcherOptionError(f"--option {text!r} is not of the form key=value")
    options = accepted_options(entry)
    if options is None:
        return key, _literal(value)
    _check_name(entry, key, options)
    parameter = options[key]
    kind = expected_type(parameter)
    try:
        return key, _from_text(value, kind, _element_type(parameter))
    except ValueError:
        expected = f"a list of {_TYPE_NAMES.get(_element_type(parameter), 'values')}" if kind is tuple else _TYPE_NAMES[kind]  # type: ignore[index]
        raise SearcherOptionError(
            f"{_who(entry)} option {key} expects {expected}, got {value!r}; its options are {describe(options)}"
        ) from None


def _check_name(entry: SearcherEntry, key: str, options: Mapping[str, inspect.Parameter]) -> None:
    if key not in options:
        raise SearcherOptionError(f"{_who(entry)} has no option {key!r}; its options are {describe(options)}")


def check_options(entry: SearcherEntry, values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` checked against what ``entry`` accepts, each converted to its parameter's type
    (an int where a float is expected, a list where a tuple is); :class:`SearcherOptionError` else."""
    if not values:
        return {}
    options = accepted_options(entry)
    if options is None:
        return dict(values)
    checked = {}
    for key, value in values.items():
        _check_name(entry, key, options)
        parameter = options[key]
        try:
            checked[key] = _typed(value, expected_type(parameter), _element_type(parameter))
        except TypeError as error:
            raise SearcherOptionError(
                f"{_who(entry)} option {key} expects {error}, got {value!r}; its options are {describe(options)}"
            ) from None
    return checked


def check_buildable(entry: SearcherEntry, options: Mapping[str, Any], groups: int) -> None:
    """Build an ask/tell searcher once with ``options``, so that a value it refuses (say, a
    sample larger than the population) fails now, in one line, rather than mid-comparison.
    A runner is not started: its options are only checked by name and type."""
    if entry.runner is not None:
        return
    checked = check_options(entry, options)
    try:
        entry.load_factory()(groups=groups, seed=0, **checked)  # type: ignore[misc]
    except (ValueError, TypeError) as error:
        raise SearcherOptionError(f"{_who(entry)} refuses its options {checked}: {error}") from None
