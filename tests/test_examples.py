"""The examples in examples/ run as documented."""

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.slow
def test_custom_agent_runs_against_gymnasium_make_alone():
    completed = subprocess.run(
        [sys.executable, str(EXAMPLES / "custom_agent.py"), "--task", "quadratic", "--episodes", "12"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.strip().splitlines()
    assert sum(line.startswith("episode") for line in lines) == 12
    best = float(lines[-1].split()[2].rstrip(":"))
    assert 0.0 <= best <= 1.0


def test_every_experiment_file_reads_and_its_verdict_budgets_fit_its_budget():
    from optsearch.experiment import read_experiment
    from optsearch.searchers.studies.compare import CompareConfig
    from optsearch.searchers.registry import resolve_searcher

    files = sorted(EXAMPLES.glob("*.toml"))
    assert files, "no experiment file in examples/"
    for path in files:
        experiment = read_experiment(path)
        settings = experiment.settings
        compare = CompareConfig(
            searchers=experiment.searchers, budget=settings["budget"], verdict_budgets=settings.get("verdict_budgets", ())
        )
        assert compare.verdict_steps()[-1:] in ((), (compare.budget,)), path
        for arm in compare.arms():
            resolve_searcher(arm.searcher)
