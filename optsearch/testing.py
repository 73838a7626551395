"""A conformance kit for searchers: subclass :class:`SearcherConformance` in your own test suite.

As Optuna's ``optuna/testing/pytest_samplers.py`` does for samplers, it checks the contract every
searcher of optsearch keeps, with real searches on the millisecond ``quadratic`` task (serial
evaluator, ``budget`` 10, ``groups`` 2, batches of 4)::

    from optsearch.testing import SearcherConformance

    class TestMySearcher(SearcherConformance):
        searcher = "my_package.search:MySearcher"  # a registered name, "module:attribute", or a Searcher subclass
        options = {}                                # keyword arguments for the searcher (optional)

The tests: the exact budget, every proposal recorded in the store with its searcher, seed and run
id, a best rule equal to the maximum reward, determinism under a seed, resuming (a run to 4 then to
10 with the same run id and store proposes the first 4 once, and exactly the rules one
uninterrupted run to 10 with the same seed proposes), being told rules never asked (Adam,
PowerSign and a rule too large for the space), and ``ask(n)`` giving ``n`` valid rules of at most
``groups`` groups. Push-style searchers (a registered runner, such as the Stable-Baselines3
agents) have no ask/tell, so the last two are skipped for them, and so is the comparison with an
uninterrupted run unless ``resume_is_exact`` is set (their resume restores the policy's weights,
not every random state and unfinished rollout).

This module imports pytest; ``import optsearch`` does not import this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar, Optional, Union

import pytest

from optsearch.dsl import Expr, groups_needed, parse, resolve_rule
from optsearch.dsl.expr import Binary, Operand, Unary
from optsearch.evaluation.config import EvalConfig
from optsearch.evaluation.evaluator import Evaluator
from optsearch.evaluation.records import EvalResult
from optsearch.evaluation.store import SQLiteStore
from optsearch.searchers.base import Searcher
from optsearch.searchers.driver import run_search
from optsearch.searchers.lifecycle import SearchOutcome
from optsearch.searchers.registry import SearcherEntry, resolve_searcher, run_named_search
from optsearch.searchers.registry_entries import SEARCHERS

__all__ = ["SearcherConformance"]

SearcherSpec = Union[str, type, SearcherEntry]


@dataclass(frozen=True)
class _Target:
    """What the spec resolves to: a factory of ask/tell searchers, or a push-style runner."""

    factory: Optional[Callable[..., Searcher]]
    runner: Optional[Callable[..., SearchOutcome]]
    recorded_as: Optional[str]  # the searcher name the store must hold, when the spec fixes it


def _resolve(spec: SearcherSpec) -> _Target:
    if isinstance(spec, type):
        if not issubclass(spec, Searcher):
            raise TypeError(f"{spec.__qualname__} is not a subclass of optsearch.searchers.Searcher")
        return _Target(spec, None, spec.name or None)
    if isinstance(spec, SearcherEntry):
        return _Target(spec.load_factory(), spec.load_runner(), None)
    if not isinstance(spec, str):
        raise TypeError(f"searcher must be a name, a 'module:attribute' string or a Searcher subclass, got {spec!r}")
    entry = resolve_searcher(spec)
    # A registered searcher's runs are recorded under its registered name.
    return _Target(entry.load_factory(), entry.load_runner(), spec.strip() if spec.strip() in SEARCHERS else None)


class SearcherConformance:
    """The contract of a searcher, as pytest tests; set ``searcher`` (and ``options``) in a subclass.

    The class name does not start with ``Test``, so pytest collects only your subclass.
    """

    #: A registered name, a ``"module:attribute"`` string, a ``Searcher`` subclass or a ``SearcherEntry``.
    searcher: ClassVar[Optional[SearcherSpec]] = None
    #: Keyword arguments for the searcher (its factory or its runner).
    options: ClassVar[dict[str, Any]] = {}
    config: ClassVar[EvalConfig] = EvalConfig(task="quadratic", steps=40)
    budget: ClassVar[int] = 10
    groups: ClassVar[int] = 2
    batch_size: ClassVar[int] = 4
    #: Rules told without being asked: two that fit in ``groups`` groups and one that does not.
    told_rules: ClassVar[tuple[str, ...]] = ("adam", "powersign", "addsign")
    #: Whether a run interrupted and resumed proposes exactly what an uninterrupted run proposes;
    #: ``None``: yes for ask/tell searchers (the driver restores their ``state_dict``), not checked
    #: for push-style runners (the Stable-Baselines3 agents restore their policy's weights only).
    resume_is_exact: ClassVar[Optional[bool]] = None

    # -- helpers ---------------------------------------------------------------------------------
    @classmethod
    def target(cls) -> _Target:
        """The searcher under test, resolved."""
        if cls.searcher is None:
            raise TypeError(f"{cls.__name__} must set `searcher` (a name, 'module:attribute' or a Searcher subclass)")
        return _resolve(cls.searcher)

    def search(self, store: Path, *, seed: int = 0, budget: Optional[int] = None, run_id: Optional[str] = None) -> SearchOutcome:
        """One search on the kit's task, recorded in the SQLite store ``store``."""
        budget = self.budget if budget is None else budget
        spec = self.searcher
        with Evaluator(self.config, store=store, backend="serial") as evaluator:
            if isinstance(spec, str):
                return run_named_search(
                    spec, evaluator, budget=budget, seed=seed, groups=self.groups, run_id=run_id,
                    batch_size=self.batch_size, **self.options,
                )
            target = self.target()
            if target.runner is not None:
                return target.runner(
                    evaluator, budget=budget, seed=seed, groups=self.groups, run_id=run_id, progress=None, **self.options
                )
            return run_search(self.build(seed), evaluator, budget=budget, run_id=run_id, batch_size=self.batch_size)

    def build(self, seed: int = 0) -> Searcher:
        """A fresh ask/tell searcher (the test is skipped for a push-style one)."""
        target = self.target()
        if target.factory is None:
            pytest.skip(f"{self.searcher!r} is push-style (a runner drives the environment): it has no ask/tell")
        return target.factory(groups=self.groups, seed=seed, **self.options)

    def exact_resume(self) -> bool:
        """Whether :meth:`test_a_resumed_run_proposes_what_an_uninterrupted_run_proposes` applies."""
        if self.resume_is_exact is not None:
            return self.resume_is_exact
        return self.target().factory is not None

    def check_rules(self, rules: Any, n: int) -> None:
        """``rules`` are ``n`` rules of the language of at most ``groups`` groups."""
        assert isinstance(rules, list), f"ask must return a list, got {type(rules).__name__}"
        assert len(rules) == n, f"ask({n}) returned {len(rules)} rules"
        for rule in rules:
            assert isinstance(rule, (Operand, Unary, Binary)), f"ask returned {rule!r}, not an Expr"
            assert parse(str(rule)) == rule, f"{rule} does not round-trip through its text"
            assert groups_needed(rule) <= self.groups, f"{rule} needs {groups_needed(rule)} groups; at most {self.groups} allowed"

    # -- the contract ----------------------------------------------------------------------------
    def test_exact_budget_every_proposal_recorded_and_a_best_rule(self, tmp_path: Path) -> None:
        outcome = self.search(tmp_path / "s.sqlite", seed=1)
        assert len(outcome.results) == self.budget
        with SQLiteStore(tmp_path / "s.sqlite") as store:
            rows = store.results(run_id=outcome.run_id)
            run = store.run(outcome.run_id)
        assert len(rows) == self.budget
        expected = self.target().recorded_as or outcome.searcher
        assert expected, "the run must be recorded under a searcher name (set the class's `name`)"
        assert outcome.searcher == expected
        assert {(r.searcher, r.seed, r.run_id) for r in rows} == {(expected, 1, outcome.run_id)}
        assert [r.fingerprint for r in rows] == [r.fingerprint for r in outcome.results]
        assert run["finished_at"] is not None
        best = outcome.best
        assert best is not None and best.reward == max(r.reward for r in rows)

    def test_deterministic_under_a_seed_with_the_serial_evaluator(self, tmp_path: Path) -> None:
        first = self.search(tmp_path / "a.sqlite", seed=3)
        second = self.search(tmp_path / "b.sqlite", seed=3)
        assert [r.rule for r in first.results] == [r.rule for r in second.results]

    def test_running_again_with_the_same_store_resumes_instead_of_repeating(self, tmp_path: Path) -> None:
        path = tmp_path / "s.sqlite"
        partial = self.search(path, seed=2, budget=4, run_id="run")
        resumed = self.search(path, seed=2, run_id="run")
        assert len(partial.results) == 4 and len(resumed.results) == self.budget
        with SQLiteStore(path) as store:
            rows = store.results(run_id="run")
        assert len(rows) == self.budget  # the first four were not proposed again
        assert [r.rule for r in rows[:4]] == [r.rule for r in partial.results]
        assert [r.rule for r in resumed.results[:4]] == [r.rule for r in partial.results]

    def test_a_resumed_run_proposes_what_an_uninterrupted_run_proposes(self, tmp_path: Path) -> None:
        # Resuming continues the search, it does not restart it: a searcher whose
        # state_dict/load_state_dict lose its state would propose its first rules again.
        if not self.exact_resume():
            pytest.skip(
                f"{self.searcher!r} is push-style: its resume restores the policy, not every random "
                "state and unfinished rollout (set `resume_is_exact = True` to check it)"
            )
        path = tmp_path / "s.sqlite"
        self.search(path, seed=2, budget=4, run_id="run")
        resumed = self.search(path, seed=2, run_id="run")
        uninterrupted = self.search(tmp_path / "whole.sqlite", seed=2, run_id="run")
        assert len(uninterrupted.results) == self.budget
        assert [r.rule for r in resumed.results] == [r.rule for r in uninterrupted.results], (
            "a run interrupted after 4 proposals and resumed must propose the rules an uninterrupted run proposes"
        )

    def test_accepts_rules_it_never_asked(self, tmp_path: Path) -> None:
        searcher = self.build(seed=0)
        told = [resolve_rule(name) for name in self.told_rules]
        with Evaluator(self.config, store=tmp_path / "s.sqlite", backend="serial") as evaluator:

            def evaluate(rules: list[Expr]) -> list[EvalResult]:
                return evaluator.evaluate(rules, seed=0, searcher="conformance", run_id="conformance")

            seed_results = evaluate(told)
            searcher.tell(told, seed_results)  # before any ask
            asked = searcher.ask(self.batch_size)
            self.check_rules(asked, self.batch_size)
            searcher.tell(asked, evaluate(asked))
            searcher.tell(told, seed_results)  # again, between asks
            self.check_rules(searcher.ask(self.batch_size), self.batch_size)

    def test_ask_returns_exactly_n_valid_rules(self, tmp_path: Path) -> None:
        searcher = self.build(seed=0)
        with Evaluator(self.config, store=tmp_path / "s.sqlite", backend="serial") as evaluator:
            for n in (1, self.batch_size, 2 * self.batch_size + 1):
                rules = searcher.ask(n)
                self.check_rules(rules, n)
                searcher.tell(rules, evaluator.evaluate(rules, seed=0, searcher="conformance", run_id="conformance"))
