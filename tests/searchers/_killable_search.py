"""Run a search in a subprocess; the crash tests SIGKILL it mid-way (not collected).

usage: python _killable_search.py SEARCHER STORE BUDGET [BACKEND [KILL_AFTER]]

With KILL_AFTER the process sends itself SIGKILL right after its KILL_AFTER-th committed write to
the store (a result or a checkpoint), so a test can place the kill exactly: mid-batch, just after
a batch, between a batch's last result and its checkpoint.
"""

import os
import signal
import sys

from optsearch.evaluation.config import EvalConfig
from optsearch.evaluation.evaluator import Evaluator
from optsearch.evaluation.store import ResultStore
from optsearch.searchers import run_named_search

RUN_ID, SEED, GROUPS, BATCH_SIZE = "killed", 5, 2, 8
CONFIG = EvalConfig(task="quadratic", steps=40)


class SelfKillingStore(ResultStore):
    """A real store whose process dies by SIGKILL after a given number of committed writes."""

    def __init__(self, path, kill_after):
        super().__init__(path)
        self.writes_left = kill_after

    def _count_write(self):
        self.writes_left -= 1
        if self.writes_left == 0:
            os.kill(os.getpid(), signal.SIGKILL)

    def record(self, result):
        row = super().record(result)
        self._count_write()
        return row

    def save_checkpoint(self, run_id, name, blob):
        super().save_checkpoint(run_id, name, blob)
        self._count_write()


def search(name, store, budget, backend="serial"):
    """The search every crash test runs (and its uninterrupted reference)."""
    with Evaluator(CONFIG, store=store, backend=backend, workers=2 if backend == "process" else None) as evaluator:
        return run_named_search(
            name, evaluator, budget=budget, seed=SEED, groups=GROUPS, run_id=RUN_ID, batch_size=BATCH_SIZE
        )


if __name__ == "__main__":
    name, path, budget = sys.argv[1], sys.argv[2], int(sys.argv[3])
    backend = sys.argv[4] if len(sys.argv) > 4 else "serial"
    kill_after = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    store = SelfKillingStore(path, kill_after) if kill_after else ResultStore(path)
    search(name, store, budget, backend)
