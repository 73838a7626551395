"""Writing TOML (the standard library reads it with ``tomllib`` but does not write it).

Enough TOML for manifests and experiment files: top-level keys with strings, booleans, integers,
floats, arrays and inline tables; tables of scalars (``[versions]``); arrays of tables
(``[[searchers]]``). ``tomllib.loads(dumps(data)) == data`` for every such ``data`` whose
values are not ``None`` (``None`` has no TOML form: such keys are left out).
"""

from __future__ import annotations

import math
import re
from typing import Any, Mapping

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def key(name: str) -> str:
    """``name`` as a TOML key: bare when it can be, quoted otherwise."""
    return name if _BARE_KEY.match(name) else string(name)


def string(text: str) -> str:
    """A TOML basic string: backslash, quote and control characters escaped, the rest kept."""
    out = ['"']
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def value(item: Any) -> str:
    """A TOML value: a string, boolean, integer, float, array or inline table."""
    if isinstance(item, bool):
        return "true" if item else "false"
    if isinstance(item, int):
        return str(item)
    if isinstance(item, float):
        if math.isnan(item):
            return "nan"
        if math.isinf(item):
            return "inf" if item > 0 else "-inf"
        return repr(item)  # the shortest text that reads back as the same float
    if isinstance(item, str):
        return string(item)
    if isinstance(item, Mapping):
        fields = [f"{key(str(k))} = {value(v)}" for k, v in item.items() if v is not None]
        return "{ " + ", ".join(fields) + " }" if fields else "{}"
    if isinstance(item, (list, tuple)):
        return "[" + ", ".join(value(v) for v in item) + "]"
    raise TypeError(f"no TOML form for {type(item).__name__}: {item!r}")


def _is_table_array(item: Any) -> bool:
    return isinstance(item, (list, tuple)) and bool(item) and all(isinstance(v, Mapping) for v in item)


def dumps(data: Mapping[str, Any]) -> str:
    """``data`` as a TOML document: its scalars first, then its tables and arrays of tables."""
    lines: list[str] = []
    tables: list[str] = []
    for name, item in data.items():
        if item is None:
            continue
        if isinstance(item, Mapping):
            tables += ["", f"[{key(name)}]"] + [f"{key(str(k))} = {value(v)}" for k, v in item.items() if v is not None]
        elif _is_table_array(item):
            for entry in item:
                tables += ["", f"[[{key(name)}]]"] + [f"{key(str(k))} = {value(v)}" for k, v in entry.items() if v is not None]
        else:
            lines.append(f"{key(name)} = {value(item)}")
    return "\n".join(lines + tables) + "\n"
