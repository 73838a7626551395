"""The registry refuses duplicate names and lists what it holds."""

import pytest

import optsearch
from optsearch.searchers.registry_entries import SEARCHERS, Registry
from optsearch.searchers import SearcherEntry, register_searcher


def test_a_name_can_be_registered_once():
    registry = Registry("thing")
    registry.register("a", 1)
    with pytest.raises(ValueError, match="already registered"):
        registry.register("a", 2)
    assert registry["a"] == 1 and list(registry) == ["a"]
    with pytest.raises(KeyError, match="unknown thing 'b'"):
        registry["b"]


def test_searcher_names_are_protected_and_the_public_api_is_importable():
    with pytest.raises(ValueError):
        register_searcher(SearcherEntry("random", "again", factory=object))
    assert {"reinforce", "ppo", "a2c", "dqn", "maskable-ppo", "recurrent-ppo", "gp", "random", "evolution"} <= set(SEARCHERS)
    for name in optsearch.__all__:
        assert hasattr(optsearch, name)


def test_the_package_root_re_exports_the_extras_that_live_below_it():
    import optsearch.evaluation.extras
    import optsearch.extras

    assert optsearch.extras.OptionalDependencyError is optsearch.evaluation.extras.OptionalDependencyError
    assert optsearch.extras.require is optsearch.evaluation.extras.require
