"""A process that writes results to a store in a loop (used by test_store.py; not collected).

usage: python _store_writer.py STORE RUN_ID COUNT [GO_FILE [WRITERS]]

Writes COUNT results (forever when COUNT < 0) with run_id RUN_ID and prints ``<row id> <i>`` after
each committed one (flushed at once), so that the parent knows which rows are durable. With GO_FILE
it prints ``ready`` and waits for that file to exist before opening the store (to start several writers together);
with WRITERS too, after its first committed row it waits until WRITERS writers have committed one
(marker files beside GO_FILE), so the writers' rows surely interleave however the OS schedules them.
Every 50th result it also saves a checkpoint, to mix the kinds of write.
"""

from __future__ import annotations

import os
import sys
import time

from optsearch.evaluation.records import EvalResult, LRResult
from optsearch.evaluation.store import ResultStore


def result(run_id: str, i: int) -> EvalResult:
    """The deterministic i-th result of a writer (the tests rebuild it to compare)."""
    return EvalResult(
        rule=f"update = g * {i}",
        canonical=f"g*{i}",
        fingerprint=f"fp{i}",
        task="quadratic",
        config_hash="cfg",
        reward=i / 1000.0,
        status="ok",
        lr=0.1,
        val_acc=i / 1000.0,
        test_acc=i / 2000.0,
        per_lr=(LRResult(0.1, i / 1000.0, i / 2000.0, "ok", i, 1.0 / (i + 1)),),
        cost=1.0,
        wall_s=0.01,
        searcher="writer",
        seed=0,
        run_id=run_id,
        tokens=("g", str(i)),
        detail=f"row {i} " + "x" * 200,
    )


def _wait_for_peers(go_file: str, run_id: str, writers: int) -> None:
    open(f"{go_file}.{run_id}", "w").close()
    folder, prefix = os.path.split(go_file)
    while sum(name.startswith(prefix + ".") for name in os.listdir(folder or ".")) < writers:
        time.sleep(0.005)


def main() -> None:
    path, run_id, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if len(sys.argv) > 4:
        print("ready", flush=True)
        while not os.path.exists(sys.argv[4]):
            time.sleep(0.005)
    with ResultStore(path) as store:
        store.start_run(run_id, "writer", 0, "quadratic", 1000, {"pid": os.getpid()})
        i = 0
        while count < 0 or i < count:
            row_id = store.record(result(run_id, i))
            print(row_id, i, flush=True)
            if i == 0 and len(sys.argv) > 5:
                _wait_for_peers(sys.argv[4], run_id, int(sys.argv[5]))
            if i % 50 == 49:
                store.save_checkpoint(run_id, "state", str(i).encode() * 100)
            i += 1
        store.finish_run(run_id)
    print("done", flush=True)


if __name__ == "__main__":
    main()
