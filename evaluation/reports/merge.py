"""One verdict from a comparison run in parts: ``optsearch merge PART [PART ...] --out DIR``.

A study of hundreds of seeds takes longer than one machine is held, and its store (about 2.5 MB a
run of 2,000 proposals) is too big to carry. So it runs in parts on disjoint search seeds
(``optsearch compare --first-seed S --seeds N`` on each machine), and each part's report folder,
whose ``runs.csv`` holds every run at every verdict budget (:mod:`.runs`), is what travels. This
module joins the parts' runs and computes the report from them by the functions of a single
comparison's report (:func:`.summary.summarize_runs`, :func:`.budgets.verdicts_of_runs`,
:func:`.summary.verdict_lines_of`): with the runs in seed order, ``summary.csv``, ``budgets.csv``
and ``verdicts.csv`` are those of one comparison over all the seeds.

A study can also grow by searchers: a part may run other searchers on the same seeds (a searcher
added to a finished study, ``compare --searchers tpe --seeds 30``), or any mix of both splits.

Parts must be of one study: the same task (and, on a bench, the same table and truth), protocol,
budget, verdict budgets and held-out seeds; a searcher's label names the same searcher and options
in every part; no (searcher, search seed) run is in two parts; and together the parts hold every
searcher on the same seeds (a full grid, as one comparison would). Anything else is a
:class:`MergeError` naming the part and what differs. Not merged: the learning curves, the leaderboard and the race,
which need the stores (each part's own files keep them).

Rule texts: a run's ``final_rule`` is the shortest text of its functional class in its part's
store; where parts name one fingerprint differently, the merged report takes the shortest.
"""

from __future__ import annotations

import csv
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Sequence

from .budgets import budget_lines, verdicts_of_runs, write_budget_tables
from .data import HELDOUT_BASELINES
from .formatting import write_csv
from .runs import RUNS_FILE, RunRow, read_runs, rows_at, scores_of, write_runs
from .summary import summarize_runs, summary_columns, summary_table_lines, verdict_lines_of

MANIFEST = "manifest.toml"
LEADERBOARD = "leaderboard.csv"
PARTS_FILE = "parts.csv"
#: The manifest keys that must agree between the parts of one study.
STUDY_KEYS = ("task", "steps", "lrs", "groups", "budget", "batch_size", "heldout_seeds", "verdict_budgets", "bench")
PART_COLUMNS = ("part", "searchers", "first_seed", "last_seed", "runs", "git_commit", "git_dirty", "written_at", "optsearch")


class MergeError(ValueError):
    """Parts that cannot be merged (a one-line message naming the part and what is wrong)."""


@dataclass(frozen=True)
class Part:
    """One part's report folder: its manifest, its runs (``runs.csv``) and its baselines' held-out means."""

    folder: Path
    manifest: dict[str, Any]
    rows: tuple[RunRow, ...]
    baselines: dict[str, float]

    @property
    def seeds(self) -> set[int]:
        return {row.seed for row in self.rows}


def read_part(folder: Path) -> Part:
    """The report in ``folder``; :class:`MergeError` when it is not one a merge can read."""
    folder = Path(folder)
    try:
        manifest = tomllib.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MergeError(f"{folder}: no {MANIFEST} (not the folder of an optsearch compare report)") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise MergeError(f"{folder / MANIFEST}: cannot read it ({error})") from None
    if not (folder / RUNS_FILE).exists():
        raise MergeError(f"{folder}: no {RUNS_FILE} (written by optsearch compare since 0.3; re-run the part to write it)")
    try:
        rows = tuple(read_runs(folder / RUNS_FILE))
    except ValueError as error:
        raise MergeError(str(error)) from None
    return Part(folder, manifest, rows, _baselines(folder / LEADERBOARD))


def _in_report_order(baselines: dict[str, float]) -> dict[str, float]:
    """``baselines`` in the order a comparison's summary names them (any others after, by name)."""
    known = [name for name in HELDOUT_BASELINES if name in baselines]
    return {name: baselines[name] for name in known + sorted(set(baselines) - set(known))}


def _baselines(path: Path) -> dict[str, float]:
    """The baselines' held-out means in a report's ``leaderboard.csv`` (none when it has no such file)."""
    if not path.exists():
        return {}
    with path.open(newline="") as handle:
        found = {row["rule"]: float(row["heldout_mean"]) for row in csv.DictReader(handle) if row.get("searcher") == "baseline"}
    return _in_report_order(found)


def check_parts(parts: Sequence[Part]) -> None:
    """:class:`MergeError` unless ``parts`` are disjoint parts of one study (see the module's docstring)."""
    if len(parts) < 2:
        raise MergeError("give at least two parts to merge")
    first = parts[0]
    specs: dict[str, tuple[Any, Path]] = {}  # label -> (its searcher entry in a manifest, that part)
    owner: dict[tuple[str, int], Path] = {}
    for part in parts:
        for key in STUDY_KEYS:
            if part.manifest.get(key) != first.manifest.get(key):
                raise MergeError(
                    f"{part.folder}: its {key} ({part.manifest.get(key)!r}) differs from {first.folder}'s ({first.manifest.get(key)!r})"
                )
        for entry in part.manifest.get("searchers", []):
            label = entry.get("label", entry.get("name"))
            known, where = specs.setdefault(label, (entry, part.folder))
            if known != entry:
                raise MergeError(f"{part.folder}: its searcher {label!r} is {entry!r}, in {where} {known!r}")
        if {r.budget for r in part.rows} != {r.budget for r in first.rows}:
            raise MergeError(f"{part.folder}: its runs.csv holds other budgets than {first.folder}'s")
        for row in part.rows:
            other = owner.setdefault((row.searcher, row.seed), part.folder)
            if other != part.folder:
                raise MergeError(f"{part.folder}: search seed {row.seed} of {row.searcher} is also in {other}")
    seeds_of: dict[str, set[int]] = {}
    for searcher, seed in owner:
        seeds_of.setdefault(searcher, set()).add(seed)
    every = set().union(*seeds_of.values())
    for searcher, seeds in seeds_of.items():
        if seeds != every:
            missing = sorted(every - seeds)
            raise MergeError(f"searcher {searcher} has no run on search seeds {_spans(missing)} that other searchers have: no part holds them")


def _spans(seeds: Sequence[int]) -> str:
    """``[0, 1, 2, 5]`` -> ``"0–2, 5"``."""
    spans: list[list[int]] = []
    for seed in sorted(seeds):
        if spans and seed == spans[-1][1] + 1:
            spans[-1][1] = seed
        else:
            spans.append([seed, seed])
    return ", ".join(f"{a}" if a == b else f"{a}–{b}" for a, b in spans)


def _labels(part: Part) -> list[str]:
    return list(dict.fromkeys(row.searcher for row in part.rows))


def merged_rows(parts: Sequence[Part]) -> list[RunRow]:
    """Every part's runs, by budget, then searcher (the first part's order), then seed; each fingerprint
    named by the shortest text any part gives it."""
    texts: dict[str, str] = {}
    for row in (r for part in parts for r in part.rows):
        if row.final_fingerprint is not None and row.final_rule is not None:
            known = texts.get(row.final_fingerprint)
            if known is None or (len(row.final_rule), row.final_rule) < (len(known), known):
                texts[row.final_fingerprint] = row.final_rule
    order = {label: i for i, label in enumerate(dict.fromkeys(label for part in parts for label in _labels(part)))}
    budgets = sorted({row.budget for row in parts[0].rows})
    rows = sorted((r for part in parts for r in part.rows), key=lambda r: (budgets.index(r.budget), order[r.searcher], r.seed))
    return [replace(r, final_rule=texts[r.final_fingerprint]) if r.final_fingerprint is not None else r for r in rows]


def merge_reports(
    folders: Sequence[Path], out_dir: Path, *, reference: str = "random", seed: int = 0, looks: int = 1
) -> dict[str, Path]:
    """Merge the report folders ``folders`` (parts of one study) into ``out_dir``; returns name → path.

    ``looks``: how many times the study plans to be looked at (merged and read), counting this one. A
    study read after every part and continued until a pair separates makes a false claim far more
    often than one look's level says (``benchmarks/sequential_verdicts.py``: 0.34 instead of 0.05
    over 13 looks); the verdicts then share the error over every pair at every planned look."""
    if looks < 1:
        raise MergeError(f"--looks must be at least 1, got {looks}")
    parts = [read_part(Path(folder)) for folder in folders]
    check_parts(parts)
    parts.sort(key=lambda part: min(part.seeds))  # stable: parts on the same seeds keep their order
    rows = merged_rows(parts)
    steps = sorted({row.budget for row in rows})
    final = steps[-1]
    at_final = rows_at(rows, final)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = summarize_runs(at_final, reference=reference, seed=seed)
    files = {"runs_csv": write_runs(rows, out), "summary_csv": write_csv(out / "summary.csv", summary_columns(reference), summary)}
    verdicts = verdicts_of_runs(rows, steps, seed=seed, looks=looks) if parts[0].manifest.get("verdict_budgets") else []
    if verdicts:
        files["budgets_csv"], files["verdicts_csv"] = write_budget_tables(verdicts, out)
    task = parts[0].manifest.get("task", "")
    seeds = sorted({row.seed for row in at_final[next(iter(at_final))]})
    lines = summary_table_lines(summary, reference, f"Search strategies compared on {task}, {len(parts)} parts merged")
    lines += ["", _protocol(parts, seeds), ""]
    lines += verdict_lines_of(scores_of(at_final), final, len(seeds), curves="each part's `curves.png`", looks=looks)
    lines += budget_lines(verdicts, looks=looks)
    (out / "summary.md").write_text("\n".join(lines))
    files["summary_md"] = out / "summary.md"
    files["parts_csv"] = write_csv(out / PARTS_FILE, PART_COLUMNS, [_part_line(part) for part in parts])
    return files


def _part_line(part: Part) -> dict[str, Any]:
    versions = part.manifest.get("versions", {})
    return dict(
        part=str(part.folder), searchers=" ".join(_labels(part)), first_seed=min(part.seeds), last_seed=max(part.seeds),
        runs=len({(r.searcher, r.seed) for r in part.rows}), git_commit=part.manifest.get("git_commit"),
        git_dirty=part.manifest.get("git_dirty"), written_at=part.manifest.get("written_at"), optsearch=versions.get("optsearch"),
    )  # fmt: skip


def _protocol(parts: Sequence[Part], seeds: Sequence[int]) -> str:
    everyone = len({label for part in parts for label in _labels(part)})
    spans = ", ".join(
        f"{_spans(sorted(part.seeds))}" + ("" if len(_labels(part)) == everyone else f" ({', '.join(_labels(part))})") for part in parts
    )
    baselines = parts[0].baselines
    spread = max((abs(part.baselines.get(name, value) - value) for part in parts for name, value in baselines.items()), default=0.0)
    text = (
        f"**Protocol.** The runs of {len(parts)} parts of one study (`optsearch compare --first-seed` or `--searchers`, same "
        f"task, protocol and budget; `parts.csv`), on search seeds {spans}: {len(seeds)} seeds per searcher. Every number is "
        "computed from the parts' `runs.csv` by the functions of a single comparison's report, so it is the report the "
        "whole study would give (each part's own folder keeps its learning curves, leaderboard and race)."
    )
    if baselines:
        text += " Baselines on the held-out seeds: " + ", ".join(f"{name} {value:.3f}" for name, value in baselines.items())
        text += "." if spread == 0 else f" (the parts' values differ by up to {spread:.4f}: machines of another CPU kind)."
    return text
