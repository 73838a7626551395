"""Every output of a fixed set of runs, digested, to show that a restructuring changed no result.

``python benchmarks/output_identity.py --optsearch PATH --write before.json`` runs the commands in
:data:`RUNS` with the ``optsearch`` executable at ``PATH`` (for example a venv holding the code
before the change) in a fresh folder, and records a digest of every file they write and of
everything they print. ``--compare before.json`` runs them again (with the ``optsearch`` on
``PATH`` unless told) and lists every output that differs. Exit status 1 when any does.

The runs cover the bench and the live trainer, every search lifecycle (the ask/tell driver, an
Optuna sampler, a Stable-Baselines3 agent, resumption), the process backend, held-out verdicts,
the race, transfer and its funnel, the leaderboard, ``show``, ``eval`` and ``export``.

What is normalized away, because it may differ between two runs of the same code: wall-clock
times, dates, speeds, the git commit and the paths of the temporary folders. In SQLite stores the
columns that record when or where something ran are dropped, every other column is digested.
Figures are compared byte for byte.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

DIGITS = ["--task", "digits", "--steps", "40"]

#: (name, arguments): each run in the order given, all in one working folder.
RUNS: list[tuple[str, list[str]]] = [
    ("compare-bench", ["compare", "--searchers", "random,gp,reinforce,ppo,evolution", "--seeds", "3", "--budget", "60",
                       "--verdict-budgets", "20", "--race-top", "2", "--race-seeds", "6", "--transfer", "digits",
                       "--transfer-seeds", "2", "--out", "cmp_bench"]),
    ("compare-live", ["compare", *DIGITS, "--searchers", "random,evolution", "--seeds", "2", "--budget", "6",
                      "--race-top", "1", "--race-seeds", "4", "--backend", "process", "--workers", "2", "--out", "cmp_live"]),
    ("search-reinforce-cut", ["search", "--searcher", "reinforce", *DIGITS, "--budget", "4", "--seed", "3", "--store", "s.sqlite"]),
    ("search-reinforce-resumed", ["search", "--searcher", "reinforce", *DIGITS, "--budget", "8", "--seed", "3", "--store", "s.sqlite"]),
    ("search-ppo-cut", ["search", "--searcher", "ppo", *DIGITS, "--budget", "8", "--seed", "1", "--store", "s.sqlite"]),
    ("search-ppo-resumed", ["search", "--searcher", "ppo", *DIGITS, "--budget", "16", "--seed", "1", "--store", "s.sqlite"]),
    ("search-tpe", ["search", "--searcher", "tpe", *DIGITS, "--budget", "6", "--seed", "2", "--store", "s.sqlite"]),
    ("show", ["show", "s.sqlite"]),
    ("confirm", ["confirm", *DIGITS, "--race-seeds", "4", "--first", "2", "--step", "2", "--out", "conf", "--", "sign(m)", "sign(g) * sign(m)"]),
    # Adam raced against itself (a crash before 2026-12-07: its scores were appended twice a seed)
    ("confirm-adam", ["confirm", *DIGITS, "--race-seeds", "4", "--first", "2", "--step", "2", "--out", "conf_adam", "--", "adam", "sign(m)"]),
    ("transfer", ["transfer", "--task", "digits", "--seeds", "2", "--steps", "40", "--out", "tr", "--", "adam", "sign(g) * sign(m)"]),
    ("eval", ["eval", "adam", *DIGITS, "--json"]),
    ("export-latex", ["export", "--format", "latex", "powersign"]),
    ("export-tokens", ["export", "--format", "tokens", "--canonical", "sign(g) * sign(m)"]),
]

#: The commands that draw progress bars unless told ``--quiet``.
QUIET_COMMANDS = ("compare", "search", "confirm", "transfer")

#: Text that may differ between two runs of the same code.
VOLATILE_LINE = re.compile(
    r"(?i)(\bseconds?\b|\bwall\b|elapsed|\btook\b|\btime\b|_at\b|\bdate\b|speed|per second|/s\b|git_|\d+(\.\d+)? ?s\b|\d+:\d\d)"
)
VOLATILE_COLUMN = re.compile(r"(?i)(^id$|time|seconds|wall|elapsed|created|started|finished|updated|host|pid|platform|machine|lease|_at$)")
#: A volatile field inside JSON text (a store's ``result_json``, a transfer's ``.json``).
VOLATILE_FIELD = re.compile(r'"([a-z_]*(?:wall|seconds|elapsed|time)[a-z_]*|[a-z_]+_at|wall_s)": ("[^"]*"|[^,}\]\n]+)')


def _scrub(text: str) -> str:
    return VOLATILE_FIELD.sub(lambda match: f'"{match.group(1)}": _', text)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def _text(data: bytes, folder: Path) -> bytes:
    text = _scrub(data.decode("utf-8", errors="replace").replace(str(folder), "<run>"))
    return "\n".join(line for line in text.splitlines() if not VOLATILE_LINE.search(line)).encode()


def _csv(data: bytes, folder: Path) -> bytes:
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
    if not rows:
        return b""
    keep = [i for i, name in enumerate(rows[0]) if not VOLATILE_COLUMN.search(name)]
    out = io.StringIO()
    csv.writer(out).writerows([[row[i] for i in keep if i < len(row)] for row in rows])
    return _text(out.getvalue().encode(), folder)


def _sqlite(path: Path) -> dict[str, str]:
    """A digest per table, of every column that does not record when or where a row was made."""
    digests = {}
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as connection:
        tables = [name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
        for table in tables:
            columns = [row[1] for row in connection.execute(f"PRAGMA table_info('{table}')")]
            kept = [c for c in columns if not VOLATILE_COLUMN.search(c)]
            if not kept:
                continue
            rows = connection.execute(f"SELECT {', '.join(kept)} FROM '{table}'").fetchall()
            # a key-value table (the store's meta) names its volatile rows in its first column
            rows = [row for row in rows if not (isinstance(row[0], str) and VOLATILE_COLUMN.search(row[0]))]
            body = sorted(repr(tuple(v.hex() if isinstance(v, bytes) else _scrub(v) if isinstance(v, str) else v for v in row)) for row in rows)
            digests[f"{table}({len(rows)} rows)"] = _digest("\n".join(body).encode())
    return digests


def digest_folder(folder: Path) -> dict[str, object]:
    """``relative path → digest`` of every file under ``folder`` (a store: one digest per table)."""
    found: dict[str, object] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        name = path.relative_to(folder).as_posix()
        if name.endswith(("-wal", "-shm", ".lock")) or "/runs/" in f"/{name}" or name.endswith(".log"):
            continue  # SQLite's journal, SB3's logger (its rows are timed), locks
        data = path.read_bytes()
        if data[:16] == b"SQLite format 3\x00":
            found[name] = _sqlite(path)
        elif path.suffix == ".csv":
            found[name] = _digest(_csv(data, folder))
        elif path.suffix in (".md", ".toml", ".json", ".txt", ".tex"):
            found[name] = _digest(_text(data, folder))
        else:
            found[name] = _digest(data)
    return found


def run_all(optsearch: str, work: Path, runs: list[tuple[str, list[str]]]) -> dict[str, object]:
    env = {**os.environ, "OPTSEARCH_CACHE": str(work / ".cache"), "CI": "true", "OMP_NUM_THREADS": "1"}
    printed = {}
    for name, arguments in runs:
        command, *rest = arguments
        quiet = ["--quiet"] if command in QUIET_COMMANDS else []
        completed = subprocess.run([optsearch, command, *quiet, *rest], cwd=work, env=env, capture_output=True)
        printed[name] = {"exit": completed.returncode, "stdout": _digest(_text(completed.stdout, work))}
        print(f"{name}: exit {completed.returncode}", file=sys.stderr)
        if completed.returncode != 0:
            print(completed.stderr.decode(errors="replace")[-2000:], file=sys.stderr)
    shutil.rmtree(work / ".cache", ignore_errors=True)
    return {"printed": printed, "files": digest_folder(work)}


def differences(before: dict, after: dict, prefix: str = "") -> list[str]:
    found = []
    for key in sorted(set(before) | set(after)):
        a, b = before.get(key), after.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            found += differences(a, b, f"{prefix}{key}/")
        elif a != b:
            found.append(f"{prefix}{key}: {a} -> {b}")
    return found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    beside = Path(sys.executable).with_name("optsearch")
    parser.add_argument("--optsearch", default=str(beside) if beside.exists() else shutil.which("optsearch"),
                        help="the optsearch executable to run (default: the one beside this Python)")
    parser.add_argument("--write", type=Path, help="write the digests here")
    parser.add_argument("--compare", type=Path, help="compare with the digests written here before")
    parser.add_argument("--keep", type=Path, help="run in this folder and keep it (default: a temporary one)")
    parser.add_argument("--only", help="comma-separated run names (default: all)")
    args = parser.parse_args(argv)
    if not (args.write or args.compare):
        parser.error("give --write or --compare")
    runs = [run for run in RUNS if not args.only or run[0] in args.only.split(",")]
    with tempfile.TemporaryDirectory(prefix="identity-") as temporary:
        work = args.keep or Path(temporary)
        work.mkdir(parents=True, exist_ok=True)
        found = run_all(args.optsearch, work, runs)
    if args.write:
        args.write.write_text(json.dumps(found, indent=1, sort_keys=True))
    if args.compare:
        changed = differences(json.loads(args.compare.read_text()), found)
        files = sum(1 for _ in json.dumps(found["files"]).split('": "')) - 1
        print(f"{len(changed)} outputs differ" + (":" if changed else f" (digests compared: about {files})"))
        print("\n".join(changed))
        return 1 if changed else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
