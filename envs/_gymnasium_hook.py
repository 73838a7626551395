"""Register ``optsearch/OptimizerSearch-v0`` with Gymnasium without importing Gymnasium.

``import optsearch`` (and so ``import optsearch.dsl``) must stay free of Gymnasium, yet a user who
writes ``import optsearch; import gymnasium; gymnasium.make("optsearch/OptimizerSearch-v0")``
expects the id to be known. So: if Gymnasium is already imported the id is registered at once;
otherwise a one-shot import hook registers it right after Gymnasium's own import finishes.
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
