"""The drawn house: optsearch's layers, the imports (arrows) between them, and lines per package.

``python benchmarks/house.py [--root PATH]`` reads every ``.py`` of ``dsl/ envs/ searchers/
evaluation/ optsearch/`` under ``PATH`` (default: this repository; give an older checkout to
draw the house as it was) and prints two Markdown tables:

- arrows: for each pair of layers, how many distinct (module → module) imports go from the first
  to the second; imports inside functions count;
- lines per package (non-blank lines of code and docstrings).

The layers inside ``evaluation/`` are :data:`tests.test_layering.EVALUATION_LAYERS` where that map
knows the module; a module it does not know (an older layout) is its own folder's layer.
``searchers/`` is split into the algorithms and the studies that run them (``compare``, the bench's
stages). An arrow is upward when it goes from a lower layer to a higher one in :data:`ORDER`.
"""

from __future__ import annotations

import argparse
import collections
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
from test_layering import EVALUATION_LAYERS, resolved_imports  # noqa: E402

FOLDERS = ("dsl", "envs", "searchers", "evaluation", "optsearch")
SEARCHER_STUDIES = ("searchers/compare.py", "searchers/bench_stages.py", "searchers/studies/")

#: Bottom to top; a layer not listed (an older layout's folder) is drawn after the listed ones.
ORDER = (
    "dsl", "evaluation: base", "evaluation: executor", "evaluation: tasks", "evaluation: training", "evaluation: config",
    "evaluation: reward sources", "evaluation: evaluator", "evaluation: statistics", "evaluation: reports",
    "evaluation: experiments", "evaluation: package", "envs", "searchers", "searchers: studies", "optsearch (CLI, API)",
)  # fmt: skip


def layer_of(relative: str) -> str:
    """The layer of the module at ``relative`` (a path under the repository root)."""
    top, _, rest = relative.partition("/")
    if top == "evaluation":
        keys = [key for key in EVALUATION_LAYERS if (rest.startswith(key) if key.endswith("/") else rest == key)]
        if keys and (REPO / relative).exists():
            return f"evaluation: {EVALUATION_LAYERS[max(keys, key=len)]}"
        return f"evaluation: {rest.split('/')[0].removesuffix('.py')}"
    if top == "searchers" and relative.startswith(SEARCHER_STUDIES):
        return "searchers: studies"
    return "optsearch (CLI, API)" if top == "optsearch" else top


def module_files(root: Path) -> dict[str, str]:
    """``dotted module name → path under root`` for every module of the five folders."""
    found = {}
    for folder in FOLDERS:
        for path in sorted((root / folder).rglob("*.py")):
            relative = path.relative_to(root).as_posix()
            parts = ["optsearch", *path.relative_to(root).with_suffix("").parts]
            if folder == "optsearch":
                parts = parts[1:]
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = relative
    return found


def target_file(name: str, files: dict[str, str]) -> str | None:
    """The file of the deepest module that ``name`` (``optsearch.a.b.C``) lies in."""
    parts = name.split(".")
    while parts:
        if ".".join(parts) in files:
            return files[".".join(parts)]
        parts.pop()
    return None


def draw(root: Path) -> tuple[collections.Counter, collections.Counter]:
    files = module_files(root)
    arrows: collections.Counter = collections.Counter()
    lines: collections.Counter = collections.Counter()
    for relative in files.values():
        source = (root / relative).read_text(encoding="utf-8")
        package = relative.rsplit("/", 1)[0] if "/" in relative else relative
        lines[package] += sum(1 for line in source.splitlines() if line.strip())
        here = layer_of(relative)
        seen = set()
        as_module = relative.removeprefix("optsearch/") if relative.startswith("optsearch/") else relative
        for _, name in resolved_imports(source, Path(as_module)):
            target = target_file(name, files)
            if target and target != relative and target not in seen:
                seen.add(target)
                there = layer_of(target)
                if there != here:
                    arrows[(here, there)] += 1
    return arrows, lines


def rank(layer: str) -> int:
    return ORDER.index(layer) if layer in ORDER else len(ORDER)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=REPO, help="the checkout to draw (default: this one)")
    args = parser.parse_args(argv)
    arrows, lines = draw(args.root.resolve())
    print("| from | to | imports | direction |\n|---|---|---|---|")
    for (source, target), count in sorted(arrows.items(), key=lambda item: (-rank(item[0][0]), -rank(item[0][1]))):
        direction = "down" if rank(target) < rank(source) else ("up" if rank(target) > rank(source) else "?")
        print(f"| {source} | {target} | {count} | {direction} |")
    upward = sum(count for (s, t), count in arrows.items() if rank(t) > rank(s))
    print(f"\n{sum(arrows.values())} arrows between layers, {upward} upward\n")
    print("| package | lines |\n|---|---|")
    for package, count in sorted(lines.items()):
        print(f"| {package} | {count:,} |")
    print(f"| total | {sum(lines.values()):,} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
