"""Progress bars: every long phase reports counts that climb to their total, from the parent process
only, on stderr only, and what a command writes is byte for byte the same with or without them."""

from __future__ import annotations

import io
import re
import sqlite3
from collections import defaultdict
from pathlib import Path

import pytest
from rich.console import Console

import optsearch.progress
from optsearch.cli import main
from optsearch.evaluation.config import EvalConfig
from optsearch.progress import Bars, shown
from optsearch.searchers.studies.compare import HELDOUT_PHASE, RACE_PHASE, SEARCH_PHASE, TRANSFER_PHASE, CompareConfig, run_comparison

#: Columns that hold the time of day or a duration: the only ones two identical runs may differ in.
TIMING_COLUMNS = {"wall_s", "created_at", "result_json", "started_at", "finished_at", "updated_at"}


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_bars_are_shown_only_on_a_terminal_outside_ci_and_without_quiet(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert shown(stream=_Tty()) and not shown(stream=io.StringIO()) and not shown(quiet=True, stream=_Tty())
    for value, drawn in (("true", False), ("1", False), ("false", True), ("0", True), ("", True)):
        monkeypatch.setenv("CI", value)
        assert shown(stream=_Tty()) is drawn, value
    monkeypatch.delenv("CI")
    monkeypatch.setenv("TERM", "dumb")
    assert not shown(stream=_Tty())


def test_hidden_bars_give_no_callbacks_and_shown_ones_draw_on_their_console_only(capsys):
    with Bars(quiet=True) as hidden:
        assert hidden.bar("race (seeds)") is None and hidden.phases is None
        hidden.update("race (seeds)", 1, 2)  # a no-op
    screen = io.StringIO()
    with Bars(console=Console(file=screen, force_terminal=True, width=100)) as bars:
        bars.bar("race (seeds)")(3, 20)
        bars.phases("search (proposals)", 40, 400)
    assert "race (seeds)" in screen.getvalue() and "search (proposals)" in screen.getvalue()
    assert capsys.readouterr() == ("", "")


class _Recorder:
    """``phases(phase, done, total)`` that keeps every call."""

    def __init__(self):
        self.calls: dict[str, list[tuple[float, float]]] = defaultdict(list)

    def __call__(self, phase: str, done: float, total: float) -> None:
        self.calls[phase].append((done, total))


def _check_climbs_to_its_total(calls: list[tuple[float, float]]) -> None:
    done = [d for d, _ in calls]
    assert calls and done == sorted(done), calls
    assert all(0 <= d <= t for d, t in calls), calls
    assert calls[0][0] == 0 and calls[-1][0] == calls[-1][1] > 0, calls


#: Durations and times of day in the report files, each file's own.
TIMINGS = {
    "manifest.toml": (rb'written_at = "[^"]*"',),
    "summary.md": (rb"\*\*Speed\.\*\*[^\n]*",),
    "race.md": (rb"\d+ s\.\n",),
    "transfer/transfer.md": (rb"[\d.]+ s in all",),
    "transfer/transfer.json": (rb'"wall_s": [\d.e+-]+',),
}


def _normalised(folder: Path) -> dict[str, object]:
    """Every file of a report folder, with its durations and times of day (:data:`TIMINGS`, the
    store's :data:`TIMING_COLUMNS`) left out: two runs of the same comparison give the same."""
    files: dict[str, object] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        name = path.relative_to(folder).as_posix()
        if path.suffix == ".sqlite":
            connection = sqlite3.connect(path)
            try:
                for (table,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'meta'"):
                    cursor = connection.execute(f"SELECT * FROM {table} ORDER BY rowid")
                    keep = [i for i, column in enumerate(cursor.description) if column[0] not in TIMING_COLUMNS]
                    files[f"{name}:{table}"] = [tuple(row[i] for i in keep) for row in cursor]
            finally:
                connection.close()
        elif path.name.endswith(("-wal", "-shm")):
            continue
        else:
            data = path.read_bytes()
            for pattern in TIMINGS.get(name, ()):
                data = re.sub(pattern, b"<time>", data)
            files[name] = data
    return files


@pytest.mark.slow
def test_compare_reports_every_phase_to_its_total_and_writes_the_same_files_with_bars(tmp_path, monkeypatch, capsys):
    """The whole funnel on the quadratic (search, held-out, race, transfer to digits): once with the
    bars drawn (on a recording console), once without (stderr is not a terminal here)."""
    recorder, screen = _Recorder(), io.StringIO()

    class Recording(Bars):
        def __init__(self, *, quiet: bool = False, console=None):
            super().__init__(quiet=quiet, console=Console(file=screen, force_terminal=True, width=120))

        def update(self, phase, done, total, status=""):
            recorder(phase, done, total)
            super().update(phase, done, total, status)

    argv = ["compare", "--task", "quadratic", "--searchers", "random,evolution", "--budget", "6", "--seeds", "2",
            "--heldout-seeds", "2", "--race-top", "2", "--race-seeds", "3", "--transfer", "digits", "--transfer-seeds", "2",
            "--backend", "serial", "--out", "out"]  # fmt: skip
    for folder in ("plain", "bars"):
        (tmp_path / folder).mkdir()
        monkeypatch.chdir(tmp_path / folder)  # the same relative --out, so the manifests can match
        if folder == "bars":
            monkeypatch.setattr(optsearch.progress, "Bars", Recording)
        assert main(argv) == 0
    printed = capsys.readouterr()
    assert "search (proposals)" not in printed.out + printed.err  # the bars went to their console alone
    assert set(recorder.calls) == {SEARCH_PHASE, HELDOUT_PHASE, RACE_PHASE, TRANSFER_PHASE}
    for calls in recorder.calls.values():
        _check_climbs_to_its_total(calls)
    assert recorder.calls[SEARCH_PHASE][-1] == (2 * 2 * 6, 2 * 2 * 6)
    assert all(total == 2 * 2 * 6 for _, total in recorder.calls[SEARCH_PHASE])
    assert "race (seeds)" in screen.getvalue()
    plain, bars = _normalised(tmp_path / "plain" / "out"), _normalised(tmp_path / "bars" / "out")
    assert {"curves.png", "summary.csv", "race.md", "funnel.md", "results.sqlite:evaluations"} <= set(plain)
    assert sorted(plain) == sorted(bars)
    assert [name for name in plain if plain[name] != bars[name]] == []


@pytest.mark.slow
def test_a_bench_comparison_in_worker_processes_reports_from_the_parent_and_writes_the_same_report(tmp_path):
    """On mnist1d-bench the seeds run in two worker processes; the parent counts each as it arrives."""
    compare = CompareConfig(searchers=("random", "evolution"), budget=20, seeds=3, heldout_seeds=2, race_top=0)
    config = EvalConfig(task="mnist1d-bench")
    recorder, per_run = _Recorder(), []
    outcome = run_comparison(
        compare, config, tmp_path / "bars", store=str(tmp_path / "bars.sqlite"), workers=2, phases=recorder,
        progress=lambda name, seed, done, results: per_run.append((name, seed, done)),
    )  # fmt: skip
    assert sorted(per_run) == [(name, seed, 20) for name in ("evolution", "random") for seed in range(3)]
    assert set(recorder.calls) == {SEARCH_PHASE, HELDOUT_PHASE}
    for calls in recorder.calls.values():
        _check_climbs_to_its_total(calls)
    assert recorder.calls[SEARCH_PHASE][-1] == (2 * 3 * 20, 2 * 3 * 20)
    rules = recorder.calls[HELDOUT_PHASE][-1][1] // 2
    assert rules >= 4  # the incumbents and the four baselines, on two held-out seeds
    run_comparison(compare, config, tmp_path / "plain", store=str(tmp_path / "plain.sqlite"), workers=2)
    plain, bars = _normalised(tmp_path / "plain"), _normalised(tmp_path / "bars")
    assert sorted(plain) == sorted(bars) and [name for name in plain if plain[name] != bars[name]] == []
    assert outcome.files["curves"].name == "curves.png"


@pytest.mark.slow
def test_transfer_suite_counts_its_runs_across_entries(tmp_path):
    """Two entries in this process: the runs of both, climbing to the total they actually trained."""
    from optsearch.evaluation.experiments.transfer import TaskEntry, TransferConfig, run_suite

    configs = [
        (TaskEntry("digits", "paper"), TransferConfig("digits", steps=3, seeds=(1,), lrs=(1e-2, 1e-1), num_threads=1)),
        (TaskEntry("mnist1d", "paper"), TransferConfig("mnist1d", steps=3, seeds=(1,), lrs=(1e-2, 1e-1), num_threads=1)),
    ]
    calls: list[tuple[int, int]] = []
    run_suite({"signum": "sign(m)"}, configs, tmp_path, runs_progress=lambda done, total: calls.append((done, total)))
    _check_climbs_to_its_total(calls)
    planned = 2 * 4 * (2 + 1)  # two entries × (signum, adam, momentum, sgd) × (two rates + one seed)
    assert calls[0] == (0, planned) and calls[-1][1] <= planned
    assert len(calls) >= planned  # every run counted as it finished, not only each entry
