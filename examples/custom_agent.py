"""Plug your own agent into the environment: a tabular policy-gradient agent in ~40 lines.

It knows nothing of optsearch beyond ``gymnasium.make``: one softmax per position over the
tokens, masked with ``info["action_mask"]``, trained with REINFORCE and a moving-average baseline.

    python examples/custom_agent.py --task quadratic --episodes 30
"""

import argparse

import gymnasium
import numpy as np

import optsearch  # noqa: F401  (registers optsearch/OptimizerSearch-v0)

parser = argparse.ArgumentParser()
parser.add_argument("--task", default="mnist1d")
parser.add_argument("--episodes", type=int, default=100)
parser.add_argument("--groups", type=int, default=2)
args = parser.parse_args()

env = gymnasium.make("optsearch/OptimizerSearch-v0", task=args.task, groups=args.groups)
length, n_actions = env.unwrapped.space.length, env.action_space.n
logits = np.zeros((length, n_actions))
rng = np.random.default_rng(0)
baseline, best = 0.0, (0.0, "")

for episode in range(args.episodes):
    obs, info = env.reset(seed=episode)
    steps, terminated = [], False
    while not terminated:
        position = obs[-1]
        scores = np.where(info["action_mask"] == 1, logits[position], -np.inf)
        probs = np.exp(scores - scores.max())
        probs /= probs.sum()
        action = rng.choice(n_actions, p=probs)
        steps.append((position, action, probs))
        obs, reward, terminated, _, info = env.step(action)
    advantage = reward - baseline
    baseline = 0.9 * baseline + 0.1 * reward
    for position, action, probs in steps:  # ∇ log softmax = onehot − p
        logits[position] -= 0.5 * advantage * probs
        logits[position, action] += 0.5 * advantage
    best = max(best, (reward, info["result"].rule))
    print(f"episode {episode:3d}  reward {reward:.3f}  {info['result'].rule}")

print(f"best reward {best[0]:.4f}: {best[1]}")
env.close()
