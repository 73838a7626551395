"""Stable-Baselines3 agents as searchers: push-style, through a batched vector environment.

``agents`` drives ``model.learn`` to the budget, ``vec_env`` batches finished rules into one
evaluator call, ``budget`` stops learning at the budget, ``algorithms`` names the algorithms
and their settings. Importing this package imports no SB3; a run does.
"""

from __future__ import annotations

from typing import Any, Callable

from .algorithms import ALGORITHMS


def sb3_runner(name: str) -> Callable[..., Any]:
    """A registry runner for the SB3 algorithm ``name`` (SB3 is imported when it runs)."""

    def runner(evaluator, **kwargs: Any):
        from .agents import run_sb3

        return run_sb3(name, evaluator, **kwargs)

    runner.__name__ = f"run_{name.replace('-', '_')}"
    return runner


__all__ = ["ALGORITHMS", "sb3_runner"]
