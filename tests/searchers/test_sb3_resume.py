"""A Stable-Baselines3 run cut short (a smaller budget) and started again with the full one resumes
from its store: the stored proposals are kept as they are, only the missing indices are evaluated,
and the policy restarts from its checkpoint (``"policy"``: the policy's and its optimizer's state
dicts, as stores written before hold it).

SB3's random state and unfinished rollout are not checkpointed, so after the cut a resumed run
proposes other rules than an uninterrupted run (the conformance kit skips its exact-resume test for
the SB3 agents); what it proposes is a function of the store, which is what is checked here.
"""

from __future__ import annotations

import sqlite3

import pytest

from optsearch.evaluation.config import EvalConfig
from optsearch.evaluation.evaluator import Evaluator
from optsearch.evaluation.store import ResultStore
from optsearch.searchers import run_named_search

pytestmark = pytest.mark.slow  # five short PPO runs

RUN_ID, SEED, GROUPS = "run", 3, 2
#: 16 proposals are two rollouts of 4 environments × 2 episodes: the policy has learned once at the cut.
CUT, BUDGET = 16, 28
#: A learning rate at which one update visibly changes what the policy proposes (SB3's 3e-4 barely does).
LEARNING_RATE = 0.05


class PolicyForgettingStore(ResultStore):
    """A real store that never gives a checkpoint back."""

    def load_checkpoint(self, run_id, name):
        return None


def copy_store(path, to):
    """A copy of the SQLite store at ``path`` (its write-ahead log included), at ``to``."""
    with sqlite3.connect(path) as source, sqlite3.connect(to) as target:
        source.backup(target)
    return to


def search(store, budget):
    with Evaluator(EvalConfig(task="quadratic", steps=40), store=store) as evaluator:
        return run_named_search("ppo", evaluator, budget=budget, seed=SEED, groups=GROUPS, run_id=RUN_ID, learning_rate=LEARNING_RATE)


def rows(outcome, start=0, stop=None):
    return [(r.index, r.rule, r.reward, r.status, r.cached) for r in outcome.results[start:stop]]


def test_a_ppo_run_cut_short_resumes_from_its_stored_proposals_and_policy(tmp_path):
    path = tmp_path / "cut.sqlite"
    cut = search(path, CUT)
    copies = [copy_store(path, tmp_path / f"copy{i}.sqlite") for i in range(2)]
    resumed = search(path, BUDGET)
    uninterrupted = search(tmp_path / "uninterrupted.sqlite", BUDGET)

    assert [r.index for r in resumed.results] == list(range(BUDGET))
    assert rows(resumed, stop=CUT) == rows(cut)  # replayed from the store, not evaluated again
    assert rows(resumed, stop=CUT) == rows(uninterrupted, stop=CUT)
    with ResultStore(path) as store:
        assert store.count(run_id=RUN_ID) == BUDGET
    # What follows the cut is a function of the store: the same from a copy of it ...
    assert rows(search(copies[0], BUDGET)) == rows(resumed)
    # ... and it starts from the stored policy: without it, other rules follow the cut.
    forgetful = search(PolicyForgettingStore(copies[1]), BUDGET)
    assert rows(forgetful, stop=CUT) == rows(cut)
    assert [r.rule for r in forgetful.results[CUT:]] != [r.rule for r in resumed.results[CUT:]]
