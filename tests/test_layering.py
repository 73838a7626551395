"""Layering: the subpackages never import the package root's own modules, and ``evaluation/``
never imports ``searchers/`` or ``envs/``.

``optsearch.dsl``, ``.envs``, ``.searchers`` and ``.evaluation`` (the folders ``dsl/``, ``envs/``,
``searchers/`` and ``evaluation/`` at the repository root) may import each other, but nothing of
the root package ``optsearch/`` (its command line, manifest, testing kit, ...): the root sits on
top of them. Every ``.py`` under those folders is parsed with :mod:`ast`; ``import optsearch.x``,
``from optsearch.x import ...``, ``from optsearch import x`` and relative imports climbing to the
root all count.

Inside ``evaluation/``, every module belongs to exactly one layer (:data:`EVALUATION_LAYERS`: base,
executor, tasks, training, config, reward sources, evaluator, statistics, reports, experiments) and
imports only from its own layer and the layers :data:`MAY_IMPORT` names for it, which form a
hierarchy; statistics and reports import neither training, the evaluator nor an experiment. The
modules of statistics, reports and experiments import each other without cycles. Imports inside
functions and ``TYPE_CHECKING`` blocks count everywhere.
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


def _import_statements(source: str, relative: Path) -> list[tuple[int, str, tuple[str, ...]]]:
    """``(line, origin, names)`` for every import in ``source`` (the file ``relative``), in functions
    too: ``import a.b`` gives ``("a.b", ())``; ``from x import y, z`` gives ``(x, ("y", "z"))`` with
    a relative ``x`` resolved to an absolute name (``""`` for one that climbs above ``optsearch``)."""
    module = module_name(relative)
    package = module if relative.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(source, filename=str(relative))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, ()) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: level 1 is this package, each more climbs one
                base = package.split(".")[: max(0, package.count(".") + 1 - (node.level - 1))]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            found.append((node.lineno, origin, tuple(alias.name for alias in node.names)))
    return found


def resolved_imports(source: str, relative: Path) -> list[tuple[int, str]]:
    """``(line, "optsearch.name...")`` for every import in ``source`` (the file ``relative``), relative
    ones resolved to absolute names (``""`` for one that climbs above ``optsearch``)."""
    found = []
    for line, origin, names in _import_statements(source, relative):
        # `from optsearch import x` imports optsearch.x (a module or a name of the root)
        targets = [f"{origin}.{name}" for name in names] if names and origin in ("optsearch", "optsearch.evaluation") else [origin]
        found += [(line, target) for target in targets]
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


@pytest.mark.slow
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


# --- the layers inside evaluation/ -----------------------------------------------------------------

#: Every module under ``evaluation/`` and its layer, keyed by its path there: a key ending in ``/``
#: holds every module of that folder, any other key names one file. Every module matches exactly one key.
EVALUATION_LAYERS: dict[str, str] = {
    "__init__.py": "package",
    # plain records and helpers that know nothing of training
    "records.py": "base",
    "extras.py": "base",
    "grouping.py": "base",
    "ranking.py": "base",
    # runs any function on workers
    "executor/": "executor",
    "tasks/": "tasks",
    "training/": "training",
    # the evaluation protocol (it builds the trainer's protocol) and the floor reward
    "config.py": "config",
    # what scores a rule: the screen, live training jobs, the bench's answers
    "screen.py": "reward sources",
    "jobs.py": "reward sources",
    "rewards.py": "reward sources",
    "bench/__init__.py": "reward sources",
    "bench/bench.py": "reward sources",
    "bench/facts.py": "reward sources",
    "bench/features.py": "reward sources",
    "bench/model.py": "reward sources",
    "bench/portable.py": "reward sources",
    "bench/surrogate.py": "reward sources",
    "bench/table.py": "reward sources",
    "bench/truth.py": "reward sources",
    # the evaluator (cache, screen and hurdle around a reward source), its interface and its store
    "evaluator.py": "evaluator",
    "interfaces.py": "evaluator",
    "lease.py": "evaluator",
    "store/": "evaluator",
    # pure: they train nothing and ask no evaluator
    "statistics/": "statistics",
    "reports/": "reports",
    # what trains rules or asks the evaluator to: held-out, race, transfer, funnel, Rosenbrock,
    # `optsearch eval`, and the bench's builder and export, which run the evaluator over stores
    "experiments/": "experiments",
    "rule_eval.py": "experiments",
    "bench/builder.py": "experiments",
    "bench/publish.py": "experiments",
}

#: The layers each layer may import besides its own: every arrow between layers points down this table.
MAY_IMPORT: dict[str, frozenset[str]] = {
    "base": frozenset(),
    "executor": frozenset({"base"}),
    "tasks": frozenset({"base"}),
    "training": frozenset({"base", "tasks"}),
    "config": frozenset({"base", "tasks", "training"}),
    "reward sources": frozenset({"base", "executor", "tasks", "training", "config"}),
    "evaluator": frozenset({"base", "executor", "tasks", "training", "config", "reward sources"}),
    "statistics": frozenset({"base"}),
    # the floor reward (config) and what a task's rewards are (rewards.source_info), never training
    "reports": frozenset({"base", "tasks", "config", "reward sources", "statistics"}),
    "experiments": frozenset({"base", "executor", "tasks", "training", "config", "reward sources", "evaluator", "statistics", "reports"}),
    "package": frozenset({"base", "executor", "tasks", "training", "config", "reward sources", "evaluator", "statistics", "reports"}),
}

EVALUATION = REPO / "evaluation"


def layer_keys(path: str) -> list[str]:
    """The keys of :data:`EVALUATION_LAYERS` that hold ``path`` (a module's path under ``evaluation/``)."""
    return [key for key in EVALUATION_LAYERS if (path.startswith(key) if key.endswith("/") else path == key)]


def evaluation_module(dotted: str) -> str:
    """The file under ``evaluation/`` of the deepest module in ``optsearch.evaluation.<dotted>`` (``""``:
    the package itself); the rest of the name is something that module defines."""
    parts = [part for part in dotted.split(".") if part]
    while parts:
        folder = EVALUATION.joinpath(*parts)
        if (folder / "__init__.py").exists():
            return "/".join(parts) + "/__init__.py"
        if folder.with_suffix(".py").exists():
            return "/".join(parts) + ".py"
        parts.pop()
    return "__init__.py"


def evaluation_imports(source: str, relative: Path) -> list[tuple[int, str]]:
    """``(line, path under evaluation/)`` of every module of ``evaluation/`` that ``source`` (the file
    ``relative``) imports, in functions and ``TYPE_CHECKING`` blocks too; ``from x import y`` imports
    ``x.y`` when that is a module, else ``x``."""
    found = []
    for line, origin, names in _import_statements(source, relative):
        for target in [f"{origin}.{name}" for name in names] if names else [origin]:
            if target == "optsearch.evaluation" or target.startswith("optsearch.evaluation."):
                found.append((line, evaluation_module(target[len("optsearch.evaluation") :])))
    return found


def wrong_way_imports(source: str, relative: Path) -> list[str]:
    """``"line: imports path (layer a -> layer b)"`` for every import of ``source`` (a module under
    ``evaluation/``) into a layer that :data:`MAY_IMPORT` does not allow its own layer to import."""
    own = EVALUATION_LAYERS[layer_keys(relative.relative_to("evaluation").as_posix())[0]]
    found = []
    for line, target in evaluation_imports(source, relative):
        keys = layer_keys(target)
        theirs = EVALUATION_LAYERS[keys[0]] if len(keys) == 1 else "(no layer)"
        if theirs != own and theirs not in MAY_IMPORT[own]:
            found.append(f"{line}: imports {target} ({own} -> {theirs})")
    return found


def _evaluation_sources() -> list[Path]:
    return sorted(path for path in EVALUATION.rglob("*.py") if "__pycache__" not in path.parts)


def test_every_evaluation_module_belongs_to_exactly_one_layer():
    paths = [path.relative_to(EVALUATION).as_posix() for path in _evaluation_sources()]
    assert len(paths) > 50
    wrong = {path: layer_keys(path) for path in paths if len(layer_keys(path)) != 1}
    assert not wrong, f"modules in no layer or in several (add each to EVALUATION_LAYERS once): {wrong}"
    unused = [key for key in EVALUATION_LAYERS if not any(key in layer_keys(path) for path in paths)]
    assert not unused, f"EVALUATION_LAYERS names modules that do not exist: {unused}"


def test_the_layers_form_a_hierarchy():
    layers = set(EVALUATION_LAYERS.values())
    assert set(MAY_IMPORT) == layers and all(lower <= layers for lower in MAY_IMPORT.values())
    # Acyclic: peel off, again and again, the layers that import no layer still left.
    left = set(layers)
    while left:
        bottom = {layer for layer in left if not (MAY_IMPORT[layer] & left)}
        assert bottom, f"the layers {sorted(left)} import each other in a cycle"
        left -= bottom
    # What the layers are for: statistics and reports train nothing and ask no evaluator.
    for pure in ("statistics", "reports"):
        assert not MAY_IMPORT[pure] & {"training", "evaluator", "experiments"}, pure
    assert "experiments" not in set().union(*(MAY_IMPORT[layer] for layer in layers))


def test_the_layer_checker_sees_imports_in_the_wrong_direction():
    summary = Path("evaluation/reports/summary.py")
    source = "\n".join([
        "from ..training.single import train_run",                   # 1: reports -> training
        "from ..statistics import stats",                             # fine: reports -> statistics
        "from optsearch.evaluation import Evaluator",                # 3: reports -> the package
        "from . import formatting",                                   # fine: its own layer
        "def f():",
        "    from ..experiments.race import RaceResult",             # 6: inside a function too
        "if TYPE_CHECKING:",
        "    from optsearch.evaluation.evaluator import Evaluator",  # 8: and for type checking
    ])  # fmt: skip
    assert wrong_way_imports(source, summary) == [
        "1: imports training/single.py (reports -> training)",
        "3: imports __init__.py (reports -> package)",
        "6: imports experiments/race.py (reports -> experiments)",
        "8: imports evaluator.py (reports -> evaluator)",
    ]
    runner = Path("evaluation/experiments/transfer/runner.py")
    assert wrong_way_imports("from ...executor import make_executor\nfrom ...evaluator import Evaluator", runner) == []
    assert wrong_way_imports("from ..experiments.heldout import heldout_config", Path("evaluation/bench/bench.py")) == [
        "1: imports experiments/heldout.py (reward sources -> experiments)"
    ]


def test_evaluation_imports_only_down_its_layers():
    found = sorted(
        f"{path.relative_to(REPO).as_posix()}:{problem}"
        for path in _evaluation_sources()
        for problem in wrong_way_imports(path.read_text(encoding="utf-8"), path.relative_to(REPO))
    )
    assert not found, "imports against the layers of evaluation/ (see EVALUATION_LAYERS, MAY_IMPORT):\n" + "\n".join(found)


def import_cycles(folders: tuple[str, ...]) -> list[list[str]]:
    """The import cycles among the modules under ``folders`` (of ``evaluation/``), each as its modules,
    counting imports in functions and ``TYPE_CHECKING`` blocks (a cycle dodged that way is still one)."""
    paths = [path for path in _evaluation_sources() if path.relative_to(EVALUATION).as_posix().startswith(folders)]
    names = {path.relative_to(EVALUATION).as_posix() for path in paths}
    graph = {
        path.relative_to(EVALUATION).as_posix(): {
            target for _, target in evaluation_imports(path.read_text(encoding="utf-8"), path.relative_to(REPO)) if target in names
        }
        for path in paths
    }
    # Tarjan's strongly connected components: a component of two or more modules, or a module that
    # imports itself, is a cycle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph[node]:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def test_statistics_reports_and_experiments_import_each_other_without_cycles():
    assert import_cycles(("statistics/", "reports/", "experiments/")) == []
