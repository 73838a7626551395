"""Run the ``optsearch`` command line, held after its N-th committed result (not collected).

usage: python _held_search.py HELD_FILE GO_FILE N CLI_ARGUMENTS...

Runs ``optsearch.cli.main(CLI_ARGUMENTS)`` in this process with a real SQLite store; right after
the N-th result is committed it creates HELD_FILE and waits until GO_FILE exists. All the while it
holds the run's lease (the lease's heartbeat thread keeps beating), so a second writer started
after HELD_FILE appears surely meets a live holder, however the OS schedules the two processes.
"""

from __future__ import annotations

import os
import sys
import time

from optsearch.cli import main
from optsearch.evaluation.store import ResultStore

WAIT_S = 300.0


def hold_after(n: int, held_file: str, go_file: str) -> None:
    """Make every ResultStore of this process stop after its ``n``-th committed result until ``go_file`` exists."""
    record = ResultStore.record
    committed = 0

    def record_then_hold(self: ResultStore, result):  # type: ignore[no-untyped-def]
        nonlocal committed
        row = record(self, result)
        committed += 1
        if committed == n:
            open(held_file, "w").close()
            deadline = time.monotonic() + WAIT_S
            while not os.path.exists(go_file):
                if time.monotonic() > deadline:
                    raise SystemExit(f"{go_file} did not appear within {WAIT_S:.0f} s")
                time.sleep(0.01)
        return row

    ResultStore.record = record_then_hold  # type: ignore[method-assign]


if __name__ == "__main__":
    held, go, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    hold_after(n, held, go)
    sys.exit(main(sys.argv[4:]))
