"""The Store protocol's contract, run on both implementations (SQLite and in memory)."""

from __future__ import annotations

import pytest

from optsearch.evaluation.records import DIVERGED, ERROR, OK, TIMEOUT, EvalResult
from optsearch.evaluation.store import InMemoryStore, ProposalExists, SQLiteStore, Store


def result(**overrides) -> EvalResult:
    base = dict(rule="g", canonical="g", fingerprint="fp", task="t", config_hash="c", reward=0.5, status=OK, seed=1)
    base.update(overrides)
    return EvalResult(**base)


@pytest.fixture(params=["sqlite", "memory"])
def store(request, tmp_path) -> Store:
    made = SQLiteStore(tmp_path / "s.sqlite") if request.param == "sqlite" else InMemoryStore()
    yield made
    made.close()


def test_both_implementations_satisfy_the_protocol(store):
    assert isinstance(store, Store)


def test_the_cache_answers_final_results_only_and_the_first_one(store):
    store.record(result(status=TIMEOUT, reward=0.0))
    store.record(result(status=ERROR, reward=0.0))
    assert store.lookup("fp", "t", "c", 1) is None
    store.record(result(status=DIVERGED, reward=0.1))
    store.record(result(status=OK, reward=0.9))
    store.record(result(status=OK, reward=0.7, cached=True))
    assert store.lookup("fp", "t", "c", 1).status == DIVERGED
    assert store.lookup("fp", "t", "c", 2) is None and store.lookup("fp", "t", "other", 1) is None


def test_one_result_per_run_and_proposal_index_in_proposal_order(store):
    for index in (1, 0, 2):
        store.record(result(run_id="r", index=index, fingerprint=f"fp{index}"))
    with pytest.raises(ProposalExists):
        store.record(result(run_id="r", index=1))
    store.record(result(run_id="", index=None))
    store.record(result(run_id="", index=None))
    assert [r.index for r in store.results(run_id="r")] == [0, 1, 2]
    assert [r.index for r in store.results()] == [1, 0, 2, None, None]
    assert store.count(run_id="r") == 3 and store.count(seed=1) == 5 and store.count(task="none") == 0


def test_runs_and_checkpoints(store):
    row = store.start_run("r", "random", 3, "t", 10, {"groups": 2})
    assert row["finished_at"] is None and row["config"] == {"groups": 2}
    store.start_run("r", "other", 4, "t", 99, {})  # idempotent: the first row stays
    store.record(result(run_id="r", index=0))
    store.finish_run("r")
    run = store.run("r")
    assert run["searcher"] == "random" and run["budget"] == 10 and run["evaluations"] == 1
    assert run["finished_at"] is not None and [r["run_id"] for r in store.runs()] == ["r"]
    assert store.run("missing") is None
    with pytest.raises(KeyError):
        store.finish_run("missing")
    assert store.load_checkpoint("r", "searcher") is None
    store.save_checkpoint("r", "searcher", b"one")
    store.save_checkpoint("r", "searcher", b"two")
    assert store.load_checkpoint("r", "searcher") == b"two"


def test_leases(store):
    me = {"token": "a", "pid": 10, "host": "h"}
    other = {"token": "b", "pid": 11, "host": "h"}
    assert store.take_lease("r", me, lambda _: False) is None
    assert store.take_lease("r", other, lambda _: False)["token"] == "a"
    assert store.take_lease("r", {**me, "token": "a2"}, lambda _: False) is None  # same process
    assert not store.renew_lease("r", "a") and store.renew_lease("r", "a2")
    assert store.take_lease("r", other, lambda holder: holder["pid"] == 10) is None  # stale
    store.release_lease("r", "a2")  # not the holder any more: nothing happens
    assert store.lease_holder("r")["token"] == "b"
    store.release_lease("r", "b")
    assert store.lease_holder("r") is None


def test_the_shortest_text_of_a_functional_class(store):
    store.record(result(rule="ld * sign(adam)", canonical="ld * sign(adam)", fingerprint="lion"))
    store.record(result(rule="sign(m) * ld", canonical="ld * sign(m)", fingerprint="lion"))
    store.record(result(rule="g", canonical="g", fingerprint="sgd"))
    assert store.shortest_rules(["lion", "sgd", "none"]) == {"lion": "ld * sign(m)", "sgd": "g"}
