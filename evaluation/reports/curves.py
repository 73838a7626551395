"""``curves.png``: the held-out score of each searcher's incumbent against proposals and compute.

Four panels, each an interquartile mean over search seeds with a 95 % bootstrap band: the
held-out score of the incumbent against proposals; the same **zoomed on the top**, its y-range
chosen from the data (:func:`zoom_range`: from the lowest final-budget lower band to the highest
upper band of any searcher, Adam included, with a margin), where searchers a few thousandths
apart can be told apart; the held-out score against compute (Σ cost in full-evaluation units);
and — secondary — the raw best-so-far search reward against proposals. Dotted lines mark the
baselines' held-out means (in the zoom, Adam's alone).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from ..rewards import source_info
from ..statistics import stats
from .data import ComparisonData, compute_of

BAND_POINTS = 50  # columns at which a curve's bootstrap band is computed
COMPUTE_POINTS = 200
BASELINE_STYLE = {"adam": ":", "momentum": "--", "sgd": "-.", "ld * adam": (0, (1, 3))}
ZOOM_MARGIN = 0.1  # of the zoomed range, above and below
ZOOM_TITLE = "held-out, vs proposals: zoom on the top"


def _band(matrix: np.ndarray, confidence: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """IQM per column, and the bootstrap band at up to :data:`BAND_POINTS` columns."""
    columns = matrix.shape[1]
    index = np.unique(np.linspace(0, columns - 1, min(BAND_POINTS, columns)).round().astype(int))
    center = np.asarray(stats.iqm(matrix, axis=0), dtype=float)
    sub = matrix[:, index]
    ok = np.all(np.isfinite(sub), axis=0)
    low, high = np.full(index.shape, np.nan), np.full(index.shape, np.nan)
    if ok.any():
        low[ok], high[ok] = stats.iqm_ci(sub[:, ok], confidence, seed)
    return center, index, low, high


def _on_compute_grid(curves: list[np.ndarray], computes: list[np.ndarray], grid: np.ndarray) -> np.ndarray:
    """Each run's step curve read at the compute ``grid`` (NaN before its first proposal)."""
    out = np.full((len(curves), grid.size), np.nan)
    for row, curve, compute in zip(out, curves, computes):
        position = np.searchsorted(compute, grid, side="right") - 1
        valid = position >= 0
        row[valid] = curve[np.minimum(position[valid], len(curve) - 1)]
    return out


def zoom_range(finals: Sequence[tuple[float, float, float]], highs: Sequence[float], reference: Optional[float] = None) -> Optional[tuple[float, float]]:
    """The zoom panel's y-limits: from the lowest ``low`` of the searchers' final-budget
    ``(low, center, high)`` bands to the highest of ``highs`` (each searcher's highest upper band),
    both widened to take in every final center and ``reference`` (Adam's held-out mean), then
    :data:`ZOOM_MARGIN` of the range on either side. None when nothing is finite."""
    lows = [v for low, center, _ in finals for v in (low, center) if np.isfinite(v)]
    tops = [v for _, center, high in finals for v in (center, high) if np.isfinite(v)] + [v for v in highs if np.isfinite(v)]
    if reference is not None and np.isfinite(reference):
        lows.append(reference)
        tops.append(reference)
    if not lows or not tops:
        return None
    bottom, top = min(lows), max(tops)
    margin = ZOOM_MARGIN * (top - bottom) if top > bottom else max(0.01 * abs(top), 1e-3)
    return bottom - margin, top + margin


def plot_curves(data: ComparisonData, path: Path, *, seed: int = 0) -> Path:
    """Write the figure to ``path``."""
    fig = curves_figure(data, seed=seed)
    fig.savefig(path, dpi=110)
    return path


def curves_figure(data: ComparisonData, *, seed: int = 0):
    """The figure of :func:`plot_curves` (a matplotlib ``Figure``, drawn without pyplot)."""
    import matplotlib
    from matplotlib.figure import Figure  # no pyplot: no global state, any backend

    fig = Figure(figsize=(14, 10), layout="constrained")
    (ax_p, ax_z), (ax_c, ax_s) = fig.subplots(2, 2)
    finals: list[tuple[float, float, float]] = []  # each searcher's final-budget band (low, center, high)
    highs: list[float] = []  # each searcher's highest upper band
    colors = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    computes = {label: [compute_of(run) for run in runs] for label, runs in data.runs.items()}
    top = max((c[-1] for runs in computes.values() for c in runs if c.size), default=1.0)
    grid = np.linspace(0.0, top, COMPUTE_POINTS)
    for i, (label, runs) in enumerate(data.runs.items()):
        length = min((len(run) for run in runs), default=0)
        if length == 0:
            continue
        color, name = colors[i % len(colors)], f"{label} ({len(runs)} seeds)"
        curves = data.incumbent_curves(label)
        heldout = np.stack([c[:length] for c in curves])
        search = stats.curve_matrix([run[:length] for run in runs], length)
        x = np.arange(1, length + 1)
        for ax, matrix, xs in ((ax_p, heldout, x), (ax_s, search, x)):
            center, index, low, high = _band(matrix, data.confidence, seed)
            ax.plot(xs, center, color=color, lw=1.8, label=name)
            ax.fill_between(xs[index], low, high, color=color, alpha=0.2, lw=0)
            if ax is ax_p:  # the same curve and band, zoomed
                ax_z.plot(xs, center, color=color, lw=1.8)
                ax_z.fill_between(xs[index], low, high, color=color, alpha=0.2, lw=0)
                finals.append((float(low[-1]), float(center[-1]), float(high[-1])))
                highs.append(float(np.nanmax(high)) if np.isfinite(high).any() else np.nan)
        on_grid = _on_compute_grid(curves, computes[label], grid)
        center, index, low, high = _band(on_grid, data.confidence, seed)
        ax_c.plot(grid, center, color=color, lw=1.8, label=name)
        ax_c.fill_between(grid[index], low, high, color=color, alpha=0.2, lw=0)
    adam: Optional[float] = None
    for name in data.baselines:
        value = float(np.mean(data.baseline_scores(name)))
        for ax in (ax_p, ax_c):
            ax.axhline(value, color="0.3", ls=BASELINE_STYLE.get(name, ":"), lw=1.1, label=f"{name} ({value:.3f})")
        if name == "adam":
            adam = value
            ax_z.axhline(value, color="0.3", ls=BASELINE_STYLE["adam"], lw=1.1)
    ax_p.set(xlabel="proposals", ylabel="held-out score of the incumbent", title="held-out, vs proposals")
    ax_z.set(xlabel="proposals", ylabel="held-out score of the incumbent", title=ZOOM_TITLE)
    limits = zoom_range(finals, highs, adam)
    if limits is not None:
        ax_z.set_ylim(*limits)
    ax_c.set(xlabel="compute (Σ cost, full evaluations)", ylabel="held-out score of the incumbent", title="held-out, vs compute")
    ax_s.set(xlabel="proposals", ylabel="best-so-far search reward", title="search reward (secondary: optimistic)")
    for ax in (ax_p, ax_z, ax_c, ax_s):
        ax.grid(alpha=0.3)
    handles, labels = ax_p.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 5) or 1, fontsize=9)
    heldout = (
        "held-out = expected test accuracy (the bench's)"
        if source_info(data.task, strict=False).heldout_is_expectation
        else f"held-out = test accuracy on {len(data.heldout.seeds)} unseen seeds"
    )
    fig.suptitle(f"Search strategies{f' on {data.task}' if data.task else ''}: IQM over seeds, 95 % bootstrap band; {heldout}")
    return fig
