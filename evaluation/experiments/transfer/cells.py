"""How the transfer files write a value: CSV cells, Markdown table cells and strict JSON.

Shared by a transfer's files (:mod:`.render`), the suite's (:mod:`.profile`) and
:meth:`~.records.TransferResult.to_dict`.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence, Union

__all__ = ["csv_cell", "json_safe", "md_escape", "write_rows"]


def csv_cell(value: Any) -> str:
    """A CSV cell of the transfer reports: empty for None/NaN, floats exact (``inf`` stays ``inf``)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def md_escape(text: str) -> str:
    """Text safe inside a markdown table cell."""
    return text.replace("|", "\\|")


def json_safe(value: Any) -> Any:
    """``value`` with non-finite floats as ``None`` and keys as strings, for strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def write_rows(path: Union[str, Path], columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> Path:
    """Write ``rows`` (dicts) under ``columns`` as CSV, each cell by :func:`csv_cell`."""
    path = Path(path)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([csv_cell(row[c]) for c in columns])
    return path
