"""The Rosenbrock figure of the comparison report (the rest: test_heldout_report.py)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from optsearch.dsl import DSLOptimizer
from optsearch.evaluation.experiments.rosenbrock import best_trajectory, plot_rosenbrock, rosenbrock_trajectories

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def read_png(path: Path) -> np.ndarray:
    import matplotlib.image

    assert path.read_bytes()[:8] == PNG_SIGNATURE
    return matplotlib.image.imread(str(path))


# ------------------------------------------------------------------------------------------------
# Rosenbrock
# ------------------------------------------------------------------------------------------------
def test_stacked_trajectories_match_a_plain_dsl_optimizer():
    from optsearch.evaluation.tasks import get_task

    fn = get_task("rosenbrock").function
    lrs = (1e-3, 1e-2)
    paths, final = rosenbrock_trajectories("adam", lrs, 60)
    for k, lr in enumerate(lrs):
        w = torch.nn.Parameter(torch.tensor([-1.5, 2.0], dtype=torch.float64))
        opt = DSLOptimizer([w], "adam", lr=lr, total_steps=60)
        for _ in range(60):
            w.grad = fn.gradient(w.detach())
            opt.step()
        np.testing.assert_allclose(paths[k, -1], w.detach().numpy(), rtol=1e-9, atol=1e-12)
        assert final[k] == pytest.approx(float(fn.value(w.detach())))


def test_blown_up_runs_are_worst():
    paths, final = rosenbrock_trajectories("g", (1e-4, 1e-1), 50)  # sgd at lr 0.1 explodes at once
    assert math.isfinite(final[0]) and final[1] == math.inf
    assert np.isnan(paths[1, -1]).all() and np.isfinite(paths[0]).all()
    best = best_trajectory("g", (1e-1, 1e-4), 50)
    assert best.lr == 1e-4 and not best.diverged


def test_plot_rosenbrock_writes_a_png_and_adam_approaches_the_minimum(tmp_path):
    path = plot_rosenbrock({"PowerSign": "powersign", "m * exp(v)": "m * exp(v)"}, tmp_path / "rosenbrock.png", steps=300)
    assert path == tmp_path / "rosenbrock.png"
    image = read_png(path)
    assert image.shape[0] > 400 and image.shape[1] > 400
    assert float(np.std(image[..., :3])) > 0.05
    adam = best_trajectory("adam", steps=300)
    target = np.array([1.0, 1.0])
    assert np.linalg.norm(adam.points[-1] - target) < np.linalg.norm(adam.points[0] - target)
    assert adam.final_value < 1.0  # from f(-1.5, 2) = 12.5


def test_reported_rules_are_simplified_and_unparsable_text_is_kept():
    from optsearch.evaluation.reports.leaderboard import readable_rule

    assert readable_rule("drop(adam, 0.1) * sign(1)") == "drop(adam, 0.1)"
    assert readable_rule("sign(m) * sqrt(ld)") == "sign(m) * sqrt(ld)"
    assert readable_rule("not a rule (") == "not a rule ("
