"""A Stable-Baselines3 vector environment whose finished rules are evaluated as one batch.

All ``n_envs`` episodes have the same length and start together, so they end together; their
rules then go to the evaluator in one call, and the evaluator's ``process``/``ray`` workers train
them in parallel (a ``DummyVecEnv`` of :class:`OptimizerSearchEnv` would train them one by one).

``budget`` (optional) caps the number of rules evaluated: in the batch that reaches it only the
first rules are evaluated; the others end with reward 0, ``info["over_budget"] = True`` and are
not recorded, and ``remaining`` becomes 0 so a callback can stop learning exactly there.
``indices`` (optional) are the run's proposal indices to give the rules, in order (a resumed run
passes those it has no result for).
Observations, masks and the treatment of invalid actions are those of
:class:`~optsearch.envs.optimizer_search_env.OptimizerSearchEnv` (shared through :class:`~optsearch.envs.dynamics.RuleSpace`).
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np
from gymnasium import spaces
from stable_baselines3.common.vec_env.base_vec_env import VecEnv

from optsearch.dsl import from_tokens
from optsearch.evaluation.interfaces import RewardSource

from optsearch.envs.dynamics import RuleSpace


class BatchedRuleVecEnv(VecEnv):
    """``n_envs`` rule constructions stepped together; one evaluator call per finished batch."""

    def __init__(
        self,
        evaluator: RewardSource,
        *,
        n_envs: int = 4,
        groups: int = 3,
        eval_seed: int = 0,
        searcher: str = "vec-env",
        run_id: str = "",
        budget: Optional[int] = None,
        indices: Optional[Sequence[int]] = None,
    ):
        self.space = RuleSpace(groups)
        self.render_mode = None
        super().__init__(
            n_envs,
            spaces.MultiDiscrete(self.space.observation_nvec()),
            spaces.Discrete(self.space.n_actions),
        )
        self.evaluator = evaluator
        self.eval_seed = eval_seed
        self.searcher = searcher
        self.run_id = run_id
        self.remaining = budget
        self._indices_left = list(indices) if indices is not None else None
        self.results: list = []
        self.prefixes: list[list[str]] = [[] for _ in range(n_envs)]
        self._actions: Optional[np.ndarray] = None

    # -- VecEnv API ----------------------------------------------------------------------------
    def reset(self) -> np.ndarray:
        self.prefixes = [[] for _ in range(self.num_envs)]
        return self._observations()

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions).reshape(self.num_envs)

    def step_wait(self):
        assert self._actions is not None, "step_async first"
        for prefix, action in zip(self.prefixes, self._actions):
            prefix.append(self.space.resolve(prefix, int(action)))
        rewards = np.zeros(self.num_envs, dtype=np.float32)
        infos: list[dict] = [{} for _ in range(self.num_envs)]
        done = len(self.prefixes[0]) == self.space.length
        if not done:
            return self._observations(), rewards, np.zeros(self.num_envs, dtype=bool), infos
        final = self._observations()
        count = self.num_envs if self.remaining is None else max(0, min(self.num_envs, self.remaining))
        if count:
            results = self.evaluator.evaluate(
                [from_tokens(p) for p in self.prefixes[:count]],
                seed=self.eval_seed,
                searcher=self.searcher,
                run_id=self.run_id,
                tokens=[tuple(p) for p in self.prefixes[:count]],
                indices=self._take_indices(count),
            )
            self.results.extend(results)
            for i, result in enumerate(results):
                rewards[i] = result.reward
                infos[i]["result"] = result
            if self.remaining is not None:
                self.remaining -= count
        for i in range(count, self.num_envs):
            infos[i]["over_budget"] = True
        for i in range(self.num_envs):
            infos[i]["terminal_observation"] = final[i]
            infos[i]["TimeLimit.truncated"] = False
        return self.reset(), rewards, np.ones(self.num_envs, dtype=bool), infos

    def _take_indices(self, count: int) -> Optional[list[int]]:
        """The run's next free proposal indices (None when not given)."""
        if self._indices_left is None:
            return None
        taken, self._indices_left = self._indices_left[:count], self._indices_left[count:]
        return taken

    def action_masks(self) -> np.ndarray:
        """``[n_envs, n_actions]`` valid actions (sb3-contrib's masking reads this)."""
        return np.stack([self.space.mask(p) for p in self.prefixes])

    def close(self) -> None:
        pass

    def get_attr(self, attr_name: str, indices=None) -> list[Any]:
        return [getattr(self, attr_name) for _ in self._indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices=None) -> None:
        setattr(self, attr_name, value)

    def env_method(self, method_name: str, *method_args, indices=None, **method_kwargs) -> list[Any]:
        if method_name == "action_masks":
            masks = self.action_masks()
            return [masks[i] for i in self._indices(indices)]
        raise AttributeError(f"BatchedRuleVecEnv has no per-env method {method_name!r}")

    def env_is_wrapped(self, wrapper_class, indices=None) -> list[bool]:
        return [False for _ in self._indices(indices)]

    def _indices(self, indices) -> Sequence[int]:
        if indices is None:
            return range(self.num_envs)
        if isinstance(indices, int):
            return [indices]
        return indices

    def _observations(self) -> np.ndarray:
        return np.stack([self.space.observe(p) for p in self.prefixes])
