"""The paper's Rosenbrock figure: trajectories of update rules on the 2-D Rosenbrock function.

:func:`plot_rosenbrock` draws the contours of ``f(x, y) = (1 − x)² + 100 (y − x²)²`` and, for each
rule, its path from ``(-1.5, 2.0)`` with exact (deterministic) gradients, at the rule's best
learning rate of a small log grid — best meaning the lowest final ``f`` (a run that produced
NaN/inf or left the region ``|x|, |y| <= 1e4`` counts as worst). SGD and Adam are always drawn
for comparison.

:func:`rosenbrock_trajectories` runs all learning rates of a rule at once through the reward's own
stacked loop (:func:`~optsearch.evaluation.training.stacked.descend`, in float64): the rows of
one ``[K, 2]`` parameter are K independent copies of the 2-element problem, ``w_k ← w_k − lr_k ·
d_k`` with ``d_k`` the step ``DSLOptimizer`` takes at ``lr = 1``, and a row that leaves the
region stops there. The tests check it against a plain single-parameter ``DSLOptimizer`` run.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np
import torch

from optsearch.dsl.compiler import UpdateRule

from ..records import OK

__all__ = [
    "DEFAULT_LRS",
    "DEFAULT_STEPS",
    "START",
    "WINDOW",
    "Trajectory",
    "best_trajectory",
    "plot_rosenbrock",
    "rosenbrock_trajectories",
]

START = (-1.5, 2.0)  # the Rosenbrock task's start point
WINDOW = ((-2.0, 2.0), (-1.0, 3.0))  # (x range, y range) of the plot
DEFAULT_STEPS = 500
DEFAULT_LRS: tuple[float, ...] = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1)
BLOWUP = 1e4  # a coordinate beyond this magnitude ends the run (it blew up)
COMPARE = ("sgd", "adam")


@dataclass(frozen=True)
class Trajectory:
    """One rule's path at one learning rate: ``points [n, 2]`` (NaN after a blow-up) and final ``f``."""

    rule: str
    lr: float
    points: np.ndarray
    final_value: float

    @property
    def diverged(self) -> bool:
        """True when the run blew up at this learning rate (and so at every one, for the best)."""
        return not math.isfinite(self.final_value)


def _function():
    from ..tasks import get_task

    return get_task("rosenbrock").function


class _OptimizerStep(UpdateRule):
    """The rule's step as :class:`~optsearch.dsl.DSLOptimizer` takes it (at ``lr = 1``), as a direction.

    The figure draws DSLOptimizer's own path: its in-place update (``addcdiv`` for ratios, ...)
    rounds differently from the rule's value, and on chaotic paths (rmsprop at large rates) that
    rounding decides where a run ends. ``noise``/``drop`` draw from ``seed`` as DSLOptimizer's do.
    """

    def __init__(self, rule: str, seed: int):
        from optsearch.dsl.optimizer import resolve_rule

        super().__init__(resolve_rule(rule))
        self._generator = torch.Generator().manual_seed(int(seed))

    def directions(self, params, grads, buffers, *, step, total_steps=None, generator=None):  # type: ignore[override]
        """``w − (w after one optimizer step at lr 1)`` for every parameter."""
        moved = [p.clone() for p in params]
        self.apply(moved, grads, buffers, step=step, lr=1.0, total_steps=total_steps, generator=self._generator)
        return [p - m for p, m in zip(params, moved)]


def _left_region(points: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(nan, outside)``: the figure's stopping rule — a coordinate non-finite or beyond :data:`BLOWUP`."""
    return ~torch.isfinite(points).all(dim=1), ~(points.abs() <= BLOWUP).all(dim=1)


def rosenbrock_trajectories(
    rule: str,
    lrs: Sequence[float] = DEFAULT_LRS,
    steps: int = DEFAULT_STEPS,
    *,
    start: tuple[float, float] = START,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Run ``rule`` from ``start`` at every learning rate: ``(paths [K, steps + 1, 2], final f [K])``.

    Exact gradients, float64, ``total_steps = steps`` for the decay schedules, ``seed`` for the
    rule's own randomness (``drop``/``noise``, as ``DSLOptimizer(seed=seed)``). A row that becomes
    non-finite or leaves ``|x|, |y| <= 1e4`` stops: its path keeps the last point it reached (so
    it can be drawn heading off the plot) and then NaN, and its final value is ``inf``.
    """
    from ..training.stacked import descend

    k = len(lrs)
    if k == 0 or steps < 0:
        raise ValueError("give at least one learning rate and steps >= 0")
    x0 = torch.tensor(start, dtype=torch.float64)
    paths = torch.full((k, steps + 1, 2), math.nan, dtype=torch.float64)
    paths[:, 0] = x0

    def observe(step: int, alive: list[int], params: list[torch.Tensor]) -> None:
        paths[alive, step] = params[0]  # a row about to stop still shows where it was heading

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        step = _OptimizerStep(rule, seed)
        results = descend(step, _function(), lrs, steps, seed=seed, start=x0, failures=_left_region, observe=observe)
    final = np.array([r.final_loss if r.status == OK else math.inf for r in results], dtype=float)
    return paths.numpy(), final


def best_trajectory(
    rule: str,
    lrs: Sequence[float] = DEFAULT_LRS,
    steps: int = DEFAULT_STEPS,
    *,
    start: tuple[float, float] = START,
    seed: int = 0,
) -> Trajectory:
    """The path of ``rule`` at the learning rate with the lowest final ``f`` (the smaller lr on ties)."""
    paths, final = rosenbrock_trajectories(rule, lrs, steps, start=start, seed=seed)
    best = int(np.argmin(final))  # inf (blown up) is worst; the first on ties
    return Trajectory(rule=str(rule), lr=float(lrs[best]), points=paths[best], final_value=float(final[best]))


def _clip_to_window(points: np.ndarray) -> np.ndarray:
    (x0, x1), (y0, y1) = WINDOW
    return np.stack((np.clip(points[:, 0], x0, x1), np.clip(points[:, 1], y0, y1)), axis=1)


def plot_rosenbrock(
    rules: dict[str, str],
    path: Union[str, Path],
    *,
    steps: int = DEFAULT_STEPS,
    lrs: Sequence[float] = DEFAULT_LRS,
    compare: Sequence[str] = COMPARE,
    seed: int = 0,
    title: Optional[str] = None,
) -> Path:
    """Write the Rosenbrock figure for ``rules`` (label → rule text or named rule) to ``path``.

    Each rule is drawn at its best learning rate of ``lrs`` (see :func:`best_trajectory`); the
    rules named in ``compare`` (SGD and Adam) are added unless already present. The legend gives
    each rule's text, its learning rate and its final ``f``; paths that blow up are clipped to
    the plot window. A rule that cannot be run (it does not parse, it raises) is left out with
    a warning. ``steps`` defaults to 500 so that ~8 rules take about a second.
    """
    from matplotlib.colors import LogNorm
    from matplotlib.figure import Figure

    from optsearch.dsl.optimizer import resolve_rule

    path = Path(path)
    entries: list[tuple[str, str]] = []
    seen: set[str] = set()
    for label, text in list(rules.items()) + [(name, name) for name in compare]:
        try:
            key = str(resolve_rule(text))
        except Exception as error:
            warnings.warn(f"rosenbrock plot: rule {text!r} left out: {error}")
            continue
        if key in seen:
            continue
        seen.add(key)
        entries.append((label, text))

    fn = _function()
    (x0, x1), (y0, y1) = WINDOW
    xs, ys = np.meshgrid(np.linspace(x0, x1, 200), np.linspace(y0, y1, 200))
    z = fn.value(torch.from_numpy(np.stack((xs, ys), axis=-1))).numpy()

    fig = Figure(figsize=(8.5, 7))
    ax = fig.subplots()
    fig.subplots_adjust(left=0.08, right=0.97, bottom=0.08, top=0.94)
    ax.contourf(xs, ys, z, levels=np.logspace(-2, 3.7, 24), norm=LogNorm(), cmap="Greys", alpha=0.25, extend="both")
    ax.contour(xs, ys, z, levels=np.logspace(-1, 3.5, 10), norm=LogNorm(), colors="0.55", linewidths=0.5)
    styles = {"sgd": "--", "adam": ":"}
    for label, text in entries:
        try:
            best = best_trajectory(text, lrs, steps, seed=seed)
        except Exception as error:  # a rule that raises while stepping
            warnings.warn(f"rosenbrock plot: rule {text!r} left out: {type(error).__name__}: {error}")
            continue
        rule_text = str(resolve_rule(text))
        name = rule_text if label == rule_text else f"{label}: {rule_text}"
        outcome = "diverged at every lr" if best.diverged else f"f={best.final_value:.2g}"
        points = best.points[np.all(np.isfinite(best.points), axis=1)]
        clipped = _clip_to_window(points)
        ax.plot(clipped[:, 0], clipped[:, 1], ls=styles.get(label, "-"), lw=1.6, label=f"{name}  (lr={best.lr:g}, {outcome})")
        ax.plot(clipped[-1:, 0], clipped[-1:, 1], "o", ms=4, color=ax.lines[-1].get_color())
    ax.plot(*START, "ks", ms=7, label=f"start {START}")
    ax.plot(1.0, 1.0, "r*", ms=14, label="minimum (1, 1)")
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title(title or f"Rosenbrock (a=1, b=100): {steps} steps at each rule's best learning rate")
    ax.legend(loc="lower left", fontsize=8, framealpha=0.9)
    fig.savefig(path, dpi=100)
    return path
