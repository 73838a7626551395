"""The examples in examples/ run as documented."""

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


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
