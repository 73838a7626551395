"""The command line: real subprocesses for exit codes, in-process calls for output."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from optsearch.cli import main


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "optsearch", *args], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(
    "args, fragment",
    [
        # each case is a real subprocess (seconds): the fast tier keeps the last one
        pytest.param(("export", "clip(g, 7)"), "clip bound must be one of 1e-5, 1e-4, 1e-3", marks=pytest.mark.slow),
        pytest.param(("export", "g * (m"), "expected ')'", marks=pytest.mark.slow),
        pytest.param(("export", "sign(g) bogus id id mul"), "token 'bogus' at position 1", marks=pytest.mark.slow),
        pytest.param(("export", "g * wx"), "unknown name 'wx'", marks=pytest.mark.slow),
        pytest.param(("eval", "adam", "--task", "cifar10", "--data-dir", "/nonexistent/cifar"), "/nonexistent/cifar", marks=pytest.mark.slow),
        pytest.param(("eval", "adam", "--task", "imagenet"), "unknown task", marks=pytest.mark.slow),
        (("show", "/nonexistent/store.sqlite"), "no results store"),
    ],
)
def test_bad_input_gives_one_line_and_exit_status_2(args, fragment):
    completed = run_cli(*args)
    assert completed.returncode == 2
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("optsearch: error:"), completed.stderr
    assert fragment in lines[0]
    assert "Traceback" not in completed.stderr


def test_export_formats(capsys):
    assert main(["export", "powersign", "--format", "latex"]) == 0
    assert capsys.readouterr().out.strip() == r"e^{\text{sign}(g)\,\text{sign}(\hat m)}\,g"
    assert main(["export", "powersign", "--format", "tokens", "--groups", "3"]) == 0
    assert len(capsys.readouterr().out.split()) == 15
    assert main(["export", "g * exp(sign(m) * sign(g))", "--format", "json"]) == 0
    exported = json.loads(capsys.readouterr().out)
    assert exported["canonical"] == "g * exp(sign(g) * sign(m))"


def test_list_shows_vocabulary_rules_searchers_and_tasks(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for needle in ("rmsprop", "clip(x, 1e-4)", "paper-16", "reinforce", "maskable-ppo", "gp", "digits"):
        assert needle in out


def test_eval_json_and_show(tmp_path, capsys):
    store = str(tmp_path / "s.sqlite")
    assert main(["eval", "adam", "--task", "quadratic", "--steps", "50", "--json", "--store", store, "--baselines"]) == 0
    result = json.loads(capsys.readouterr().out)
    for key in ("reward", "status", "lr", "val_acc", "test_acc", "cached", "wall_s"):
        assert key in result
    assert result["status"] == "ok" and result["reward"] > 0.2
    assert set(result["baselines"]) == {"adam", "momentum", "sgd"}
    assert result["baselines"]["adam"]["cached"] is True  # the same rule, the same seed

    assert main(["show", store, "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 4
    for key in ("run", "searcher", "seed", "rule", "canonical", "fingerprint", "reward", "status", "cached", "cost"):
        assert key in rows[0]
    assert main(["show", store, "--top", "2"]) == 0
    assert "adam" in capsys.readouterr().out


def test_eval_population_size_and_device_give_the_same_numbers(capsys):
    rewards = []
    for extra in ([], ["--population-size", "1", "--device", "cpu"], ["--population-size", "4"]):
        assert main(["eval", "powersign", "--task", "quadratic", "--steps", "50", "--json", "--baselines", *extra]) == 0
        result = json.loads(capsys.readouterr().out)
        rewards.append([result["reward"], *(b["reward"] for b in result["baselines"].values())])
    assert rewards[0] == rewards[1] == rewards[2]


@pytest.mark.slow
def test_transfer_command_writes_its_table(tmp_path, capsys):
    out = tmp_path / "transfer"
    args = ["transfer", "powersign", "--task", "digits", "--steps", "20", "--seeds", "2", "--out", str(out), "--quiet"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "powersign" in printed and "adam" in printed
    for name in ("transfer.md", "transfer.csv", "transfer_curves.png"):
        assert (out / name).exists()


@pytest.mark.slow
def test_transfer_without_rules_is_a_usage_error():
    completed = run_cli("transfer", "--task", "digits")
    assert completed.returncode == 2 and "name at least one rule" in completed.stderr


def test_bench_info_reports_what_a_query_costs_here(capsys):
    assert main(["bench", "info"]) == 0
    info = json.loads(capsys.readouterr().out)
    cost = info["query_cost"]
    assert info["table_sha256"] and info["size"]["rows"] > 0
    assert cost["table_rule_us"] > 0 and "computed_rule_ms" not in cost  # the helper only with --measure-helper
    assert cost["facts_cache"] != "off" and cost["facts_shipped"] >= 0
