"""Stable-Baselines3 and sb3-contrib agents, driven through the environment with ``model.learn``.

Push-style: the agent acts in :class:`~.vec_env.BatchedRuleVecEnv`, whose finished
rules go to the shared evaluator in batches; a callback stops learning the moment the budget of
proposals is spent (no threads faking ask/tell). Settings suit a sparse reward at the end of a
fixed-length episode: γ = 1 and ``n_steps`` two episodes per environment. SB3's logger writes CSV
(and TensorBoard when installed) under the run's folder. The policy's weights are checkpointed in
the results store after every rollout, so a resumed run continues with its policy and the
proposals it still owes.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, Callable, Optional

from optsearch.evaluation.interfaces import RewardSource

from ..lifecycle import SearchOutcome, SearchRun
from .algorithms import ALGORITHMS, hyperparameters
from .budget import BudgetCallback
from .vec_env import BatchedRuleVecEnv

#: The name of the policy's checkpoint in the store: ``{"policy": ..., "optimizer": ...}`` state dicts.
CHECKPOINT = "policy"


def _policy_state(model) -> dict:
    return {"policy": model.policy.state_dict(), "optimizer": model.policy.optimizer.state_dict()}


def _load_policy(model, state: dict) -> None:
    model.policy.load_state_dict(state["policy"])
    model.policy.optimizer.load_state_dict(state["optimizer"])


def run_sb3(
    name: str,
    evaluator: RewardSource,
    *,
    budget: int,
    seed: int = 0,
    groups: int = 3,
    run_id: Optional[str] = None,
    progress: Optional[Callable] = None,
    n_envs: int = 4,
    log_dir: Optional[str] = None,
    lease_wait_s: float = 0.0,
    label: Optional[str] = None,
    **algorithm_options: Any,
) -> SearchOutcome:
    """Learn with the SB3 algorithm ``name`` until exactly ``budget`` rules are evaluated.

    ``algorithm_options`` (keyword arguments of the algorithm's class, such as ``ent_coef`` or
    ``learning_rate``) replace optsearch's settings (:func:`~.algorithms.hyperparameters`);
    ``policy_kwargs`` are merged into them. The run is recorded under ``label`` (``name`` when None)
    through its :class:`~optsearch.searchers.lifecycle.SearchRun` (lease, store records, checkpoint).

    Resuming: the environment evaluates only the proposal indices that have no stored result, and
    the policy (with its optimizer) restarts from its last checkpoint, whatever it has seen; its
    random state and unfinished rollout are not restored, so a resumed run's new proposals differ
    from an uninterrupted run's.
    """
    run = SearchRun(
        evaluator,
        label=label if label is not None else name,
        seed=seed,
        budget=budget,
        config={"groups": groups, "n_envs": n_envs},
        checkpoint=CHECKPOINT,
        run_id=run_id,
        lease_wait_s=lease_wait_s,
    )
    module, class_name, policy = ALGORITHMS[name]
    algorithm = getattr(importlib.import_module(module), class_name)
    with run:
        vec_env = BatchedRuleVecEnv(
            evaluator,
            n_envs=n_envs,
            groups=groups,
            eval_seed=seed,
            searcher=run.label,
            run_id=run.run_id,
            budget=budget - len(run.stored),
            indices=run.missing_indices(),
        )
        settings = hyperparameters(name, vec_env.space.length, n_envs)
        policy_kwargs = {**settings.get("policy_kwargs", {}), **algorithm_options.pop("policy_kwargs", {})}
        settings.update(algorithm_options, policy_kwargs=policy_kwargs)
        model = algorithm(policy, vec_env, seed=seed, device="cpu", verbose=0, **settings)
        state = run.load_checkpoint()
        if state is not None:
            _load_policy(model, state)
        if log_dir is None:  # beside a store file, so a run's logs travel with its results
            log_dir = str(Path(run.store.path).parent / "runs") if hasattr(run.store, "path") else "runs"
        folder = Path(log_dir) / run.run_id
        from stable_baselines3.common.logger import configure

        formats = ["csv"] + (["tensorboard"] if importlib.util.find_spec("tensorboard") else [])
        model.set_logger(configure(str(folder), formats))

        def save() -> None:
            run.save_checkpoint(_policy_state(model))

        if vec_env.remaining and vec_env.remaining > 0:
            budget_callback = BudgetCallback(vec_env, save, progress)
            # Generous step allowance: the callback, not total_timesteps, ends learning.
            model.learn(total_timesteps=(budget + 2 * n_envs) * vec_env.space.length * 4, callback=budget_callback.callback)
            save()
    results = sorted([*run.stored.values(), *vec_env.results], key=lambda r: r.index if r.index is not None else -1)
    return run.outcome(results)
