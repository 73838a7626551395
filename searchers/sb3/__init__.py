"""Stable-Baselines3 agents as searchers: push-style, through a batched vector environment.

``agents`` drives ``model.learn`` to the budget, ``vec_env`` batches finished rules into one
evaluator call, ``budget`` stops learning at the budget, ``algorithms`` names the algorithms
and their settings. Importing this package imports no SB3; a run does.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any, Callable

from .algorithms import ALGORITHMS


def sb3_runner(name: str) -> Callable[..., Any]:
    """A registry runner for the SB3 algorithm ``name`` (SB3 is imported when it runs)."""

    def runner(evaluator, **kwargs: Any):
        from .agents import run_sb3

        return run_sb3(name, evaluator, **kwargs)

    runner.__name__ = f"run_{name.replace('-', '_')}"
    runner.__qualname__ = f"sb3_runner({name!r})"
    return runner


# Set by optsearch itself (the environment, the seed, the device) or by run_named_search.
_FIXED = frozenset({"policy", "env", "seed", "device", "verbose", "_init_setup_model", "tensorboard_log"})
_FRAMEWORK = frozenset({"budget", "seed", "groups", "run_id", "progress", "label"})


def sb3_options(name: str) -> Callable[[], dict[str, inspect.Parameter]]:
    """The options the runner of ``name`` accepts: the adapter's own (``n_envs``, ``log_dir``,
    ...) and the algorithm class's keyword arguments (``ent_coef``, ``learning_rate``, ...).
    SB3 is imported when they are asked for, not before."""

    def options() -> dict[str, inspect.Parameter]:
        from .agents import run_sb3

        module, class_name, _ = ALGORITHMS[name]
        algorithm = getattr(importlib.import_module(module), class_name)
        accepted = {
            key: parameter
            for key, parameter in inspect.signature(algorithm).parameters.items()
            if key not in _FIXED and parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY)
        }
        for key, parameter in inspect.signature(run_sb3).parameters.items():
            if parameter.kind is parameter.KEYWORD_ONLY and key not in _FRAMEWORK:
                accepted[key] = parameter
        return accepted

    return options


__all__ = ["ALGORITHMS", "sb3_options", "sb3_runner"]
