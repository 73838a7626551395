"""``optsearch merge PART [PART ...] --out DIR``: one report from a comparison run in parts.

Each part is the report folder of ``optsearch compare`` on its own search seeds (``--first-seed``),
for example on another machine, or on other searchers over the same seeds; the merged ``summary.md``/``.csv``, ``budgets.csv``,
``verdicts.csv`` and ``runs.csv`` are those of one comparison over every part's seeds
(:mod:`optsearch.evaluation.reports.merge`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from optsearch.cli_options import UsageError, output_folder

DEFAULT_OUT = "merged-out"


def cmd_merge(args: argparse.Namespace) -> int:
    from optsearch.evaluation.reports.merge import MergeError, merge_reports

    out = output_folder(args.out, "--out")
    if any(Path(part).resolve() == out.resolve() for part in args.parts):
        raise UsageError(f"--out {args.out} is one of the parts: merge into a folder of its own")
    try:
        files = merge_reports([Path(part) for part in args.parts], out, looks=args.looks)
    except MergeError as error:
        raise UsageError(str(error)) from None
    print((out / "summary.md").read_text())
    print(f"wrote {', '.join(str(p) for p in files.values())}")
    return 0


def register(commands) -> None:
    """Add ``merge`` to the subparsers ``commands``."""
    merge = commands.add_parser(
        "merge",
        help="one report from a comparison run in parts (disjoint seeds, compare --first-seed, or other searchers on the same seeds), e.g. on several machines",
    )
    merge.add_argument("parts", nargs="+", metavar="PART", help="the report folders of the parts (each with manifest.toml and runs.csv)")
    merge.add_argument("--out", default=DEFAULT_OUT, help=f"folder for the merged report (default: {DEFAULT_OUT})")
    merge.add_argument(
        "--looks",
        type=int,
        default=1,
        help="how many times the study plans to be merged and read, this one included (default 1): the verdicts' error "
        "is shared over every pair at every planned look, so reading a study after every part stays honest",
    )
    merge.set_defaults(handler=cmd_merge)
