"""A search killed with SIGKILL and started again continues: nothing lost, nothing retrained."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

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

    with Evaluator(EvalConfig(task="quadratic", steps=40), store=path) as evaluator:
        outcome = run_named_search(name, evaluator, budget=BUDGET, seed=5, groups=2, run_id="killed", batch_size=2)
    with ResultStore(path) as store:
        rows = store.results(run_id="killed")
        assert store.integrity_check() == "ok"
    assert len(rows) == BUDGET and len(outcome.results) == BUDGET
    trained = Counter(r.fingerprint for r in rows if not r.cached)
    assert max(trained.values()) == 1, "a finished evaluation was trained again"
