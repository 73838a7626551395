"""The batched screen (:func:`screen_rules`) gives every rule exactly the verdict :func:`screen_rule`
gives it alone: real rules of the bench's table that pass and fail, and rules that turn NaN,
diverge or raise. Faults no real rule produces on demand are injected with ``monkeypatch``."""

from __future__ import annotations

import csv
import gzip

import pytest

import optsearch.evaluation.screen as screen_module
from optsearch.dsl.compiler import UpdateRule
from optsearch.evaluation.bench.bench import DATA_ROOT
from optsearch.evaluation.bench.table import TABLE_FILE
from optsearch.evaluation.records import DIVERGED, NAN
from optsearch.evaluation.screen import MIN_PROGRESS, SCREEN_LRS, ScreenVerdict, screen_rule, screen_rules
from optsearch.evaluation.training import train_rule
from optsearch.evaluation.training.problems import PointsProblem

#: Rules that fail the screen for want of health: every copy NaN at once, every copy diverged at
#: once, copies diverging at different steps, a rule that cannot be compiled.
PATHOLOGICAL = ("exp(exp(g))", "g / (g - g)", "-g", "clip(g, 7)")
#: Table rules whose best score lies within 0.01 of the bar (two below, two above on AVX2), so that
#: a screen with another bar gives another verdict.
NEAR_THE_BAR = ("-(1e-3 * w) + exp(g)", "log(g2) * clip(y, 1e-3)", "keep(exp(sign(g)), clip(g, 1e-4))", "exp(rmsprop) * drop(2, 0.5)")
#: A rule that passes, made to raise at step 50 (:func:`raise_inside`).
RAISING = "adam"


def table_rules(per_verdict: int = 20) -> list[str]:
    """``per_verdict`` rules the mnist1d table records as screened and as many that passed, spread
    over its fingerprints (read from the table file directly: loading the bench takes seconds)."""
    statuses: dict[str, set[str]] = {}
    texts: dict[str, str] = {}
    with gzip.open(DATA_ROOT / "mnist1d" / TABLE_FILE, "rt", newline="") as file:
        for row in csv.DictReader(file):
            statuses.setdefault(row["fingerprint"], set()).add(row["status"])
            texts.setdefault(row["fingerprint"], row["rule"])
    screened = sorted(fp for fp, s in statuses.items() if s == {"screened"})
    passed = sorted(fp for fp, s in statuses.items() if "screened" not in s)
    picks = [fps[i * len(fps) // per_verdict] for fps in (screened, passed) for i in range(per_verdict)]
    return [texts[fp] for fp in picks]


@pytest.fixture(scope="module")
def rules() -> list[str]:
    return [*table_rules(), *NEAR_THE_BAR, *PATHOLOGICAL, RAISING]


@pytest.fixture
def raise_inside(monkeypatch):
    """:data:`RAISING` raises inside its update at step 50."""
    original = UpdateRule.directions

    def directions(self, params, grads, buffers, **kwargs):
        if str(self.expr) == RAISING and kwargs["step"] == 50:
            raise FloatingPointError("injected")
        return original(self, params, grads, buffers, **kwargs)

    monkeypatch.setattr(UpdateRule, "directions", directions)


def no_fallback(*args, **kwargs):
    raise AssertionError("a stack was redone rule by rule")


def test_the_pathological_rules_are_what_they_say():
    statuses = {rule: {r.status for r in train_rule(rule, "quadratic", lrs=SCREEN_LRS, steps=200)} for rule in PATHOLOGICAL[:3]}
    assert statuses["exp(exp(g))"] == {NAN} and statuses["g / (g - g)"] == {DIVERGED} and DIVERGED in statuses["-g"]
    assert screen_rule(RAISING).passed


def test_screen_rules_gives_each_rule_its_verdict_alone(rules, raise_inside, monkeypatch):
    alone = [screen_rule(rule) for rule in rules]
    monkeypatch.setattr(screen_module, "screen_rule", no_fallback)
    together = screen_rules(rules, chunk=16)  # four stacks, the last one short
    assert together == alone  # passed and best_score, bit for bit
    verdicts = dict(zip(rules, together))
    assert all(verdicts[rule] == ScreenVerdict(False, 0.0) for rule in (*PATHOLOGICAL, RAISING))
    assert 10 <= sum(v.passed for v in together) <= len(rules) - 10
    assert sum(abs(verdicts[rule].best_score - MIN_PROGRESS) < 0.01 for rule in NEAR_THE_BAR) >= 2


def test_a_stack_that_breaks_outside_its_rules_is_redone_rule_by_rule(monkeypatch):
    original = PointsProblem.post_failures

    def post_failures(self, params):
        if params[0].shape[0] > len(SCREEN_LRS):  # the stack of several rules, never one rule alone
            raise MemoryError("injected")
        return original(self, params)

    monkeypatch.setattr(PointsProblem, "post_failures", post_failures)
    rules = ["adam", "-g", "sign(g)", "clip(g, 7)"]
    assert screen_rules(rules) == [screen_rule(rule) for rule in rules]


def test_no_rules_no_verdicts_and_a_stack_has_one_rule_at_least():
    assert screen_rules([]) == []
    with pytest.raises(ValueError):
        screen_rules(["adam"], chunk=0)
