"""The command line's argument handling: rules that start with '-', the help text, a light start."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from optsearch.cli import DESCRIPTION, main, rules_after_dashes

HEAVY = ("stable_baselines3", "sb3_contrib", "matplotlib", "ray", "sklearn", "scipy")


@pytest.mark.parametrize(
    "argv",
    [
        ["export", "-g"],
        ["export", "-g", "--format", "json"],
        ["export", "--format", "json", "-g"],
        ["export", "--", "-g"],
        ["export", "--format", "json", "--", "-g"],
    ],
)
def test_export_takes_a_rule_that_starts_with_a_minus(argv, capsys):
    assert main(argv) == 0
    out = capsys.readouterr().out.strip()
    assert out == "-g" or json.loads(out)["text"] == "-g"


def test_eval_takes_a_rule_that_starts_with_a_minus(capsys):
    assert main(["eval", "-g", "--task", "quadratic", "--steps", "5", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["rule"] == "-g"


@pytest.mark.slow
def test_a_minus_rule_as_a_real_subprocess():
    completed = subprocess.run(
        [sys.executable, "-m", "optsearch", "export", "-g * m", "--format", "latex"], capture_output=True, text=True, timeout=120
    )
    assert completed.returncode == 0, completed.stderr
    completed = subprocess.run([sys.executable, "-m", "optsearch", "export", "-m"], capture_output=True, text=True, timeout=120)
    assert (completed.returncode, completed.stdout.strip()) == (0, "-m"), completed.stderr


def test_only_lone_short_option_lookalikes_move_behind_the_dashes():
    assert rules_after_dashes(["eval", "-g", "--task", "quadratic"]) == ["eval", "--task", "quadratic", "--", "-g"]
    for argv in (
        ["eval", "adam", "--seed", "-1"],  # a number: the option's (bad) value
        ["export", "-h"],  # help
        ["export", "--bogus"],  # a long option, even unknown
        ["export", "--", "-g"],  # already after --
        ["export", "-g * m"],  # argparse reads text with a space as an argument already
        ["transfer", "-g"],  # not a one-rule command: use --
        ["list"],
    ):
        assert rules_after_dashes(argv) == argv


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["export", "adam", "-g"], "unrecognized arguments: -g"),
        (["export", "-bogus"], "unknown name 'bogus'"),
        (["eval", "adam", "--seed", "-1", "--task", "quadratic"], "argument --seed"),
    ],
)
def test_minus_tokens_that_are_no_rule_are_still_one_line_errors(argv, fragment, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("optsearch: error:") and fragment in err[0], err


@pytest.mark.slow
def test_help_describes_the_tool_and_the_minus_rules():
    completed = subprocess.run([sys.executable, "-m", "optsearch", "--help"], capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0
    assert DESCRIPTION in " ".join(completed.stdout.split())
    assert "parsing and printing only" not in completed.stdout
    assert "optsearch export -- -g" in completed.stdout


@pytest.mark.slow
def test_list_loads_no_heavy_dependency():
    code = (
        "import sys, io, contextlib\n"
        "from optsearch.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert main(['list']) == 0\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "[]"
