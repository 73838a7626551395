"""A study looked at after every part: how often is a verdict wrong, and which interval keeps its level?

    python benchmarks/sequential_verdicts.py [--runs docs/decisive/merged/runs.csv] [--sims 4000] [--looks 30,45,...,200]

The decisive study runs in parts of seeds and is merged after each (``optsearch merge``): a look
after 30, 45, 60, … seeds, up to its plan of 200. Each simulated study draws every searcher's final
held-out scores, seed by seed, from that searcher's own runs in ``--runs`` (its final budget),
centred on the interval's own location (the mean, or the trimmed mean), so the searchers are equal
and every separation is a false claim; the draws keep each searcher's own spread and skew (random
search's holds a run at 0.51 among 45). At each look every pair gets its interval at the Bonferroni
level of ten pairs (1 − 0.05/10), shared over the looks as the second column says:

- intervals: Welch's t on the plain means; Yuen's t on trimmed means (10, 20, 25 % from each end);
  the asymptotic confidence sequence (``anytime``) of Waudby-Smith et al. (2021) on the means,
  which needs no plan of looks;
- the looks' share of α: ``none`` (every look at the full level: not valid for repeated looks),
  ``equal`` (α / looks each: Bonferroni over the planned looks), ``late`` (∝ seeds³, as races).

Per procedure: the family-wise error (the share of null studies in which *any* look separates *any*
pair, the worst pair's share beside it), the error of single looks, and, with one searcher ahead of
the others by ``--gap`` (REINFORCE's lead over GP in the study), the share of studies in which that
pair is separated by 60, 90, 120 and 200 seeds. The tables and the choice they made are in
``benchmarks/README.md``, *Repeated looks*, and in
:func:`optsearch.evaluation.statistics.differences.unpaired_difference`.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import math
from pathlib import Path

import numpy as np
from scipy import stats


def anytime_factor(n: int, alpha: float, planned: int) -> float:
    """The half-width after ``n`` seeds, in units of the spread of one seed's difference, of the asymptotic
    confidence sequence of Waudby-Smith, Arbour, Sinha, Kennedy and Ramdas (*Time-uniform central limit
    theory and asymptotic confidence sequences*, 2021, Theorem 2.2), tightest at ``planned`` seeds:
    ``sqrt(2 (n ρ² + 1) / (n² ρ²) · log(sqrt(n ρ² + 1) / α))``, ``ρ² = (−2 log α + log(1 − 2 log α)) / planned``."""
    log_term = -2.0 * math.log(alpha)
    r2 = (log_term + math.log(1.0 + log_term)) / planned
    return math.sqrt(2.0 * (n * r2 + 1.0) / (n * n * r2) * math.log(math.sqrt(n * r2 + 1.0) / alpha))

LOOKS = (30, *range(45, 200, 15), 200)
TRIMS = (10, 20, 25)  # per cent trimmed from each end (25: the IQM's)
ALPHA = 0.05


def final_scores(path: Path) -> dict[str, np.ndarray]:
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    final = max(int(row["budget"]) for row in rows)
    scores: dict[str, list[float]] = {}
    for row in rows:
        if int(row["budget"]) == final:
            scores.setdefault(row["searcher"], []).append(float(row["heldout_mean"]))
    return {name: np.asarray(values) for name, values in scores.items()}


def draws(centred: dict[str, np.ndarray], sims: int, seeds: int, rng: np.random.Generator) -> np.ndarray:
    """``[searchers, sims, seeds]`` scores, each searcher's resampled from its own centred runs."""
    return np.stack([rng.choice(values, size=(sims, seeds), replace=True) for values in centred.values()])


def _trimmed(x: np.ndarray, trim: float) -> tuple[np.ndarray, np.ndarray, int]:
    """Per row of ``x`` ([sims, n]): the trimmed mean, the Yuen variance term d = (n−1) s_w² / (h (h−1)), and h."""
    n = x.shape[-1]
    g = int(math.floor(trim * n))
    h = n - 2 * g
    ordered = np.sort(x, axis=-1)
    mean = ordered[:, g : n - g].mean(axis=-1)
    winsorized = np.clip(ordered, ordered[:, [g]], ordered[:, [n - g - 1]])
    d = (n - 1) * winsorized.var(axis=-1, ddof=1) / (h * (h - 1))
    return mean, d, h


def half_width(a: np.ndarray, b: np.ndarray, test: str, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """The difference and the half-width of its interval at level 1 − alpha, per row of ``a``, ``b`` ([sims, n])."""
    n = a.shape[-1]
    if test.startswith("anytime"):
        planned = int(test.split("=")[1])
        return a.mean(axis=1) - b.mean(axis=1), np.sqrt(a.var(axis=1, ddof=1) + b.var(axis=1, ddof=1)) * anytime_factor(n, alpha, planned)
    trim = int(test[4:]) / 100 if test.startswith("yuen") else 0.0
    ma, da, ha = _trimmed(a, trim)
    mb, db, hb = _trimmed(b, trim)
    df = (da + db) ** 2 / (da**2 / (ha - 1) + db**2 / (hb - 1))
    return ma - mb, stats.t.ppf(1 - alpha / 2, df) * np.sqrt(da + db)


def look_alphas(spending: str, alpha: float) -> list[float]:
    """Each look's share of ``alpha``: all of it at every look (``none``, not valid), split equally, or ∝ n³ (``late``)."""
    if spending == "none":
        return [alpha] * len(LOOKS)
    if spending == "equal":
        return [alpha / len(LOOKS)] * len(LOOKS)
    cumulative = [(n / LOOKS[-1]) ** 3 for n in LOOKS]
    return [alpha * (c - p) for c, p in zip(cumulative, [0.0, *cumulative[:-1]])]


def separated_at_looks(scores: np.ndarray, test: str, spending: str, alpha_pair: float) -> np.ndarray:
    """``[pairs, sims, looks]``: whether each pair's interval excludes 0 at each look."""
    alphas = look_alphas(spending, alpha_pair)
    out = []
    for i, j in itertools.combinations(range(scores.shape[0]), 2):
        per_look = []
        for n, alpha in zip(LOOKS, alphas):
            diff, half = half_width(scores[i, :, :n], scores[j, :, :n], test, alpha)
            per_look.append(np.abs(diff) > half)
        out.append(np.stack(per_look, axis=-1))
    return np.stack(out)


def main() -> None:
    global LOOKS  # --looks replaces the decisive study's plan
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=Path("docs/decisive/merged/runs.csv"))
    parser.add_argument("--sims", type=int, default=4000)
    parser.add_argument("--gap", type=float, default=0.011)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--looks", default=",".join(map(str, LOOKS)), help="seeds per searcher at each look (the last: the plan)")
    args = parser.parse_args()
    LOOKS = tuple(int(n) for n in args.looks.split(","))
    scores = final_scores(args.runs)
    centred = {name: values - values.mean() for name, values in scores.items()}
    # Yuen's interval is for the difference of trimmed means: its null centres those
    names = list(centred)
    pairs = list(itertools.combinations(range(len(names)), 2))
    alpha_pair = ALPHA / len(pairs)
    print(f"{args.runs}: {len(names)} searchers ({', '.join(f'{n} sd {centred[n].std(ddof=1):.4f}' for n in names)}), "
          f"{len(scores[names[0]])} runs each; looks after {', '.join(map(str, LOOKS))} seeds; {args.sims} studies\n")
    samples = {}
    kinds = {"mean": centred} | {
        f"yuen{t}": {name: values - stats.trim_mean(values, t / 100) for name, values in scores.items()} for t in TRIMS
    }
    for kind, pool in kinds.items():
        rng = np.random.default_rng(args.seed)  # the same seeds' draws for both nulls
        null = draws(pool, args.sims, max(LOOKS), rng)
        ahead = draws(pool, args.sims, max(LOOKS), rng)
        ahead[0] += args.gap  # the first searcher (reinforce in the decisive study) ahead of the rest
        samples[kind] = (null, ahead)
    second = 2 if len(names) > 2 and names[2] == "gp" else 1
    pair_index = pairs.index((0, second))
    checkpoints = [i for i, n in enumerate(LOOKS) if n in (60, 90, 120, 200)] or [len(LOOKS) - 1]
    procedures = [("welch", "none"), ("welch", "equal"), ("welch", "late"), ("anytime n*=200", "none")]
    procedures += [(f"yuen{t}", spending) for t in TRIMS for spending in ("none", "equal", "late")]
    singles = (LOOKS[0], LOOKS[min(1, len(LOOKS) - 1)], LOOKS[-1])
    print(
        f"| interval | looks' share of α | family-wise error, any look (the worst pair) | at the look after "
        f"{' / '.join(map(str, singles))} seeds alone | {names[0]} vs {names[second]} (+{args.gap}) separated by "
        f"{' / '.join(str(LOOKS[c]) for c in checkpoints)} seeds |"
    )
    print("|---|---|---|---|---|")
    for test, spending in procedures:
        null, ahead = samples[test if test.startswith("yuen") else "mean"]
        wrong = separated_at_looks(null, test, spending, alpha_pair)  # [pairs, sims, looks]
        any_look = wrong.any(axis=(0, 2)).mean()
        alone = [wrong[:, :, LOOKS.index(n)].any(axis=0).mean() for n in singles]
        found = separated_at_looks(ahead, test, spending, alpha_pair)[pair_index]  # [sims, looks]
        by = [found[:, : c + 1].any(axis=1).mean() for c in checkpoints]
        worst = max(range(len(pairs)), key=lambda p: wrong[p].any(axis=1).mean())
        culprit = f"{names[pairs[worst][0]]}–{names[pairs[worst][1]]} {wrong[worst].any(axis=1).mean():.3f}"
        print(f"| {test} | {spending} | {any_look:.3f} ({culprit}) | {' / '.join(f'{p:.3f}' for p in alone)} | {' / '.join(f'{p:.2f}' for p in by)} |", flush=True)

if __name__ == "__main__":
    main()
