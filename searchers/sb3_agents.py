"""Stable-Baselines3 and sb3-contrib agents, driven through the environment with ``model.learn``.

Push-style: the agent acts in :class:`~optsearch.envs.vec_env.BatchedRuleVecEnv`, whose finished
rules go to the shared evaluator in batches; a callback stops learning the moment the budget of
proposals is spent (no threads faking ask/tell). Settings suit a sparse reward at the end of a
fixed-length episode: γ = 1 and ``n_steps`` two episodes per environment. SB3's logger writes CSV
(and TensorBoard when installed) under the run's folder. The policy's weights are checkpointed in
the results store after every rollout, so a resumed run continues with its policy and the
proposals it still owes.
"""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path
from typing import Any, Callable, Optional

import torch

from optsearch.envs.vec_env import BatchedRuleVecEnv
from optsearch.evaluation.lease import run_lease

from .driver import SearchOutcome, default_run_id, stored_proposals

CHECKPOINT = "policy"

# name -> (module, class, policy)
ALGORITHMS: dict[str, tuple[str, str, str]] = {
    "ppo": ("stable_baselines3", "PPO", "MlpPolicy"),
    "a2c": ("stable_baselines3", "A2C", "MlpPolicy"),
    "dqn": ("stable_baselines3", "DQN", "MlpPolicy"),
    "maskable-ppo": ("sb3_contrib", "MaskablePPO", "MlpPolicy"),
    "recurrent-ppo": ("sb3_contrib", "RecurrentPPO", "MlpLstmPolicy"),
}


def _features_extractor():
    from stable_baselines3.common.torch_layers import FlattenExtractor

    class OneHotTokens(FlattenExtractor):
        """SB3's one-hot flattening of the token observation, with a plain-int width.

        (For ``MultiDiscrete`` spaces SB3 computes the width as a numpy integer, which
        ``torch.nn.LSTM`` rejects in RecurrentPPO.)
        """

        def __init__(self, observation_space):
            super().__init__(observation_space)
            self._features_dim = int(self._features_dim)

    return OneHotTokens


def hyperparameters(name: str, episode_length: int, n_envs: int) -> dict[str, Any]:
    """Settings for sparse terminal rewards: γ = 1, rollouts of a few whole episodes."""
    policy_kwargs = {"features_extractor_class": _features_extractor()}
    if name == "dqn":
        return {
            "policy_kwargs": policy_kwargs,
            "gamma": 1.0,
            "learning_starts": 2 * episode_length,
            "buffer_size": 50_000,
            "train_freq": episode_length,
            "target_update_interval": 4 * episode_length,
            "exploration_fraction": 0.3,
        }
    n_steps = 2 * episode_length
    settings: dict[str, Any] = {"gamma": 1.0, "n_steps": n_steps, "ent_coef": 0.01, "policy_kwargs": policy_kwargs}
    if name in ("ppo", "maskable-ppo", "recurrent-ppo"):
        settings.update(batch_size=n_steps * n_envs // 2, n_epochs=4, gae_lambda=1.0)
    return settings


class _Budget:
    """Stops ``model.learn`` once the environment has no proposals left; checkpoints the policy."""

    def __init__(self, vec_env: BatchedRuleVecEnv, save: Callable[[], None], progress: Optional[Callable]):
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


def _policy_state(model) -> bytes:
    buffer = io.BytesIO()
    torch.save({"policy": model.policy.state_dict(), "optimizer": model.policy.optimizer.state_dict()}, buffer)
    return buffer.getvalue()


def _load_policy(model, blob: bytes) -> None:
    state = torch.load(io.BytesIO(blob), weights_only=True)
    model.policy.load_state_dict(state["policy"])
    model.policy.optimizer.load_state_dict(state["optimizer"])


def run_sb3(
    name: str,
    evaluator,
    *,
    budget: int,
    seed: int = 0,
    groups: int = 3,
    run_id: Optional[str] = None,
    progress: Optional[Callable] = None,
    n_envs: int = 4,
    log_dir: Optional[str] = None,
    lease_wait_s: float = 0.0,
) -> SearchOutcome:
    """Learn with the SB3 algorithm ``name`` until exactly ``budget`` rules are evaluated."""
    if budget < 1:
        raise ValueError(f"budget must be at least 1, got {budget}")
    module, class_name, policy = ALGORITHMS[name]
    algorithm = getattr(importlib.import_module(module), class_name)
    run_id = run_id or default_run_id(name, seed, evaluator.task)
    store = evaluator.store
    with run_lease(store, run_id, wait_s=lease_wait_s):
        store.start_run(run_id, name, seed, evaluator.task, budget, {"groups": groups, "n_envs": n_envs})
        done_before = stored_proposals(store, run_id, budget)
        vec_env = BatchedRuleVecEnv(
            evaluator,
            n_envs=n_envs,
            groups=groups,
            eval_seed=seed,
            searcher=name,
            run_id=run_id,
            budget=budget - len(done_before),
            indices=[i for i in range(budget) if i not in done_before],
        )
        settings = hyperparameters(name, vec_env.space.length, n_envs)
        model = algorithm(policy, vec_env, seed=seed, device="cpu", verbose=0, **settings)
        blob = store.load_checkpoint(run_id, CHECKPOINT)
        if blob is not None:
            _load_policy(model, blob)
        if log_dir is None:  # beside a store file, so a run's logs travel with its results
            log_dir = str(Path(store.path).parent / "runs") if hasattr(store, "path") else "runs"
        folder = Path(log_dir) / run_id
        from stable_baselines3.common.logger import configure

        formats = ["csv"] + (["tensorboard"] if importlib.util.find_spec("tensorboard") else [])
        model.set_logger(configure(str(folder), formats))

        def save() -> None:
            store.save_checkpoint(run_id, CHECKPOINT, _policy_state(model))

        if vec_env.remaining and vec_env.remaining > 0:
            budget_callback = _Budget(vec_env, save, progress)
            # Generous step allowance: the callback, not total_timesteps, ends learning.
            model.learn(total_timesteps=(budget + 2 * n_envs) * vec_env.space.length * 4, callback=budget_callback.callback)
            save()
        store.finish_run(run_id)
    results = sorted([*done_before.values(), *vec_env.results], key=lambda r: r.index if r.index is not None else -1)
    return SearchOutcome(run_id, name, seed, tuple(results))


def sb3_runner(name: str) -> Callable[..., SearchOutcome]:
    """A registry runner for the SB3 algorithm ``name``."""

    def runner(evaluator, **kwargs: Any) -> SearchOutcome:
        return run_sb3(name, evaluator, **kwargs)

    runner.__name__ = f"run_{name.replace('-', '_')}"
    return runner
