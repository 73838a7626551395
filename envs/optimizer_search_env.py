"""``OptimizerSearchEnv``: optimizer discovery as a Gymnasium environment.

Each step emits one token of the controller's encoding (groups of five: ``op1, op2, u1, u2, b``;
see :mod:`optsearch.dsl.tokens`). After ``groups * 5`` steps the rule is complete, the shared
evaluator trains the child network with it, and the episode ends with the reward — the child's
validation accuracy — and the :class:`~optsearch.evaluation.records.EvalResult` in ``info["result"]``.
Every earlier step has reward 0.

- Observation: ``MultiDiscrete`` — the token ids emitted so far, padded with ``n_actions``, then
  the position. Markov, so MLP policies work.
- Action: ``Discrete(n_actions)``, one token. ``action_masks()`` (MaskablePPO) and
  ``info["action_mask"]`` (int8, a fresh array every call) give the valid tokens; invalid actions
  from agents that do not mask are mapped to valid tokens (:mod:`.dynamics`), never an error.
- ``render_mode="ansi"``: ``render()`` returns the rule so far as text.

Built with ``gymnasium.make("optsearch/OptimizerSearch-v0", task=..., groups=..., evaluator=...)``.
"""

from __future__ import annotations

from typing import Optional, Union

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from optsearch.dsl import from_tokens
from optsearch.evaluation.interfaces import RewardSource
from optsearch.evaluation.store import Store

from .dynamics import RuleSpace


class OptimizerSearchEnv(gym.Env):
    """Emit a rule token by token; the final step's reward is the evaluator's reward for it.

    ``evaluator``: a shared :class:`~optsearch.evaluation.evaluator.Evaluator` (recommended, so
    budget, cache and store are shared); when ``None`` one is built for ``task`` with the
    ``serial`` backend and closed with the environment. ``eval_seed`` is the seed of the child's
    training (the reward is a function of rule and seed); ``searcher``/``run_id`` label the
    records in the store.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(
        self,
        task: Optional[str] = None,
        groups: int = 3,
        evaluator: Optional[RewardSource] = None,
        eval_seed: int = 0,
        searcher: str = "env",
        run_id: str = "",
        render_mode: Optional[str] = None,
        store: Union[Store, str, None] = None,
    ):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']} or None")
        self.space = RuleSpace(groups)
        self.action_space = spaces.Discrete(self.space.n_actions)
        self.observation_space = spaces.MultiDiscrete(self.space.observation_nvec())
        self.render_mode = render_mode
        self.eval_seed = eval_seed
        self.searcher = searcher
        self.run_id = run_id
        self._owns_evaluator = evaluator is None
        if evaluator is None:
            from optsearch.evaluation.config import EvalConfig
            from optsearch.evaluation.evaluator import Evaluator
            from optsearch.evaluation.tasks import DEFAULT_TASK

            evaluator = Evaluator(EvalConfig(task=task or DEFAULT_TASK), store=store, backend="serial")
        self.evaluator = evaluator
        self.tokens: list[str] = []
        self.last_result = None

    # -- Gymnasium API -------------------------------------------------------------------------
    def reset(self, *, seed: Optional[int] = None, options: Optional[dict] = None):
        super().reset(seed=seed)
        self.tokens = []
        self.last_result = None
        return self.space.observe(self.tokens), self._info()

    def step(self, action: int):
        if len(self.tokens) >= self.space.length:
            raise RuntimeError("the episode has ended: call reset()")
        self.tokens.append(self.space.resolve(self.tokens, action))
        reward, info = 0.0, self._info()
        terminated = len(self.tokens) == self.space.length
        if terminated:
            result = self.evaluator.evaluate(
                [from_tokens(self.tokens)],
                seed=self.eval_seed,
                searcher=self.searcher,
                run_id=self.run_id,
                tokens=[tuple(self.tokens)],
            )[0]
            self.last_result = result
            reward = float(result.reward)
            info["result"] = result
        return self.space.observe(self.tokens), reward, terminated, False, info

    def action_masks(self) -> np.ndarray:
        """The valid actions now (for sb3-contrib's MaskablePPO)."""
        return self.space.mask(self.tokens)

    def render(self) -> Optional[str]:
        if self.render_mode != "ansi":
            return None
        return render_prefix(self.tokens, self.space.length)

    def close(self) -> None:
        if self._owns_evaluator and self.evaluator is not None:
            self.evaluator.close()

    def _info(self) -> dict:
        return {"action_mask": self.space.mask(self.tokens).astype(np.int8), "tokens": tuple(self.tokens)}


def render_prefix(tokens: list[str], length: int) -> str:
    """A line showing the tokens so far and, once complete, the rule as text."""
    shown = " ".join(tokens) if tokens else "(empty)"
    if len(tokens) == length:
        return f"{shown}\n  = {from_tokens(tokens)}"
    return f"{shown}  [{len(tokens)}/{length}]"
