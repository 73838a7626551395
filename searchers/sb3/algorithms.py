"""The Stable-Baselines3 and sb3-contrib algorithms optsearch runs, and their settings.

Importing this module imports no SB3: the algorithm classes are named, and loaded when a run starts.
"""

from __future__ import annotations

from typing import Any

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
    """Settings for sparse terminal rewards: γ = 1, rollouts of a few whole episodes.

    PPO's and RecurrentPPO's learning rate stays SB3's 3e-4: tuned on the bench against 1e-3 and 1e-4
    (and PPO without the entropy bonus), no setting beat it on the final incumbent with an interval
    excluding 0, though 1e-3 learns faster (``benchmarks/README.md``, *Searchers' settings on the bench*).
    """
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
