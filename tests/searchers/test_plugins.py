"""Searchers from other packages: entry points (found lazily) and ``module:attribute`` specs.

The distribution here is a real one on ``sys.path`` (a module and its ``.dist-info`` folder, as an
installer writes them), so ``importlib.metadata`` finds it as it finds any installed package;
``tests/test_readme_plugin.py`` installs the example plugin with pip.
"""

from __future__ import annotations

import sys

import pytest

from optsearch.cli import main
from optsearch.evaluation.config import EvalConfig
from optsearch.evaluation.evaluator import Evaluator
from optsearch.searchers import run_named_search
from optsearch.searchers.registry import available_searchers, resolve_searcher, searcher_rows

MODULE = '''
from optsearch.searchers.random_search import RandomSearch


class FakeSearcher(RandomSearch):
    """A plugin searcher (random search under another name)."""

    def __init__(self, *, groups=3, seed=0, width: int = 1):
        super().__init__(groups=groups, seed=seed)
        self.width = width


NOT_A_SEARCHER = 42
'''

ENTRY_POINTS = """\
[optsearch.searchers]
fake = fake_plugin:FakeSearcher
broken = fake_plugin:NOT_A_SEARCHER
missing = fake_plugin_missing:Thing
random = fake_plugin:FakeSearcher
"""


@pytest.fixture
def fake_distribution(tmp_path, monkeypatch):
    site = tmp_path / "site"
    info = site / "fake_plugin-1.0.dist-info"
    info.mkdir(parents=True)
    (site / "fake_plugin.py").write_text(MODULE)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delitem(sys.modules, "fake_plugin", raising=False)
    yield site
    sys.modules.pop("fake_plugin", None)


def test_entry_points_are_names_and_load_only_when_resolved(fake_distribution):
    assert {"fake", "broken", "missing"} <= set(available_searchers())
    assert "fake_plugin" not in sys.modules  # listing the names imports no plugin
    entry = resolve_searcher("fake")
    assert "fake_plugin" in sys.modules
    assert (entry.name, entry.origin, entry.description) == (
        "fake",
        "entry point of fake-plugin",
        "A plugin searcher (random search under another name).",
    )
    assert resolve_searcher("random").origin == "built-in"  # a registered name wins


@pytest.mark.parametrize(
    "name, message",
    [
        ("broken", "'fake_plugin:NOT_A_SEARCHER' is int, not a subclass of optsearch.searchers.Searcher"),
        ("missing", "cannot load searcher 'missing' (fake_plugin_missing:Thing, entry point of fake-plugin)"),
    ],
)
def test_a_bad_entry_point_is_one_line(fake_distribution, name, message):
    with pytest.raises(ValueError) as caught:
        resolve_searcher(name)
    assert message in str(caught.value)


def test_list_shows_where_each_searcher_comes_from(fake_distribution, capsys):
    rows = {(row["name"], row["origin"]): row for row in searcher_rows()}
    assert rows[("reinforce", "built-in")]["target"] == "optsearch.searchers.reinforce:ReinforceSearcher"
    assert rows[("fake", "entry point of fake-plugin")]["target"] == "fake_plugin:FakeSearcher"
    assert "cannot be used" in rows[("broken", "entry point of fake-plugin")]["description"]
    assert "hidden by the built-in 'random'" in rows[("random", "entry point of fake-plugin")]["description"]
    assert main(["list"]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if line.strip().startswith("fake "))
    assert "[entry point of fake-plugin: fake_plugin:FakeSearcher]" in line


def test_an_entry_point_and_a_module_attribute_run_with_options(fake_distribution, tmp_path):
    with Evaluator(EvalConfig(task="quadratic", steps=10), store=tmp_path / "s.sqlite", backend="serial") as evaluator:
        by_entry_point = run_named_search("fake", evaluator, budget=3, groups=1, width=2)
        by_module = run_named_search("fake_plugin:FakeSearcher", evaluator, budget=3, groups=1)
    assert (by_entry_point.run_id, by_module.run_id) == ("fake-quadratic-seed0", "FakeSearcher-quadratic-seed0")
    assert [r.rule for r in by_entry_point.results] == [r.rule for r in by_module.results]
    assert {r.searcher for r in by_module.results} == {"FakeSearcher"}
