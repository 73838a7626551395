"""The bench's table: one row per (rule, seed) of real evaluations, kept as data.

The table is written from a results store by :func:`export_table` and read by :func:`read_table`.
Its folder holds:

- ``table.csv.gz``: one row per (fingerprint, seed), every field of the live result the bench
  serves (status, reward, best rate, validation and test accuracy, every rate's result, cost,
  wall time), where the row came from (``source``: the builder stage or searcher that asked) and
  the machine kind that computed it (``platform``: torch's CPU capability, such as ``AVX2``;
  empty for rows of format-1 tables, whose kind was not recorded per row);
  floats are written with ``repr``, so they read back bit for bit;
- ``manifest.json``: the protocol it stands for (live task, resolved config, config hash,
  trainer version), its coverage (rules and seeds, counted, never filled in) and the SHA-256 of
  ``table.csv.gz`` (its content hash, which every manifest that uses the bench names).

No pickle: CSV and JSON only. A table row with the search protocol's status gives both what a
search sees and what full training gives: the hurdle judges after the first tenth of the steps
without touching the training, so a rule that passes it trains exactly as with the hurdle off,
and its ``test_acc`` is the full-training test accuracy at the validation-chosen rate. Rules
stopped at the hurdle hold their partial accuracies (``status == "hurdle"``).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Iterable, Optional, Sequence, Union

from ..records import ERROR, SCREENED, TIMEOUT, EvalResult, LRResult, Status

TABLE_FILE = "table.csv.gz"
MANIFEST_FILE = "manifest.json"
FORMAT_VERSION = 2
#: Formats this version reads: format 1 had no ``platform`` column (its rows read as unrecorded).
READABLE_FORMATS = (1, 2)
COLUMNS = (
    "fingerprint",
    "seed",
    "rule",
    "canonical",
    "status",
    "reward",
    "lr",
    "val_acc",
    "test_acc",
    "cost",
    "wall_s",
    "source",
    "per_lr",
    "platform",
)
#: The platform of a row whose machine kind was not recorded (tables of format 1).
UNRECORDED = ""


def _float(value: Optional[float]) -> str:
    return "" if value is None else repr(float(value))


def _read_float(text: str) -> Optional[float]:
    return None if text == "" else float(text)


def _per_lr_json(per_lr: Iterable[LRResult]) -> str:
    """The per-rate results as the table's JSON cell (floats by ``repr``, so they read back bit for bit)."""
    cells = [[_float(r.lr), _float(r.val_acc), _float(r.test_acc), str(r.status), r.steps, _float(r.final_loss)] for r in per_lr]
    return json.dumps(cells, separators=(",", ":"))


#: ``Status(text)`` by dictionary: the enum's own call is several times slower, over 55,000 rows.
_STATUS_OF_TEXT = {str(status): status for status in Status}


def _status(text: str) -> Status:
    return _STATUS_OF_TEXT.get(text) or Status(text)  # an unknown text raises Status's own error


def _parse_per_lr(text: str) -> tuple[LRResult, ...]:
    return tuple(
        LRResult(float(lr), float(val), float(test), _status(status), int(steps), float(loss))
        for lr, val, test, status, steps, loss in json.loads(text)
    )


@dataclass(frozen=True)
class TableRow:
    """One recorded evaluation of a rule on one seed (the search protocol's result).

    The per-rate results are kept as their table cell (``per_lr_json``) and parsed on first use
    (:attr:`per_lr`): only an answered row and an export need them, and parsing all 280,000 of a
    table's took 1.7 s of a 3.1 s load (``docs/bench/README.md``, *Load*).
    """

    fingerprint: str
    seed: int
    rule: str
    canonical: str
    status: Status
    reward: float
    lr: Optional[float]
    val_acc: float
    test_acc: float
    cost: float
    wall_s: float
    source: str
    per_lr_json: str = field(default="[]", repr=False)
    platform: str = UNRECORDED

    @cached_property
    def per_lr(self) -> tuple[LRResult, ...]:
        """Every learning rate's result (parsed from :attr:`per_lr_json` once)."""
        return _parse_per_lr(self.per_lr_json)

    @staticmethod
    def of(result: EvalResult) -> "TableRow":
        return TableRow(
            result.fingerprint,
            int(result.seed),
            result.rule,
            result.canonical,
            Status(result.status),
            float(result.reward),
            result.lr,
            float(result.val_acc),
            float(result.test_acc),
            float(result.cost),
            float(result.wall_s),
            result.searcher,
            _per_lr_json(result.per_lr),
            platform_of_run(result.run_id),
        )

    def cells(self) -> list[str]:
        return [
            self.fingerprint,
            str(self.seed),
            self.rule,
            self.canonical,
            str(self.status),
            _float(self.reward),
            _float(self.lr),
            _float(self.val_acc),
            _float(self.test_acc),
            _float(self.cost),
            _float(self.wall_s),
            self.source,
            self.per_lr_json,
            self.platform,
        ]

    @staticmethod
    def from_cells(cells: Sequence[str]) -> "TableRow":
        values = dict(zip(COLUMNS, cells))
        return TableRow(
            values["fingerprint"],
            int(values["seed"]),
            values["rule"],
            values["canonical"],
            _status(values["status"]),
            float(values["reward"]),
            _read_float(values["lr"]),
            float(values["val_acc"]),
            float(values["test_acc"]),
            float(values["cost"]),
            float(values["wall_s"]),
            values["source"],
            values["per_lr"],
            values.get("platform", UNRECORDED),
        )

    @property
    def trained(self) -> bool:
        """Whether the rule trained on the task (it passed the screen)."""
        return self.status != SCREENED


def platform_of_run(run_id: str) -> str:
    """The machine kind a run id names after ``@`` (the builder's ``bench-top@AVX2``), else unrecorded."""
    return run_id.rpartition("@")[2] if "@" in run_id else UNRECORDED


#: A bench's task name is its live task's with this suffix (``mnist1d`` -> ``mnist1d-bench``).
BENCH_SUFFIX = "-bench"


def bench_task_name(live_task: str) -> str:
    """The task name of the bench of ``live_task`` (``"mnist1d"`` -> ``"mnist1d-bench"``)."""
    return live_task + BENCH_SUFFIX


def live_task_name(task: str) -> str:
    """The live task a task name stands for: ``task`` less :data:`BENCH_SUFFIX`, if it has it."""
    return task[: -len(BENCH_SUFFIX)] if task.endswith(BENCH_SUFFIX) else task


@dataclass(frozen=True)
class Protocol:
    """The live task and protocol a table stands for."""

    live_task: str
    config: dict
    config_hash: str
    heldout_config_hash: str
    trainer_version: int


@dataclass
class Table:
    """Rows by fingerprint, then by seed; the manifest's facts."""

    rows: dict[str, dict[int, TableRow]]
    protocol: Protocol
    content_hash: str
    manifest: dict = field(default_factory=dict)

    def seeds_of(self, fingerprint: str) -> tuple[int, ...]:
        return tuple(sorted(self.rows.get(fingerprint, {})))

    def trained_rules(self, min_seeds: int = 1) -> list[str]:
        """Fingerprints of the rules that passed the screen, with at least ``min_seeds`` seeds."""
        return [fp for fp, by_seed in self.rows.items() if len(by_seed) >= min_seeds and all(r.trained for r in by_seed.values())]

    def __len__(self) -> int:
        return sum(len(by_seed) for by_seed in self.rows.values())


def table_rows(results: Iterable[EvalResult], task: str, config_hash: str) -> dict[str, dict[int, TableRow]]:
    """The rows a table keeps from ``results``: the first final, non-cached result of each
    (fingerprint, seed) of ``task`` under ``config_hash`` (timeouts and errors say what one
    attempt met, not what the rule is, so they are left out)."""
    rows: dict[str, dict[int, TableRow]] = {}
    for result in results:
        if result.task != task or result.config_hash != config_hash or result.cached:
            continue
        if result.status in (ERROR, TIMEOUT) or not math.isfinite(result.reward):
            continue
        rows.setdefault(result.fingerprint, {}).setdefault(int(result.seed), TableRow.of(result))
    return rows


def coverage(rows: dict[str, dict[int, TableRow]]) -> dict:
    """Counts of rules by seeds held, of trained rules, and of rows by status (never filled in)."""
    trained = {fp: by_seed for fp, by_seed in rows.items() if all(r.trained for r in by_seed.values())}
    return {
        "rows": sum(len(b) for b in rows.values()),
        "rules": len(rows),
        "screened_rules": len(rows) - len(trained),
        "trained_rules": len(trained),
        "trained_rules_by_seed_count": {str(k): v for k, v in sorted(Counter(len(b) for b in trained.values()).items())},
        "trained_rules_on_3_or_more_seeds": sum(1 for b in trained.values() if len(b) >= 3),
        "trained_rules_on_5_or_more_seeds": sum(1 for b in trained.values() if len(b) >= 5),
        "rows_by_status": dict(sorted(Counter(str(r.status) for b in rows.values() for r in b.values()).items())),
        "rows_by_source": dict(sorted(Counter(r.source for b in rows.values() for r in b.values()).items())),
        "rows_by_platform": dict(sorted(Counter(r.platform or "unrecorded" for b in rows.values() for r in b.values()).items())),
    }


def _encode(rows: dict[str, dict[int, TableRow]]) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(COLUMNS)
    for fp in sorted(rows):
        for seed in sorted(rows[fp]):
            writer.writerow(rows[fp][seed].cells())
    # mtime=0: the same rows give the same bytes, so the content hash names the content alone.
    return gzip.compress(text.getvalue().encode(), compresslevel=9, mtime=0)


def export_table(
    rows: dict[str, dict[int, TableRow]], folder: Union[str, Path], protocol: Protocol, extra: Optional[dict] = None
) -> dict:
    """Write ``rows`` and the manifest into ``folder``; returns the manifest."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    data = _encode(rows)
    (folder / TABLE_FILE).write_bytes(data)
    manifest = {
        "format": FORMAT_VERSION,
        "protocol": asdict(protocol),
        "table_file": TABLE_FILE,
        "table_sha256": hashlib.sha256(data).hexdigest(),
        "coverage": coverage(rows),
        **(extra or {}),
    }
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


class TableError(ValueError):
    """A table folder that cannot be read (missing, altered or of another format)."""


def read_table(folder: Union[str, Path]) -> Table:
    """The table in ``folder``, its content checked against the manifest's hash."""
    folder = Path(folder)
    try:
        manifest = json.loads((folder / MANIFEST_FILE).read_text())
        data = (folder / manifest.get("table_file", TABLE_FILE)).read_bytes()
    except (OSError, ValueError) as error:
        raise TableError(f"cannot read the bench table in {folder}: {error}") from None
    if manifest.get("format") not in READABLE_FORMATS:
        raise TableError(f"bench table {folder} has format {manifest.get('format')!r}; this optsearch reads {READABLE_FORMATS}")
    digest = hashlib.sha256(data).hexdigest()
    if digest != manifest.get("table_sha256"):
        raise TableError(f"bench table {folder / TABLE_FILE} does not match its manifest's hash (altered or truncated)")
    reader = csv.reader(io.StringIO(gzip.decompress(data).decode()))
    header = next(reader)
    if tuple(header) != COLUMNS[: len(header)] or len(header) < COLUMNS.index("platform"):
        raise TableError(f"bench table {folder / TABLE_FILE} has columns {header}, expected {list(COLUMNS)}")
    rows: dict[str, dict[int, TableRow]] = {}
    for cells in reader:
        row = TableRow.from_cells(cells)
        rows.setdefault(row.fingerprint, {})[row.seed] = row
    return Table(rows, Protocol(**manifest["protocol"]), digest, manifest)
