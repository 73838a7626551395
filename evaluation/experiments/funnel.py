"""The funnel's last stage: the rules a race confirmed, transferred to other tasks and networks.

Lion's method (Chen et al. 2023) and the paper's own claim rest on a funnel: search on a cheap
proxy, keep what holds up on held-out seeds, then check it where it was never searched. In
``optsearch compare --transfer TASKS`` the search and its raced leaderboard are the first two
stages; :func:`transfer_found` is the third. It takes the rules the race declared **better than
Adam**; when none was, it takes the race's best rule by paired difference and says that it is
unconfirmed. Those rules, Adam, momentum and SGD go through the DeepOBS transfer protocol on every
``TASK[:MODEL]`` entry (:func:`~.transfer.runner.run_suite`: learning rate tuned on the grid, then
``seeds`` seeds at the best rate), and the cross-task summary
(:mod:`~.transfer.suite`) says on which tasks each still beats Adam. ``funnel.md`` puts the three
stages on one page.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

from ..reports.formatting import code
from ..statistics.racing import BEATS
from .race import RaceResult
from .transfer.config import TransferConfig
from .transfer.runner import run_suite
from .transfer.suite import FAILED, LOSES, UNDECIDED, TransferSuite, parse_task_entries
from .transfer.suite import BEATS as SUITE_BEATS


def rules_to_transfer(race: RaceResult) -> tuple[dict[str, str], bool]:
    """``({name: rule}, confirmed)``: the rules the race declared better than Adam, or (``confirmed``
    false) its rule with the largest paired difference when none was."""
    confirmed = {row.rule: row.rule for row in race.rows if row.verdict == BEATS}
    if confirmed:
        return confirmed, True
    best = max(race.rows, key=lambda row: row.diff)
    return {best.rule: best.rule}, False


def transfer_found(
    race: RaceResult,
    entries: str,
    seeds: int,
    out_dir: Path,
    *,
    processes: int = 1,
    data_dir: Optional[str] = None,
    steps: Optional[int] = None,
    progress: Optional[Callable[[int, int], None]] = None,
) -> dict[str, Path]:
    """Transfer the race's confirmed rules (see :func:`rules_to_transfer`) to ``entries`` with
    ``seeds`` seeds each (``steps``: each task's default budget when ``None``), into
    ``out_dir/transfer/``; write ``out_dir/funnel.md``. Returns the files.

    ``progress(done, total)``: the training runs of every entry together (see
    :func:`~.transfer.runner.run_suite`'s ``runs_progress``; presentation only)."""
    rules, confirmed = rules_to_transfer(race)
    configs = [
        (entry, TransferConfig(entry.task, model=entry.model, seeds=tuple(range(1, seeds + 1)), steps=steps, num_threads=1))
        for entry in parse_task_entries(entries)
    ]
    suite, files = run_suite(rules, configs, out_dir / "transfer", processes=processes, data_dir=data_dir, runs_progress=progress)
    funnel = out_dir / "funnel.md"
    funnel.write_text(funnel_markdown(race, suite, rules, confirmed))
    return {"funnel_md": funnel, **{f"transfer_{key}": path for key, path in files.items()}}


def funnel_markdown(race: RaceResult, suite: TransferSuite, rules: dict[str, str], confirmed: bool) -> str:
    """The funnel on one page: what the race decided, what was transferred, and where it still wins."""
    lines = [
        "# The funnel: search, race, transfer",
        "",
        f"**Race** on {race.task} ([race.md](race.md)): {len(race.rows)} rules against Adam, up to {race.plan.cap} seeds.",
        "",
    ]
    for row in race.rows:
        lines.append(f"- {code(row.rule)}: {row.statement}")
    chosen = ", ".join(code(rule) for rule in rules)
    lines += [
        "",
        f"**Transferred**: {chosen}"
        + ("" if confirmed else " (no rule beat Adam in the race: this is the race's best by paired difference, **unconfirmed**)")
        + f", with Adam, momentum and SGD, to {len(suite.entries)} tasks ([transfer/transfer-suite.md](transfer/transfer-suite.md)).",
        "",
        "| rule | " + " | ".join(f"{e.task} / {e.model}" for e in suite.entries) + " | beats / loses / undecided |",
        "|---|" + "---|" * len(suite.entries) + "---|",
    ]
    marks = {SUITE_BEATS: "beats", LOSES: "loses", UNDECIDED: "undecided", FAILED: "failed"}
    tallies = suite.tallies()
    for rule in suite.rules:
        cells = []
        for entry in suite.entries:
            cell = suite.cell(rule, entry)
            if cell is None or cell.verdict == FAILED:
                cells.append("failed" if cell is not None else "—")
            else:
                cells.append(f"{cell.diff:+.3f} [{cell.low:+.3f}, {cell.high:+.3f}] {marks[cell.verdict]}")
        count = tallies[rule]
        lines.append(f"| {code(rule)} | " + " | ".join(cells) + f" | {count[SUITE_BEATS]} / {count[LOSES]} / {count[UNDECIDED]} |")
    lines += [
        "",
        f"Each cell: the test accuracy minus Adam's on the same {len(suite.seeds)} seeds at each rule's tuned learning "
        f"rate, with a Student-t interval at {100 * suite.level:.2f} % (Bonferroni over the {suite.m} rule × task cells, "
        f"so all hold together with {100 * (1 - suite.alpha):.0f} %).",
        "",
    ]
    return "\n".join(lines)
