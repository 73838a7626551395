"""``curves.png``: the zoom panel on the top shows searchers a few thousandths apart, and Adam."""

from __future__ import annotations

import numpy as np
import pytest

from optsearch.evaluation.experiments.heldout import HELDOUT_SEED_BASE
from optsearch.evaluation.records import OK, EvalResult
from optsearch.evaluation.reports.curves import ZOOM_TITLE, curves_figure, plot_curves, zoom_range
from optsearch.evaluation.reports.data import ComparisonData
from optsearch.evaluation.statistics import stats
from optsearch.evaluation.statistics.incumbents import HeldoutScores

#: Final held-out levels 0.84–0.86, as on mnist1d, with Adam between them.
LEVELS = {"random": 0.840, "gp": 0.850, "reinforce": 0.860}
ADAM = 0.846
PROPOSALS, SEEDS = 30, 6


def _comparison() -> ComparisonData:
    """Runs whose every proposal is a new incumbent, climbing from 0.3 to about ``LEVELS[label]``."""
    rng = np.random.default_rng(0)
    runs, scores = {}, {"adam": (ADAM, ADAM)}
    for label, level in LEVELS.items():
        runs[label] = []
        for seed in range(SEEDS):
            run = []
            for i in range(PROPOSALS):
                fp = f"{label}-{seed}-{i}"
                run.append(EvalResult(fp, fp, fp, "t", "c", reward=(i + 1) / PROPOSALS, status=OK, cost=1.0, seed=seed, searcher=label))
                value = 0.3 + (level - 0.3) * (i + 1) / PROPOSALS + rng.normal(0.0, 0.002)
                scores[fp] = (value, value)
            runs[label].append(run)
    heldout = HeldoutScores((HELDOUT_SEED_BASE, HELDOUT_SEED_BASE + 1), scores)
    return ComparisonData(runs, heldout, {"adam": "adam"}, task="t")


def _zoom(fig):
    found = [ax for ax in fig.axes if ax.get_title() == ZOOM_TITLE]
    assert len(found) == 1, [ax.get_title() for ax in fig.axes]
    return found[0]


def test_the_figure_keeps_its_panels_and_gains_a_zoom_whose_limits_bracket_the_final_values(tmp_path):
    data = _comparison()
    fig = curves_figure(data)
    titles = {ax.get_title() for ax in fig.axes}
    assert {"held-out, vs proposals", "held-out, vs compute", ZOOM_TITLE} <= titles
    full = next(ax for ax in fig.axes if ax.get_title() == "held-out, vs proposals")
    low, high = _zoom(fig).get_ylim()
    finals = [float(stats.iqm(data.final_heldout(label))) for label in LEVELS]
    assert low < min(finals) and max(finals) < high and low < ADAM < high
    # a zoom: the searchers' 0.02 spread fills a good part of it, where the full panel spans 0.3 to 0.86
    assert high - low < 0.1 < full.get_ylim()[1] - full.get_ylim()[0]
    assert (max(finals) - min(finals)) / (high - low) > 0.3
    # the zoom shows the same curves and bands, and Adam's line
    zoom = _zoom(fig)
    assert len(zoom.lines) == len(LEVELS) + 1 and len(zoom.collections) == len(LEVELS)
    assert any(np.allclose(line.get_ydata(), ADAM) for line in zoom.lines)
    path = plot_curves(data, tmp_path / "curves.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_without_adam_the_zoom_is_the_searchers_alone():
    data = _comparison()
    data = ComparisonData(data.runs, data.heldout, {}, task="t")
    zoom = _zoom(curves_figure(data))
    assert len(zoom.lines) == len(LEVELS)
    finals = [float(stats.iqm(data.final_heldout(label))) for label in LEVELS]
    low, high = zoom.get_ylim()
    assert low < min(finals) and max(finals) < high


def test_zoom_range_takes_the_lowest_final_lower_band_to_the_highest_upper_band_with_a_margin():
    low, high = zoom_range([(0.83, 0.84, 0.85), (0.85, 0.86, 0.87)], [0.85, 0.88])
    assert (low, high) == pytest.approx((0.83 - 0.005, 0.88 + 0.005))
    assert zoom_range([(0.83, 0.84, 0.85)], [0.85], reference=0.80)[0] < 0.80  # Adam below every searcher stays in view
    flat = zoom_range([(0.5, 0.5, 0.5)], [0.5])
    assert flat[0] < 0.5 < flat[1]  # no spread: still a range
    assert zoom_range([(float("nan"),) * 3], [float("nan")]) is None
