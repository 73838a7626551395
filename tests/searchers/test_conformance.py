"""Every registered searcher passes the shipped conformance kit (:mod:`optsearch.testing`).

One subclass of :class:`~optsearch.testing.SearcherConformance` per registered name, generated
here, so a searcher added to the registry is covered without editing this file; the kit skips its
ask/tell tests for push-style searchers (the Stable-Baselines3 agents).
"""

from __future__ import annotations

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


def _class_name(name: str) -> str:
    return "TestConformance_" + name.replace("-", "_")


def _conformance_class(name: str) -> type:
    attributes: dict = {"searcher": name, "__module__": __name__}
    module = OPTIONAL.get(name)
    if module is not None and importlib.util.find_spec(module) is None:
        attributes["pytestmark"] = pytest.mark.skip(reason=f"{name!r} needs {module}, not installed")
    return type(_class_name(name), (SearcherConformance,), attributes)


for _name in SEARCHERS:
    globals()[_class_name(_name)] = _conformance_class(_name)



class TestConformanceOfASearcherClass(SearcherConformance):
    """The kit takes a Searcher subclass itself."""

    searcher = RandomSearch


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


def test_importing_optsearch_imports_neither_pytest_nor_the_kit() -> None:
    code = "import sys, optsearch, optsearch.searchers; print('pytest' in sys.modules, 'optsearch.testing' in sys.modules)"
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.split() == ["False", "False"]
