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
import io
from pathlib import Path
from typing import Any, Callable, Optional

import torch

from optsearch.evaluation.interfaces import RewardSource
from optsearch.evaluation.lease import run_lease

from ..driver import SearchOutcome, default_run_id, stored_proposals
from .algorithms import ALGORITHMS, hyperparameters
from .budget import BudgetCallback
from .vec_env import BatchedRuleVecEnv

CHECKPOINT = "policy"

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
    ``policy_kwargs`` are merged into them. The run is recorded under ``label`` (``name`` when None).
    """
    if budget < 1:
        raise ValueError(f"budget must be at least 1, got {budget}")
    module, class_name, policy = ALGORITHMS[name]
    algorithm = getattr(importlib.import_module(module), class_name)
    label = label if label is not None else name
    run_id = run_id or default_run_id(label, seed, evaluator.task)
    store = evaluator.store
    with run_lease(store, run_id, wait_s=lease_wait_s):
        store.start_run(run_id, label, seed, evaluator.task, budget, {"groups": groups, "n_envs": n_envs})
        done_before = stored_proposals(store, run_id, budget)
        vec_env = BatchedRuleVecEnv(
            evaluator,
            n_envs=n_envs,
            groups=groups,
            eval_seed=seed,
            searcher=label,
            run_id=run_id,
            budget=budget - len(done_before),
            indices=[i for i in range(budget) if i not in done_before],
        )
        settings = hyperparameters(name, vec_env.space.length, n_envs)
        policy_kwargs = {**settings.get("policy_kwargs", {}), **algorithm_options.pop("policy_kwargs", {})}
        settings.update(algorithm_options, policy_kwargs=policy_kwargs)
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
            budget_callback = BudgetCallback(vec_env, save, progress)
            # Generous step allowance: the callback, not total_timesteps, ends learning.
            model.learn(total_timesteps=(budget + 2 * n_envs) * vec_env.space.length * 4, callback=budget_callback.callback)
            save()
        store.finish_run(run_id)
    results = sorted([*done_before.values(), *vec_env.results], key=lambda r: r.index if r.index is not None else -1)
    return SearchOutcome(run_id, label, seed, tuple(results))
