"""The manifest beside a report: round-trips through tomllib, records what ran, and re-runs it."""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

import optsearch
from optsearch import toml_text
from optsearch.cli import main
from optsearch.evaluation.store import ResultStore
from optsearch.experiment import SETTINGS, read_experiment
from optsearch.manifest import git_state

ARGS = ["--task", "quadratic", "--steps", "20", "--budget", "6", "--seeds", "2", "--heldout-seeds", "2", "--backend", "serial"]


def test_toml_text_round_trips_through_tomllib():
    data = {
        "text": 'quote " backslash \\ tab \t newline \n del \x7f bell \x07 unicode é ∇ 😀',
        "key with space": 1,
        "yes": True,
        "big": 2**63 - 1,
        "negative": -3,
        "floats": [0.1, 1e-300, 3.0, -0.0, math.inf],
        "empty": [],
        "none": None,  # no TOML form: left out
        "inline": {"a": 1, "b": [1.5, "x"], "nested": {"c": False}},
        "table": {"python": "3.11", "dotted.key": "v"},
        "entries": [{"name": "reinforce", "options": {"entropy_weight": 0.0}}, {"name": "m:C", "label": "C"}],
    }
    loaded = tomllib.loads(toml_text.dumps(data))
    expected = {k: v for k, v in data.items() if v is not None}
    assert loaded == expected
    assert math.copysign(1.0, loaded["floats"][3]) == -1.0
    assert math.isnan(tomllib.loads(toml_text.dumps({"x": math.nan}))["x"])


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """A finished comparison of two labelled searchers (one with an option), from a file."""
    folder = tmp_path_factory.mktemp("manifest")
    (folder / "e.toml").write_text(
        '[[searchers]]\nname = "random"\n'
        '[[searchers]]\nname = "reinforce"\nlabel = "reinforce-noentropy"\noptions = { entropy_weight = 0.0, hidden = 16 }\n'
    )
    out = folder / "report"
    assert main(["compare", "--config", str(folder / "e.toml"), "--out", str(out), *ARGS, "--quiet"]) == 0
    return out


def test_the_manifest_holds_every_setting_resolved_the_searchers_versions_git_and_command(report):
    manifest = tomllib.loads((report / "manifest.toml").read_text())
    resolved = {
        "task": "quadratic", "steps": 20, "lrs": [0.0001, 0.001, 0.01, 0.1, 1.0], "groups": 2, "budget": 6, "seeds": 2,
        "first_seed": 0, "heldout_seeds": 2, "batch_size": 8, "backend": "serial", "store": "results.sqlite", "out": ".",
        "population_size": 1, "device": "cpu", "race_top": 5, "race_seeds": 20, "verdict_budgets": [],
        "transfer": "", "transfer_seeds": 5,
    }  # fmt: skip
    assert {key: manifest[key] for key in resolved} == resolved
    assert set(resolved) | {"workers", "address", "data_dir"} >= set(SETTINGS)
    assert manifest["searchers"] == [
        {"name": "random", "label": "random"},
        {"name": "reinforce", "label": "reinforce-noentropy", "options": {"entropy_weight": 0.0, "hidden": 16}},
    ]
    for name in ("python", "optsearch", "torch", "stable-baselines3", "sb3-contrib", "deap", "gymnasium", "numpy"):
        assert manifest["versions"][name], name
    assert manifest["versions"]["optsearch"] == optsearch.__version__
    assert manifest["command"][:3] == ["optsearch", "compare", "--config"] and "--quiet" in manifest["command"]
    package = Path(optsearch.__file__).parent
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=package, capture_output=True, text=True)
    if head.returncode == 0:  # this checkout: the commit and whether it has uncommitted changes
        assert manifest["git_commit"] == head.stdout.strip() and isinstance(manifest["git_dirty"], bool)
    else:
        assert "git_commit" not in manifest
    # the manifest is an experiment file, its record accepted
    assert read_experiment(report / "manifest.toml").settings["store"] == str(report / "results.sqlite")


def test_git_state_is_absent_outside_a_checkout(tmp_path):
    assert git_state(tmp_path) is None


def _trainings(store_path: Path) -> tuple[int, int]:
    with ResultStore(store_path) as store:
        results = store.results()
    return len(results), sum(not r.cached for r in results)


def without_speed(summary: str) -> str:
    """A summary less its measured speed (the one line that differs from run to run)."""
    assert "**Speed.**" in summary
    return re.sub(r"\*\*Speed\.\*\*[^\n]*", "", summary)


@pytest.mark.slow
@pytest.mark.parametrize("moved", [False, True], ids=["in-place", "folder-moved"])
def test_compare_from_the_manifest_resumes_and_trains_nothing_new(report, tmp_path, monkeypatch, moved):
    out = report
    if moved:  # paths inside the folder are relative: the folder travels as a whole
        out = Path(shutil.copytree(report, tmp_path / "elsewhere"))
    monkeypatch.chdir(tmp_path)  # and from any working folder
    rows, trained = _trainings(out / "results.sqlite")
    summary = (out / "summary.md").read_text()
    assert main(["compare", "--config", str(out / "manifest.toml"), "--quiet"]) == 0
    rows_after, trained_after = _trainings(out / "results.sqlite")
    assert trained_after == trained and rows_after > rows  # the held-out lookups: all cache hits
    assert without_speed((out / "summary.md").read_text()) == without_speed(summary)
    assert not (tmp_path / "compare-out").exists()
