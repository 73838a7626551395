"""Running a transfer suite: every task entry's :func:`~.transfer.transfer`, in parallel processes.

The entries of a suite are independent (same rules and seeds, different task or network), so
:func:`run_suite` gives each its own process (``spawn``, one torch thread each, as the search's
workers) and writes each entry's files as it finishes. A transfer run's numbers depend only on its
rule, task, network, learning rate and seed, never on the process it ran in, so the suite is the
same with one process or many (a test checks it).
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Callable, Mapping, Optional, Sequence

from .transfer_records import TransferResult
from .transfer_suite import TaskEntry, TransferSuite, build_suite

#: ``progress(entry, result)``, called as each entry finishes.
EntryDone = Callable[[TaskEntry, TransferResult], None]


def _entry_job(rules: Mapping[str, str], config, data_dir: Optional[str], device: str = "cpu", progress=None) -> TransferResult:
    from .transfer import transfer

    return transfer(dict(rules), config, data_dir=data_dir, device=device, progress=progress)


def _entry_process(rules: Mapping[str, str], config, data_dir: Optional[str]) -> TransferResult:
    import torch

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
) -> tuple[TransferSuite, dict[str, Path]]:
    """Transfer ``rules`` with each ``(entry, TransferConfig)`` and write every file.

    ``processes > 1`` runs the entries in that many CPU processes (``device`` must be the CPU);
    otherwise they run here, one after the other, on ``device``, and ``progress(entry)`` may give
    each a per-run callback (:data:`~.transfer.Progress`). One entry writes its report into
    ``out`` itself; several write into ``out/<task>-<model>/``. The cross-task summary goes to
    ``out`` (see :meth:`TransferSuite.write`). Returns the suite and its files.
    """
    if processes > 1 and str(device) != "cpu":
        raise ValueError(f"parallel transfer processes train on the CPU, not {device}")
    out.mkdir(parents=True, exist_ok=True)
    single = len(configs) == 1
    results: list[Optional[TransferResult]] = [None] * len(configs)
    reports: dict[str, str] = {}

    def finish(index: int, result: TransferResult) -> None:
        entry = configs[index][0]
        folder = out if single else out / entry.label  # one task writes where it always has
        files = result.write(folder)
        reports[entry.label] = files["md"].relative_to(out).as_posix()
        results[index] = result
        if done is not None:
            done(entry, result)

    if processes <= 1 or single:
        for index, (entry, config) in enumerate(configs):
            finish(index, _entry_job(rules, config, data_dir, device, None if progress is None else progress(entry)))
    else:
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=min(processes, len(configs)), mp_context=context) as pool:
            futures = [pool.submit(_entry_process, dict(rules), config, data_dir) for _, config in configs]
            for index, future in enumerate(futures):
                finish(index, future.result())
    suite = build_suite([r for r in results if r is not None])
    ordered = {entry.label: reports[entry.label] for entry, _ in configs}
    return suite, suite.write(out, ordered)
