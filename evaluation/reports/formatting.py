"""Numbers and text for markdown tables and CSV cells (shared by every report)."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np


def fmt(value: Any, digits: int = 4) -> str:
    """A number for a markdown cell ("—" for None/NaN)."""
    if value is None:
        return "—"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.{digits}f}" if math.isfinite(float(value)) else "—"
    return str(value)


def interval(low: Any, high: Any, digits: int = 3) -> str:
    """``[low, high]`` ("—" when either end is missing)."""
    if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)):
        return "—"
    return f"[{low:+.{digits}f}, {high:+.{digits}f}]" if min(low, high) < 0 else f"[{low:.{digits}f}, {high:.{digits}f}]"


def cell(text: Any) -> str:
    """Text safe inside a markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def code(text: str) -> str:
    return "`" + cell(text).replace("`", "'") + "`"


def csv_value(value: Any) -> Any:
    """A CSV cell: empty for None/NaN, exact floats, plain ints and booleans."""
    if value is None:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value)).lower()
    if isinstance(value, (float, np.floating)):
        return repr(float(value)) if math.isfinite(float(value)) else ""
    if isinstance(value, np.integer):
        return int(value)
    return value


def write_csv(path: Path, columns: Sequence[str], rows: Sequence[dict[str, Any]]) -> Path:
    """Write ``rows`` (dicts) with exactly ``columns``."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([csv_value(row.get(c)) for c in columns])
    return path
