"""The Store protocol's contract, run on both implementations (SQLite and in memory)."""

from __future__ import annotations

import json
import math

import pytest

from optsearch.evaluation.records import DIVERGED, ERROR, NAN, OK, TIMEOUT, EvalResult
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


def test_top_ranks_best_reward_first_one_per_canonical_rule(store):
    rows = [
        result(canonical="A", fingerprint="a", reward=0.5, run_id="r1", searcher="random", index=0),
        result(canonical="B", fingerprint="b", reward=0.9, run_id="r1", searcher="random", index=1),
        result(canonical="A", fingerprint="a", reward=0.8, run_id="r2", searcher="gp", index=0),
        result(canonical="B", fingerprint="b", reward=0.9, run_id="r2", searcher="gp", index=1, cached=True),
        result(canonical="C", fingerprint="c", reward=0.7, task="other"),
        result(canonical="D", fingerprint="d", reward=math.nan, status=NAN),
        result(canonical="E", fingerprint="e", reward=0.9),
    ]
    for row in rows:
        store.record(row)
    top = store.top(10)
    assert [(r.canonical, r.reward) for r in top[:4]] == [("B", 0.9), ("E", 0.9), ("A", 0.8), ("C", 0.7)]
    assert top[4].canonical == "D" and math.isnan(top[4].reward) and len(top) == 5  # NaN last
    assert not top[0].cached and top[0].run_id == "r1"  # of equal rewards, the first recorded
    assert [r.canonical for r in store.top(2)] == ["B", "E"] and store.top(0) == []
    assert [r.canonical for r in store.top(10, task="t")] == ["B", "E", "A", "D"]
    assert [(r.canonical, r.run_id) for r in store.top(10, run_id="r2")] == [("B", "r2"), ("A", "r2")]
    assert [r.canonical for r in store.top(10, searcher="random")] == ["B", "A"]
    everything = store.top(10, distinct_canonical=False)
    assert [(r.canonical, r.cached) for r in everything] == [
        ("B", False), ("B", True), ("E", False), ("A", False), ("C", False), ("A", False), ("D", False)
    ]
    assert store.top(3, "other", False) == [rows[4]]  # the positional form callers use


def test_rows_json_is_strict_json_numbered_in_recording_order(store):
    store.record(result(run_id="r", index=1, tokens=("g", "1", "1", "1", "0")))
    store.record(result(run_id="r", index=0, fingerprint="n", canonical="N", reward=math.nan, status=NAN, cached=True))
    store.record(result(run_id="s", index=0, seed=2, task="u"))
    rows = store.rows_json()
    assert json.loads(json.dumps(rows, allow_nan=False)) == rows  # strict JSON: NaN is None
    assert [(row["id"], row["run"], row["index"]) for row in rows] == [(1, "r", 1), (2, "r", 0), (3, "s", 0)]
    assert rows[0]["tokens"] == ["g", "1", "1", "1", "0"] and rows[0]["status"] == OK and rows[0]["reward"] == 0.5
    assert rows[1]["reward"] is None and rows[1]["cached"] is True
    assert all(isinstance(row["created_at"], str) and row["created_at"] for row in rows)
    assert [row["id"] for row in store.rows_json(run_id="r")] == [1, 2]  # recording order, not proposal order
    assert [row["id"] for row in store.rows_json(seed=2)] == [3] == [row["id"] for row in store.rows_json(task="u")]
    assert store.rows_json(searcher="none") == []


def _same_history(store: Store) -> None:
    """One history, recorded the same way in any store (run ids, proposal indices, ties, NaN)."""
    store.start_run("r1", "random", 0, "t", 8, {"k": 1})
    store.start_run("r2", "gp", 1, "t", 8, {})
    rewards = [0.3, 0.9, math.nan, 0.9, 0.1, 0.5, 0.9, 0.0]
    for i, reward in enumerate(rewards):
        run, searcher = ("r1", "random") if i % 2 == 0 else ("r2", "gp")
        canonical = "ABCAB"[i % 5]
        store.record(
            result(
                rule=f"{canonical.lower()} + 0*{i}", canonical=canonical, fingerprint=f"fp{canonical}", reward=reward,
                status=NAN if math.isnan(reward) else OK, run_id=run, searcher=searcher, seed=i % 2,
                index=(7 - i) // 2, cached=i == 6, task="t" if i < 6 else "u",
            )
        )  # fmt: skip
    store.record(result(rule="x", canonical="X", fingerprint="fpX", reward=0.9, index=None))
    store.finish_run("r1")
    store.save_checkpoint("r1", "searcher", b"state")


def _texts(results: list[EvalResult]) -> list[str]:
    return [r.to_json() for r in results]  # exact, and NaN equals NaN as text


def test_both_stores_give_the_same_answers_to_every_read(tmp_path):
    sqlite, memory = SQLiteStore(tmp_path / "s.sqlite"), InMemoryStore()
    answers = []
    for store in (sqlite, memory):
        _same_history(store)
        filters = [{}, {"run_id": "r1"}, {"run_id": "r2"}, {"searcher": "gp"}, {"seed": 0}, {"task": "u"}, {"task": "none"}]
        top_filters = [{}, {"task": "t"}, {"run_id": "r2"}, {"searcher": "random"}, {"task": "none"}]
        answers.append(
            {
                "results": [_texts(store.results(**f)) for f in filters],
                "count": [store.count(**f) for f in filters],
                "top": [
                    _texts(store.top(k, distinct_canonical=distinct, **f))
                    for k in (0, 1, 2, 3, 100)
                    for distinct in (True, False)
                    for f in top_filters
                ],
                "rows_json": [
                    [{key: value for key, value in row.items() if key != "created_at"} for row in store.rows_json(**f)]
                    for f in filters
                ],
                "lookup": [
                    None if hit is None else hit.to_json()
                    for hit in (store.lookup(f"fp{c}", t, "c", seed) for c in "ABCX" for t in "tu" for seed in (0, 1))
                ],
                "shortest": store.shortest_rules(["fpA", "fpB", "fpC", "fpX", "none"]),
                "runs": [
                    {key: value for key, value in row.items() if key not in ("started_at", "finished_at")}
                    | {"finished": row["finished_at"] is not None}
                    for row in store.runs()
                ],
                "run": (store.run("r2")["evaluations"], store.run("missing")),
                "checkpoint": (store.load_checkpoint("r1", "searcher"), store.load_checkpoint("r2", "searcher")),
            }
        )
    sqlite.close()
    assert answers[0] == answers[1]
    assert answers[0]["top"][0] == [] and len(answers[0]["rows_json"][0]) == 9  # the history is not empty


#: Every method of the protocol, and the tests above that check it on both stores. A method added
#: to :class:`Store` fails this test until it is checked here too.
CHECKED = {
    "record": "test_one_result_per_run_and_proposal_index_in_proposal_order",
    "lookup": "test_the_cache_answers_final_results_only_and_the_first_one",
    "results": "test_one_result_per_run_and_proposal_index_in_proposal_order",
    "count": "test_one_result_per_run_and_proposal_index_in_proposal_order",
    "top": "test_top_ranks_best_reward_first_one_per_canonical_rule",
    "rows_json": "test_rows_json_is_strict_json_numbered_in_recording_order",
    "shortest_rules": "test_the_shortest_text_of_a_functional_class",
    "start_run": "test_runs_and_checkpoints",
    "finish_run": "test_runs_and_checkpoints",
    "run": "test_runs_and_checkpoints",
    "runs": "test_runs_and_checkpoints",
    "save_checkpoint": "test_runs_and_checkpoints",
    "load_checkpoint": "test_runs_and_checkpoints",
    "take_lease": "test_leases",
    "renew_lease": "test_leases",
    "release_lease": "test_leases",
    "lease_holder": "test_leases",
    "close": "test_close_is_idempotent",
}


def test_every_protocol_method_is_checked_on_both_stores():
    methods = {name for name in vars(Store) if not name.startswith("_") and callable(getattr(Store, name))}
    assert methods == set(CHECKED)
    assert all(callable(globals().get(test)) for test in CHECKED.values())


def test_close_is_idempotent(store):
    store.record(result())
    store.close()
    store.close()
