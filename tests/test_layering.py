"""Layering: the subpackages never import the package root's own modules, and ``evaluation/``
never imports ``searchers/`` or ``envs/``.

``optsearch.dsl``, ``.envs``, ``.searchers`` and ``.evaluation`` (the folders ``dsl/``, ``envs/``,
``searchers/`` and ``evaluation/`` at the repository root) may import each other, but nothing of
the root package ``optsearch/`` (its command line, manifest, testing kit, ...): the root sits on
top of them. Every ``.py`` under those folders is parsed with :mod:`ast`; ``import optsearch.x``,
``from optsearch.x import ...``, ``from optsearch import x`` and relative imports climbing to the
root all count.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SUBPACKAGES = ("dsl", "envs", "searchers", "evaluation")

#: (file, import) pairs tolerated for now, each with the reason; every entry must still occur.
KNOWN_EXCEPTIONS: dict[tuple[str, str], str] = {}


def module_name(relative: Path) -> str:
    """The dotted name of the module at ``relative`` (a path under the repository root)."""
    parts = ["optsearch", *relative.with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def resolved_imports(source: str, relative: Path) -> list[tuple[int, str]]:
    """``(line, "optsearch.name...")`` for every import in ``source`` (the file ``relative``), relative
    ones resolved to absolute names (``""`` for one that climbs above ``optsearch``)."""
    module = module_name(relative)
    package = module if relative.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(source, filename=str(relative))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: level 1 is this package, each more climbs one
                base = package.split(".")[: max(0, package.count(".") + 1 - (node.level - 1))]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            # `from optsearch import x` imports optsearch.x (a module or a name of the root)
            targets = [f"{origin}.{alias.name}" for alias in node.names] if origin in ("optsearch", "optsearch.evaluation") else [origin]
        else:
            continue
        found += [(node.lineno, target) for target in targets]
    return found


def upward_imports(source: str, relative: Path) -> list[tuple[int, str]]:
    """``(line, "optsearch.name...")`` for every import in ``source`` (the file ``relative``) that
    reaches the root package ``optsearch`` itself or a root module not among :data:`SUBPACKAGES`."""
    found = []
    for line, target in resolved_imports(source, relative):
        parts = target.split(".")
        if parts[0] in ("optsearch", "") and (len(parts) < 2 or parts[1] not in SUBPACKAGES):
            found.append((line, target or "(above optsearch)"))
    return found


#: The subpackages that ``evaluation/`` (tasks, training, reward sources, evaluator, experiments,
#: reports) must not import: searchers and the environment sit above it and call it.
ABOVE_EVALUATION = ("optsearch.searchers", "optsearch.envs")


def imports_from_above(source: str, relative: Path) -> list[tuple[int, str]]:
    """The imports of a module under ``evaluation/`` that reach ``searchers/`` or ``envs/``."""
    return [
        (line, target)
        for line, target in resolved_imports(source, relative)
        if any(target == name or target.startswith(name + ".") for name in ABOVE_EVALUATION)
    ]


def _sources() -> list[Path]:
    return sorted(path for folder in SUBPACKAGES for path in (REPO / folder).rglob("*.py"))


def test_the_checker_sees_every_form_of_import():
    here = Path("searchers/example.py")
    source = "\n".join([
        "import optsearch.extras",                      # 1
        "from optsearch.registry_entries import X",     # 2
        "from optsearch import extras, searchers",      # 3: extras only
        "from .. import cli",                           # 4: optsearch.cli
        "from ..testing import SearcherConformance",    # 5
        "import optsearch",                             # 6: the root itself
        "from optsearch.evaluation.store import Store", # fine
        "from optsearch import dsl",                    # fine
        "from . import driver",                         # fine: optsearch.searchers.driver
        "from ..evaluation import records",             # fine
        "def f():",
        "    from optsearch.manifest import load",     # 12: inside a function too
    ])  # fmt: skip
    assert upward_imports(source, here) == [
        (1, "optsearch.extras"), (2, "optsearch.registry_entries"), (3, "optsearch.extras"), (4, "optsearch.cli"),
        (5, "optsearch.testing"), (6, "optsearch"), (12, "optsearch.manifest"),
    ]  # fmt: skip
    deep = Path("evaluation/reports/summary.py")
    assert upward_imports("from ...cli import main\nfrom ..records import X\nfrom . import stats", deep) == [(1, "optsearch.cli")]
    assert upward_imports("from .. import registry", Path("evaluation/tasks/__init__.py")) == []  # optsearch.evaluation.registry
    assert upward_imports("from ... import registry", Path("evaluation/tasks/__init__.py")) == [(1, "optsearch.registry")]


def test_the_subpackages_import_nothing_of_the_package_root():
    sources = _sources()
    assert len(sources) > 50 and all((REPO / folder / "__init__.py").exists() for folder in SUBPACKAGES)
    found = {}
    for path in sources:
        relative = path.relative_to(REPO)
        for line, target in upward_imports(path.read_text(encoding="utf-8"), relative):
            found[(relative.as_posix(), target)] = line
    unexpected = sorted(f"{file}:{line}: imports {target}" for (file, target), line in found.items() if (file, target) not in KNOWN_EXCEPTIONS)
    assert not unexpected, "subpackages import the package root:\n" + "\n".join(unexpected)
    stale = sorted(set(KNOWN_EXCEPTIONS) - set(found))
    assert not stale, f"known exceptions that no longer occur (remove them): {stale}"


@pytest.mark.parametrize(
    "code, expected",
    [
        # `import optsearch` (hence `import optsearch.dsl`, ...) loads neither Gymnasium nor torch ...
        ("import sys, optsearch; print(sorted(m for m in ('gymnasium', 'torch') if m in sys.modules))", "[]"),
        # ... yet the environment's id is known as soon as Gymnasium is imported
        ("import optsearch, gymnasium; print(optsearch.ENV_ID in gymnasium.registry)", "True"),
        ("import gymnasium, optsearch.envs; print(optsearch.envs.ENV_ID in gymnasium.registry)", "True"),
        ("from optsearch.envs import ENV_ID, OptimizerSearchEnv, RuleSpace; import gymnasium; print(ENV_ID in gymnasium.registry)", "True"),
        ("from optsearch.extras import OptionalDependencyError, require; print(require.__module__)", "optsearch.evaluation.extras"),
    ],
)
def test_the_moved_modules_keep_their_behaviour(code, expected):
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == expected


def test_the_checker_sees_evaluation_reaching_up():
    here = Path("evaluation/bench/builder.py")
    source = "\n".join([
        "from optsearch.searchers.registry import run_named_search",  # 1
        "from ...searchers import driver",                          # 2: optsearch.searchers
        "import optsearch.envs",                                    # 3
        "from optsearch import searchers",                          # 4: optsearch.searchers
        "from .. import evaluator",                                 # fine: optsearch.evaluation.evaluator
        "from optsearch.dsl import fingerprint",                    # fine
        "def f():",
        "    from optsearch.envs.dynamics import X",               # 8: inside a function too
    ])  # fmt: skip
    assert imports_from_above(source, here) == [
        (1, "optsearch.searchers.registry"), (2, "optsearch.searchers"), (3, "optsearch.envs"), (4, "optsearch.searchers"),
        (8, "optsearch.envs.dynamics"),
    ]  # fmt: skip


def test_evaluation_imports_neither_searchers_nor_envs():
    sources = sorted((REPO / "evaluation").rglob("*.py"))
    assert len(sources) > 50
    found = sorted(
        f"{path.relative_to(REPO).as_posix()}:{line}: imports {target}"
        for path in sources
        for line, target in imports_from_above(path.read_text(encoding="utf-8"), path.relative_to(REPO))
    )
    assert not found, "evaluation/ reaches up to the searchers or the environment:\n" + "\n".join(found)
