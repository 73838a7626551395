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


def _paths(tmp_path) -> dict[str, str]:
    (tmp_path / "a-file").write_text("not a folder\n")
    (tmp_path / "a-dir").mkdir()
    (tmp_path / "garbage.sqlite").write_bytes(b"this is not a SQLite database" * 100)
    return {
        "file": str(tmp_path / "a-file"),
        "dir": str(tmp_path / "a-dir"),
        "garbage": str(tmp_path / "garbage.sqlite"),
        "missing": str(tmp_path / "no-such-folder"),
    }


@pytest.mark.parametrize("argv, fragment, as_subprocess", CASES)
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
