"""The callback that ends ``model.learn`` exactly at the budget of proposals."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Optional

if TYPE_CHECKING:
    from .vec_env import BatchedRuleVecEnv


class BudgetCallback:
    """Stops ``model.learn`` once the environment has no proposals left; checkpoints the policy."""

    def __init__(self, vec_env: "BatchedRuleVecEnv", save: Callable[[], None], progress: Optional[Callable]):
        from stable_baselines3.common.callbacks import BaseCallback

        outer = self

        class Callback(BaseCallback):
            def _on_step(self) -> bool:
                if outer.progress is not None and any("result" in info for info in self.locals.get("infos", [])):
                    outer.progress(len(vec_env.results), vec_env.results)
                return vec_env.remaining is None or vec_env.remaining > 0

            def _on_rollout_end(self) -> None:
                save()

        self.progress = progress
        self.callback = Callback()
