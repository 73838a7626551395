"""Every registered searcher passes the shipped conformance kit (:mod:`optsearch.testing`).

One subclass of :class:`~optsearch.testing.SearcherConformance` per registered name, generated
here, so a searcher added to the registry is covered without editing this file; the kit skips its
ask/tell tests for push-style searchers (the Stable-Baselines3 agents).
"""

from __future__ import annotations

import functools
import importlib.util
import subprocess
import sys

import pytest

import optsearch.searchers  # noqa: F401  (registers the searchers)
from optsearch.searchers.registry_entries import SEARCHERS
from optsearch.searchers.random_search import RandomSearch
from optsearch.testing import SearcherConformance

pytest_plugins = ["pytester"]

#: Searchers whose optional dependency is not installed here (their tests are skipped, not failed).
OPTIONAL = {"tpe": "optuna", "nsga2": "optuna"}

#: The kit's test the fast tier (``-m "not slow"``) runs for every searcher: one whole search at
#: the kit's tiny budget (exact budget, every proposal in the store, the best rule). The others
#: (determinism, resuming, ask/tell) are marked slow here; the full suite runs them all.
FAST_TESTS = frozenset({"test_exact_budget_every_proposal_recorded_and_a_best_rule"})
#: ... and for one ask/tell searcher, resuming too.
FAST_TESTS_OF = {
    "evolution": FAST_TESTS
    | {"test_running_again_with_the_same_store_resumes_instead_of_repeating", "test_a_resumed_run_proposes_what_an_uninterrupted_run_proposes"},
}


def _marked_slow(test):
    """``test`` (a method of the kit), marked slow in this class only (the kit's function is shared)."""

    @functools.wraps(test)
    def slow_test(self, *args, **kwargs):
        return test(self, *args, **kwargs)

    return pytest.mark.slow(slow_test)


def _fast_tier_only_for_fast_tests(cls: type, fast: frozenset = FAST_TESTS) -> type:
    """``cls`` with the kit's tests not in ``fast`` marked slow."""
    for name in dir(SearcherConformance):
        if name.startswith("test_") and name not in fast:
            setattr(cls, name, _marked_slow(getattr(SearcherConformance, name)))
    return cls


def _class_name(name: str) -> str:
    return "TestConformance_" + name.replace("-", "_")


def _conformance_class(name: str) -> type:
    attributes: dict = {"searcher": name, "__module__": __name__}
    module = OPTIONAL.get(name)
    if module is not None and importlib.util.find_spec(module) is None:
        attributes["pytestmark"] = pytest.mark.skip(reason=f"{name!r} needs {module}, not installed")
    return _fast_tier_only_for_fast_tests(type(_class_name(name), (SearcherConformance,), attributes), FAST_TESTS_OF.get(name, FAST_TESTS))


for _name in SEARCHERS:
    globals()[_class_name(_name)] = _conformance_class(_name)



@_fast_tier_only_for_fast_tests
class TestConformanceOfASearcherClass(SearcherConformance):
    """The kit takes a Searcher subclass itself."""

    searcher = RandomSearch


@_fast_tier_only_for_fast_tests
class TestConformanceOfAModuleAttribute(SearcherConformance):
    """The kit takes ``"module:attribute"`` and passes ``options`` to the searcher."""

    searcher = "optsearch.searchers.evolution:RegularizedEvolution"
    options = {"population_size": 4, "sample_size": 2}


BROKEN_SEARCHERS = '''
import random

from optsearch.searchers.random_search import RandomSearch
from optsearch.testing import SearcherConformance


class OneShort(RandomSearch):
    name = "one-short"

    def ask(self, n):
        rules = super().ask(n)
        return rules[:-1] if n > 1 else rules


class Unseeded(RandomSearch):
    name = "unseeded"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.rng = random.Random()


class Amnesiac(RandomSearch):
    """Checkpoints nothing and restores nothing: a resumed run starts again from its seed."""

    name = "amnesiac"

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass


class TestOneShort(SearcherConformance):
    searcher = OneShort


class TestUnseeded(SearcherConformance):
    searcher = Unseeded


class TestAmnesiac(SearcherConformance):
    searcher = Amnesiac
'''


@pytest.mark.slow
def test_the_kit_fails_searchers_that_break_the_contract(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_broken=BROKEN_SEARCHERS)
    # The tests that catch the first two, and one each that they pass; every test of the third.
    selection = "(TestOneShort or TestUnseeded) and (ask or deterministic) or TestAmnesiac"
    result = pytester.runpytest("-q", "-p", "no:cacheprovider", "-k", selection)
    result.assert_outcomes(passed=8, failed=4)
    failed = {report.nodeid.split("::", 1)[1] for report in result.reprec.getfailures()}  # type: ignore[attr-defined]
    assert failed == {
        "TestOneShort::test_accepts_rules_it_never_asked",
        "TestOneShort::test_ask_returns_exactly_n_valid_rules",
        "TestUnseeded::test_deterministic_under_a_seed_with_the_serial_evaluator",
        # Only the comparison with an uninterrupted run sees a lost state (the amnesiac proposes
        # its first rules again after resuming, under new indices); it passes every other test.
        "TestAmnesiac::test_a_resumed_run_proposes_what_an_uninterrupted_run_proposes",
    }


@pytest.mark.slow
def test_importing_optsearch_imports_neither_pytest_nor_the_kit() -> None:
    code = "import sys, optsearch, optsearch.searchers; print('pytest' in sys.modules, 'optsearch.testing' in sys.modules)"
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.split() == ["False", "False"]
