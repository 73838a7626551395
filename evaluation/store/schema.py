"""The results store's SQLite schema, and the migrations from earlier versions.

Version 2 (optsearch 0.2) added each result's proposal index in its run (unique per run) and the
``leases`` table; version 1 stores are migrated in place when first opened.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone
from pathlib import Path

from .base import StoreError

SCHEMA_VERSION = 2

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS evaluations (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id      TEXT NOT NULL,
    searcher    TEXT NOT NULL,
    seed        INTEGER NOT NULL,
    tokens      TEXT,
    rule        TEXT NOT NULL,
    canonical   TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    task        TEXT NOT NULL,
    config_hash TEXT NOT NULL,
    reward      REAL,
    val_acc     REAL,
    test_acc    REAL,
    lr          REAL,
    status      TEXT NOT NULL,
    cached      INTEGER NOT NULL,
    cost        REAL,
    wall_s      REAL,
    detail      TEXT NOT NULL,
    per_lr      TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    result_json TEXT NOT NULL,
    proposal    INTEGER
);
CREATE INDEX IF NOT EXISTS evaluations_cache_key
    ON evaluations (fingerprint, task, config_hash, seed);
CREATE INDEX IF NOT EXISTS evaluations_run ON evaluations (run_id, id);
CREATE INDEX IF NOT EXISTS evaluations_task_reward ON evaluations (task, reward);
CREATE UNIQUE INDEX IF NOT EXISTS evaluations_run_proposal
    ON evaluations (run_id, proposal) WHERE proposal IS NOT NULL;
CREATE TABLE IF NOT EXISTS runs (
    run_id      TEXT PRIMARY KEY,
    searcher    TEXT NOT NULL,
    seed        INTEGER NOT NULL,
    task        TEXT NOT NULL,
    budget      NUMERIC,
    config      TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT
);
CREATE TABLE IF NOT EXISTS checkpoints (
    run_id     TEXT NOT NULL,
    name       TEXT NOT NULL,
    blob       BLOB NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (run_id, name)
);
CREATE TABLE IF NOT EXISTS leases (
    run_id    TEXT PRIMARY KEY,
    token     TEXT NOT NULL,
    pid       INTEGER NOT NULL,
    host      TEXT NOT NULL,
    heartbeat REAL NOT NULL
);
"""

# Schema 1 had no proposal index: a run's rows get the index of their insertion order (what the
# driver of that version assumed), and the unique index and lease table are created after it.
_MIGRATE_1_TO_2 = """
ALTER TABLE evaluations ADD COLUMN proposal INTEGER;
UPDATE evaluations SET proposal = (
    SELECT COUNT(*) FROM evaluations AS earlier
    WHERE earlier.run_id = evaluations.run_id AND earlier.id < evaluations.id
) WHERE run_id != '';
"""

EVAL_COLUMNS = (
    "run_id, searcher, seed, tokens, rule, canonical, fingerprint, task, config_hash, reward, "
    "val_acc, test_acc, lr, status, cached, cost, wall_s, detail, per_lr, created_at, result_json, "
    "proposal"
)


def utc_now() -> str:
    """The current time as a UTC ISO-8601 timestamp with microseconds."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def set_wal(conn: sqlite3.Connection, path: Path) -> None:
    """Put the database in WAL mode (readers never block the writer)."""
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise StoreError(f"{path}: cannot switch the results store to WAL mode ({mode})")


def init_schema(conn: sqlite3.Connection, path: Path) -> None:
    """Create the schema of a new store, migrate an older one, refuse a newer or foreign one."""
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if "meta" in tables:
        row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        version = int(row[0]) if row else None
        if version == SCHEMA_VERSION:
            return
        if version is not None and version > SCHEMA_VERSION:
            raise StoreError(
                f"{path}: results store schema version {version} is newer than this "
                f"optsearch supports ({SCHEMA_VERSION})"
            )
    elif tables - {"sqlite_sequence"}:
        raise StoreError(f"{path}: a SQLite database but not an optsearch results store")
    conn.execute("BEGIN IMMEDIATE")
    try:
        row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() if "meta" in tables else None
        if row is not None and int(row[0]) == 1:  # re-read under the write lock: one migrator
            for statement in _MIGRATE_1_TO_2.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))
        for statement in SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
            (str(SCHEMA_VERSION),),
        )
        conn.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('created_at', ?)", (utc_now(),)
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
