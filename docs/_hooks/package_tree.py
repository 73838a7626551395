"""MkDocs hook: lay the package out as it is installed, so that mkdocstrings reads it statically.

``pyproject.toml`` maps ``optsearch.dsl`` to the folder ``dsl/`` (and so on) through
``[tool.setuptools.package-dir]``; griffe, which reads the source for mkdocstrings, looks for
``optsearch/dsl/`` and would not find it. Before the build, this hook writes
``build/api-src/optsearch/``: links to every entry of ``optsearch/`` plus one link per mapped
subpackage, and ``mkdocs.yml`` points the handler's ``paths`` there. Nothing is imported, so the
reference builds without torch's start-up cost and never runs the CLI.
"""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

from mkdocs.plugins import event_priority

TREE = Path("build") / "api-src"


def _not_python(folder: str, names: list[str]) -> set[str]:
    return {n for n in names if n == "__pycache__" or not (n.endswith(".py") or (Path(folder) / n).is_dir())}


# mkdocstrings globs its ``paths`` in its own on_config, and a path that does not exist yet is
# dropped for the repository root (where ``optsearch/`` lacks the mapped subpackages): on a clean
# clone the tree must exist before that, so this hook runs first.
@event_priority(100)
def on_config(config, **kwargs):
    root = Path(config.config_file_path).resolve().parent
    mapping = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    tree = root / TREE
    shutil.rmtree(tree, ignore_errors=True)
    for name, folder in sorted(mapping.items()):
        target = tree.joinpath(*name.split("."))
        shutil.copytree(root / folder, target, ignore=_not_python, dirs_exist_ok=True)
    return config
