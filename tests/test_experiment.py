"""Experiment files (`optsearch compare --config`): reading, checking, precedence, labels end to end."""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import pytest

from optsearch.cli import build_parser, main
from optsearch.evaluation.store import ResultStore
from optsearch.experiment import SETTINGS, ExperimentError, apply_experiment, read_experiment

PLUGIN = Path(__file__).resolve().parent.parent / "examples" / "plugin"

# The issue's shape, with the example plugin as `module:attribute`.
ISSUE_FILE = """\
task = "mnist1d"
budget = 200
seeds = 5
[[searchers]]
name = "reinforce"
label = "reinforce-default"
[[searchers]]
name = "reinforce"
label = "reinforce-noentropy"
options = { entropy_weight = 0.0 }
[[searchers]]
name = "mine_plugin:MySearcher"
"""


@pytest.fixture
def plugin_importable(monkeypatch):
    monkeypatch.syspath_prepend(str(PLUGIN))


def test_the_issues_example_reads_into_settings_and_labelled_arms(tmp_path, plugin_importable):
    path = tmp_path / "experiment.toml"
    path.write_text(ISSUE_FILE)
    experiment = read_experiment(path)
    assert experiment.settings == {"task": "mnist1d", "budget": 200, "seeds": 5}
    assert [(arm.searcher, arm.name, dict(arm.options)) for arm in experiment.searchers] == [
        ("reinforce", "reinforce-default", {}),
        ("reinforce", "reinforce-noentropy", {"entropy_weight": 0.0}),
        ("mine_plugin:MySearcher", "MySearcher", {}),
    ]


def test_values_are_typed_and_checked_like_the_flags_and_paths_are_relative_to_the_file(tmp_path):
    folder = tmp_path / "experiments"
    folder.mkdir()
    path = folder / "e.toml"
    path.write_text(
        'lrs = [0.1, 1, 0.001]\nstore = "runs/r.sqlite"\nout = "/abs/report"\ndata_dir = "~/data"\n'
        '[versions]\ntorch = "0"\n'  # a manifest's record: accepted, ignored
        '[[searchers]]\nname = "gp"\noptions = { crossover_probability = 1, population_size = 6 }\n'
    )
    experiment = read_experiment(path)
    assert experiment.settings["lrs"] == (0.001, 0.1, 1.0)  # sorted, like --lrs
    assert experiment.settings["store"] == str(folder / "runs" / "r.sqlite")
    assert experiment.settings["out"] == "/abs/report"
    assert experiment.settings["data_dir"] == str(Path("~/data").expanduser())
    (arm,) = experiment.searchers
    assert arm.options == {"crossover_probability": 1.0, "population_size": 6}
    assert isinstance(arm.options["crossover_probability"], float)  # an int where a float is expected


def test_every_setting_is_a_compare_option_left_none_when_not_given():
    args = vars(build_parser().parse_args(["compare"]))
    assert all(name in args and args[name] is None for name in SETTINGS)  # so that a file can fill it


def test_flags_given_win_over_the_file_and_the_file_over_the_defaults(tmp_path):
    path = tmp_path / "e.toml"
    path.write_text("budget = 30\nseeds = 4\n")
    args = argparse.Namespace(budget=12, seeds=None, groups=None)
    apply_experiment(args, read_experiment(path))
    assert (args.budget, args.seeds, args.groups) == (12, 4, None)


def test_a_mistake_names_the_file(tmp_path):
    path = tmp_path / "e.toml"
    path.write_text("[[searchers]]\nname = 3\n")
    with pytest.raises(ExperimentError, match=f"^{path}: \\[\\[searchers\\]\\] entry 1: name must be a string"):
        read_experiment(path)


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    """A real comparison from a file: one searcher under two labels (one with an option), and a
    `module:attribute` searcher; flags override the file's budget."""
    folder = tmp_path_factory.mktemp("labelled")
    (folder / "e.toml").write_text(
        'task = "quadratic"\nsteps = 20\nbudget = 50\nseeds = 2\nheldout_seeds = 2\nbackend = "serial"\nout = "report"\n'
        '[[searchers]]\nname = "evolution"\n'
        '[[searchers]]\nname = "evolution"\nlabel = "evolution-small"\noptions = { population_size = 2, sample_size = 1 }\n'
        '[[searchers]]\nname = "optsearch.searchers.random_search:RandomSearch"\n'
    )
    assert main(["compare", "--config", str(folder / "e.toml"), "--budget", "6", "--batch-size", "2", "--quiet"]) == 0
    return folder / "report"


LABELS = ["evolution", "evolution-small", "RandomSearch"]


@pytest.mark.slow
def test_the_store_names_each_run_by_its_label(labelled):
    with ResultStore(labelled / "results.sqlite") as store:
        for label in LABELS:
            for seed in range(2):
                rows = store.results(run_id=f"{label}-quadratic-seed{seed}")
                assert len(rows) == 6  # the flag's budget, not the file's
                assert {r.searcher for r in rows} == {label}
        # the option reached the searcher: a population of 2 mutates from the third proposal on
        small = [r.rule for r in store.results(run_id="evolution-small-quadratic-seed0")]
        default = [r.rule for r in store.results(run_id="evolution-quadratic-seed0")]
    assert small[:2] == default[:2] and small[2:] != default[2:]


@pytest.mark.slow
def test_the_report_names_each_run_by_its_label(labelled):
    with open(labelled / "summary.csv", newline="") as handle:
        assert [row["searcher"] for row in csv.DictReader(handle)] == LABELS
    summary = (labelled / "summary.md").read_text()
    assert all(f"| {label} |" in summary for label in LABELS)


@pytest.mark.slow
def test_searchers_by_label_run_those_arms_of_the_file_with_their_options(labelled):
    """``--searchers evolution-small`` with the file picks that arm, options and all: its runs are
    the whole file's runs of that label, and its manifest names that arm only (a study run searcher by
    searcher, merged by ``optsearch merge``)."""
    folder = labelled.parent
    args = ["compare", "--config", str(folder / "e.toml"), "--budget", "6", "--batch-size", "2", "--quiet"]
    assert main([*args, "--searchers", "evolution-small", "--out", str(folder / "only")]) == 0
    with ResultStore(folder / "only" / "results.sqlite") as alone, ResultStore(labelled / "results.sqlite") as whole:
        for seed in range(2):
            run_id = f"evolution-small-quadratic-seed{seed}"
            assert [r.rule for r in alone.results(run_id=run_id)] == [r.rule for r in whole.results(run_id=run_id)]
        assert {r.searcher for r in alone.results()} - {"heldout", "race"} == {"evolution-small"}
    manifest = (folder / "only" / "manifest.toml").read_text()
    assert 'label = "evolution-small"' in manifest and "population_size = 2" in manifest and 'label = "RandomSearch"' not in manifest
