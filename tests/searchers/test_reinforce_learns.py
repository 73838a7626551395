"""The REINFORCE controller's update has the right sign: it moves probability towards rewarded rules.

Each test builds a small seeded controller (one group, so a rule is five tokens), measures the
controller's own log-probability of two fixed rules, makes one update through the searcher's real
``tell`` and measures again. A sign error anywhere in the policy gradient (descent vs ascent,
``baseline - reward`` instead of ``reward - baseline``, a flipped entropy bonus) fails one of them.
"""

import pytest
import torch

from optsearch.dsl import to_tokens
from optsearch.dsl.parser import parse
from optsearch.evaluation.records import EvalResult
from optsearch.searchers.reinforce import ReinforceSearcher

A = parse("g * sign(m)")  # tokens g, sign(m), id, id, mul
B = parse("g + m")  # tokens g, m, id, id, add
C = parse("sign(g)")  # a third rule, used only to set the baseline


def make(**options) -> ReinforceSearcher:
    return ReinforceSearcher(**{"groups": 1, "seed": 0, "hidden": 16, **options})


def ids(searcher: ReinforceSearcher, *exprs) -> torch.Tensor:
    # to_tokens is what tell() encodes a never-asked rule with; it raises if the rule does not fit
    return torch.tensor([searcher.vocabulary.encode(to_tokens(e, searcher.groups)) for e in exprs])


@torch.no_grad()
def log_p(searcher: ReinforceSearcher, expr) -> float:
    return float(searcher.log_probs_and_entropy(ids(searcher, expr))[0][0])


@torch.no_grad()
def entropy(searcher: ReinforceSearcher, *exprs) -> float:
    return float(searcher.log_probs_and_entropy(ids(searcher, *exprs))[1].mean())


def result(expr, reward: float) -> EvalResult:
    return EvalResult(str(expr), str(expr), "", "t", "", reward, "ok")


def test_the_toy_rules_are_valid_and_distinct():
    searcher = make()
    a, b = ids(searcher, A, B).tolist()
    assert a != b
    mask = searcher.masks
    assert all(mask[i, t] for row in (a, b) for i, t in enumerate(row))
    assert log_p(searcher, A) > -30 and log_p(searcher, B) > -30  # finite: representable


@pytest.mark.parametrize("entropy_weight", [0.0, 1e-2])
@pytest.mark.parametrize("winner, loser", [(A, B), (B, A)], ids=["A-rewarded", "B-rewarded"])
def test_one_update_moves_probability_from_the_loser_to_the_winner(winner, loser, entropy_weight):
    searcher = make(entropy_weight=entropy_weight)
    before_w, before_l = log_p(searcher, winner), log_p(searcher, loser)
    # first batch: the baseline starts at the batch mean 0.5, so the advantages are +0.5 and -0.5
    searcher.tell([winner, loser], [result(winner, 1.0), result(loser, 0.0)])
    after_w, after_l = log_p(searcher, winner), log_p(searcher, loser)
    assert after_w > before_w + 1e-3, (before_w, after_w)
    assert after_l < before_l - 1e-3, (before_l, after_l)
    assert (after_w - after_l) > (before_w - before_l) + 1e-3


@pytest.mark.parametrize("winner, loser", [(A, B), pytest.param(B, A, marks=pytest.mark.slow)], ids=["A-rewarded", "B-rewarded"])
def test_a_few_updates_keep_moving_probability_towards_the_winner(winner, loser):
    searcher = make()
    margins = [log_p(searcher, winner) - log_p(searcher, loser)]
    for _ in range(5):
        searcher.tell([winner, loser], [result(winner, 1.0), result(loser, 0.0)])
        margins.append(log_p(searcher, winner) - log_p(searcher, loser))
    assert all(later > earlier for earlier, later in zip(margins, margins[1:])), margins


def set_baseline(searcher: ReinforceSearcher, value: float) -> None:
    """Through tell(): a batch of one rule sets the baseline and, with no entropy bonus, moves nothing."""
    before = log_p(searcher, A), log_p(searcher, B)
    searcher.tell([C], [result(C, value)])
    assert searcher.baseline == pytest.approx(value)
    assert (log_p(searcher, A), log_p(searcher, B)) == before  # zero advantage, zero gradient


@pytest.mark.parametrize("expr", [A, B], ids=["A", "B"])
@pytest.mark.parametrize("reward, direction", [(1.0, +1), (0.0, -1)], ids=["above-baseline", "below-baseline"])
def test_a_lone_rule_moves_by_the_sign_of_its_reward_minus_the_baseline(expr, reward, direction):
    searcher = make(entropy_weight=0.0)
    set_baseline(searcher, 0.5)
    before = log_p(searcher, expr)
    searcher.tell([expr], [result(expr, reward)])
    change = log_p(searcher, expr) - before
    assert change * direction > 1e-3, (before, change)


def test_the_entropy_bonus_raises_the_entropy_when_rewards_are_equal():
    searcher = make(entropy_weight=1.0)
    before = entropy(searcher, A, B)
    searcher.tell([A, B], [result(A, 0.5), result(B, 0.5)])  # zero advantage: only the bonus acts
    assert entropy(searcher, A, B) > before + 1e-4, before
