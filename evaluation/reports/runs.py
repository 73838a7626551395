"""``runs.csv``: every run of a comparison, a line per budget: its incumbent, held-out score and costs.

Every per-searcher number of ``summary.csv`` and ``budgets.csv``, and every pair of
``verdicts.csv``, is computed from these lines (:func:`.summary.summarize_runs`,
:func:`.budgets.verdict_of_runs`), so that:

- a study can be re-analysed run by run (an IQM, a probability of improvement or a performance
  profile needs the runs, not their summary);
- a study run in parts, on disjoint search seeds (``optsearch compare --first-seed``), gives the
  verdict of the whole from its parts' ``runs.csv`` alone (:mod:`.merge`): the stores, gigabytes
  for a study of hundreds of seeds, stay where they were computed.

A line at budget ``b`` describes the run cut to its first ``b`` proposals: ``final_rule`` (the
shortest text of its functional class the store holds) and ``final_fingerprint`` are its
incumbent, ``heldout_mean`` that incumbent's held-out score, ``search_reward`` its search reward,
``search_best`` the best search reward among the ``b`` proposals, ``compute`` their Σ cost
(full-evaluation units), ``trainings`` and ``cache_hits`` how many of them trained a child and
how many the cache answered. Floats are written with ``repr``, so they read back bit for bit.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Iterable, Optional, Sequence

import numpy as np

from ..statistics.incumbents import final_incumbent
from .data import ComparisonData, compute_of, is_training
from .formatting import write_csv

RUNS_FILE = "runs.csv"


@dataclass(frozen=True)
class RunRow:
    """One run of a comparison cut to its first ``budget`` proposals (see the module's docstring)."""

    searcher: str
    seed: int
    budget: int
    proposals: int
    final_rule: Optional[str]
    final_fingerprint: Optional[str]
    heldout_mean: float
    search_reward: Optional[float]
    search_best: Optional[float]
    compute: Optional[float]
    trainings: int
    cache_hits: int


RUN_COLUMNS = tuple(f.name for f in fields(RunRow))
_INTS = ("seed", "budget", "proposals", "trainings", "cache_hits")
_FLOATS = ("heldout_mean", "search_reward", "search_best", "compute")


def run_rows(data: ComparisonData, budgets: Iterable[int]) -> list[RunRow]:
    """A :class:`RunRow` per budget (in the order given), searcher (in ``data.runs`` order) and run (in seed order)."""
    rows = []
    for budget in budgets:
        for label, per_seed in data.runs.items():
            for run in per_seed:
                cut = list(run[:budget])
                final = final_incumbent(cut)
                rows.append(
                    RunRow(
                        searcher=label,
                        seed=int(cut[0].seed) if cut else -1,
                        budget=int(budget),
                        proposals=len(cut),
                        final_rule=data.text_of(final) if final is not None else None,
                        final_fingerprint=final.fingerprint if final is not None else None,
                        heldout_mean=data.heldout.mean(final.fingerprint) if final is not None else math.nan,
                        search_reward=float(final.reward) if final is not None else None,
                        search_best=max(float(r.reward) for r in cut) if cut else None,
                        compute=float(compute_of(cut)[-1]) if cut else None,
                        trainings=sum(is_training(r) for r in cut),
                        cache_hits=sum(bool(r.cached) for r in cut),
                    )
                )
    return rows


def write_runs(rows: Sequence[RunRow], out_dir: Path) -> Path:
    """Write ``runs.csv`` into ``out_dir``."""
    return write_csv(Path(out_dir) / RUNS_FILE, RUN_COLUMNS, [vars(row) for row in rows])


def read_runs(path: Path) -> list[RunRow]:
    """The lines of a ``runs.csv``; ``ValueError`` naming the file and line for one that is not."""
    path = Path(path)
    try:
        handle = path.open(newline="")
    except OSError as error:
        raise ValueError(f"{path}: cannot read it ({error.strerror or error})") from None
    with handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != RUN_COLUMNS:
            raise ValueError(f"{path}: columns {reader.fieldnames}, expected {list(RUN_COLUMNS)}")
        rows = []
        for line, cells in enumerate(reader, start=2):
            try:
                rows.append(_row(cells))
            except ValueError as error:
                raise ValueError(f"{path}, line {line}: {error}") from None
    return rows


def _row(cells: dict) -> RunRow:
    values: dict = {}
    for name in RUN_COLUMNS:
        text = cells[name]
        if name in _INTS:
            values[name] = int(text)
        elif name in _FLOATS:
            values[name] = float(text) if text else (math.nan if name == "heldout_mean" else None)
        else:
            values[name] = text or None
    return RunRow(**values)


def rows_at(rows: Iterable[RunRow], budget: int) -> dict[str, list[RunRow]]:
    """The rows of ``budget`` by searcher (in order of first appearance), each searcher's in the order given."""
    out: dict[str, list[RunRow]] = {}
    for row in rows:
        if row.budget == budget:
            out.setdefault(row.searcher, []).append(row)
    return out


def scores_of(per_searcher: dict[str, list[RunRow]]) -> dict[str, np.ndarray]:
    """Each searcher's held-out scores of its runs, in seed order."""
    return {label: np.asarray([r.heldout_mean for r in per_seed], dtype=float) for label, per_seed in per_searcher.items()}


def mean_compute_of(per_seed: Sequence[RunRow]) -> Optional[float]:
    """Mean Σ cost of the runs that made a proposal; None without one."""
    totals = [r.compute for r in per_seed if r.compute is not None]
    return float(np.mean(totals)) if totals else None
