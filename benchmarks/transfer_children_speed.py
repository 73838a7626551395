"""Seconds per transfer run of each network, relative to the paper's child, measured in one run.

Every entry trains Adam at lr 1e-3 with the task's default budget and transfer's curve spacing,
1 torch thread, ``--repeats`` times in turn (interleaved, so machine load hits them alike); the
median is printed with its ratio to ``mnist1d / paper``. These are the costs a transfer suite
(``optsearch transfer --task ...`` or ``compare --transfer``) pays per run: multiply by
``(learning rates + seeds) × rules``.

    python benchmarks/transfer_children_speed.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from optsearch.evaluation.experiments.transfer.config import TransferConfig
from optsearch.evaluation.tasks import get_task
from optsearch.evaluation.training.models import build_model, count_parameters
from optsearch.evaluation.training.single import train_run

ENTRIES = (("mnist1d", "paper"), ("mnist1d", "lstm"), ("mnist1d", "gru"), ("mnist1d", "transformer"),
           ("mnist1d", "resnet"), ("arith", "transformer"), ("digits", "paper"))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    times: dict[tuple[str, str], list[float]] = {entry: [] for entry in ENTRIES}
    accuracy: dict[tuple[str, str], float] = {}
    for repeat in range(args.repeats):
        for task_name, model in ENTRIES:
            task = get_task(task_name)
            budget = TransferConfig(task_name, model=model).budget(task)
            started = time.perf_counter()
            record = train_run("adam", task, lr=1e-3, seed=repeat + 1, budget=budget, model=model)
            times[(task_name, model)].append(time.perf_counter() - started)
            accuracy[(task_name, model)] = record.test_acc
    base = statistics.median(times[("mnist1d", "paper")])
    print(f"{args.repeats} repeats, 1 thread, Adam at lr 1e-3, each task's default budget")
    print("| task / network | parameters | steps x batch | s per run (median) | vs mnist1d / paper | Adam test acc (last repeat) |")
    print("|---|---|---|---|---|---|")
    for task_name, model in ENTRIES:
        task = get_task(task_name)
        budget = TransferConfig(task_name, model=model).budget(task)
        median = statistics.median(times[(task_name, model)])
        params = count_parameters(build_model(model, task, 0))
        print(f"| {task_name} / {model} | {params:,} | {budget.steps} x {budget.batch_size} | {median:.2f} | {median / base:.1f}x | {accuracy[(task_name, model)]:.3f} |")


if __name__ == "__main__":
    main()
