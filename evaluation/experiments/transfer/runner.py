"""Running a transfer suite: every task entry's :func:`~.trainer.transfer`, in parallel processes.

The entries of a suite are independent (same rules and seeds, different task or network), so
:func:`run_suite` gives each its own worker of the process backend
(:func:`~optsearch.evaluation.executor.make_executor`: ``spawn``, one torch thread each, as the
search's workers) and writes each entry's files as it finishes, in entry order. A transfer run's
numbers depend only on its rule, task, network, learning rate and seed, never on the process it
ran in, so the suite is the same with one process or many (a test checks it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Mapping, Optional, Sequence

import torch

from ...executor.in_order import results_in_order
from .profile import write as write_suite
from .records import TransferResult
from .render import write as write_result
from .rules import entries
from .suite import TaskEntry, TransferSuite, build_suite
from .trainer import transfer

#: ``progress(entry, result)``, called as each entry finishes.
EntryDone = Callable[[TaskEntry, TransferResult], None]


class _RunTally:
    """A suite's training runs, done and planned, summed over its entries for ``progress(done, total)``.

    An entry plans every rule (with the baselines) at every learning rate of its grid and every
    seed; a rule that fails its whole grid skips its seed runs, so an entry's total can shrink, as
    :func:`~.trainer.transfer` reports it. Entries run in worker processes count when they finish.
    """

    def __init__(self, rules: Mapping[str, str], configs: Sequence[tuple[TaskEntry, object]], progress: Callable[[int, int], None]):
        trained = len(entries(dict(rules))[0])
        self.done = [0] * len(configs)
        self.total = [trained * (len(config.lrs) + len(config.seeds)) for _, config in configs]
        self.progress = progress
        progress(0, sum(self.total))

    def update(self, index: int, done: int, total: int) -> None:
        self.done[index], self.total[index] = done, total
        self.progress(sum(self.done), sum(self.total))

    def finished(self, index: int, result: TransferResult) -> None:
        runs = sum(len(rule.grid) + len(rule.runs) for rule in result.rules)
        self.update(index, runs, runs)

    def per_run(self, index: int, inner: Optional[Callable]) -> Callable:
        """A :data:`~.trainer.Progress` for entry ``index`` that counts here, then calls ``inner``."""

        def report(done: int, total: int, record) -> None:
            self.update(index, done, total)
            if inner is not None:
                inner(done, total, record)

        return report


def _entry_job(rules: Mapping[str, str], config, data_dir: Optional[str], device: str = "cpu", progress=None) -> TransferResult:
    return transfer(dict(rules), config, data_dir=data_dir, device=device, progress=progress)


def _entry_process(payload: tuple[Mapping[str, str], object, Optional[str]]) -> TransferResult:
    """One entry in a worker process: ``payload`` is ``(rules, config, data_dir)``."""
    rules, config, data_dir = payload
    torch.set_num_threads(1)  # one core per process: the processes are the parallelism
    return _entry_job(rules, config, data_dir)


def run_suite(
    rules: Mapping[str, str],
    configs: Sequence[tuple[TaskEntry, object]],
    out: Path,
    *,
    processes: int = 1,
    data_dir: Optional[str] = None,
    device: str = "cpu",
    progress: Optional[Callable[[TaskEntry], Callable]] = None,
    done: Optional[EntryDone] = None,
    runs_progress: Optional[Callable[[int, int], None]] = None,
) -> tuple[TransferSuite, dict[str, Path]]:
    """Transfer ``rules`` with each ``(entry, TransferConfig)`` and write every file.

    ``processes > 1`` runs the entries in that many CPU processes (``device`` must be the CPU);
    otherwise they run here, one after the other, on ``device``, and ``progress(entry)`` may give
    each a per-run callback (:data:`~.trainer.Progress`). ``runs_progress(done, total)``: the
    training runs of every entry together, done and planned, called in this process only (after
    every run of an entry trained here, as each entry in a worker process finishes; presentation
    only). One entry writes its report into
    ``out`` itself; several write into ``out/<task>-<model>/``. The cross-task summary goes to
    ``out`` (see :func:`~.profile.write`). Returns the suite and its files.

    Entries finish in order: an entry's files are written once it and every entry before it are
    done. An entry that raises (here or in its worker process) raises from here when its turn
    comes, after the entries before it are written (in processes, once every entry's job has
    ended); the entries after it are not written.
    """
    if processes > 1 and str(device) != "cpu":
        raise ValueError(f"parallel transfer processes train on the CPU, not {device}")
    out.mkdir(parents=True, exist_ok=True)
    single = len(configs) == 1
    results: list[Optional[TransferResult]] = [None] * len(configs)
    reports: dict[str, str] = {}
    tally = _RunTally(rules, configs, runs_progress) if runs_progress is not None else None

    def finish(index: int, result: TransferResult) -> None:
        entry = configs[index][0]
        folder = out if single else out / entry.label  # one task writes where it always has
        files = write_result(result, folder)
        reports[entry.label] = files["md"].relative_to(out).as_posix()
        results[index] = result
        if tally is not None:
            tally.finished(index, result)
        if done is not None:
            done(entry, result)

    if processes <= 1 or single:
        for index, (entry, config) in enumerate(configs):
            per_run = None if progress is None else progress(entry)
            if tally is not None:
                per_run = tally.per_run(index, per_run)
            finish(index, _entry_job(rules, config, data_dir, device, per_run))
    else:
        payloads = [(dict(rules), config, data_dir) for _, config in configs]
        workers = min(processes, len(configs))
        describe = lambda index: f"the transfer of {configs[index][0].label}"  # noqa: E731
        for index, result in results_in_order(_entry_process, payloads, workers, describe):
            finish(index, result)
    suite = build_suite([r for r in results if r is not None])
    ordered = {entry.label: reports[entry.label] for entry, _ in configs}
    return suite, write_suite(suite, out, ordered)
