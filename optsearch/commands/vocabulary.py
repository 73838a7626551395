"""``optsearch list`` (the vocabulary, named rules, searchers and tasks) and ``optsearch export``."""

from __future__ import annotations

import argparse
import json

from optsearch.cli_options import MAX_GROUPS, UsageError, groups


def cmd_list(args: argparse.Namespace) -> int:
    """Print the vocabulary, the named rules and the registered searchers."""
    from optsearch.dsl import NAMED_RULES
    from optsearch.dsl.primitives import BINARIES, OPERANDS, SIGN_OPERANDS, UNARIES
    from optsearch.evaluation.tasks import TASKS as TASK_NAMES
    from optsearch.searchers.registry import ENTRY_POINT_GROUP, searcher_rows

    rows = searcher_rows()
    if args.json:
        print(
            json.dumps(
                {
                    "operands": [op.name for op in OPERANDS] + list(SIGN_OPERANDS),
                    "unary": [u.name for u in UNARIES],
                    "binary": [b.name for b in BINARIES],
                    "named_rules": NAMED_RULES,
                    "searchers": [row["name"] for row in rows],
                    "searcher_origins": rows,
                    "tasks": list(TASK_NAMES),
                },
                indent=2,
            )
        )
        return 0
    print("Operands:")
    for op in OPERANDS:
        print(f"  {op.text:10s} {op.doc}")
    for name in SIGN_OPERANDS:
        print(f"  {name:10s} sign of {name[5:-1]} (an operand token; the unary sign in a tree)")
    print("Unary functions:")
    for u in UNARIES:
        label = u.name if u.param_text is None else f"{u.text}(x, {u.param_text})"
        print(f"  {label:14s} {u.doc}")
    print("Binary functions:")
    for b in BINARIES:
        label = f"x {b.symbol} y" if b.symbol else f"{b.name}(x, y)"
        print(f"  {label:10s} {b.doc}")
    print("Named rules:")
    for name, text in NAMED_RULES.items():
        print(f"  {name:14s} {text}")
    print(f"Searchers (also any module:attribute naming a Searcher subclass; plugins: entry points {ENTRY_POINT_GROUP!r}):")
    for row in rows:
        print(f"  {row['name']:14s} {row['description']}  [{row['origin']}: {row['target']}]")
    print("Tasks:")
    print("  " + ", ".join(TASK_NAMES))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Print a rule as text, LaTeX, tokens or JSON."""
    from optsearch.dsl import canonical
    from optsearch.commands.rule_arguments import format_rule, resolve_rule_argument

    expr = resolve_rule_argument(args.rule)
    if args.canonical:
        expr = canonical(expr)
    try:
        text = format_rule(expr, args.format, groups=args.groups)
    except ValueError as error:  # e.g. the rule needs more groups than --groups
        raise UsageError(str(error)) from None
    print(text)
    return 0


def register(commands) -> None:
    """Add ``list`` and ``export`` to the subparsers ``commands``."""
    listing = commands.add_parser("list", help="the vocabulary, named rules, searchers and tasks")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(handler=cmd_list)

    export = commands.add_parser("export", help="print a rule as text, LaTeX or tokens")
    export.add_argument("rule", help="rule text, a named rule (e.g. powersign) or space-separated tokens")
    export.add_argument("--format", choices=("text", "latex", "tokens", "json"), default="text")
    export.add_argument("--groups", type=groups, default=None, help=f"exact number of 5-token groups (at most {MAX_GROUPS})")
    export.add_argument("--canonical", action="store_true", help="print the canonical form")
    export.set_defaults(handler=cmd_export)
