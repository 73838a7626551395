"""A search killed with SIGKILL and started again continues: nothing lost, nothing retrained.

"Nothing retrained" is checked on the trainings the resumed process submits to its executor
(counted by fingerprint), not only on the store's rows, where the cache (a re-trained rule
answered as a cache hit) or the unique proposal index could hide a second training.
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

from optsearch.dsl import fingerprint, parse
from optsearch.evaluation.config import EvalConfig
from optsearch.evaluation.evaluator import Evaluator
from optsearch.evaluation.store import ResultStore
from optsearch.searchers import run_named_search

SCRIPT = Path(__file__).with_name("_killable_search.py")
BUDGET = 40


def rows_in(path: Path) -> int:
    if not path.exists():
        return 0
    try:
        with ResultStore(path) as store:
            return store.count(run_id="killed")
    except Exception:
        return 0


def count_trainings(evaluator: Evaluator) -> Counter:
    """Count, by fingerprint, every rule ``evaluator`` sends to its executor to be trained.

    Counted where the work is submitted, not from the store: a training whose result the store
    then hides (answered as a cache hit, refused by the unique proposal index) still counts.
    """
    trained: Counter = Counter()
    run = evaluator.executor.run

    def counting_run(fn, jobs):
        jobs = list(jobs)
        for job in jobs:
            for rule in job.rules:
                trained[fingerprint(parse(rule), evaluator.config.rule_config)] += 1
        return run(fn, jobs)

    evaluator.executor.run = counting_run  # type: ignore[method-assign]
    return trained


@pytest.mark.slow
@pytest.mark.parametrize("name", ["evolution", "reinforce", "ppo"])
def test_sigkilled_search_resumes_to_the_exact_budget(name, tmp_path):
    path = tmp_path / "store.sqlite"
    process = subprocess.Popen([sys.executable, str(SCRIPT), name, str(path), str(BUDGET)])
    deadline = time.monotonic() + 120
    while rows_in(path) < 8 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    assert process.poll() is None, "the search ended before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    before = rows_in(path)
    assert 8 <= before < BUDGET
    with ResultStore(path) as store:
        kept = store.results(run_id="killed")
    # Rules whose training finished before the kill (an `error` is not cached: it may be redone).
    trained_before = {r.fingerprint for r in kept if not r.cached and r.status not in ("screened", "error")}
    assert trained_before, "the killed run had trained nothing"

    with Evaluator(EvalConfig(task="quadratic", steps=40), store=path) as evaluator:
        trained_now = count_trainings(evaluator)
        outcome = run_named_search(name, evaluator, budget=BUDGET, seed=5, groups=2, run_id="killed", batch_size=2)
    with ResultStore(path) as store:
        rows = store.results(run_id="killed")
        assert store.integrity_check() == "ok"
    assert len(rows) == BUDGET and len(outcome.results) == BUDGET
    trained = Counter(r.fingerprint for r in rows if not r.cached)
    assert max(trained.values()) == 1, "a finished evaluation was trained again"
    # The trainings the resumed process actually ran: none of a rule finished before the kill,
    # none twice, and exactly the trainings it recorded (none hidden behind the cache).
    assert not set(trained_now) & trained_before, "a rule trained before the kill was trained again"
    assert all(count == 1 for count in trained_now.values()), f"trained twice after resuming: {trained_now}"
    kept_indices = {r.index for r in kept}
    recorded_now = {
        r.fingerprint
        for r in rows
        if r.index not in kept_indices and not r.cached and r.status != "screened" and not r.fingerprint.startswith("error-")
    }  # the trainings the resumed process recorded ("error-...": a rule that could not be probed, never trained)
    assert set(trained_now) == recorded_now, "the trainings run after resuming are not the trainings recorded"
