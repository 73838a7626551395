"""What the bench computes for a rule outside its table, computed once and remembered by its text.

For a rule its table does not hold, the bench needs three facts that depend on the rule alone: its
portable fingerprint, the screen's verdict and the surrogate's features, all computed with the
portable kernels (:mod:`.portable`), so the same on every CPU. They cost about 0.1 s a rule (the
screen trains 200 steps at six rates; the features run their probes), against microseconds for a
tabulated rule. A search proposes the same rules again and again (a learning searcher converges;
seeds of one study overlap), so the facts are kept by rule text:

- in memory, for the process;
- in ``facts.npz`` beside the table (data, no pickle), shipped for the rules the documented studies
  and the tests propose, when the torch and numpy that computed them are the ones installed;
- in a SQLite file under ``$OPTSEARCH_CACHE`` (default ``~/.cache/optsearch``; ``off`` disables
  it), shared by every process of this machine, keyed by the same versions.

The surrogate's prediction from the features (:class:`Prediction`) depends on the table too; it is
kept under the table's content hash beside the facts. Remembered facts are exactly what the helper
would compute (bit for bit: float32 features, float64 predictions), so an answer never depends on
whether it was remembered (``tests/evaluation/bench/test_bench_facts.py``).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional, Union

import numpy as np

from optsearch.dsl import RuleConfig

FACTS_FILE = "facts.npz"
#: Bumped when what a fact means changes (a new column, another screen).
FACTS_FORMAT = 1


@dataclass(frozen=True)
class RuleFacts:
    """A rule's portable fingerprint, the screen's verdict and its features (None unless it passed).

    ``passed`` is None when the screen was not run: the fingerprint names a table rule, whose
    verdict is the table's, or only the fingerprint was asked for (the rest is computed when needed).
    """

    fingerprint: str
    passed: Optional[bool]
    features: Optional[np.ndarray] = None


#: The surrogate's (mean reward, test accuracy, seed-to-seed spread) for a rule.
Prediction = tuple[float, float, float]


def facts_version(rule_config: RuleConfig) -> str:
    """What the facts depend on besides the rule: the code's versions, torch's, numpy's, the rule config."""
    import torch

    from ..config import TRAINER_VERSION
    from ..screen import SCREEN_LRS, SCREEN_STEPS, MIN_PROGRESS
    from .features import FEATURE_VERSION

    parts = dict(
        format=FACTS_FORMAT,
        features=FEATURE_VERSION,
        trainer=TRAINER_VERSION,
        screen=[list(SCREEN_LRS), SCREEN_STEPS, MIN_PROGRESS],
        torch=torch.__version__,
        numpy=np.__version__,
        rule_config=repr(rule_config),
    )
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def _code(passed: Optional[bool]) -> int:
    return -1 if passed is None else int(passed)


def _passed(code: Optional[int]) -> Optional[bool]:
    return None if code is None or code < 0 else bool(code)


def _from_row(fp: str, passed: Optional[int], blob: Optional[bytes]) -> RuleFacts:
    """The facts of one row of the machine cache's ``facts`` table."""
    return RuleFacts(fp, _passed(passed), np.frombuffer(blob, dtype=np.float32).copy() if blob is not None else None)


def cache_path() -> Optional[Path]:
    """The machine's facts cache: ``$OPTSEARCH_CACHE/bench-facts.sqlite`` (``off``: None)."""
    root = os.environ.get("OPTSEARCH_CACHE", "")
    if root.strip().lower() == "off":
        return None
    return (Path(root).expanduser() if root else Path.home() / ".cache" / "optsearch") / "bench-facts.sqlite"


class FactsCache:
    """The facts and predictions remembered for one bench (see the module docstring).

    ``version``: :func:`facts_version`; ``table_hash``: the bench's content hash (predictions are
    kept under it). Reads and writes never raise: a cache that cannot be opened or written is
    simply not used (its error is kept in ``self.error``).
    """

    def __init__(self, folder: Optional[Path], version: str, table_hash: str, path: Optional[Path] = None):
        self.version = version
        self.table_hash = table_hash
        self.facts: dict[str, RuleFacts] = {}
        self.predictions: dict[str, Prediction] = {}
        self.error: Optional[str] = None
        self.shipped = self._read_shipped(folder / FACTS_FILE) if folder is not None else 0
        self._db: Optional[sqlite3.Connection] = None
        self.path = path if path is not None else cache_path()

    # -- the shipped file ------------------------------------------------------------------
    def _read_shipped(self, path: Path) -> int:
        if not path.exists():
            return 0
        with np.load(path, allow_pickle=False) as data:
            if str(data["version"]) != self.version:
                return 0
            passed = [_passed(int(code)) for code in data["passed"]]
            for text, fp, ok, row in zip(data["rules"].tolist(), data["fingerprints"].tolist(), passed, data["X"]):
                self.facts[text] = RuleFacts(fp, ok, row.copy() if ok else None)
            if str(data["table_sha256"]) == self.table_hash:
                for text, ok, prediction in zip(data["rules"].tolist(), passed, data["predictions"]):
                    if ok:
                        self.predictions[text] = (float(prediction[0]), float(prediction[1]), float(prediction[2]))
        return len(self.facts)

    # -- the machine's cache -----------------------------------------------------------------
    def _connection(self) -> Optional[sqlite3.Connection]:
        if self._db is None and self.path is not None and self.error is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                db = sqlite3.connect(self.path, timeout=30.0)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute(
                    "CREATE TABLE IF NOT EXISTS facts (version TEXT, rule TEXT, fingerprint TEXT, passed INTEGER,"
                    " features BLOB, PRIMARY KEY (version, rule))"
                )
                db.execute(
                    "CREATE TABLE IF NOT EXISTS predictions (version TEXT, table_sha256 TEXT, rule TEXT,"
                    " reward REAL, test_acc REAL, reward_std REAL, PRIMARY KEY (version, table_sha256, rule))"
                )
                self._db = db
            except (sqlite3.Error, OSError) as error:
                self.error = f"{self.path}: {error}"
        return self._db

    def lookup(self, texts: Iterable[str]) -> None:
        """Bring the remembered facts and predictions of ``texts`` into memory."""
        wanted = [t for t in dict.fromkeys(texts) if t not in self.facts or t not in self.predictions]
        db = self._connection() if wanted else None
        if db is None:
            return
        try:
            for start in range(0, len(wanted), 500):
                part = wanted[start : start + 500]
                marks = ",".join("?" * len(part))
                for text, fp, passed, blob in db.execute(
                    f"SELECT rule, fingerprint, passed, features FROM facts WHERE version = ? AND rule IN ({marks})", [self.version, *part]
                ):
                    held, found = self.facts.get(text), _from_row(fp, passed, blob)
                    if held is None or (held.passed is None and found.passed is not None):
                        self.facts[text] = found
                for text, *prediction in db.execute(
                    "SELECT rule, reward, test_acc, reward_std FROM predictions"
                    f" WHERE version = ? AND table_sha256 = ? AND rule IN ({marks})",
                    [self.version, self.table_hash, *part],
                ):
                    self.predictions.setdefault(text, tuple(prediction))
        except sqlite3.Error as error:
            self.error = f"{self.path}: {error}"

    def remember(self, facts: dict[str, RuleFacts], predictions: dict[str, Prediction]) -> None:
        """Keep new facts and predictions, in memory and in the machine's cache."""
        self.facts.update(facts)
        self.predictions.update(predictions)
        db = self._connection() if facts or predictions else None
        if db is None:
            return
        try:
            with db:
                # a row that held the fingerprint alone takes the verdict and features when they come
                db.executemany(
                    "INSERT INTO facts VALUES (?, ?, ?, ?, ?) ON CONFLICT (version, rule) DO UPDATE"
                    " SET passed = excluded.passed, features = excluded.features WHERE facts.passed < 0 AND excluded.passed >= 0",
                    [
                        (self.version, text, f.fingerprint, _code(f.passed), f.features.astype(np.float32).tobytes() if f.passed else None)
                        for text, f in facts.items()
                    ],
                )
                db.executemany(
                    "INSERT OR IGNORE INTO predictions VALUES (?, ?, ?, ?, ?, ?)",
                    [(self.version, self.table_hash, text, *p) for text, p in predictions.items()],
                )
        except sqlite3.Error as error:
            self.error = f"{self.path}: {error}"


def write_shipped_facts(folder: Path, facts: dict[str, RuleFacts], predictions: dict[str, Prediction], version: str, table_hash: str) -> Path:
    """Write ``facts.npz`` beside a bench's table: every rule's facts, and its prediction for ``table_hash``."""
    rules = sorted(facts)
    width = next((len(f.features) for f in facts.values() if f.passed), 0)
    X = np.zeros((len(rules), width), dtype=np.float32)
    P = np.zeros((len(rules), 3), dtype=np.float64)
    for i, text in enumerate(rules):
        if facts[text].passed:
            X[i] = facts[text].features
            P[i] = predictions[text]
    path = folder / FACTS_FILE
    np.savez_compressed(
        path,
        version=np.array(version),
        table_sha256=np.array(table_hash),
        rules=np.array(rules),
        fingerprints=np.array([facts[t].fingerprint for t in rules]),
        passed=np.array([_code(facts[t].passed) for t in rules], dtype=np.int8),
        X=X,
        predictions=P,
    )
    return path


def cached_facts(path: Path, version: str) -> dict[str, RuleFacts]:
    """Every rule's facts of ``version`` in a machine cache file (empty when it cannot be read)."""
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            rows = db.execute("SELECT rule, fingerprint, passed, features FROM facts WHERE version = ?", (version,)).fetchall()
    except sqlite3.Error:
        return {}
    return {text: _from_row(fp, passed, blob) for text, fp, passed, blob in rows}


def _bench_as_written(folder: Union[str, Path]):
    """The bench in ``folder`` as it is on disk now (not the one a process loaded before an export)."""
    from .bench import Bench
    from .table import bench_task_name, read_table

    table = read_table(folder)
    return Bench(table, bench_task_name(table.protocol.live_task), Path(folder))


def _predict_portably(folder: str, features: np.ndarray):
    return _bench_as_written(folder).predict(features)


def ship_facts(folder: Path, caches: Iterable[Path] = ()) -> Optional[Path]:
    """Write (or refresh) the bench's ``facts.npz``: the facts it ships, plus those of the machine
    caches ``caches``, with the surrogate's predictions for the table as it is now (computed
    portably: a new export changes the surrogate). None when there are no facts to ship."""
    from .portable import run_portable

    bench = _bench_as_written(folder)
    version = facts_version(bench.rule_config)
    shipped = FactsCache(folder, version, "", path=None)
    facts = dict(shipped.facts)
    for cache in caches:
        facts.update({t: f for t, f in cached_facts(Path(cache), version).items() if t not in facts})
    if not facts:
        return None
    predicting = sorted(t for t, f in facts.items() if f.passed)
    rows = np.stack([facts[t].features for t in predicting]) if predicting else np.zeros((0, 0), dtype=np.float32)
    predictions = dict(zip(predicting, run_portable(_predict_portably, str(folder), rows))) if predicting else {}
    return write_shipped_facts(Path(folder), facts, predictions, version, bench.content_hash)
