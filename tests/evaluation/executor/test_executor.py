"""The executor backends, with real worker processes (and a real local Ray instance, marked slow)."""

from __future__ import annotations

import ipaddress
import multiprocessing
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from optsearch.evaluation.executor import (
    BACKENDS,
    CRASH,
    ERROR,
    OK,
    TIMEOUT,
    JobOutcome,
    make_executor,
)

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # spawned workers inherit sys.path and import the jobs from here
import _executor_jobs as jobs  # noqa: E402


def _gone(pid: int) -> bool:
    """True when no process (not even a zombie) has this pid."""
    return not Path(f"/proc/{pid}").exists()


def _dead(pid: int) -> bool:
    """True when the process is gone or a zombie (its new parent may not have reaped it yet)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")


def _children_of_us() -> set[int]:
    """The pids of this process's live or zombie children, from /proc."""
    children = set()
    me = str(os.getpid())
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[1] == me:
                children.add(int(entry.name))
    return children


def _collect(executor, fn, payloads) -> dict[int, JobOutcome]:
    """Every (index, outcome) of a run, checking that each index comes exactly once."""
    seen: dict[int, JobOutcome] = {}
    for index, outcome in executor.run(fn, payloads):
        assert index not in seen, f"index {index} yielded twice"
        seen[index] = outcome
    assert sorted(seen) == list(range(len(payloads)))
    return seen


@pytest.fixture(scope="module")
def pool():
    """One 2-worker process pool shared by the tests below (workers persist across calls)."""
    executor = make_executor("process", 2)
    yield executor
    pids = executor.pids
    executor.close()
    assert all(_gone(pid) for pid in pids)


@pytest.mark.slow
def test_serial_and_process_backends_give_the_same_results(pool):
    payloads = list(range(20))
    with make_executor("serial") as serial:
        expected = _collect(serial, jobs.square, payloads)
    got = _collect(pool, jobs.square, payloads)
    assert {i: o.value for i, o in got.items()} == {i: i * i for i in payloads}
    assert got == expected
    assert all(o.kind == OK and o.error is None and o.attempts == 1 for o in got.values())
    assert pool.run_all(jobs.square, [3, 4]) == [JobOutcome(value=9), JobOutcome(value=16)]
    assert pool.run_all(jobs.square, []) == []


def test_process_backend_runs_jobs_at_the_same_time_in_different_workers(pool):
    pool.run_all(jobs.square, [0, 1])  # both workers started up
    before = set(pool.pids)
    outcomes = pool.run_all(jobs.span_of_sleep, [1.0, 1.0])
    assert all(o.kind == OK for o in outcomes)
    (pid_a, start_a, end_a), (pid_b, start_b, end_b) = (o.value for o in outcomes)
    assert pid_a != pid_b and {pid_a, pid_b} <= before  # two persistent workers ...
    assert start_a < end_b and start_b < end_a  # ... whose sleeps overlapped in time
    assert os.getpid() not in (pid_a, pid_b)


def test_workers_limit_torch_to_one_thread(pool):
    outcomes = pool.run_all(jobs.torch_threads, [0, 1])
    assert [o.value for o in outcomes] == [1, 1]


def test_a_job_whose_worker_dies_once_is_retried_and_succeeds(pool, tmp_path):
    marker = tmp_path / "died-once"
    outcomes = _collect(pool, jobs.mixed, [("square", 2), ("die_once", str(marker)), ("square", 3)])
    retried = outcomes[1]
    assert retried.kind == OK and retried.attempts == 2, retried
    assert marker.exists() and int(marker.read_text()) != retried.value  # a new worker ran it
    assert _gone(int(marker.read_text()))  # the dead worker was reaped
    assert outcomes[0].value == 4 and outcomes[2].value == 9
    assert len(pool.pids) <= 2


@pytest.mark.slow
def test_a_job_that_always_kills_its_worker_is_a_crash_after_one_retry(pool, tmp_path):
    counter = tmp_path / "attempts"
    payloads = [("square", 1), ("count_and_die", str(counter)), ("square", 2), ("square", 3)]
    outcomes = _collect(pool, jobs.mixed, payloads)
    crash = outcomes[1]
    assert crash.kind == CRASH and crash.attempts == 2 and crash.value is None
    assert "died" in crash.error and "exit status 3" in crash.error
    assert counter.read_text().count("x") == 2  # started twice: once plus one retry
    assert [outcomes[i].value for i in (0, 2, 3)] == [1, 4, 9]
    # The executor goes on normally afterwards.
    assert [o.value for o in pool.run_all(jobs.square, [5, 6, 7])] == [25, 36, 49]


@pytest.mark.slow
def test_sigkilled_worker_counts_as_a_crash(pool):
    outcome = pool.run_all(jobs.always_die, [None])[0]
    assert outcome.kind == CRASH and "SIGKILL" in outcome.error


def test_a_raising_job_is_an_error_with_its_message_and_is_not_retried(pool, tmp_path):
    counter = tmp_path / "calls"
    outcomes = _collect(pool, jobs.raise_value_error, [str(counter)])
    outcome = outcomes[0]
    assert outcome.kind == ERROR and outcome.attempts == 1 and outcome.value is None
    assert outcome.error == "ValueError: bad payload calls"
    assert "raise ValueError" in outcome.traceback
    assert counter.read_text().count("x") == 1
    with make_executor("serial") as serial:
        counter.unlink()
        again = serial.run_all(jobs.raise_value_error, [str(counter)])[0]
    assert (again.kind, again.error, again.attempts) == (ERROR, "ValueError: bad payload calls", 1)


def test_an_unpicklable_job_is_an_error_not_a_crash(pool):
    outcome = pool.run_all(_local_function_is_picklable_by_reference_only(), [1])[0]
    assert outcome.kind == ERROR and "cannot send the job" in outcome.error
    assert pool.run_all(jobs.square, [2])[0].value == 4


def _local_function_is_picklable_by_reference_only():
    return lambda x: x


@pytest.mark.slow
def test_abandoning_a_run_kills_its_running_jobs(pool):
    start = time.monotonic()
    run = pool.run(jobs.sleep_for, [0.05, 60.0])
    index, outcome = next(run)
    assert (index, outcome.value) == (0, 0.05)
    run.close()  # the 60 s job's worker is killed, not waited for
    assert time.monotonic() - start < 30
    assert [o.value for o in pool.run_all(jobs.square, [1, 2])] == [1, 4]


@pytest.mark.slow
def test_timeout_kills_the_job_and_the_executor_keeps_working_and_close_reaps(tmp_path):
    start = time.monotonic()
    with make_executor("process", 2, job_timeout_s=1.5) as executor:
        grandchild = tmp_path / "grandchild"
        first = _collect(
            executor, jobs.mixed, [("sleep_with_child", str(grandchild)), ("square", 5), ("square", 6)]
        )
        assert first[0].kind == TIMEOUT and "time limit" in first[0].error and first[0].attempts == 1
        assert 1.4 < first[0].wall_s < 20
        assert first[1].value == 25 and first[2].value == 36
        # The process the timed-out job started was killed with its worker (same process group).
        grandchild_pid = int(grandchild.read_text())
        deadline = time.monotonic() + 10
        while not _dead(grandchild_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _dead(grandchild_pid)
        later = executor.run_all(jobs.span_of_sleep, [0.2, 0.2])
        assert all(o.kind == OK for o in later)
        pids = {o.value[0] for o in later} | set(executor.pids)
        assert multiprocessing.active_children()
    assert time.monotonic() - start < 45
    assert all(_gone(pid) for pid in pids)
    assert not (_children_of_us() & pids)
    assert not [p for p in multiprocessing.active_children() if p.pid in pids]


def test_bad_backend_names_and_arguments():
    with pytest.raises(ValueError) as caught:
        make_executor("threads")
    for name in BACKENDS:
        assert name in str(caught.value)
    with pytest.raises(ValueError):
        make_executor("process", 0)
    with pytest.raises(ValueError, match="address"):
        make_executor("process", 1, address="ray://head:10001")
    for limit in (0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="job_timeout_s"):
            make_executor("process", 1, job_timeout_s=limit)


_SCRIPT = """
import sys
from optsearch.dsl import resolve_rule
from optsearch.evaluation import EvalConfig, Evaluator

def run():
    with Evaluator(EvalConfig(task="quadratic", steps=20), backend="process", workers=2) as evaluator:
        results = evaluator.evaluate([resolve_rule("adam"), resolve_rule("sgd")], seed=0)
    print("statuses", *[r.status for r in results])
"""


@pytest.mark.slow
@pytest.mark.parametrize("guarded", [False, True])
def test_a_script_without_a_main_guard_fails_at_once_saying_so(tmp_path, guarded):
    script = tmp_path / "search_script.py"
    call = 'if __name__ == "__main__":\n    run()\n' if guarded else "run()\n"
    script.write_text(textwrap.dedent(_SCRIPT) + call)
    start = time.monotonic()
    completed = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=240, cwd=tmp_path)
    elapsed = time.monotonic() - start
    if guarded:
        assert completed.returncode == 0, completed.stderr
        assert "statuses ok ok" in completed.stdout
        return
    assert completed.returncode != 0 and "statuses" not in completed.stdout
    last = completed.stderr.strip().splitlines()[-1]
    assert last.startswith("optsearch.evaluation.executor.MainModuleError:"), completed.stderr
    assert str(script) in last and 'if __name__ == "__main__":' in last
    assert elapsed < 60  # one failed start-up, not a crash-and-retry of every job


def test_ray_backend_without_ray_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if ray were not installed
    with pytest.raises(ImportError, match=r"pip install 'optsearch\[ray\]'"):
        make_executor("ray", 1)


@pytest.mark.slow
def test_ray_backend_agrees_and_follows_the_same_policy(tmp_path, monkeypatch):
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        pytest.skip("a Ray instance is already running in this process")
    # Ray workers do not get the driver's sys.path: let them import the jobs module.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))
    payloads = list(range(20))
    with make_executor("serial") as serial:
        expected = _collect(serial, jobs.square, payloads)
    marker = tmp_path / "died-once"
    children_before = _children_of_us()
    with make_executor("ray", 2, job_timeout_s=20) as executor:
        assert _collect(executor, jobs.square, payloads) == expected
        mixed = _collect(
            executor,
            jobs.mixed,
            [("square", 3), ("die_once", str(marker)), ("raise", 7), ("square", 4)],
        )
        assert mixed[0].value == 9 and mixed[3].value == 16
        assert mixed[1].kind == OK and mixed[1].attempts == 2 and marker.exists()
        assert mixed[2].kind == ERROR and mixed[2].error == "RuntimeError: failed on 7"
        assert mixed[2].attempts == 1
    assert not ray.is_initialized()  # the executor started Ray, so it shut it down
    deadline = time.monotonic() + 10
    while _children_of_us() - children_before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _children_of_us() - children_before  # no Ray process left behind


def _descendants(pid: int) -> set[int]:
    """``pid`` and every process below it, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        current = todo.pop()
        found.add(current)
        todo.extend(children.get(current, []))
    return found


def _socket_inodes(pids: set[int]) -> set[str]:
    inodes = set()
    for pid in pids:
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    return inodes


def _listening_addresses(inodes: set[str]) -> list[ipaddress._BaseAddress]:
    """The local addresses of the TCP sockets in LISTEN state among ``inodes`` (/proc/net/tcp*)."""
    addresses = []
    for table in ("tcp", "tcp6"):
        try:
            rows = Path(f"/proc/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if fields[3] != "0A" or fields[9] not in inodes:  # 0A: TCP_LISTEN
                continue
            raw = bytes.fromhex(fields[1].split(":")[0])
            words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))  # host-order words
            addresses.append(ipaddress.ip_address(words))
    return addresses


def _loopback(address) -> bool:
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


@pytest.mark.slow
def test_a_local_ray_instance_listens_on_loopback_only(monkeypatch):
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        pytest.skip("a Ray instance is already running in this process")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:9")  # ignored: no address given means a new local instance
    with make_executor("ray", 1) as executor:
        assert executor.run_all(jobs.square, [3])[0].value == 9  # a worker is up, with its servers
        assert {node["NodeManagerAddress"] for node in ray.nodes()} == {"127.0.0.1"}
        assert ray.util.get_node_ip_address() == "127.0.0.1"
        listening = _listening_addresses(_socket_inodes(_descendants(os.getpid())))
    assert listening, "found no listening socket of Ray's"
    assert all(_loopback(address) for address in listening), listening
    assert not ray.is_initialized()
