"""Bad input to every subcommand: one line ``optsearch: error: ...`` on stderr, exit status 2.

Every case fails before any training, download or connection (``{file}``, ``{dir}``, ``{garbage}``
and ``{missing}`` are paths made in a fresh temporary folder, which is also the working folder,
so that default outputs cannot land anywhere else). No case may reach a network: the only
address named is rejected before the ray backend is even considered.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import pytest
import torch

from optsearch.cli import main
from optsearch.evaluation.store import ResultStore

NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
QUICK = ("--task", "quadratic", "--steps", "5")  # should a check be missing: seconds, not minutes
SEARCH = ("search", "--searcher", "random", "--budget", "1", "--backend", "serial", "--quiet", *QUICK)
COMPARE = ("compare", "--searchers", "random", "--budget", "1", "--seeds", "1", "--backend", "serial", "--quiet", *QUICK)
TRANSFER = ("transfer", "adam", "--task", "digits", "--steps", "1", "--seeds", "1", "--quiet")
EVAL = ("eval", "adam", *QUICK)

# (argv, fragment of the message, run as a real subprocess rather than in-process)
CASES = [
    # an address without the ray backend: rejected before anything connects
    ((*SEARCH, "--backend", "process", "--address", "1.2.3.4:6379"), "only for --backend ray", True),
    ((*COMPARE, "--address", "1.2.3.4:6379"), "only for --backend ray", False),
    # the training device and the population size of eval, search and compare
    ((*EVAL, "--device", "bogus"), "unknown device 'bogus'", True),
    ((*SEARCH, "--device", "tpu"), "--device: unknown device 'tpu'", False),
    pytest.param((*COMPARE, "--device", "cuda"), "CUDA is not available", False, marks=NO_CUDA),
    ((*EVAL, "--population-size", "0"), "--population-size: must be from 1", False),
    ((*SEARCH, "--population-size", "many"), "--population-size: expected a whole number", False),
    (("bench", "build", "--store", "table.sqlite", "--incumbents-from", "nosuch.sqlite"), "--incumbents-from: no results store at nosuch.sqlite", False),
    # transfer: task, model, device, numbers, output folder
    (("transfer", "adam", "--task", "nosuch"), "unknown task 'nosuch'", False),
    (("transfer", "adam", "--task", "quadratic"), "function task", False),
    (("transfer", "adam", "--task", "mnist1d", "--augment"), "augmentation is for image tasks", False),
    ((*TRANSFER, "--model", "wrn-0-0"), "depth is 6n + 4", False),
    ((*TRANSFER, "--model", "wrn-16-0"), "widening factor", False),
    ((*TRANSFER, "--model", "vgg"), "unknown model 'vgg'", False),
    ((*TRANSFER, "--device", "bogus"), "unknown device 'bogus'", True),
    pytest.param((*TRANSFER, "--device", "cuda"), "CUDA is not available", False, marks=NO_CUDA),
    pytest.param((*TRANSFER, "--device", "cuda:1"), "CUDA is not available", False, marks=NO_CUDA),
    ((*TRANSFER, "--weight-decay", "nan"), "argument --weight-decay: must be a finite number >= 0", False),
    ((*TRANSFER, "--weight-decay", "inf"), "argument --weight-decay", False),
    ((*TRANSFER, "--weight-decay", "-0.1"), "argument --weight-decay", False),
    ((*TRANSFER, "--epochs", "nan"), "argument --epochs: must be a finite number > 0", False),
    ((*TRANSFER, "--epochs", "0"), "argument --epochs", False),
    (("transfer", "adam", "--task", "digits", "--epochs", "1e9"), "epochs must be > 0 and at most", False),
    ((*TRANSFER, "--seeds", "0"), "argument --seeds: must be from 1 to 1000", False),
    ((*TRANSFER, "--seeds", "99999999999999999999"), "argument --seeds", False),
    ((*TRANSFER, "--batch-size", "-8"), "argument --batch-size", False),
    ((*TRANSFER, "--steps", "1.5"), "argument --steps: expected a whole number, got '1.5'", False),
    ((*TRANSFER, "--top", "0"), "argument --top", False),
    ((*TRANSFER, "--out", "{file}"), "--out {file}: exists and is not a folder", False),
    ((*TRANSFER, "--out", "{file}/sub"), "--out {file}/sub: cannot create the folder", False),
    # compare: searchers, numbers, output folder
    ((*COMPARE, "--searchers", ","), "names no searcher", False),
    ((*COMPARE, "--searchers", "random,random"), "names 'random' twice", False),
    ((*COMPARE, "--searchers", "random,nosuch"), "unknown searcher 'nosuch'", False),
    ((*COMPARE, "--out", "{file}"), "--out {file}: exists and is not a folder", True),
    ((*COMPARE, "--budget", "nan"), "argument --budget: expected a whole number", False),
    ((*COMPARE, "--seeds", "1001"), "argument --seeds: must be from 1 to 1000", False),
    ((*COMPARE, "--groups", "0"), "argument --groups: must be from 1 to 64", False),
    ((*COMPARE, "--workers", "0"), "argument --workers", False),
    # compare --config: the experiment file (each mistake names the file)
    (("compare", "--config", "{missing}/exp.toml"), "{missing}/exp.toml: no such file", False),
    (("compare", "--config", "{dir}"), "{dir}: is a folder, not an experiment file", False),
    (("compare", "--config", "{cfg_syntax}"), "{cfg_syntax}: not valid TOML: Invalid value (at line 3", False),
    (("compare", "--config", "{cfg_unknown_key}"), "{cfg_unknown_key}: unknown key 'budgett'; keys are task,", False),
    (("compare", "--config", "{cfg_budget_text}"), "{cfg_budget_text}: budget must be a whole number, got 'many'", False),
    (("compare", "--config", "{cfg_budget_bool}"), "{cfg_budget_bool}: budget must be a whole number, got True", False),
    (("compare", "--config", "{cfg_seeds_zero}"), "{cfg_seeds_zero}: seeds must be from 1 to 1000, got 0", False),
    (("compare", "--config", "{cfg_lrs}"), "{cfg_lrs}: lrs each learning rate must be a finite number > 0", False),
    (("compare", "--config", "{cfg_backend}"), "{cfg_backend}: backend must be one of serial, process, ray, got 'gpu'", False),
    (("compare", "--config", "{cfg_searchers_text}"), "searchers must be [[searchers]] tables", False),
    (("compare", "--config", "{cfg_unknown_searcher}"), "[[searchers]] entry 2 (nosuch): unknown searcher 'nosuch'", True),
    (("compare", "--config", "{cfg_not_a_searcher}"), "'os:getcwd' is builtin_function_or_method, not a subclass", False),
    (("compare", "--config", "{cfg_no_module}"), "cannot import 'no_such_module_xyz'", False),
    (("compare", "--config", "{cfg_searcher_key}"), "entry 1: unknown key 'opts'; keys are name, label, options", False),
    (("compare", "--config", "{cfg_no_name}"), "[[searchers]] entry 1 has no name", False),
    (("compare", "--config", "{cfg_bad_label}"), "label 'a/b' must not contain '/'", False),
    (
        ("compare", "--config", "{cfg_unknown_option}"),
        "(noentropy): searcher 'reinforce' has no option 'entropy'; its options are hidden (int), lr (float), "
        "entropy_weight (float), baseline_decay (float)",
        False,
    ),
    (("compare", "--config", "{cfg_option_type}"), "searcher 'reinforce' option hidden expects a whole number, got 'big'", False),
    (("compare", "--config", "{cfg_option_refused}"), "searcher 'evolution' refuses its options", False),
    (("compare", "--config", "{cfg_duplicate_labels}"), "two searchers are labelled 'reinforce'; give each a label", False),
    (("compare", "--config", "{cfg_plain}", "--budget", "0"), "argument --budget", False),  # flags are checked too
    ((*COMPARE, "--searchers", "optsearch.searchers:Nope"), "module 'optsearch.searchers' has no attribute 'Nope'", False),
    # search --option: the searcher's keyword arguments, typed by its signature
    ((*SEARCH, "--searcher", "reinforce", "--option", "entropy=0"), "searcher 'reinforce' has no option 'entropy'; its options", True),
    ((*SEARCH, "--searcher", "reinforce", "--option", "hidden=1.5"), "option hidden expects a whole number, got '1.5'", False),
    ((*SEARCH, "--option", "population=3"), "searcher 'random' has no option 'population'; its options are none", False),
    ((*SEARCH, "--searcher", "reinforce", "--option", "hidden"), "--option 'hidden' is not of the form key=value", False),
    ((*SEARCH, "--searcher", "gp", "--option", "population_size=4", "--option", "population_size=5"), "given twice", False),
    ((*SEARCH, "--searcher", "evolution", "--option", "sample_size=50"), "searcher 'evolution' refuses its options", False),
    ((*SEARCH, "--searcher", "ppo", "--option", "ent_coef=high"), "searcher 'ppo' option ent_coef expects a number, got 'high'", False),
    ((*SEARCH, "--searcher", "os:getcwd"), "'os:getcwd' is builtin_function_or_method, not a subclass", False),
    # search and eval: seeds, budgets, workers, groups
    ((*EVAL, "--seed", "99999999999999999999999"), "argument --seed: must be from 0 to 2**63 - 1", True),
    ((*EVAL, "--seed", "-1"), "argument --seed", False),
    ((*EVAL, "--seed", "nan"), "argument --seed: expected a whole number", False),
    ((*EVAL, "--steps", "inf"), "argument --steps", False),
    ((*EVAL, "--steps", "0"), "argument --steps", False),
    ((*EVAL, "--workers", "-2"), "argument --workers", False),
    ((*SEARCH, "--seed", str(2**63)), "argument --seed", False),
    ((*SEARCH, "--budget", "-1"), "argument --budget", False),
    ((*SEARCH, "--budget", "99999999999999999999999"), "argument --budget", False),
    ((*SEARCH, "--groups", "100000"), "argument --groups: must be from 1 to 64", False),
    ((*SEARCH, "--batch-size", "0"), "argument --batch-size", False),
    (("export", "adam", "--format", "tokens", "--groups", "1000000"), "argument --groups", False),
    (("show", "{file}", "--top", "0"), "argument --top", False),
    # StoreError from any command
    ((*EVAL, "--store", "{dir}"), "is a directory, not a results store", False),
    ((*SEARCH, "--store", "{missing}/store.sqlite"), "does not exist", False),
    ((*SEARCH, "--store", "{garbage}"), "not a SQLite database", True),
    (("show", "{garbage}"), "not a SQLite database", False),
    ((*TRANSFER, "--store", "{garbage}"), "not a SQLite database", False),
]


# Experiment files for `compare --config`, each ``{cfg_NAME}`` above: quick settings (should a
# check be missing) and one mistake.
QUICK_FILE = 'task = "quadratic"\nsteps = 5\nbudget = 1\nseeds = 1\nbackend = "serial"\n'
REINFORCE = '[[searchers]]\nname = "reinforce"\n'
CONFIGS = {
    "plain": QUICK_FILE,
    "syntax": QUICK_FILE.replace("budget = 1", "budget = "),
    "unknown_key": QUICK_FILE + "budgett = 3\n",
    "budget_text": QUICK_FILE.replace("budget = 1", 'budget = "many"'),
    "budget_bool": QUICK_FILE.replace("budget = 1", "budget = true"),
    "seeds_zero": QUICK_FILE.replace("seeds = 1", "seeds = 0"),
    "lrs": QUICK_FILE + "lrs = [0.1, -1.0]\n",
    "backend": QUICK_FILE.replace('"serial"', '"gpu"'),
    "searchers_text": QUICK_FILE + 'searchers = "reinforce"\n',
    "unknown_searcher": QUICK_FILE + REINFORCE + '[[searchers]]\nname = "nosuch"\n',
    "not_a_searcher": QUICK_FILE + '[[searchers]]\nname = "os:getcwd"\n',
    "no_module": QUICK_FILE + '[[searchers]]\nname = "no_such_module_xyz:Searcher"\n',
    "searcher_key": QUICK_FILE + REINFORCE + "opts = {}\n",
    "no_name": QUICK_FILE + '[[searchers]]\nlabel = "x"\n',
    "bad_label": QUICK_FILE + REINFORCE + 'label = "a/b"\n',
    "unknown_option": QUICK_FILE + REINFORCE + 'label = "noentropy"\noptions = { entropy = 0.0 }\n',
    "option_type": QUICK_FILE + REINFORCE + 'options = { hidden = "big" }\n',
    "option_refused": QUICK_FILE + '[[searchers]]\nname = "evolution"\noptions = { population_size = 2, sample_size = 5 }\n',
    "duplicate_labels": QUICK_FILE + REINFORCE + REINFORCE,
}


def _paths(tmp_path) -> dict[str, str]:
    (tmp_path / "a-file").write_text("not a folder\n")
    (tmp_path / "a-dir").mkdir()
    (tmp_path / "garbage.sqlite").write_bytes(b"this is not a SQLite database" * 100)
    for name, text in CONFIGS.items():
        (tmp_path / f"{name}.toml").write_text(text)
    return {
        "file": str(tmp_path / "a-file"),
        "dir": str(tmp_path / "a-dir"),
        "garbage": str(tmp_path / "garbage.sqlite"),
        "missing": str(tmp_path / "no-such-folder"),
        **{f"cfg_{name}": str(tmp_path / f"{name}.toml") for name in CONFIGS},
    }


def _tiered(case):
    """A real-subprocess case marked slow: a fresh interpreter each (seconds). The fast tier
    (``-m "not slow"``) runs the in-process cases; test_cli.py keeps one real-subprocess check."""
    if isinstance(case, tuple) and case[2]:
        return pytest.param(*case, marks=pytest.mark.slow)
    return case


@pytest.mark.parametrize("argv, fragment, as_subprocess", [_tiered(case) for case in CASES])
def test_bad_input_is_one_line_and_exit_status_2(argv, fragment, as_subprocess, tmp_path, monkeypatch, capsys):
    paths = _paths(tmp_path)
    argv = [arg.format(**paths) for arg in argv]
    fragment = fragment.format(**paths)
    monkeypatch.chdir(tmp_path)
    before = set(tmp_path.iterdir())
    if as_subprocess:
        completed = subprocess.run(
            [sys.executable, "-m", "optsearch", *argv], capture_output=True, text=True, timeout=120, cwd=tmp_path
        )
        status, stderr = completed.returncode, completed.stderr
    else:
        status = main(argv)
        stderr = capsys.readouterr().err
    lines = stderr.strip().splitlines()
    assert status == 2, stderr
    assert len(lines) == 1 and lines[0].startswith("optsearch: error:"), stderr
    assert fragment in lines[0], lines[0]
    assert "Traceback" not in stderr
    assert set(tmp_path.iterdir()) == before, "a rejected command left files behind"


def _store_that_refuses_writes(path) -> str:
    """A real results store whose database refuses every new evaluation, as a full disk would."""
    ResultStore(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON evaluations "
            "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
        )
    conn.close()
    return str(path)


@pytest.mark.parametrize("json_output", [False, True])
def test_eval_prints_its_results_before_a_store_write_error(tmp_path, capsys, json_output):
    store = _store_that_refuses_writes(tmp_path / "full.sqlite")
    argv = ["eval", "adam", *QUICK, "--store", store, "--baselines"] + (["--json"] if json_output else [])
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("optsearch: error:") and "disk is full" in lines[0]
    if json_output:
        printed = json.loads(captured.out)
        assert printed["status"] == "ok" and set(printed["baselines"]) == {"adam", "momentum", "sgd"}
    else:
        for label in ("rule", "adam", "momentum", "sgd"):
            assert any(line.startswith(label) and "status ok" in line for line in captured.out.splitlines()), label
