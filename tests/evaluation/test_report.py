"""The report of ``optsearch compare`` (curves, summary, leaderboard) and the Rosenbrock figure."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import stats as sst

from optsearch.dsl import DSLOptimizer, NAMED_RULES, resolve_rule, to_latex
from optsearch.evaluation.reports import stats
from optsearch.evaluation.records import OK, SCREENED, EvalResult
from optsearch.evaluation.reports.comparison import leaderboard_rows, summary_columns, write_leaderboard, write_report
from optsearch.evaluation.rosenbrock_plot import best_trajectory, plot_rosenbrock, rosenbrock_trajectories

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
RULES = [NAMED_RULES[name] for name in ("sgd", "momentum", "adam", "powersign", "addsign", "paper-03", "paper-12", "paper-14")]
SEARCHERS = {"random": 0.0, "evolution": 0.25, "reinforce": 0.12}  # searcher -> skill
SEEDS = 5
BUDGET = 30
BASELINES = {"adam": 0.83, "momentum": 0.77, "sgd": 0.65}


def make_run(name: str, seed: int, skill: float, rng: np.random.Generator) -> list[EvalResult]:
    run = []
    for i in range(BUDGET):
        j = int(rng.integers(len(RULES)))
        status = SCREENED if rng.random() < 0.1 else OK
        cached = bool(rng.random() < 0.25)
        reward = 0.0 if status == SCREENED else float(np.clip(rng.normal(0.55 + skill * i / BUDGET, 0.12), 0, 1))
        run.append(
            EvalResult(
                rule=RULES[j],
                canonical=RULES[j],
                fingerprint=f"fp{j}",
                task="mnist1d",
                config_hash="cfg",
                reward=reward,
                status=status,
                val_acc=reward,
                test_acc=reward,
                cached=cached,
                cost=0.0 if cached else (0.01 if status == SCREENED else 1.0),
                wall_s=0.005 if cached else float(rng.uniform(0.5, 2.0)),
                searcher=name,
                seed=seed,
                run_id=f"{name}-mnist1d-{seed}",
            )
        )
    return run


@pytest.fixture(scope="module")
def runs() -> dict[str, list[list[EvalResult]]]:
    rng = np.random.default_rng(0)
    return {name: [make_run(name, seed, skill, rng) for seed in range(SEEDS)] for name, skill in SEARCHERS.items()}


@pytest.fixture(scope="module")
def report(runs, tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("report")
    board = [
        dict(rule=RULES[3], latex=to_latex(resolve_rule(RULES[3])), searcher="evolution", val_reward=0.91, test_mean=0.88, test_std=0.01, seeds=3),
        dict(rule=RULES[7], latex=to_latex(resolve_rule(RULES[7])), searcher="random", val_reward=0.9, test_mean=0.86, test_std=0.02, seeds=3),
    ] + [
        dict(rule=name, latex=to_latex(resolve_rule(name)), searcher="baseline", val_reward=v, test_mean=v - 0.02, test_std=0.01, seeds=3)
        for name, v in BASELINES.items()
    ]
    return write_report(runs, BASELINES, out, reference="random", leaderboard=board)


def read_png(path: Path) -> np.ndarray:
    import matplotlib.image

    assert path.read_bytes()[:8] == PNG_SIGNATURE
    return matplotlib.image.imread(str(path))


def test_write_report_returns_the_files(report):
    assert set(report) == {"curves", "summary_csv", "summary_md", "leaderboard"}
    for path in report.values():
        assert path.is_file() and path.stat().st_size > 0
    assert {p.name for p in report.values()} == {"curves.png", "summary.csv", "summary.md", "leaderboard.md"}


def test_curves_png_is_a_real_image(report):
    image = read_png(report["curves"])
    height, width = image.shape[:2]
    assert width > 1000 and 400 < height < width  # two panels side by side
    assert float(np.std(image[..., :3])) > 0.05  # not a blank canvas


def test_summary_csv_has_the_documented_columns_and_correct_values(report, runs):
    with report["summary_csv"].open() as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames) == summary_columns("random")
        rows = {row["searcher"]: row for row in reader}
    assert list(rows) == list(SEARCHERS)
    for name, row in rows.items():
        finals = [max(r.reward for r in run) for run in runs[name]]
        iqm, low, high = float(row["final_iqm"]), float(row["ci_low"]), float(row["ci_high"])
        assert iqm == pytest.approx(sst.trim_mean(finals, 0.25))
        assert low <= iqm <= high and low < high
        assert int(row["seeds"]) == SEEDS and int(row["budget"]) == BUDGET
        results = [r for run in runs[name] for r in run]
        assert int(row["unique_trainings"]) == sum(not r.cached and r.status != SCREENED for r in results)
        assert float(row["cache_hit_share"]) == pytest.approx(sum(r.cached for r in results) / len(results))
        best = max(results, key=lambda r: r.reward)
        assert float(row["best_reward"]) == pytest.approx(best.reward)
        assert row["best_rule"] in RULES
        p = float(row["p_improvement_vs_random"])
        assert float(row["p_improvement_vs_random_ci_low"]) <= p <= float(row["p_improvement_vs_random_ci_high"])
        expected = stats.median_proposals_to_reach(runs[name], BASELINES["adam"])
        assert (row["median_proposals_to_adam"] == "") == (expected is None)
        if expected is not None:
            assert float(row["median_proposals_to_adam"]) == expected
    assert float(rows["random"]["p_improvement_vs_random"]) == 0.5
    assert float(rows["evolution"]["final_iqm"]) > float(rows["random"]["final_iqm"])  # the skilled searcher wins


def test_summary_md_names_every_searcher_and_the_protocol(report):
    text = report["summary_md"].read_text()
    for name in SEARCHERS:
        assert f"| {name} |" in text
    assert "IQM" in text and "95%" in text and "random" in text
    assert f"{BUDGET} proposals per seed over {SEEDS} seeds" in text
    assert "adam 0.8300" in text
    table = [line for line in text.splitlines() if line.startswith("|")]
    assert len(table) == 2 + len(SEARCHERS)
    assert len({line.count(" | ") for line in table[2:]}) == 1  # every row has the same number of cells


def test_leaderboard_md_shows_text_and_latex(report):
    text = report["leaderboard"].read_text()
    for rule in (RULES[3], RULES[7]):
        assert f"`{rule}`" in text
        assert f"${to_latex(resolve_rule(rule))}$" in text
    for name in BASELINES:
        assert f"`{name}`" in text
    assert text.count("*baseline*") == 3
    lines = [line for line in text.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert len(lines) == 5
    assert RULES[3] in lines[0]  # best test accuracy first
    assert "0.8800 ± 0.0100" in lines[0]


def test_default_leaderboard_without_retraining(runs, tmp_path):
    files = write_report(runs, BASELINES, tmp_path)  # leaderboard=None
    text = files["leaderboard"].read_text()
    assert "not re-trained" in text
    for r in leaderboard_rows(runs, 5):
        assert f"`{r.canonical}`" in text


def test_leaderboard_rows_are_distinct_and_sorted(runs):
    top = leaderboard_rows(runs, 4)
    assert len(top) == 4
    assert len({r.canonical for r in top}) == 4
    rewards = [r.reward for r in top]
    assert rewards == sorted(rewards, reverse=True)
    best = max(r.reward for seeds in runs.values() for run in seeds for r in run)
    assert top[0].reward == best


def test_leaderboard_rows_ties_go_to_the_earliest():
    def r(rule, reward, searcher):
        return EvalResult(rule=rule, canonical=rule, fingerprint=rule, task="t", config_hash="h", reward=reward, status=OK, searcher=searcher)

    runs = {
        "a": [[r("g", 0.5, "a"), r("m", 0.9, "a")]],
        "b": [[r("adam", 0.9, "b"), r("m", 0.95, "b")]],
    }
    top = leaderboard_rows(runs, 3)
    assert [(x.canonical, x.searcher) for x in top] == [("m", "b"), ("adam", "b"), ("g", "a")]


def test_write_leaderboard_escapes_pipes(tmp_path):
    path = write_leaderboard(
        [dict(rule="a | b", latex="|x|", searcher="s", val_reward=0.5, test_mean=None, test_std=None, seeds=1)], tmp_path / "lb.md"
    )
    row = [line for line in path.read_text().splitlines() if line.startswith("| 1 ")][0]
    assert "a \\| b" in row and "$\\|x\\|$" in row


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
