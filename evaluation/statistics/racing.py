"""Racing rules against Adam to a verdict: more held-out seeds, in rounds, until each is decided.

A leaderboard's held-out means rank rules on a few seeds; whether a rule *beats Adam* needs more
seeds than that, and how many depends on the rule. Racing spends them where they are needed. Each
rule is paired with Adam seed by seed (the same held-out seeds, full training, test accuracy at the
validation-chosen rate), and at each **look** — after ``first`` seeds, then every ``step`` more,
up to ``cap`` — every undecided rule gets a Student-t interval of its paired difference. A rule
whose interval excludes 0 is decided and stops; the others get the next round of seeds:

- **beats Adam**: the interval is above 0 (reported with the difference and its interval);
- **loses to Adam**: below 0;
- **no difference detectable at N seeds**: still undecided at the cap, reported with the
  smallest difference ``N`` seeds could have detected (:func:`detectable_difference`).

**Why the claims hold.** A race looks several times at several rules, so one interval per look at
95 % would make false claims far more often than 5 %. The error budget ``alpha`` is split in
advance, over looks and over rules, and the union bound does the rest:

- look ``l`` gets ``alpha · w_l`` with ``Σ w_l = 1`` (an *alpha-spending* plan fixed before any
  data: :data:`SPENDING`);
- within a look, the ``k`` rules share it equally (Bonferroni): each interval is two-sided at
  level ``1 − alpha · w_l / k``.

Whatever the dependence between looks (they share seeds) and between rules (they share Adam), the
chance of *any* false claim — a rule equal to Adam declared better or worse, or a rule declared on
the wrong side — is at most ``Σ_l Σ_i alpha · w_l / k = alpha``. :func:`simulate_race` measures it
on synthetic paired differences; ``benchmarks/race_error_rates.py`` prints the table below and
``tests/evaluation/statistics/test_racing.py`` asserts it.

**The spending plan**, chosen by that simulation (5 rules, looks at 5, 10, 15, 20 seeds, paired
differences with σ = 0.02 — mnist1d's spread of a rule against Adam — correlated 0.5 across rules
through Adam; 4,000 null races per cell, 2,000 per effect; the mixed case is a leaderboard-like
+0.03, +0.02, −0.02, +0.01, 0; ``python benchmarks/race_error_rates.py --races 4000``, 224 s):

===========  =========  =========  ===================  ===========  ============  =============
spending     null FWER  (t₃ noise)  power δ=.01/.02/.03  mixed: FWER  mixed: power  mixed: seeds
===========  =========  =========  ===================  ===========  ============  =============
equal        0.040      0.024      0.18 / 0.84 / 1.00   0.007        0.71          81.0 of 100
information  0.042      0.021      0.21 / 0.88 / 1.00   0.007        0.74          81.9
**late**     0.042      0.024      0.25 / 0.91 / 1.00   0.010        0.77          84.7
fixed        0.047      0.033      0.30 / 0.94 / 1.00   0.011        0.80          100.0
===========  =========  =========  ===================  ===========  ============  =============

Every plan keeps the error at or below 5 %. ``late`` (weights ∝ seeds³) keeps nearly the power
of a single look at the cap (0.91 against 0.94 at δ = 0.02) and still stops clear cases at
5 or 10 seeds, saving 15 % of the trainings of a leaderboard-like race; ``equal`` and
``information`` save a little more and lose more power. Conclusive answers are the point, so
races use ``late``. Unadjusted 95 % intervals at every look would claim something in 43 % of
null races (``tests/evaluation/statistics/test_racing.py`` checks that this is caught).

The t interval assumes roughly normal per-seed differences; with 5 or more seeds and accuracies
away from 0 and 1 that holds well (the simulation also runs heavy-tailed t₃ noise).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np
from scipy import stats as _st


BEATS, LOSES, UNDECIDED = "beats Adam", "loses to Adam", "no difference detectable"
DEFAULT_FIRST, DEFAULT_STEP, DEFAULT_CAP = 5, 5, 20
#: The power at which :func:`detectable_difference` states the smallest detectable difference.
DETECTION_POWER = 0.8


def spending_weights(name: str, looks: Sequence[int]) -> np.ndarray:
    """The share of ``alpha`` each look gets (sums to 1).

    ``equal``: the same at every look; ``information``: proportional to the seeds seen (a
    Pocock-to-O'Brien-Fleming middle); ``late``: proportional to seeds³ (little at early looks,
    close to a fixed design at the cap); ``fixed``: everything at the last look (no early stops).
    """
    n = np.asarray(looks, dtype=float)
    if name == "equal":
        w = np.ones_like(n)
    elif name == "information":
        w = n.copy()
    elif name == "late":
        w = n**3
    elif name == "fixed":
        w = np.zeros_like(n)
        w[-1] = 1.0
    else:
        raise ValueError(f"unknown spending plan {name!r}; known: {', '.join(SPENDING_PLANS)}")
    return w / w.sum()


SPENDING_PLANS = ("equal", "information", "late", "fixed")
#: The plan races use, chosen by :func:`simulate_race` (see the module docstring).
SPENDING = "late"


@dataclass(frozen=True)
class RacePlan:
    """When a race looks and how it spends ``alpha``: looks after ``first``, ``first + step``, …
    seeds up to ``cap`` (the last look is always at ``cap``)."""

    first: int = DEFAULT_FIRST
    step: int = DEFAULT_STEP
    cap: int = DEFAULT_CAP
    alpha: float = 0.05
    spending: str = SPENDING

    def __post_init__(self) -> None:
        if self.first < 2:
            raise ValueError(f"a paired interval needs at least 2 seeds at the first look, got {self.first}")
        if self.step < 1:
            raise ValueError(f"seeds per round must be >= 1, got {self.step}")
        if self.cap < self.first:
            raise ValueError(f"the seed cap ({self.cap}) is below the first look ({self.first})")
        if not 0.0 < self.alpha < 1.0:
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha}")
        spending_weights(self.spending, (1,))  # raises for an unknown plan

    @property
    def looks(self) -> tuple[int, ...]:
        """The seed counts at which the race looks: ``first``, ``first + step``, …, ``cap``."""
        looks = list(range(self.first, self.cap, self.step))
        return tuple(looks + [self.cap])

    def levels(self, rules: int) -> tuple[float, ...]:
        """Each look's per-interval error level ``alpha · w_l / rules`` (two-sided)."""
        weights = spending_weights(self.spending, self.looks)
        return tuple(float(self.alpha * w / max(1, rules)) for w in weights)


@dataclass(frozen=True)
class RaceRow:
    """One rule's outcome: its verdict, the paired difference to Adam (mean, interval at the level
    of the look that decided it, or of the last look) and the seeds it used."""

    rule: str
    verdict: str
    diff: float
    low: float
    high: float
    seeds: int
    level: float
    detectable: float

    @property
    def decided(self) -> bool:
        return self.verdict != UNDECIDED

    @property
    def statement(self) -> str:
        """The verdict in words, with the difference or the detectable difference."""
        if self.verdict == BEATS:
            return f"beats Adam by {self.diff:+.3f} [{self.low:+.3f}, {self.high:+.3f}] at {self.seeds} seeds"
        if self.verdict == LOSES:
            return f"loses to Adam by {self.diff:+.3f} [{self.low:+.3f}, {self.high:+.3f}] at {self.seeds} seeds"
        return f"no difference detectable at {self.seeds} seeds (could detect ±{self.detectable:.3f})"


def detectable_difference(differences: Sequence[float], level: float, power: float = DETECTION_POWER) -> float:
    """The smallest true difference a two-sided t test at ``level`` on these seeds detects with
    probability ``power``: ``(t_{1−level/2} + t_{power}) · s / √n`` (``n − 1`` degrees of freedom,
    ``s`` the observed spread of the differences)."""
    d = np.asarray(differences, dtype=float)
    if d.size < 2:
        return math.nan
    df = d.size - 1
    spread = float(d.std(ddof=1))
    return float((_st.t.ppf(1 - level / 2, df) + _st.t.ppf(power, df)) * spread / math.sqrt(d.size))


def t_intervals(differences: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Means and two-sided Student-t intervals of each row of ``differences`` ``[rules, n]``:
    ``mean ± t_{(1+confidence)/2, n−1} · s / √n`` — :func:`~.differences.paired_difference`'s
    interval, for many rules at once (a row with no spread has the interval ``[mean, mean]``)."""
    d = np.asarray(differences, dtype=float)
    n = d.shape[1]
    mean = d.mean(axis=1)
    if n < 2:
        return mean, np.full_like(mean, math.nan), np.full_like(mean, math.nan)
    half = _st.t.ppf(0.5 + confidence / 2, n - 1) * d.std(axis=1, ddof=1) / math.sqrt(n)
    return mean, mean - half, mean + half


#: ``draw(rules, stop) -> {rule: (rule scores, adam scores)}`` for seeds ``0 .. stop - 1`` of the
#: race (the caller maps them to real seeds); only the listed rules are asked for.
Draw = Callable[[Sequence[str], int], dict]


def race(rules: Sequence[str], draw: Draw, plan: RacePlan = RacePlan(), *, levels: Optional[Sequence[float]] = None) -> list[RaceRow]:
    """Race ``rules`` against Adam with ``plan``; one :class:`RaceRow` per rule, in order.

    ``draw(active, n)`` returns, for each rule of ``active``, its scores and Adam's on the race's
    first ``n`` seeds (paired by position); it is called once per look with the undecided rules.
    ``levels`` replaces the plan's per-look error levels (for studying invalid procedures, such as
    the unadjusted ``alpha`` at every look, in simulation; never needed otherwise).
    """
    if not rules:
        return []
    levels = plan.levels(len(rules)) if levels is None else tuple(levels)
    rows: dict[str, RaceRow] = {}
    active = list(rules)
    for index, (n, level) in enumerate(zip(plan.looks, levels)):
        scores = draw(active, n)
        diffs = np.stack([np.asarray(scores[r][0], dtype=float)[:n] - np.asarray(scores[r][1], dtype=float)[:n] for r in active])
        means, lows, highs = t_intervals(diffs, 1 - level)
        last = index == len(plan.looks) - 1
        still = []
        for i, rule in enumerate(active):
            verdict = BEATS if lows[i] > 0.0 else LOSES if highs[i] < 0.0 else None
            if verdict is None and not last:
                still.append(rule)
                continue
            detectable = detectable_difference(diffs[i], level)
            rows[rule] = RaceRow(rule, verdict or UNDECIDED, float(means[i]), float(lows[i]), float(highs[i]), n, level, detectable)
        active = still
        if not active:
            break
    return [rows[rule] for rule in rules]


def simulate_race(
    effects: Sequence[float],
    plan: RacePlan = RacePlan(),
    *,
    sigma: float = 0.02,
    races: int = 1000,
    noise: str = "normal",
    seed: int = 0,
    levels: Optional[Sequence[float]] = None,
) -> dict[str, float]:
    """Run ``races`` races on synthetic scores and count what they claim.

    Rule ``i`` scores ``effects[i] + e_i`` and Adam ``a`` on each seed, ``e_i`` and ``a`` drawn
    independently with standard deviation ``sigma / √2`` (so paired differences have spread
    ``sigma`` and the rules' differences are correlated 0.5 through Adam), from a normal or, with
    ``noise="t3"``, a Student-t with 3 degrees of freedom (heavy tails). Returns:

    - ``fwer``: the share of races with any false claim (a rule with effect 0 declared either way,
      or a rule declared on the wrong side of 0);
    - ``power``: the share of rules with a non-zero effect declared on the right side;
    - ``seeds``: the mean seeds a race used, summed over its rules.
    """
    rng = np.random.default_rng(seed)
    effects = np.asarray(effects, dtype=float)
    k, cap = effects.size, plan.cap
    names = [f"r{i}" for i in range(k)]
    false_claims, right, nonzero, seeds_used = 0, 0, 0, 0
    scale = sigma / math.sqrt(2)
    for _ in range(races):
        if noise == "normal":
            e = rng.normal(0.0, scale, (k, cap))
            a = rng.normal(0.0, scale, cap)
        elif noise == "t3":
            t_sd = math.sqrt(3.0)  # a t3 variable has variance 3
            e = rng.standard_t(3, (k, cap)) * scale / t_sd
            a = rng.standard_t(3, cap) * scale / t_sd
        else:
            raise ValueError(f"noise must be 'normal' or 't3', got {noise!r}")
        scores = effects[:, None] + e
        table = {name: (scores[i], a) for i, name in enumerate(names)}
        rows = race(names, lambda active, n: {r: table[r] for r in active}, plan, levels=levels)
        wrong = False
        for effect, row in zip(effects, rows):
            seeds_used += row.seeds
            if effect == 0.0:
                wrong |= row.decided
            else:
                nonzero += 1
                side = BEATS if effect > 0 else LOSES
                wrong |= row.decided and row.verdict != side
                right += row.verdict == side
        false_claims += wrong
    return {
        "fwer": false_claims / races,
        "power": right / nonzero if nonzero else math.nan,
        "seeds": seeds_used / races,
    }
