"""Crash consistency: a search SIGKILLed at any write and resumed equals the uninterrupted run.

The killed process sends itself SIGKILL right after its N-th committed write (see
``_killable_search.py``), so the kill points cover mid-batch (some results of a batch stored,
others not), just after a batch's last result (checkpoint not yet written) and just after a
checkpoint. The resumed run must hold exactly ``budget`` rows, one per proposal index, with the
proposals (and rewards) of an uninterrupted run of the same seed, and train nothing twice.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from optsearch.evaluation.lease import RunLeased, run_lease
from optsearch.evaluation.store import ResultStore

sys.path.insert(0, str(Path(__file__).parent))
from _killable_search import RUN_ID, search  # noqa: E402

SCRIPT = Path(__file__).with_name("_killable_search.py")
BUDGET = 30  # batches of 8: writes are 8 results + 1 checkpoint per batch, 34 in all


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict[str, list[tuple]]:
    """Uninterrupted runs, one per searcher: (index, rule, reward, cached) per proposal."""
    folder = tmp_path_factory.mktemp("reference")
    out = {}
    for name in ("evolution", "reinforce"):
        with ResultStore(folder / f"{name}.sqlite") as store:
            search(name, store, BUDGET)
            out[name] = _proposals(store)
    return out


def _proposals(store: ResultStore) -> list[tuple]:
    return [(r.index, r.rule, r.reward, r.cached) for r in store.results(run_id=RUN_ID)]


def _killed_then_resumed(tmp_path: Path, name: str, backend: str, kill_after: int) -> ResultStore:
    path = tmp_path / "store.sqlite"
    completed = subprocess.run(
        [sys.executable, str(SCRIPT), name, str(path), str(BUDGET), backend, str(kill_after)], timeout=300
    )
    assert completed.returncode == -signal.SIGKILL, "the search was not killed where asked"
    with ResultStore(path) as store:
        assert 0 < store.count(run_id=RUN_ID) <= BUDGET
        assert store.lease_holder(RUN_ID) is not None  # the dead process still "holds" the run
    store = ResultStore(path)
    search(name, store, BUDGET, backend)  # takes over the stale lease and completes the run
    return store


def _assert_consistent(store: ResultStore, expected: list[tuple]) -> None:
    rows = store.results(run_id=RUN_ID)
    assert store.count(run_id=RUN_ID) == BUDGET
    assert [r.index for r in rows] == list(range(BUDGET))
    assert _proposals(store) == expected
    trained = Counter(r.fingerprint for r in rows if not r.cached)
    assert max(trained.values()) == 1, "a finished evaluation was trained again"
    assert store.run(RUN_ID)["finished_at"] is not None
    assert store.lease_holder(RUN_ID) is None and store.integrity_check() == "ok"


@pytest.mark.slow
@pytest.mark.parametrize("kill_after", [1, 4, 8, 9, 11, 14, 17, 18, 21, 26, 27, 31, 33])
def test_serial_search_killed_at_any_write_resumes_exactly(kill_after, tmp_path, reference):
    with _killed_then_resumed(tmp_path, "evolution", "serial", kill_after) as store:
        _assert_consistent(store, reference["evolution"])


@pytest.mark.slow
@pytest.mark.parametrize("kill_after", [5, 12, 20])
def test_process_backend_search_killed_mid_batch_resumes_exactly(kill_after, tmp_path, reference):
    with _killed_then_resumed(tmp_path, "evolution", "process", kill_after) as store:
        _assert_consistent(store, reference["evolution"])


@pytest.mark.slow
@pytest.mark.parametrize("kill_after", [6, 19])
def test_reinforce_killed_mid_batch_resumes_exactly(kill_after, tmp_path, reference):
    with _killed_then_resumed(tmp_path, "reinforce", "serial", kill_after) as store:
        _assert_consistent(store, reference["reinforce"])


# -- one writer per run ---------------------------------------------------------------------------
def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "optsearch.cli", *args]


SEARCH = ("search", "--searcher", "random", "--task", "quadratic", "--backend", "serial", "--quiet")


@pytest.mark.slow
def test_a_held_run_refuses_a_second_writer_with_one_line(tmp_path):
    path = tmp_path / "runs.sqlite"
    with ResultStore(path) as store, run_lease(store, "random-quadratic-seed0"):
        completed = subprocess.run(
            _cli(*SEARCH, "--budget", "4", "--store", str(path)), capture_output=True, text=True, timeout=120
        )
        assert store.count() == 0
    assert completed.returncode == 2
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in completed.stderr
    assert f"pid {os.getpid()}" in lines[0] and "random-quadratic-seed0" in lines[0]


HELD_SEARCH = Path(__file__).with_name("_held_search.py")


@pytest.mark.slow
def test_two_identical_searches_started_together_write_the_budget_once(tmp_path):
    path, held, go = tmp_path / "runs.sqlite", tmp_path / "held", tmp_path / "go"
    budget = 40
    args = (*SEARCH, "--budget", str(budget), "--store", str(path))
    # The first writer stops after its 5th committed result, holding the run's lease, until `go`
    # exists; `go` is created only once the second writer has tried and ended, so the second
    # always meets a live holder (never a finished run, which it would resume and exit 0).
    first = subprocess.Popen(
        [sys.executable, str(HELD_SEARCH), str(held), str(go), "5", *args],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not held.exists():
            assert first.poll() is None, "the first writer ended before it held the run"
            assert time.monotonic() < deadline, "the first writer did not reach its 5th result"
            time.sleep(0.02)
        second = subprocess.run(_cli(*args), capture_output=True, text=True, timeout=300)
        with ResultStore(path) as store:
            assert store.count() == 5, "the second writer wrote while the first held the run"
    finally:
        go.touch()
        _, first_err = first.communicate(timeout=300)
    assert first.returncode == 0, first_err
    assert second.returncode == 2, "the second writer should have been refused"
    assert "is being written by pid" in second.stderr and len(second.stderr.strip().splitlines()) == 1
    assert f"pid {first.pid}" in second.stderr
    with ResultStore(path) as store:
        rows = store.results(run_id="random-quadratic-seed0")
    assert [r.index for r in rows] == list(range(budget))
    trained = Counter(r.fingerprint for r in rows if not r.cached)
    assert max(trained.values()) == 1


def test_stale_leases_are_taken_over(tmp_path):
    with ResultStore(tmp_path / "runs.sqlite") as store:
        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
        import socket

        here = socket.gethostname()
        store.take_lease("r", {"token": "dead", "pid": int(dead.stdout), "host": here}, lambda _: False)
        with run_lease(store, "r"):  # its holder's process is gone
            assert store.lease_holder("r")["pid"] == os.getpid()
        store.take_lease("r", {"token": "far", "pid": 1, "host": "elsewhere"}, lambda _: False)
        with pytest.raises(RunLeased, match="pid 1 on elsewhere"):
            with run_lease(store, "r"):
                pass
        with run_lease(store, "r", stale_after_s=0.0):  # an old heartbeat: the holder is frozen
            assert store.lease_holder("r")["token"] != "far"
        assert store.lease_holder("r") is None


def test_a_waiting_writer_gets_the_run_when_the_holder_finishes(tmp_path):
    with ResultStore(tmp_path / "runs.sqlite") as store:
        store.take_lease("r", {"token": "other", "pid": 1, "host": "elsewhere"}, lambda _: False)
        import threading

        threading.Timer(0.3, store.release_lease, args=("r", "other")).start()
        started = time.monotonic()
        with run_lease(store, "r", wait_s=30):
            assert store.lease_holder("r")["pid"] == os.getpid()
        assert 0.2 < time.monotonic() - started < 10


def test_the_heartbeat_keeps_a_long_run_fresh(tmp_path):
    with ResultStore(tmp_path / "runs.sqlite") as store:
        with run_lease(store, "r", heartbeat_s=0.05):
            first = store.lease_holder("r")["heartbeat"]
            time.sleep(0.3)
            assert store.lease_holder("r")["heartbeat"] > first
