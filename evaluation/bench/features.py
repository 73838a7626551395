"""Cheap, deterministic features of an update rule: what the benchmark's surrogate reads.

``rule_features(expr)`` is one float32 vector per rule, built in about 10–20 ms on one core and
never raising: a rule that blows up, raises or cannot be compiled still gets a finite vector
(failed probes read as the sentinels below, and ``probe_failed`` is 1). Three groups, named by
:func:`feature_names`:

- **tree** (``n_<token>``, ``size``, ``depth``, ``n_sign_grad``): how often each operand, unary and
  binary occurs, the node count and the depth. Free, and they tell the model *what* a rule reads.
- **static probe** (``static_<scale>_*``): the rule is fed 20 noisy gradients of a fixed quadratic
  at a fixed point, scaled by ``s`` in :data:`STATIC_SCALES` (real gradients of the child are
  about 1e-3–1e-1; ``g3``, ``exp`` and the like respond very differently across scales). Per
  scale: the mean and the last cosine of the update to the gradient, the mean and the spread
  (max − min over the steps) of ``ln(|u| / |g|)``, and the share of coordinates where the update
  has the gradient's sign.
- **learning probes** (``quad_lr*``, ``mlp_*``): the rule trains, in the same loop and the same
  compiled call per step, (a) the screen's noisy quadratic at the screen's six learning rates
  (progress score ``log10(f0 / f_T) / 6`` clipped to [0, 1], as :mod:`~optsearch.evaluation.screen`)
  and (b) a small MLP (40 → 32 → 10, ReLU) on 1,024 mnist1d training signals, batches of 64, at
  the task's nine half-decade learning rates, all as one stacked tensor per layer. Per rate: the
  final validation accuracy on 500 validation signals, and ``ln`` of the last training loss over
  the first; plus the best accuracy, the index of its rate and the number of rates that survived.

All probes run :data:`PROBE_STEPS` steps with ``total_steps = PROBE_STEPS`` (for the decay
schedules) and fixed seeds, on one thread, so a rule's vector is the same on every call.
:func:`features` computes them with the portable kernels (:mod:`.portable`), so a rule's vector is
also the same on every CPU; :func:`rule_features` computes one vector with this process's kernels
(what the portable helper runs).

Sentinels (every value is finite): a cosine that is undefined (a zero update) is 0; ``ln`` norm
ratios are clipped to ±:data:`LOG_CLIP` (a zero update reads ``-LOG_CLIP``); a rate whose copy
diverged (NaN/inf, or loss above 100× its first loss) has accuracy 0, loss ratio
:data:`DIVERGED_LOSS` and progress 0; a rule whose probe raised has every probe feature at those
sentinels, 0 for the cosines and sign shares, and ``probe_failed = 1``.
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import Tensor

from optsearch.dsl import Expr, RuleConfig
from optsearch.dsl.compiler import UpdateRule, compile_rule
from optsearch.dsl.expr import Binary, Operand, Unary, walk
from optsearch.dsl.primitives import BINARIES, OPERANDS, UNARIES

__all__ = ["FEATURE_VERSION", "PROBE_STEPS", "feature_names", "features", "rule_features"]

FEATURE_VERSION = "4"
"""Bumped whenever a feature's definition changes (caches of feature matrices key on it).
Version 4: the same features as 3, computed with the portable kernels."""

PROBE_STEPS = 40
STATIC_STEPS = 20
STATIC_SCALES = (1e-4, 1e-2, 1.0, 1e2)
QUAD_LRS = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)  # the screen's grid
MLP_LRS = tuple(10 ** (e / 2) for e in range(-8, 1))  # the data tasks' grid, 1e-4 … 1
MLP_HIDDEN = 32
MLP_TRAIN, MLP_VAL, MLP_BATCH = 1024, 500, 64
LOG_CLIP = 50.0
DIVERGED_LOSS = 5.0  # ln(last / first loss) of a diverged copy: above any surviving copy's
BN_EPS = 1e-5
_MLP_PARAMS = ("w1", "gamma", "beta", "w2", "b2")
DIVERGENCE_FACTOR = 100.0  # the data tasks' divergence factor
QUAD_DIVERGENCE = 10.0  # the quadratic task's

_TOKENS = tuple(o.name for o in OPERANDS) + tuple(u.name for u in UNARIES if u.name != "id") + tuple(b.name for b in BINARIES)
_TOKEN_INDEX = {name: i for i, name in enumerate(_TOKENS)}
_STATIC_STATS = ("cos_mean", "cos_last", "lnratio_mean", "lnratio_spread", "sign_share")


def feature_names() -> list[str]:
    """The name of every feature, in the order of :func:`rule_features`'s vector."""
    names = [f"n_{t}" for t in _TOKENS] + ["size", "depth", "n_sign_grad"]
    for s in STATIC_SCALES:
        names += [f"static_{s:g}_{stat}" for stat in _STATIC_STATS]
    names += [f"quad_lr{lr:g}" for lr in QUAD_LRS] + ["quad_best"]
    names += [f"mlp_acc_lr{lr:.3g}" for lr in MLP_LRS] + [f"mlp_lnloss_lr{lr:.3g}" for lr in MLP_LRS]
    names += ["mlp_best_acc", "mlp_best_lr_index", "mlp_alive", "probe_failed"]
    return names


_N_TREE = len(_TOKENS) + 3


def _tree_features(expr: Expr) -> np.ndarray:
    out = np.zeros(_N_TREE, dtype=np.float64)
    size = 0
    for node in walk(expr):
        size += 1
        if isinstance(node, Operand):
            name = node.name
        elif isinstance(node, Unary):
            name = node.fn
            if node.fn == "sign" and isinstance(node.arg, Operand) and node.arg.name in ("g", "m"):
                out[-1] += 1
        else:
            assert isinstance(node, Binary)
            name = node.fn
        index = _TOKEN_INDEX.get(name)
        if index is not None:
            out[index] += 1
    out[-3] = size
    out[-2] = expr.depth
    return out


# ------------------------------------------------------------------------------------------------
# The probes' fixed inputs (built once per process, from fixed seeds)
# ------------------------------------------------------------------------------------------------
#: The MLP probe's signals (the first mnist1d training and validation signals), shipped so that a
#: bench answers without generating mnist1d (seconds); ``tests`` check them against the generator.
PROBE_SIGNALS = Path(__file__).with_name("data") / "probe_signals.npz"


def generated_probe_signals() -> dict[str, np.ndarray]:
    """The MLP probe's signals taken from the generated mnist1d task (what the shipped file holds)."""
    from optsearch.evaluation.tasks import get_task

    mnist = get_task("mnist1d")
    return {
        "x_train": mnist.train.x[:MLP_TRAIN].reshape(MLP_TRAIN, -1).float().numpy(),
        "y_train": mnist.train.y[:MLP_TRAIN].numpy(),
        "x_val": mnist.val.x[:MLP_VAL].reshape(MLP_VAL, -1).float().numpy(),
        "y_val": mnist.val.y[:MLP_VAL].numpy(),
    }


def probe_signals() -> dict[str, np.ndarray]:
    """The MLP probe's signals: the shipped file, else generated."""
    if PROBE_SIGNALS.exists():
        with np.load(PROBE_SIGNALS, allow_pickle=False) as data:
            return {name: data[name] for name in ("x_train", "y_train", "x_val", "y_val")}
    return generated_probe_signals()


@lru_cache(maxsize=1)
def _probe_inputs() -> dict[str, Tensor]:
    from optsearch.evaluation.tasks import get_task

    quad = get_task("quadratic").function
    signals = {name: torch.from_numpy(array) for name, array in probe_signals().items()}
    gen = torch.Generator().manual_seed(20240)
    d = quad.dim
    x_train, y_train, x_val, y_val = signals["x_train"], signals["y_train"], signals["x_val"], signals["y_val"]
    inputs = x_train.shape[1]
    bound1, bound2 = 1.0 / math.sqrt(inputs), 1.0 / math.sqrt(MLP_HIDDEN)
    return {
        "a": quad.a.float(),
        "c": quad.c.float(),
        "quad_noise": torch.randn(PROBE_STEPS, d, generator=gen) * float(quad.noise_std),
        "static_w": torch.randn(d, generator=gen) * 0.5,
        "static_noise": torch.randn(STATIC_STEPS, d, generator=gen) * 0.3,
        "x_train": x_train,
        "y_train": y_train,
        "x_val": x_val,
        "y_val": y_val,
        "batches": torch.randint(0, MLP_TRAIN, (PROBE_STEPS, MLP_BATCH), generator=gen),
        "w1": (torch.rand(inputs, MLP_HIDDEN, generator=gen) * 2 - 1) * bound1,
        "gamma": torch.ones(MLP_HIDDEN),
        "beta": torch.zeros(MLP_HIDDEN),
        "w2": (torch.rand(MLP_HIDDEN, 10, generator=gen) * 2 - 1) * bound2,
        "b2": (torch.rand(10, generator=gen) * 2 - 1) * bound2,
    }


def _mlp_forward(params: list[Tensor], x: Tensor) -> tuple[Tensor, tuple[Tensor, ...]]:
    """Logits ``[K, B, 10]`` of every copy and what the backward pass needs."""
    w1, gamma, beta, w2, b2 = params
    pre = torch.matmul(x, w1)  # [K, B, H]
    centred = pre - pre.mean(1, keepdim=True)
    inv = torch.rsqrt((centred * centred).mean(1, keepdim=True) + BN_EPS)  # Tensor.var is slower here
    xhat = centred * inv
    z = gamma[:, None, :] * xhat + beta[:, None, :]
    h = torch.relu(z)
    return torch.matmul(h, w2) + b2[:, None, :], (xhat, inv, z, h)


def _mlp_loss_grads(params: list[Tensor], x: Tensor, y: Tensor) -> tuple[Tensor, list[Tensor]]:
    """Per-copy mean cross-entropy ``[K]`` and its gradients, by hand (no autograd: it is cheaper).

    The network is the child's pattern in miniature: a bias-free linear layer, batch
    normalisation (batch statistics, affine), ReLU, and a linear classifier.
    """
    logits, (xhat, inv, z, h) = _mlp_forward(params, x)
    gamma, w2 = params[1], params[3]
    logp = torch.log_softmax(logits, dim=-1)
    k, batch = logits.shape[0], x.shape[0]
    loss = -logp.gather(2, y.view(1, -1, 1).expand(k, -1, 1)).squeeze(2).mean(1)
    dlogits = torch.exp(logp)
    dlogits[:, torch.arange(batch), y] -= 1.0
    dlogits /= batch
    gw2 = torch.matmul(h.transpose(1, 2), dlogits)
    gb2 = dlogits.sum(1)
    dz = torch.matmul(dlogits, w2.transpose(1, 2)) * (z > 0)
    ggamma = (dz * xhat).sum(1)
    gbeta = dz.sum(1)
    dxhat = dz * gamma[:, None, :]
    dpre = (dxhat - dxhat.mean(1, keepdim=True) - xhat * (dxhat * xhat).mean(1, keepdim=True)) * inv
    gw1 = torch.matmul(x.t(), dpre)  # x shared: [40, B] @ [K, B, H]
    return loss, [gw1, ggamma, gbeta, gw2, gb2]


def _run_probes(rule: UpdateRule) -> np.ndarray:
    """The probe part of the vector (everything after the tree features but ``probe_failed``)."""
    inputs = _probe_inputs()
    a, c = inputs["a"], inputs["c"]
    n_static, n_quad, k = len(STATIC_SCALES), len(QUAD_LRS), len(MLP_LRS)
    scales = torch.tensor(STATIC_SCALES, dtype=torch.float32)[:, None]
    static_w = inputs["static_w"].expand(n_static, -1).clone()
    quad_w = torch.zeros(n_quad, a.shape[0])
    mlp = [inputs[name].unsqueeze(0).repeat(k, *([1] * inputs[name].dim())).contiguous() for name in _MLP_PARAMS]
    params = [static_w, quad_w, *mlp]
    buffers = rule.init_buffers(params)
    generator = torch.Generator().manual_seed(7)
    quad_lr = torch.tensor(QUAD_LRS, dtype=torch.float32)[:, None]
    mlp_lr = torch.tensor(MLP_LRS, dtype=torch.float32)
    quad_f0 = float(0.5 * (a * c * c).sum())
    static_u = torch.empty(STATIC_STEPS, n_static, a.shape[0])
    # Copies are never taken out of the stack: every operation is per copy, so a copy gone NaN
    # cannot reach the others, and its health is judged afterwards from the recorded losses (a
    # copy that ever failed counts as failed, as if it had been stopped there).
    mlp_losses = torch.empty(PROBE_STEPS + 1, k)
    quad_values = torch.empty(PROBE_STEPS, n_quad)
    x_train, y_train = inputs["x_train"], inputs["y_train"]
    mlp_lr_views = [mlp_lr.view(-1, *([1] * (p.dim() - 1))) for p in mlp]
    for step in range(1, PROBE_STEPS + 1):
        t = step - 1
        g_static = scales * (a * (static_w - c) + inputs["static_noise"][t % STATIC_STEPS])
        g_quad = a * (quad_w - c) + inputs["quad_noise"][t]
        index = inputs["batches"][t]
        mlp_losses[t], g_mlp = _mlp_loss_grads(mlp, x_train[index], y_train[index])
        grads = [g_static, g_quad, *g_mlp]
        directions = rule.directions(params, grads, buffers, step=step, total_steps=PROBE_STEPS, generator=generator)
        if t < STATIC_STEPS:
            static_u[t] = directions[0]
        # the static points stay where they are (lr 0): the rule sees a stationary noisy gradient
        quad_w = quad_w - quad_lr * directions[1]
        quad_values[t] = 0.5 * (a * (quad_w - c) ** 2).sum(1)
        params[1] = quad_w
        mlp = [p - lr * d for p, lr, d in zip(mlp, mlp_lr_views, directions[2:])]
        params[2:] = mlp
    mlp_losses[PROBE_STEPS], _ = _mlp_loss_grads(mlp, x_train[inputs["batches"][0]], y_train[inputs["batches"][0]])
    first_loss = mlp_losses[0]
    mlp_alive = (torch.isfinite(mlp_losses) & (mlp_losses <= DIVERGENCE_FACTOR * first_loss)).all(0)
    quad_alive = (torch.isfinite(quad_values) & (quad_values <= QUAD_DIVERGENCE * quad_f0)).all(0)
    last_loss = mlp_losses[-6:-1].mean(0)
    u = static_u.double()
    base = a * (static_w[0] - c) + inputs["static_noise"]  # [T, d]: what g_static was, unscaled
    g = (base[:, None, :] * scales[None]).double()  # [T, scales, d]
    un, gn = u.norm(dim=2), g.norm(dim=2)
    cos = torch.nan_to_num((u * g).sum(2) / (un * gn), nan=0.0, posinf=0.0, neginf=0.0)
    lnratio = torch.nan_to_num(torch.log(un / gn), nan=LOG_CLIP, posinf=LOG_CLIP, neginf=-LOG_CLIP).clamp(-LOG_CLIP, LOG_CLIP)
    share = ((u * g) > 0).double().mean(2)

    # quadratic progress scores
    final = 0.5 * (a * (quad_w - c) ** 2).sum(1)
    progress = []
    for i in range(n_quad):
        f = float(final[i])
        ok = bool(quad_alive[i]) and math.isfinite(f)
        score = 0.0 if not ok else (1.0 if f <= 0 else min(1.0, max(0.0, math.log10(quad_f0 / f) / 6.0)))
        progress.append(score)
    # mlp
    logits, _ = _mlp_forward(mlp, inputs["x_val"])  # batch statistics of the validation signals
    acc = (logits.argmax(-1) == inputs["y_val"]).float().mean(1)
    acc = torch.where(mlp_alive & torch.isfinite(logits).flatten(1).all(1), acc, torch.zeros_like(acc))
    ln_loss = torch.log(last_loss / first_loss)
    ln_loss = torch.where(mlp_alive & torch.isfinite(ln_loss), ln_loss, torch.full_like(ln_loss, DIVERGED_LOSS))
    ln_loss = ln_loss.clamp(-LOG_CLIP, DIVERGED_LOSS)
    static = torch.stack(
        [cos.mean(0), cos[-1], lnratio.mean(0), lnratio.max(0).values - lnratio.min(0).values, share.mean(0)], dim=1
    )  # [scales, stats]
    best = int(acc.argmax())
    return np.concatenate(
        [
            static.flatten().double().numpy(),
            np.array(progress + [max(progress)]),
            acc.double().numpy(),
            ln_loss.double().numpy(),
            np.array([float(acc[best]), float(best) if float(acc[best]) > 0 else -1.0, float(mlp_alive.sum())]),
        ]
    )


_N_PROBE = len(STATIC_SCALES) * len(_STATIC_STATS) + len(QUAD_LRS) + 1 + 2 * len(MLP_LRS) + 3


def _failed_probes() -> np.ndarray:
    static = np.tile(np.array([0.0, 0.0, LOG_CLIP, 0.0, 0.0]), len(STATIC_SCALES))
    quad = np.zeros(len(QUAD_LRS) + 1)
    mlp = np.concatenate([np.zeros(len(MLP_LRS)), np.full(len(MLP_LRS), DIVERGED_LOSS), [0.0, -1.0, 0.0]])
    return np.concatenate([static, quad, mlp])


def rule_features(expr: Expr, rule_config: RuleConfig = RuleConfig()) -> np.ndarray:
    """The feature vector of ``expr`` (float32, finite, ``len(feature_names())`` long) with this
    process's kernels; never raises. :func:`features` is the same computation, portable."""
    tree = _tree_features(expr)
    failed = 0.0
    try:
        rule = compile_rule(expr, rule_config)
        previous = torch.get_num_threads()
        torch.set_num_threads(1)  # deterministic and cheap: the tensors are tiny
        try:
            with torch.no_grad():
                probes = _run_probes(rule)
        finally:
            torch.set_num_threads(previous)
        if probes.shape != (_N_PROBE,) or not np.all(np.isfinite(probes)):
            probes = np.nan_to_num(probes, nan=0.0, posinf=LOG_CLIP, neginf=-LOG_CLIP)
    except Exception:  # a rule that raises is a data point too: it gets the failure sentinels
        probes, failed = _failed_probes(), 1.0
    out = np.concatenate([tree, probes, [failed]]).astype(np.float32)
    return np.clip(np.nan_to_num(out, nan=0.0, posinf=LOG_CLIP, neginf=-LOG_CLIP), -1e6, 1e6)


def features(exprs: Sequence[Expr], rule_config: RuleConfig = RuleConfig()) -> np.ndarray:
    """``[len(exprs), len(feature_names())]`` float32: :func:`rule_features` of every rule, computed
    with the portable kernels, so the same on every CPU (:mod:`.portable`)."""
    from .portable import run_portable

    return run_portable(features_here, list(exprs), rule_config)


def features_here(exprs: Sequence[Expr], rule_config: RuleConfig = RuleConfig()) -> np.ndarray:
    """:func:`features` with this process's kernels."""
    rows = [rule_features(e, rule_config) for e in exprs]
    if not rows:
        return np.zeros((0, len(feature_names())), dtype=np.float32)
    return np.stack(rows)
