"""The ``optsearch`` command line: parsing and printing only; the work happens in the library.

This module builds the parser from the command modules (:mod:`optsearch.commands`), runs the
chosen command and turns the user's mistakes into one line: bad input (a malformed rule, an
unknown token, a missing dataset, a bad option) prints ``optsearch: error: ...`` on stderr and
exits with status 2. The option types and checks live in :mod:`optsearch.cli_options`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from optsearch.cli_options import Parser, UsageError
from optsearch.commands import bench, compare, confirm, evaluate, merge, search, transfer, vocabulary
from optsearch.dsl import ParseError, TokenError
from optsearch.evaluation.bench.bench import BenchError
from optsearch.evaluation.tasks.cifar10 import DownloadError
from optsearch.evaluation.store import StoreError
from optsearch.evaluation.extras import OptionalDependencyError

__all__ = ["DESCRIPTION", "EXIT_USAGE", "USER_ERRORS", "UsageError", "build_parser", "main"]

EXIT_USAGE = 2

#: What ``optsearch --help`` says the tool is.
DESCRIPTION = (
    "Discover neural-network optimizers by search (Neural Optimizer Search, Bello et al. 2017) "
    "and compare search strategies fairly."
)

EPILOG = """\
Run `optsearch COMMAND -h` for the options of a command. Bad input prints one line
`optsearch: error: ...` on stderr and exits with status 2.

A rule that starts with '-' is taken as it is by eval and export (optsearch export -g).
After `--` every argument is a rule (optsearch export -- -g; optsearch transfer --task
digits -- -g adam); in an option's value, join it with '=' (--seed-rules=-g,adam)."""

# The groups of commands, in the order `optsearch --help` lists them.
COMMAND_GROUPS = (vocabulary, evaluate, search, compare, merge, confirm, transfer, bench)

#: The commands whose one positional argument is a rule, so a lone ``-g`` there is that rule.
RULE_COMMANDS = ("eval", "export")

# Exceptions reported as one line, without a traceback: the user's input is wrong, or the user has
# to fix something outside the program (a results store, a download).
USER_ERRORS: tuple[type[BaseException], ...] = (
    UsageError,
    ParseError,
    TokenError,
    FileNotFoundError,
    StoreError,
    DownloadError,
    OptionalDependencyError,
    BenchError,
)


def build_parser() -> argparse.ArgumentParser:
    """The parser of every ``optsearch`` command; each sets ``handler`` to the function that runs it."""
    parser = Parser(
        prog="optsearch", description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for group in COMMAND_GROUPS:
        group.register(commands)
    return parser


def _is_negative_rule(token: str) -> bool:
    """True for an argument argparse would take for an unknown short option, such as ``-g``.

    Not ``-h`` (help), ``--...`` (long options, also misspelt ones), numbers (``-1``, ``-1e-3``:
    option values) or text with a space (argparse reads that as an argument already).
    """
    if len(token) < 2 or token[0] != "-" or token[1] == "-" or token == "-h" or " " in token:
        return False
    try:
        float(token)
    except ValueError:
        return True
    return False


def rules_after_dashes(argv: Sequence[str]) -> list[str]:
    """``argv`` with a rule that starts with '-' moved behind ``--``, so that argparse reads it as
    the rule of :data:`RULE_COMMANDS` (``eval -g --task quadratic`` -> ``eval --task quadratic -- -g``).
    Left as it is when it already holds ``--``."""
    argv = list(argv)
    if len(argv) < 2 or argv[0] not in RULE_COMMANDS or "--" in argv:
        return argv
    rules = [token for token in argv[1:] if _is_negative_rule(token)]
    if not rules:
        return argv
    return [argv[0], *(token for token in argv[1:] if not _is_negative_rule(token)), "--", *rules]


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``optsearch`` console script."""
    try:
        argv = list(sys.argv[1:] if argv is None else argv)
        args = build_parser().parse_args(rules_after_dashes(argv))
        args.argv = argv  # the command line as given, for the manifest
        return int(args.handler(args) or 0)
    except USER_ERRORS as error:
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        print(f"optsearch: error: {message}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # e.g. `optsearch list | head`
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("optsearch: interrupted; finished results are kept in the store", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
