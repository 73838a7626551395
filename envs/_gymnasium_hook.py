"""Register ``optsearch/OptimizerSearch-v0`` with Gymnasium without importing Gymnasium.

``import optsearch`` (and so ``import optsearch.dsl``) must stay free of Gymnasium (it takes about
0.4 s to import, ten times ``import optsearch``), yet a user who writes ``import optsearch; import
gymnasium; gymnasium.make("optsearch/OptimizerSearch-v0")`` expects the id to be known. So: if
Gymnasium is already imported the id is registered at once; otherwise a one-shot import hook
registers it right after Gymnasium's own import finishes.

Why a hook and not Gymnasium's own mechanism: Gymnasium 1.0 removed its plugin system (the
``gymnasium.envs`` entry-point group that 0.26–0.29 read on import; see the v1.0.0 release
notes), so an entry point in ``pyproject.toml`` would be read by nothing. What Gymnasium 1.x
documents is registration when the package is imported, which :mod:`optsearch.envs` does, and
ids of the form ``"module:id"``: ``gymnasium.make("optsearch.envs:optsearch/OptimizerSearch-v0")``
imports :mod:`optsearch.envs` first and so works with nothing imported beforehand, no hook
involved. The hook only serves the order ``import optsearch`` then ``import gymnasium``.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys

ENV_ID = "optsearch/OptimizerSearch-v0"
ENTRY_POINT = "optsearch.envs.optimizer_search_env:OptimizerSearchEnv"


def register_env() -> None:
    """Register the environment's id (idempotent)."""
    import gymnasium

    if ENV_ID not in gymnasium.registry:
        gymnasium.register(id=ENV_ID, entry_point=ENTRY_POINT)


class _AfterGymnasiumImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself: wraps Gymnasium's loader so that registration follows its import."""

    def find_spec(self, fullname, path, target=None):
        if fullname != "gymnasium":
            return None
        sys.meta_path.remove(self)  # one shot; also keeps the lookup below from finding us again
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def exec_then_register(module) -> None:
            exec_module(module)
            register_env()

        spec.loader.exec_module = exec_then_register  # type: ignore[method-assign]
        return spec


def install() -> None:
    """Register now if Gymnasium is loaded, else as soon as it is."""
    if "gymnasium" in sys.modules:
        register_env()
    elif not any(isinstance(finder, _AfterGymnasiumImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _AfterGymnasiumImport())
