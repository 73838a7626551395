"""Names → search strategies, and one entry point that runs any of them to a budget.

Ask/tell searchers run through :func:`~.driver.run_search`; push-style agents (Stable-Baselines3)
register a runner of their own that drives the environment with ``model.learn`` and stops at the
same budget. Either way the result is a :class:`~.lifecycle.SearchOutcome` and every proposal is in
the evaluator's store.

A searcher is named by a *spec*, resolved in one place (:func:`resolve_searcher`): a registered
name (``reinforce``), the name of an entry point in the group ``optsearch.searchers`` that an
installed package declares, or a ``"package.module:Attribute"`` string. The last two name a
:class:`~.base.Searcher` subclass (built as ``cls(groups=..., seed=..., **options)``) or a
:class:`SearcherEntry`; plugin modules are imported only when their searcher is resolved.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
from dataclasses import dataclass, replace
from typing import Any, Callable, Mapping, Optional, Union

from optsearch.evaluation.interfaces import RewardSource

from .driver import run_search
from .lifecycle import SearchOutcome
from .registry_entries import SEARCHERS


#: The entry-point group through which installed packages offer searchers.
ENTRY_POINT_GROUP = "optsearch.searchers"

BUILTIN = "built-in"


def load_object(target: str) -> Any:
    """The object a ``"package.module:attribute"`` string names (Gymnasium-style entry points).

    ``attribute`` may be dotted (``module:Class.factory``). Failures are one-line ``ValueError``s.
    """
    module_name, _, attribute = target.partition(":")
    if not module_name.strip() or not attribute.strip():
        raise ValueError(f"{target!r} is not of the form 'module:attribute'")
    try:
        module = importlib.import_module(module_name.strip())
    except ImportError as error:
        raise ValueError(f"cannot import {module_name.strip()!r} for {target!r}: {error}") from None
    try:
        return functools.reduce(getattr, attribute.strip().split("."), module)
    except AttributeError:
        raise ValueError(f"module {module_name.strip()!r} has no attribute {attribute.strip()!r} (from {target!r})") from None


@dataclass(frozen=True)
class SearcherEntry:
    """How to run one registered strategy.

    ``factory(groups=, seed=, **options)`` builds an ask/tell searcher; ``runner(evaluator, *,
    budget, seed, groups, run_id, progress, **options)`` runs a push-style one. Exactly one is set.
    Either may be a ``"module:attribute"`` string, imported only when the searcher is used, so
    registering the built-in searchers imports neither DEAP nor Stable-Baselines3.
    """

    name: str
    description: str
    factory: Union[Callable[..., Any], str, None] = None
    runner: Union[Callable[..., SearchOutcome], str, None] = None
    #: Where the searcher comes from: ``"built-in"``, ``"registered"`` (``register_searcher``
    #: from other code), ``"entry point of DIST"`` or ``"module:attribute"``; shown by ``optsearch list``.
    origin: str = "registered"
    #: A runner's accepted options (``name -> inspect.Parameter``), or a ``"module:attribute"``
    #: naming a function that returns them; ``None``: the runner's own keyword-only parameters.
    #: (A factory's options are always read from its signature.)
    options: Union[Callable[[], Mapping[str, Any]], str, None] = None

    @property
    def target(self) -> str:
        """``module:attribute`` of the factory or runner, for display."""
        thing = self.factory if self.factory is not None else self.runner
        if isinstance(thing, str):
            return thing
        return f"{getattr(thing, '__module__', '?')}:{getattr(thing, '__qualname__', repr(thing))}"

    def load_factory(self) -> Optional[Callable[..., Any]]:
        """The factory, imported if it was given by name."""
        return load_object(self.factory) if isinstance(self.factory, str) else self.factory

    def load_runner(self) -> Optional[Callable[..., SearchOutcome]]:
        """The runner, imported if it was given by name."""
        return load_object(self.runner) if isinstance(self.runner, str) else self.runner


def _entry_of(obj: Any, name: str, origin: str, target: str) -> SearcherEntry:
    """The entry of a plugin object: a ``Searcher`` subclass, or a ready :class:`SearcherEntry`."""
    from .base import Searcher

    if isinstance(obj, SearcherEntry):
        if (obj.factory is None) == (obj.runner is None):
            raise ValueError(f"{target!r}: a searcher entry needs exactly one of factory and runner")
        return replace(obj, name=name, origin=origin)
    if not (isinstance(obj, type) and issubclass(obj, Searcher)):
        kind = obj.__name__ if isinstance(obj, type) else type(obj).__name__
        raise ValueError(f"{target!r} is {kind}, not a subclass of optsearch.searchers.Searcher")
    doc = (obj.__doc__ or "").strip().splitlines()
    return SearcherEntry(name, doc[0] if doc else f"{obj.__module__}.{obj.__qualname__}", factory=obj, origin=origin)


def searcher_entry_points() -> dict[str, importlib.metadata.EntryPoint]:
    """The installed packages' entry points in :data:`ENTRY_POINT_GROUP`, by name (none imported)."""
    found: dict[str, importlib.metadata.EntryPoint] = {}
    for point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(point.name, point)  # the first on sys.path wins, as for imports
    return found


def _distribution(point: importlib.metadata.EntryPoint) -> str:
    dist = getattr(point, "dist", None)
    return dist.name if dist is not None else "an unknown distribution"


def default_label(spec: str) -> str:
    """The label a searcher spec gets when none is given: its name, or a ``module:attribute``'s
    attribute (``my_package.search:MySearcher`` -> ``MySearcher``)."""
    return spec.rpartition(":")[2].rpartition(".")[2].strip() if ":" in spec else spec.strip()


def available_searchers() -> list[str]:
    """Every name a searcher spec can take without a ``:``: registered names, then entry points."""
    names = list(SEARCHERS)
    return names + sorted(name for name in searcher_entry_points() if name not in SEARCHERS)


def resolve_searcher(spec: str) -> SearcherEntry:
    """The entry a searcher spec names: a registered name, an entry point, or ``module:attribute``.

    Registered names win over entry points of the same name. Raises a one-line ``ValueError``
    for an unknown name, an import failure, or an object that is not a searcher.
    """
    spec = spec.strip()
    if spec in SEARCHERS:
        return SEARCHERS[spec]
    if ":" in spec:
        return _entry_of(load_object(spec), spec, "module:attribute", spec)
    point = searcher_entry_points().get(spec)
    if point is None:
        raise ValueError(f"unknown searcher {spec!r}; searchers are {', '.join(available_searchers())} (or module:attribute)")
    origin = f"entry point of {_distribution(point)}"
    try:
        obj = point.load()
    except (ImportError, AttributeError) as error:
        raise ValueError(f"cannot load searcher {spec!r} ({point.value}, {origin}): {error}") from None
    return _entry_of(obj, spec, origin, point.value)


def searcher_rows() -> list[dict[str, str]]:
    """Every registered and entry-point searcher as ``{name, origin, target, description}``, for
    ``optsearch list``. Entry points are loaded to describe them; one that fails to load is
    listed with the reason, not raised."""
    rows = [
        {"name": name, "origin": entry.origin, "target": entry.target, "description": entry.description}
        for name, entry in SEARCHERS.items()
    ]
    for name, point in sorted(searcher_entry_points().items()):
        origin = f"entry point of {_distribution(point)}"
        if name in SEARCHERS:
            rows.append({"name": name, "origin": origin, "target": point.value, "description": f"(hidden by the {SEARCHERS[name].origin} {name!r})"})
            continue
        try:
            description = resolve_searcher(name).description
        except ValueError as error:
            description = f"(cannot be used: {error})"
        rows.append({"name": name, "origin": origin, "target": point.value, "description": description})
    return rows


def register_searcher(entry: SearcherEntry) -> SearcherEntry:
    """Add a strategy; a name can be registered once only."""
    if (entry.factory is None) == (entry.runner is None):
        raise ValueError("a searcher entry needs exactly one of factory and runner")
    return SEARCHERS.register(entry.name, entry)


def _register_builtins() -> None:
    from .sb3 import ALGORITHMS, sb3_options, sb3_runner

    builtins = [
        SearcherEntry("random", "uniform over valid token sequences", factory="optsearch.searchers.random_search:RandomSearch"),
        SearcherEntry(
            "evolution",
            "regularized evolution: tournament, one-token mutation, ageing",
            factory="optsearch.searchers.evolution:RegularizedEvolution",
        ),
        SearcherEntry(
            "reinforce", "the paper's LSTM controller trained with REINFORCE", factory="optsearch.searchers.reinforce:ReinforceSearcher"
        ),
        SearcherEntry("gp", "DEAP strongly-typed genetic programming over the same primitives", factory="optsearch.searchers.gp:GPSearcher"),
        SearcherEntry("tpe", "Optuna's multivariate TPE over the tokens (optuna extra)", factory="optsearch.searchers.optuna_search:TPESearcher"),
        SearcherEntry(
            "nsga2", "Optuna's NSGA-II: crossover and mutation of the tokens (optuna extra)", factory="optsearch.searchers.optuna_search:NSGAIISearcher"
        ),
    ]
    builtins += [
        SearcherEntry(
            name, f"{module}.{cls} ({policy}) through the environment", runner=sb3_runner(name), options=sb3_options(name)
        )
        for name, (module, cls, policy) in ALGORITHMS.items()
    ]
    for entry in builtins:
        if entry.name not in SEARCHERS:
            register_searcher(replace(entry, origin=BUILTIN))


def run_named_search(
    name: str,
    evaluator: RewardSource,
    *,
    budget: int,
    seed: int = 0,
    groups: int = 3,
    run_id: Optional[str] = None,
    batch_size: int = 8,
    seed_rules: tuple[str, ...] = (),
    progress: Optional[Callable] = None,
    label: Optional[str] = None,
    **options: Any,
) -> SearchOutcome:
    """Run the searcher ``name`` (any spec :func:`resolve_searcher` takes) until exactly ``budget``
    proposals are resolved, built with ``options`` (checked first: :func:`~.options.check_options`).

    ``label`` names the run in the store (its ``searcher`` column and default run id); by default
    it is :func:`default_label` of ``name`` (the name itself, or a ``module:attribute``'s
    attribute). Two labels let one searcher with two settings be two arms of a comparison. A
    runner is passed ``label=`` only when one is given.
    """
    from .options import check_options

    entry = resolve_searcher(name)
    options = check_options(entry, options)
    runner = entry.load_runner()
    if runner is not None:
        extra = {} if label is None else {"label": label}
        return runner(evaluator, budget=budget, seed=seed, groups=groups, run_id=run_id, progress=progress, **extra, **options)
    searcher = entry.load_factory()(groups=groups, seed=seed, **options)  # type: ignore[misc]
    return run_search(
        searcher,
        evaluator,
        budget=budget,
        run_id=run_id,
        batch_size=batch_size,
        seed_rules=seed_rules,
        progress=progress,
        label=label if label is not None else default_label(name),
    )


_register_builtins()
