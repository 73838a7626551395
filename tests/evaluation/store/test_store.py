"""The SQLite results store: round trips, the cache, runs, checkpoints, crash safety, concurrency."""

from __future__ import annotations

import io
import json
import math
import os
import pickle
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from optsearch.evaluation.records import (
    DIVERGED,
    ERROR,
    HURDLE,
    NAN,
    OK,
    SCREENED,
    TIMEOUT,
    EvalResult,
    LRResult,
)
from optsearch.evaluation.store import FINAL_STATUSES, ProposalExists, SQLiteStore, StoreError

HERE = Path(__file__).resolve().parent
WRITER = HERE / "_store_writer.py"
sys.path.insert(0, str(HERE))
import _store_writer  # noqa: E402


def make_result(**overrides) -> EvalResult:
    base = dict(
        rule="update = lr * sign(g) * exp(m)",
        canonical="lr*sign(g)*exp(m)",
        fingerprint="fp-a",
        task="mnist1d_mlp",
        config_hash="cfg-1",
        reward=0.71,
        status=OK,
        lr=0.01,
        val_acc=0.71,
        test_acc=0.69,
        per_lr=(
            LRResult(lr=0.1, val_acc=0.5, test_acc=0.49, status=OK, steps=100, final_loss=0.9),
            LRResult(lr=0.01, val_acc=0.71, test_acc=0.69, status=OK, steps=100, final_loss=0.4),
            LRResult(lr=1.0, val_acc=0.1, test_acc=0.1, status=DIVERGED, steps=7, final_loss=math.inf),
        ),
        cached=False,
        cost=1.0,
        wall_s=12.5,
        searcher="random",
        seed=3,
        run_id="random-3",
        tokens=("sign(g)", "exp(m)", "mul", "1", "1"),
        detail="",
        metrics={"hurdle_acc": 0.4, "curve": [1.0, 0.5]},
    )
    base.update(overrides)
    return EvalResult(**base)


@pytest.fixture
def store(tmp_path):
    with SQLiteStore(tmp_path / "results.db") as opened:
        yield opened


def test_round_trip_is_exact_including_per_lr_tokens_and_metrics(tmp_path):
    path = tmp_path / "results.db"
    original = make_result()
    no_tokens = make_result(tokens=None, fingerprint="fp-b", lr=None, per_lr=())
    with SQLiteStore(path) as store:
        first = store.record(original)
        second = store.record(no_tokens)
        assert second > first
    with SQLiteStore(path) as reopened:  # read back by a fresh connection
        back = reopened.results()
    assert back == [original, no_tokens]
    assert back[0].metrics == original.metrics  # metrics is compare=False: check it explicitly
    assert back[0].per_lr[2].final_loss == math.inf
    assert isinstance(back[0].tokens, tuple) and back[1].tokens is None
    # The columns hold the same values as the JSON.
    raw = sqlite3.connect(path).execute(
        "SELECT run_id, searcher, seed, tokens, rule, canonical, fingerprint, task, config_hash, "
        "reward, val_acc, test_acc, lr, status, cached, cost, wall_s, detail, per_lr, created_at "
        "FROM evaluations ORDER BY id"
    ).fetchall()
    row = raw[0]
    assert row[:3] == ("random-3", "random", 3)
    assert json.loads(row[3]) == list(original.tokens)
    assert row[4:9] == (original.rule, original.canonical, "fp-a", "mnist1d_mlp", "cfg-1")
    assert row[9:17] == (0.71, 0.71, 0.69, 0.01, OK, 0, 1.0, 12.5)
    assert [entry["lr"] for entry in json.loads(row[18])] == [0.1, 0.01, 1.0]
    assert row[19].endswith("+00:00")  # UTC
    assert raw[1][3] is None and raw[1][12] is None


def test_store_is_in_wal_mode_with_the_expected_tables(store):
    conn = sqlite3.connect(store.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"evaluations", "runs", "checkpoints", "meta"} <= tables
    indexes = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert "evaluations_cache_key" in indexes and "evaluations_run" in indexes
    assert "leases" in tables and "evaluations_run_proposal" in indexes
    assert conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == "2"
    plan = " ".join(
        str(row)
        for row in conn.execute(
            "EXPLAIN QUERY PLAN SELECT result_json FROM evaluations WHERE fingerprint='a' "
            "AND task='b' AND config_hash='c' AND seed=1"
        )
    )
    assert "evaluations_cache_key" in plan


def test_lookup_hits_and_misses_by_every_part_of_the_key(store):
    stored = make_result()
    store.record(stored)
    assert store.lookup("fp-a", "mnist1d_mlp", "cfg-1", 3) == stored
    assert store.lookup("fp-b", "mnist1d_mlp", "cfg-1", 3) is None
    assert store.lookup("fp-a", "other_task", "cfg-1", 3) is None
    assert store.lookup("fp-a", "mnist1d_mlp", "cfg-2", 3) is None
    assert store.lookup("fp-a", "mnist1d_mlp", "cfg-1", 4) is None


def test_lookup_returns_the_first_non_cached_result(store):
    cached_copy = make_result(cached=True, cost=0.0, reward=0.99, fingerprint="fp-c")
    store.record(cached_copy)
    assert store.lookup("fp-c", "mnist1d_mlp", "cfg-1", 3) is None  # only a cached copy: no hit
    first = make_result(fingerprint="fp-c", reward=0.5)
    second = make_result(fingerprint="fp-c", reward=0.6)
    store.record(first)
    store.record(second)
    assert store.lookup("fp-c", "mnist1d_mlp", "cfg-1", 3) == first


def test_errored_results_are_never_cache_hits(store):
    store.record(make_result(status=ERROR, reward=0.0, detail="worker crashed"))
    assert store.lookup("fp-a", "mnist1d_mlp", "cfg-1", 3) is None
    final = make_result(status=OK)
    store.record(final)
    assert store.lookup("fp-a", "mnist1d_mlp", "cfg-1", 3) == final


def test_timeouts_are_recorded_but_never_cache_hits(store):
    store.record(make_result(status=TIMEOUT, reward=0.0, detail="time limit"))
    assert store.count() == 1
    assert store.lookup("fp-a", "mnist1d_mlp", "cfg-1", 3) is None
    assert TIMEOUT not in FINAL_STATUSES


@pytest.mark.parametrize("status", [OK, DIVERGED, NAN, SCREENED, HURDLE])
def test_every_final_status_is_a_cache_hit(store, status):
    assert status in FINAL_STATUSES
    result = make_result(status=status, reward=0.1)
    store.record(result)
    assert store.lookup("fp-a", "mnist1d_mlp", "cfg-1", 3) == result


def test_results_filters_keep_insertion_order_and_count(store):
    rows = [
        make_result(run_id="r1", searcher="random", seed=0, task="t1", fingerprint="a"),
        make_result(run_id="r2", searcher="ppo", seed=1, task="t1", fingerprint="b"),
        make_result(run_id="r1", searcher="random", seed=0, task="t2", fingerprint="c"),
        make_result(run_id="r2", searcher="ppo", seed=1, task="t2", fingerprint="d"),
    ]
    for row in rows:
        store.record(row)
    assert store.results() == rows
    assert store.results(run_id="r1") == [rows[0], rows[2]]
    assert store.results(searcher="ppo", task="t2") == [rows[3]]
    assert store.results(seed=0, task="t1") == [rows[0]]
    assert store.results(run_id="nope") == []
    assert store.count() == 4 and store.count(run_id="r2") == 2 and store.count(task="t2", seed=1) == 1


def test_top_orders_by_reward_and_dedups_canonical_rules(store):
    store.record(make_result(canonical="A", fingerprint="a", reward=0.5))
    store.record(make_result(canonical="B", fingerprint="b", reward=0.9))
    store.record(make_result(canonical="A", fingerprint="a", reward=0.8, seed=4))
    store.record(make_result(canonical="B", fingerprint="b", reward=0.9, cached=True, cost=0.0))
    store.record(make_result(canonical="C", fingerprint="c", reward=0.7, task="other"))
    store.record(make_result(canonical="D", fingerprint="d", reward=math.nan, status=NAN))
    top = store.top(10)
    assert [(r.canonical, r.reward) for r in top[:4]] == [("B", 0.9), ("A", 0.8), ("C", 0.7)] + [
        (top[3].canonical, top[3].reward)
    ]
    assert top[3].canonical == "D" and math.isnan(top[3].reward)  # NaN last
    assert not top[0].cached  # of two equal rewards, the first stored
    assert [r.canonical for r in store.top(2)] == ["B", "A"]
    assert [r.canonical for r in store.top(10, task="mnist1d_mlp")] == ["B", "A", "D"]
    everything = store.top(10, distinct_canonical=False)
    assert [r.canonical for r in everything] == ["B", "B", "A", "C", "A", "D"]


def test_checkpoints_round_trip_and_replace(store):
    torch = pytest.importorskip("torch")
    buffer = io.BytesIO()
    state = {"weight": torch.arange(12, dtype=torch.float32).reshape(3, 4), "step": 7}
    torch.save(state, buffer)
    store.save_checkpoint("ppo-0", "policy", buffer.getvalue())
    assert store.load_checkpoint("ppo-0", "policy") == buffer.getvalue()
    loaded = torch.load(io.BytesIO(store.load_checkpoint("ppo-0", "policy")))
    assert torch.equal(loaded["weight"], state["weight"]) and loaded["step"] == 7
    store.save_checkpoint("ppo-0", "policy", b"\x00second\xff")
    store.save_checkpoint("ppo-0", "optimizer", b"other")
    assert store.load_checkpoint("ppo-0", "policy") == b"\x00second\xff"
    assert store.load_checkpoint("ppo-0", "optimizer") == b"other"
    assert store.load_checkpoint("ppo-1", "policy") is None
    assert store.load_checkpoint("ppo-0", "missing") is None


def test_runs_are_idempotent_and_finish(store):
    first = store.start_run("random-0", "random", 0, "mnist1d_mlp", 200, {"lr_grid": [0.1, 0.01]})
    assert first["finished_at"] is None and first["config"] == {"lr_grid": [0.1, 0.01]}
    again = store.start_run("random-0", "random", 99, "other", 5, {"changed": True})
    assert again == first  # the original row is kept
    store.start_run("ppo-1", "ppo", 1, "mnist1d_mlp", 2.5, {})
    store.record(make_result(run_id="random-0"))
    store.record(make_result(run_id="random-0"))
    store.finish_run("random-0")
    done = store.run("random-0")
    assert done["finished_at"] is not None and done["finished_at"] >= done["started_at"]
    assert done["seed"] == 0 and done["budget"] == 200 and done["evaluations"] == 2
    assert [run["run_id"] for run in store.runs()] == ["random-0", "ppo-1"]
    assert store.run("ppo-1")["budget"] == 2.5 and store.run("ppo-1")["finished_at"] is None
    assert store.run("missing") is None
    with pytest.raises(KeyError):
        store.finish_run("missing")


def test_rows_json_is_strict_json_with_the_show_fields(store):
    store.record(make_result())
    store.record(make_result(reward=math.nan, status=NAN, fingerprint="n", canonical="N", cached=True))
    rows = store.rows_json()
    text = json.dumps(rows, allow_nan=False)  # no NaN: strict JSON
    assert json.loads(text) == rows
    for key in ("run", "searcher", "seed", "rule", "canonical", "fingerprint", "reward", "status", "cached", "cost"):
        assert key in rows[0]
    assert rows[0]["run"] == "random-3" and rows[0]["reward"] == 0.71 and rows[0]["cached"] is False
    assert rows[0]["tokens"] == list(make_result().tokens)
    assert rows[1]["reward"] is None and rows[1]["cached"] is True and rows[1]["status"] == NAN
    assert store.rows_json(run_id="none") == []


def test_bad_paths_give_one_line_errors_naming_the_path(tmp_path):
    text_file = tmp_path / "notes.txt"
    text_file.write_text("this is not a database\n" * 100)
    missing_dir = tmp_path / "no" / "such" / "results.db"
    for bad in (text_file, missing_dir, tmp_path):
        with pytest.raises(StoreError) as caught:
            SQLiteStore(bad)
        message = str(caught.value)
        assert str(bad) in message and "\n" not in message
        assert isinstance(caught.value, ValueError)
    assert "not a SQLite database" in _message(text_file)
    assert "does not exist" in _message(missing_dir)
    assert not missing_dir.parent.exists()
    with pytest.raises(StoreError, match="no such results store"):
        SQLiteStore(tmp_path / "absent.db", create=False)
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE people (name TEXT)").connection.commit()
    with pytest.raises(StoreError, match="not an optsearch results store"):
        SQLiteStore(other)


def _message(path) -> str:
    with pytest.raises(StoreError) as caught:
        SQLiteStore(path)
    return str(caught.value)


def test_closed_store_refuses_work_and_pickles_by_path(tmp_path):
    path = tmp_path / "results.db"
    store = SQLiteStore(path)
    store.record(make_result())
    copy = pickle.loads(pickle.dumps(store))  # only the path travels
    assert copy.path == store.path and copy.count() == 1
    copy.record(make_result(fingerprint="second"))
    assert store.count() == 2
    store.close()
    store.close()  # idempotent
    with pytest.raises(StoreError, match="closed"):
        store.count()
    copy.close()


# ------------------------------------------------------------------------------------------------
# real processes
# ------------------------------------------------------------------------------------------------
def _integrity(path) -> str:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


@pytest.mark.slow
def test_rows_reported_committed_survive_sigkill_of_the_writer(tmp_path):
    path = tmp_path / "results.db"
    writer = subprocess.Popen(
        [sys.executable, str(WRITER), str(path), "killed", "-1"],
        stdout=subprocess.PIPE,
        text=True,
    )
    reported: list[tuple[int, int]] = []
    try:
        deadline = time.monotonic() + 60
        while len(reported) < 150 and time.monotonic() < deadline:
            line = writer.stdout.readline()
            assert line, "the writer exited early"
            row_id, index = map(int, line.split())
            reported.append((row_id, index))
    finally:
        os.kill(writer.pid, signal.SIGKILL)  # mid-loop: possibly inside a transaction
        writer.wait()
        writer.stdout.close()
    assert writer.returncode == -signal.SIGKILL
    assert len(reported) == 150

    assert _integrity(path) == "ok"
    with SQLiteStore(path) as store:
        stored = store.results(run_id="killed")
        # Every reported row is there, complete and in order; nothing is half-written or missing.
        assert len(stored) >= len(reported)
        assert stored == [_store_writer.result("killed", i) for i in range(len(stored))]
        ids = [row["id"] for row in store.rows_json(run_id="killed")]
        assert {row_id for row_id, _ in reported} <= set(ids)
        assert store.load_checkpoint("killed", "state") is not None
        assert store.run("killed")["finished_at"] is None  # it never finished
        before = store.count()

    # A new process continues writing to the same store.
    finished = subprocess.run(
        [sys.executable, str(WRITER), str(path), "after", "20"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.strip().endswith("done")
    with SQLiteStore(path) as store:
        assert store.count() == before + 20
        assert store.results(run_id="after") == [_store_writer.result("after", i) for i in range(20)]
        assert store.run("after")["finished_at"] is not None
    assert _integrity(path) == "ok"


@pytest.mark.slow
def test_two_processes_write_one_store_at_once(tmp_path):
    path = tmp_path / "shared.db"  # does not exist yet: both writers also create it together
    go = tmp_path / "go"
    writers = [
        subprocess.Popen(
            [sys.executable, str(WRITER), str(path), f"writer-{k}", "200", str(go), "2"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for k in range(2)
    ]
    for writer in writers:  # both imported and waiting: start them together
        assert writer.stdout.readline().strip() == "ready"
    go.touch()
    outputs = [writer.communicate(timeout=120) for writer in writers]
    for writer, (out, err) in zip(writers, outputs):
        assert writer.returncode == 0, err
        assert "locked" not in err
        assert out.strip().endswith("done")
    assert _integrity(path) == "ok"
    with SQLiteStore(path) as store:
        assert store.count() == 400
        for k in range(2):
            assert store.results(run_id=f"writer-{k}") == [
                _store_writer.result(f"writer-{k}", i) for i in range(200)
            ]
            assert store.run(f"writer-{k}")["finished_at"] is not None
            assert store.load_checkpoint(f"writer-{k}", "state") == b"199" * 100
        ids = [row["id"] for row in store.rows_json()]
        assert len(set(ids)) == 400
    # The writes really interleaved (both ran at once: each waited for the other's first row
    # before its second), judging by the row ids of each writer.
    reported = [[int(line.split()[0]) for line in out.splitlines()[:-1]] for out, _ in outputs]
    assert min(reported[1]) < max(reported[0]) and min(reported[0]) < max(reported[1])


def _downgrade_to_schema_1(path) -> None:
    """Turn a fresh store into what optsearch 0.1 wrote: no proposal index, no leases."""
    conn = sqlite3.connect(path)
    conn.executescript(
        "DROP INDEX evaluations_run_proposal; DROP TABLE leases; "
        "ALTER TABLE evaluations DROP COLUMN proposal; "
        "UPDATE meta SET value = '1' WHERE key = 'schema_version';"
    )
    conn.close()


def test_a_schema_1_store_is_migrated_with_proposal_indices_in_insertion_order(tmp_path):
    path = tmp_path / "old.sqlite"
    SQLiteStore(path).close()
    _downgrade_to_schema_1(path)
    rows = [make_result(run_id=run, fingerprint=f"fp{i}") for i, run in enumerate(["a", "b", "a", "", "a"])]
    conn = sqlite3.connect(path)
    for row in rows:  # rows as version 1 wrote them: JSON without an index
        data = json.loads(row.to_json())
        del data["index"]
        conn.execute(
            "INSERT INTO evaluations (run_id, searcher, seed, rule, canonical, fingerprint, task, config_hash, "
            "status, cached, detail, per_lr, created_at, result_json) VALUES (?, 's', 3, 'g', 'g', ?, 't', 'c', "
            "'ok', 0, '', '[]', 'now', ?)",
            (row.run_id, row.fingerprint, json.dumps(data)),
        )
    conn.commit()
    conn.close()
    with SQLiteStore(path) as store:
        assert [r.index for r in store.results(run_id="a")] == [0, 1, 2]
        assert [r.fingerprint for r in store.results(run_id="a")] == ["fp0", "fp2", "fp4"]
        assert [r.index for r in store.results(run_id="b")] == [0]
        assert [r.index for r in store.results(run_id="")] == [None]
        store.record(make_result(run_id="a", fingerprint="fp5", index=3))
        with pytest.raises(ProposalExists):
            store.record(make_result(run_id="a", fingerprint="fp6", index=1))
    with SQLiteStore(path) as store:  # opening again finds version 2: nothing migrates twice
        assert [r.index for r in store.results(run_id="a")] == [0, 1, 2, 3]


def test_a_run_holds_one_result_per_proposal_index(store):
    store.record(make_result(run_id="r", index=0))
    store.record(make_result(run_id="other", index=0))
    store.record(make_result(run_id="", index=None))
    store.record(make_result(run_id="", index=None))  # outside a run, no index and no limit
    with pytest.raises(ProposalExists, match="UNIQUE"):
        store.record(make_result(run_id="r", index=0, fingerprint="fp-b"))
    assert store.count(run_id="r") == 1


def test_results_of_a_run_come_in_proposal_order_whatever_the_order_of_writing(store):
    for index in (2, 0, 3, 1):
        store.record(make_result(run_id="r", index=index, fingerprint=f"fp{index}"))
    assert [r.index for r in store.results(run_id="r")] == [0, 1, 2, 3]
    assert [r.index for r in store.results()] == [2, 0, 3, 1]


def test_write_failures_become_one_line_store_errors(tmp_path):
    store = SQLiteStore(tmp_path / "s.sqlite")
    conn = store._connection()
    conn.execute(f"PRAGMA max_page_count = {conn.execute('PRAGMA page_count').fetchone()[0]}")
    with pytest.raises(StoreError, match="cannot write to the results store .*full") as caught:
        for i in range(100):
            store.record(make_result(fingerprint=f"fp{i}", detail="x" * 2000))
    assert "\n" not in str(caught.value)
    with pytest.raises(StoreError, match="cannot write"):
        store.record(make_result(seed=2**64))
    store.close()


def test_top_past_a_batch_of_ids_keeps_the_order(store):
    # top() ranks on three columns and then reads the winners' JSON in batches of 500 ids.
    for i in range(620):
        store.record(make_result(canonical=f"r{i}", fingerprint=f"f{i}", reward=(i * 37 % 620) / 620, run_id="", tokens=None))
    top = store.top(600)
    assert [r.reward for r in top] == sorted((r.reward for r in top), reverse=True)
    assert len({r.canonical for r in top}) == 600 and top[0].reward == 619 / 620


def test_result_store_is_the_deprecated_name_of_the_sqlite_store():
    import optsearch
    import optsearch.evaluation
    from optsearch.evaluation.store import ResultStore

    assert ResultStore is SQLiteStore is optsearch.evaluation.ResultStore is optsearch.ResultStore
