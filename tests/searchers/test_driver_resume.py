"""The ask/tell driver resumes from its checkpoint (``"searcher"``: the searcher's state and the
number of proposals told), and only when every proposal the checkpoint has seen is stored.

A deterministic searcher proposes the same rules either way (without the checkpoint it starts again
from its seed and the stored proposals are replayed by index), so these tests count what the
searcher is asked for.
"""

from __future__ import annotations

import sqlite3

from optsearch.evaluation.config import EvalConfig
from optsearch.evaluation.evaluator import Evaluator
from optsearch.evaluation.store import ResultStore
from optsearch.searchers.driver import CHECKPOINT, run_search
from optsearch.searchers.lifecycle import load_state
from optsearch.searchers.random_search import RandomSearch

RUN_ID, SEED, GROUPS, BATCH = "run", 4, 2, 4
CUT, BUDGET = 8, 16


class CountingSearch(RandomSearch):
    """Random search that counts the proposals it is asked for."""

    asked = 0

    def ask(self, n):
        self.asked += n
        return super().ask(n)


def search(path, budget):
    searcher = CountingSearch(groups=GROUPS, seed=SEED)
    with Evaluator(EvalConfig(task="quadratic", steps=20), store=path) as evaluator:
        outcome = run_search(searcher, evaluator, budget=budget, run_id=RUN_ID, batch_size=BATCH)
    return [(r.index, r.rule) for r in outcome.results], searcher.asked


def test_a_resumed_run_starts_from_its_checkpoint_and_asks_only_for_what_it_owes(tmp_path):
    uninterrupted, _ = search(tmp_path / "uninterrupted.sqlite", BUDGET)
    path = tmp_path / "cut.sqlite"
    search(path, CUT)
    with ResultStore(path) as store:
        checkpoint = load_state(store.load_checkpoint(RUN_ID, CHECKPOINT))
    assert checkpoint["told"] == CUT and set(checkpoint) == {"state", "told"}
    resumed, asked = search(path, BUDGET)
    assert resumed == uninterrupted
    assert asked == BUDGET - CUT


def test_a_checkpoint_is_not_used_when_a_proposal_it_has_seen_is_missing(tmp_path):
    uninterrupted, _ = search(tmp_path / "uninterrupted.sqlite", BUDGET)
    path = tmp_path / "cut.sqlite"
    search(path, CUT)
    with sqlite3.connect(path) as db:  # as a store of an older version may lack an index
        db.execute("UPDATE evaluations SET proposal = NULL WHERE run_id = ? AND proposal = 5", (RUN_ID,))
    resumed, asked = search(path, BUDGET)
    assert resumed == uninterrupted
    assert asked == BUDGET  # started again from its seed, the stored proposals replayed by index
