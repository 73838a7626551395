"""The Gymnasium environment: conformance, masking, invalid actions, batching, budget."""

from __future__ import annotations

import subprocess
import sys

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import optsearch  # noqa: F401  (registers the environment id)
from optsearch.dsl import from_tokens, valid_tokens
from optsearch.envs import ENV_ID, OptimizerSearchEnv, RuleSpace
from optsearch.searchers.sb3.vec_env import BatchedRuleVecEnv
from optsearch.evaluation.config import EvalConfig
from optsearch.evaluation.evaluator import Evaluator


@pytest.fixture(scope="module")
def evaluator():
    with Evaluator(EvalConfig(task="quadratic", steps=50)) as shared:
        yield shared


def test_gymnasium_and_sb3_checkers_pass(evaluator):
    gym_check_env(OptimizerSearchEnv(evaluator=evaluator, groups=2), skip_render_check=True)
    sb3_check_env(OptimizerSearchEnv(evaluator=evaluator, groups=2))


def test_make_builds_the_registered_env(evaluator):
    env = gymnasium.make(ENV_ID, evaluator=evaluator, groups=2, render_mode="ansi")
    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    assert info["action_mask"].dtype == np.int8
    obs, *_ = env.step(int(np.flatnonzero(info["action_mask"])[0]))
    assert "[1/10]" in env.render()


@pytest.mark.parametrize(
    "code",
    [
        # Gymnasium's documented "module:id" form: it imports optsearch.envs, which registers the id
        'import gymnasium; env = gymnasium.make("optsearch.envs:optsearch/OptimizerSearch-v0", task="quadratic", groups=2)',
        # the plain id, with the package imported before Gymnasium or after it (a fresh interpreter
        # each: seconds, so these two run in the full suite only)
        pytest.param(
            'import optsearch, gymnasium; env = gymnasium.make("optsearch/OptimizerSearch-v0", task="quadratic", groups=2)',
            marks=pytest.mark.slow,
        ),
        pytest.param(
            'import gymnasium, optsearch.envs; env = gymnasium.make("optsearch/OptimizerSearch-v0", task="quadratic", groups=2)',
            marks=pytest.mark.slow,
        ),
    ],
)
@pytest.mark.slow  # a fresh interpreter each (seconds); test_make_builds_the_registered_env is the fast check
def test_gymnasium_make_finds_the_id_in_a_fresh_interpreter(code):
    completed = subprocess.run([sys.executable, "-c", f"{code}; print(env.spec.id, env.reset(seed=0)[0].shape)"], capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.split()[0] == ENV_ID


def test_an_unmasked_random_agent_never_crashes_and_every_episode_ends_with_a_rule(evaluator):
    env = OptimizerSearchEnv(evaluator=evaluator, groups=2, render_mode="ansi")
    rng = np.random.default_rng(0)
    episodes = steps = 0
    obs, _ = env.reset(seed=1)
    while steps < 400:
        obs, reward, terminated, truncated, info = env.step(int(rng.integers(env.action_space.n)))
        steps += 1
        assert env.observation_space.contains(obs) and not truncated
        if terminated:
            episodes += 1
            result = info["result"]
            assert result.rule == str(from_tokens(info["tokens"]))
            assert 0.0 <= reward <= 1.0 and reward == result.reward
            assert "=" in env.render()
            obs, _ = env.reset()
        else:
            assert reward == 0.0
    assert episodes == 400 // env.space.length


def test_masks_are_fresh_and_agree_with_the_language(evaluator):
    env = OptimizerSearchEnv(evaluator=evaluator, groups=2)
    _, info = env.reset(seed=0)
    mask = info["action_mask"]
    mask[:] = 0  # an agent scribbling on its copy must not change the env
    assert env.action_masks().any()
    for _ in range(7):
        expected = set(valid_tokens(env.tokens, 2))
        allowed = {env.space.vocabulary.tokens[i] for i in np.flatnonzero(env.action_masks())}
        assert allowed == expected
        _, _, _, _, info = env.step(int(np.flatnonzero(env.action_masks())[-1]))


def test_invalid_actions_map_onto_valid_tokens_and_valid_ones_are_kept():
    space = RuleSpace(3)
    for prefix in ([], ["g"], ["g", "m"], ["g", "m", "id", "exp"], ["g", "m", "id", "exp", "add"]):
        valid = set(valid_tokens(prefix, 3))
        for action in range(space.n_actions):
            token = space.resolve(prefix, action)
            assert token in valid
            if space.vocabulary.tokens[action] in valid:
                assert token == space.vocabulary.tokens[action]
        # every valid token stays reachable: the search space is unchanged
        assert {space.resolve(prefix, a) for a in range(space.n_actions)} == valid


class CountingEvaluator:
    """A real evaluator that counts its calls."""

    def __init__(self, inner):
        self.inner = inner
        self.calls: list[int] = []

    def evaluate(self, exprs, **kwargs):
        self.calls.append(len(exprs))
        return self.inner.evaluate(exprs, **kwargs)


def test_vector_env_evaluates_each_finished_batch_in_one_call_and_honours_the_budget(evaluator):
    counting = CountingEvaluator(evaluator)
    vec = BatchedRuleVecEnv(counting, n_envs=4, groups=1, budget=6)
    vec.reset()
    # Two batches of four episodes, each spelling a rule token by token (rules with distinct rewards).
    batches = [
        [("g", "g", "id", "id", "add"), ("m", "m", "id", "id", "add"),
         ("adam", "g", "id", "id", "keep"), ("rmsprop", "g", "id", "id", "keep")],
        [("m", "g", "id", "id", "keep"), ("g", "g", "id", "id", "keep"),
         ("v", "g", "id", "id", "keep"), ("m", "m", "id", "id", "add")],  # the last two: over the budget
    ]
    action = {token: index for index, token in enumerate(vec.space.vocabulary.tokens)}
    rewards_seen = []
    for batch in batches:
        for position in range(vec.space.length):
            vec.step_async(np.array([action[rule[position]] for rule in batch]))
            _, rewards, dones, infos = vec.step_wait()
            if dones.all():
                rewards_seen.append(rewards)
            else:
                assert not dones.any() and not rewards.any()  # the reward is sparse: at the episode's end only
    assert counting.calls == [4, 2]
    assert vec.remaining == 0 and len(vec.results) == 6
    # Each finished episode is paid its own rule's reward, in order; the two over the budget get 0.
    evaluated = np.array([r.reward for r in vec.results], dtype=np.float32)
    assert len(rewards_seen) == 2 and all(r.dtype == np.float32 and r.shape == (4,) for r in rewards_seen)
    np.testing.assert_array_equal(rewards_seen[0], evaluated[:4])
    np.testing.assert_array_equal(rewards_seen[1], np.concatenate([evaluated[4:], np.zeros(2, dtype=np.float32)]))
    assert [r.rule for r in vec.results][:4] == ["g + g", "m + m", "keep(adam, g)", "keep(rmsprop, g)"]
    assert len(set(evaluated.tolist())) == 6 and evaluated.min() > 0  # which episode got which reward shows
    assert [info.get("over_budget", False) for info in infos] == [False, False, True, True]
    assert vec.env_method("action_masks")[0].shape == (vec.space.n_actions,)


def test_works_in_a_gymnasium_vector_env(evaluator):
    envs = gymnasium.make_vec(ENV_ID, num_envs=2, vectorization_mode="sync", evaluator=evaluator, groups=1)
    obs, infos = envs.reset(seed=0)
    assert obs.shape == (2, 6)
    for _ in range(5):
        actions = np.array([int(np.flatnonzero(mask)[0]) for mask in infos["action_mask"]])
        obs, rewards, terminated, truncated, infos = envs.step(actions)
    assert terminated.all() and (rewards >= 0).all()
    envs.close()
