"""The bench's remembered facts (``optsearch.evaluation.bench.facts``) give exactly the answers
computed afresh, rule by rule, with the portable kernels."""

from __future__ import annotations

import math
import random
import sqlite3

import numpy as np
import pytest

import optsearch.evaluation.bench.bench as bench_module
from optsearch.dsl import fingerprint, from_tokens, parse
from optsearch.dsl.tokens import random_tokens
from optsearch.evaluation import EvalConfig, Evaluator
from optsearch.evaluation.bench.bench import Bench, load_bench
from optsearch.evaluation.bench.facts import FACTS_FILE, facts_version, write_shipped_facts
from optsearch.evaluation.bench.features import rule_features
from optsearch.evaluation.bench.portable import run_portable
from optsearch.evaluation.screen import screen_rule


def fresh_bench(folder=None) -> Bench:
    """The shipped bench with nothing remembered in this process (the machine's cache is read)."""
    shipped = load_bench("mnist1d")
    return Bench(shipped.table, shipped.name, folder or shipped.folder)


#: Texts the table does not record: two pass the screen, two fail it, and one computes what a
#: table rule does (so it is tabulated by its portable fingerprint).
SPELLINGS = ("m * exp(sign(g))", "adam + g", "g * exp(m)", "adam * exp(g)", "m * 2")


def rules_outside_the_table(n: int, seed: int = 0) -> list:
    """:data:`SPELLINGS` and random rules, none of whose texts the table records."""
    bench = load_bench("mnist1d")
    rng = random.Random(seed)
    exprs = [parse(text) for text in SPELLINGS]
    assert not any(str(e) in bench.table_texts for e in exprs)
    while len(exprs) < n:
        expr = from_tokens(random_tokens(2, rng))
        if str(expr) not in bench.table_texts and str(expr) not in {str(e) for e in exprs}:
            exprs.append(expr)
    return exprs


def afresh(folder: str, exprs: list) -> list[tuple[str, bool, tuple]]:
    """Each rule's portable fingerprint, screen verdict and prediction, one rule at a time, as the
    bench computed them before it remembered anything (run portably)."""
    bench = load_bench(folder=folder)
    out = []
    for expr in exprs:
        fp = fingerprint(expr, bench.rule_config)
        passed = screen_rule(expr, rule_config=bench.rule_config).passed
        predicted = (0.0, 0.0, 0.0)
        if passed:
            mean, test, std = bench.surrogate.model.predict(rule_features(expr, bench.rule_config)[None, :])
            predicted = (float(mean[0]), float(test[0]), float(std[0]) if math.isfinite(std[0]) else 0.0)
        out.append((fp, passed, predicted))
    return out


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("OPTSEARCH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.mark.slow
def test_remembered_facts_give_the_answers_computed_afresh(cache, monkeypatch):
    exprs = rules_outside_the_table(16)
    cold = fresh_bench()
    resolved = cold.resolve_many(exprs)
    assert resolved[SPELLINGS.index("m * 2")].tabulated
    outside = [(e, r) for e, r in zip(exprs, resolved) if not r.tabulated]
    assert any(r.passed for _, r in outside) and any(not r.passed for _, r in outside)
    expected = afresh(str(cold.folder), [e for e, _ in outside])
    assert [(r.key, r.passed, r.predicted) for _, r in outside] == expected
    answers = [cold.query(e, seed).reward for e in exprs for seed in (0, 3)]

    # A new process reads them from the machine's cache and computes nothing.
    def computes(*args):
        raise AssertionError("the helper was asked for remembered facts")

    monkeypatch.setattr(bench_module, "run_portable", computes)
    warm = fresh_bench()
    assert warm.resolve_many(exprs) == resolved
    assert [warm.query(e, seed).reward for e in exprs for seed in (0, 3)] == answers


@pytest.mark.slow
def test_a_search_on_the_bench_gives_the_same_records_with_or_without_remembered_facts(cache):
    def search() -> list[tuple]:
        from optsearch.searchers.registry import run_named_search

        bench_module._LOADED.clear()  # a new process: nothing in memory, the machine's cache on disk
        with Evaluator(EvalConfig(task="mnist1d-bench"), backend="serial") as evaluator:
            results = run_named_search("random", evaluator, budget=48, seed=11).results
        return [(r.rule, r.fingerprint, r.status, r.reward, r.test_acc, r.cached) for r in results]

    try:
        cold = search()
        assert (cache / "bench-facts.sqlite").exists()
        assert search() == cold
    finally:
        bench_module._LOADED.clear()
    bench = load_bench("mnist1d")
    # The records' fingerprints are the bench's own keys, the same on every CPU.
    assert all(fp == bench.fingerprint(parse(rule)) for rule, fp, *_ in cold)


def test_shipped_facts_are_what_the_helper_computes(tmp_path, cache):
    bench = fresh_bench()
    exprs = rules_outside_the_table(8, seed=1)
    bench.resolve_many(exprs)
    facts = {str(e): bench.facts.facts[str(e)] for e in exprs}
    predictions = {t: p for t, p in bench.facts.predictions.items() if t in facts}
    for name in ("table.csv.gz", "manifest.json", "aliases.json", "features.npz", "truth.npz"):
        (tmp_path / name).symlink_to(bench.folder / name)
    write_shipped_facts(tmp_path, facts, predictions, facts_version(bench.rule_config), bench.content_hash)
    shipped = fresh_bench(tmp_path)
    assert shipped.facts.shipped == len(facts)
    for text, fact in facts.items():
        mine = shipped.facts.facts[text]
        assert (mine.fingerprint, mine.passed) == (fact.fingerprint, fact.passed)
        assert (mine.features is None) == (fact.features is None)
        if fact.features is not None:
            assert np.array_equal(mine.features, fact.features)
            assert shipped.facts.predictions[text] == predictions[text]
    # ... and a shipped file computed by another torch or numpy (another version) is not read.
    write_shipped_facts(tmp_path, facts, predictions, "another version", bench.content_hash)
    assert fresh_bench(tmp_path).facts.shipped == 0


def test_the_facts_shipped_with_the_bench_hold_on_this_machine():
    bench = fresh_bench()
    path = bench.folder / FACTS_FILE
    if not path.exists() or bench.facts.shipped == 0:
        pytest.skip("no facts shipped for this torch and numpy")
    rng = random.Random(5)
    sample = rng.sample(sorted(bench.facts.facts), 12)
    exprs = [parse(t) for t in sample]
    recomputed = run_portable(afresh, str(bench.folder), exprs)
    for text, (fp, passed, predicted) in zip(sample, recomputed):
        fact = bench.facts.facts[text]
        assert fact.fingerprint == fp
        if fact.passed is not None:
            assert fact.passed == passed
            if passed and text in bench.facts.predictions:
                assert bench.facts.predictions[text] == predicted


def test_a_cache_that_cannot_be_written_costs_speed_not_answers(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("OPTSEARCH_CACHE", str(blocker / "cache"))
    bench = fresh_bench()
    exprs = rules_outside_the_table(6, seed=2)
    assert [r.passed for r in bench.resolve_many(exprs)] == [v for _, v, _ in afresh_portably(bench, exprs)]
    assert bench.facts.error is not None and "a-file" in bench.facts.error


def afresh_portably(bench: Bench, exprs: list):
    return run_portable(afresh, str(bench.folder), exprs)


def test_the_answers_come_from_the_cache_when_it_holds_the_rule(cache):
    # So the equalities above compare two paths, and a cache keyed by fewer versions than the
    # facts depend on would give wrong answers: it is trusted.
    exprs = rules_outside_the_table(16, seed=3)
    passing = next(e for e, r in zip(exprs, fresh_bench().resolve_many(exprs)) if r.passed and not r.tabulated)
    with sqlite3.connect(cache / "bench-facts.sqlite") as db:
        db.execute("UPDATE facts SET passed = 0, features = NULL WHERE rule = ?", (str(passing),))
    assert not fresh_bench().resolve(passing).passed


def test_a_rule_the_cache_answers_is_fingerprinted_but_never_screened_nor_scored(cache, monkeypatch):
    # "exp(m) * g" computes what "g * exp(m)" does (one fingerprint, neither text in the table):
    # on the seed where the first was scored, the second is a cache hit, and the bench computes
    # its portable fingerprint alone; on another seed it is scored, so resolved.
    first, same = parse("g * exp(m)"), parse("exp(m) * g")
    bench_module._LOADED.clear()
    try:
        with Evaluator(EvalConfig(task="mnist1d-bench"), backend="serial") as evaluator:
            bench = evaluator.source.bench
            (scored,) = evaluator.evaluate([first], seed=4)
            (hit,) = evaluator.evaluate([same], seed=4)
            assert hit.cached and hit.fingerprint == scored.fingerprint and hit.reward == scored.reward
            assert str(same) not in bench._resolved and bench.facts.facts[str(same)].passed is None
            (other,) = evaluator.evaluate([same], seed=5)
            resolved = bench.resolve(same)
            assert not other.cached and resolved.passed == bench.resolve(first).passed
            assert bench.facts.facts[str(same)].passed is not None  # the fingerprint-only fact was completed
    finally:
        bench_module._LOADED.clear()

    # A new process finds the completed facts in the machine's cache and computes nothing.
    def computes(*args):
        raise AssertionError("the helper was asked for remembered facts")

    monkeypatch.setattr(bench_module, "run_portable", computes)
    assert fresh_bench().resolve(same) == resolved


@pytest.mark.slow
@pytest.mark.parametrize("searcher", ["gp", "evolution"])
def test_a_search_gives_the_records_of_resolving_every_rule_first(searcher, tmp_path, monkeypatch):
    """The evaluator resolves (screen, features, prediction) only the rules its cache does not
    answer; a search's records are those of the earlier protocol, which resolved every rule of a
    batch before looking at the cache, and it resolves fewer rules."""
    from optsearch.evaluation.rewards import BenchAnswers
    from optsearch.searchers.registry import run_named_search

    def search(cache_dir) -> tuple[list[tuple], int]:
        monkeypatch.setenv("OPTSEARCH_CACHE", str(cache_dir))
        bench_module._LOADED.clear()
        try:
            with Evaluator(EvalConfig(task="mnist1d-bench"), backend="serial") as evaluator:
                results = run_named_search(searcher, evaluator, budget=120, seed=21, groups=2).results
                resolved = len(evaluator.source.bench._resolved)
        finally:
            bench_module._LOADED.clear()
        return [(r.rule, r.fingerprint, r.status, r.reward, r.test_acc, r.cached) for r in results], resolved

    lazy, lazily_resolved = search(tmp_path / "lazy")
    monkeypatch.setattr(BenchAnswers, "prepare", lambda self, exprs: self.prepare_scoring(exprs))
    eager, eagerly_resolved = search(tmp_path / "eager")
    assert lazy == eager
    assert lazily_resolved < eagerly_resolved
