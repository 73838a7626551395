"""Optuna's samplers as searchers: the token space, determinism, seeding, resuming, the missing extra."""

from __future__ import annotations

import dataclasses
import hashlib
import random
import statistics
import subprocess
import sys

import pytest

pytest.importorskip("optuna")

from optsearch.dsl import from_tokens, groups_needed, random_tokens, resolve_rule, to_tokens, valid_tokens
from optsearch.envs.dynamics import RuleSpace
from optsearch.evaluation.config import FLOOR_REWARD, EvalConfig
from optsearch.evaluation.evaluator import Evaluator
from optsearch.evaluation.store import ResultStore
from optsearch.searchers.lifecycle import load_state, save_state
from optsearch.searchers.optuna_search import NSGAIISearcher, TPESearcher, parameter_names, token_choices
from optsearch.searchers.registry import resolve_searcher, run_named_search

CONFIG = EvalConfig(task="quadratic", steps=40)
GROUPS = 2


@pytest.fixture
def evaluator():
    with Evaluator(CONFIG, store=None, backend="serial") as ev:
        yield ev


def rounds(searcher, evaluator, batches: int, n: int = 4) -> list[str]:
    """``batches`` rounds of ask(n), evaluate, tell; the rules asked, as text."""
    asked = []
    for _ in range(batches):
        exprs = searcher.ask(n)
        searcher.tell(exprs, evaluator.evaluate(exprs, seed=0))
        asked += [str(e) for e in exprs]
    return asked


# -- the token space -----------------------------------------------------------------------------
@pytest.mark.parametrize("groups", [1, 2, 3])
def test_each_positions_choices_are_the_tokens_valid_there_after_any_prefix(groups):
    """The mapping is sound: a position's valid tokens are the same after every prefix."""
    choices = token_choices(groups)
    assert len(choices) == len(parameter_names(groups)) == 5 * groups
    rng = random.Random(0)
    for _ in range(200):
        tokens = random_tokens(groups, rng)
        for position, choice in enumerate(choices):
            assert set(valid_tokens(tokens[:position], groups)) == set(choice)


def test_every_trial_decodes_to_the_rule_asked_and_fits_the_groups(evaluator):
    searcher = TPESearcher(groups=GROUPS, seed=0, n_startup_trials=4)
    asked = rounds(searcher, evaluator, batches=6)
    trials = searcher.study.get_trials(deepcopy=False)
    assert len(trials) == len(asked) == 24
    for trial, rule in zip(trials, asked):
        tokens = [trial.params[name] for name in parameter_names(GROUPS)]
        assert str(from_tokens(tokens)) == rule
        assert groups_needed(from_tokens(tokens)) <= GROUPS


def test_a_pick_invalid_at_its_position_is_mapped_as_the_env_maps_an_invalid_action():
    searcher = TPESearcher(groups=GROUPS, seed=0)
    params = dict(zip(parameter_names(GROUPS), random_tokens(GROUPS, random.Random(1))))
    params["g0.op1"] = "exp"  # a unary where an operand belongs
    tokens = searcher.tokens_of(params)
    space = RuleSpace(GROUPS)
    assert tokens[0] == space.resolve([], space.vocabulary.index["exp"])
    assert tokens[0] in valid_tokens([], GROUPS)
    assert tokens[1:] == [params[name] for name in parameter_names(GROUPS)[1:]]
    from_tokens(tokens)  # a rule of the language


# -- determinism, seeding, resuming --------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("make", [TPESearcher, NSGAIISearcher], ids=["tpe", "nsga2"])
def test_deterministic_under_a_seed_and_different_across_seeds(make, evaluator):
    options = {"population_size": 4} if make is NSGAIISearcher else {"n_startup_trials": 4}
    first = rounds(make(groups=GROUPS, seed=5, **options), evaluator, batches=5)
    second = rounds(make(groups=GROUPS, seed=5, **options), evaluator, batches=5)
    other = rounds(make(groups=GROUPS, seed=6, **options), evaluator, batches=5)
    assert first == second
    assert first != other


class _Reward:
    """A result whose reward is a fixed function of the rule's text (no training: hundreds of trials are cheap)."""

    def __init__(self, text: str):
        self.reward = int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) / 16**8


def _told_rounds(searcher, sizes) -> list[str]:
    asked = []
    for n in sizes:
        exprs = searcher.ask(n)
        searcher.tell(exprs, [_Reward(str(e)) for e in exprs])
        asked += [str(e) for e in exprs]
    return asked


@pytest.mark.parametrize("make", [TPESearcher, NSGAIISearcher], ids=["tpe", "nsga2"])
def test_the_kept_search_space_gives_the_proposals_of_a_fresh_one(make, monkeypatch):
    """Each trial's sampler reuses the search-space calculator of the one before (TPE's cost at
    hundreds of trials); the proposals are those of samplers that compute the space afresh, with
    batches (trials still running when the next is asked), seed rules told unasked, and a resume."""
    options = {"population_size": 8} if make is NSGAIISearcher else {"n_startup_trials": 5}
    sizes = [1, 4, 1, 3, 1, 1, 4] * 8
    seeds = [resolve_rule(name) for name in ("adam", "powersign")]

    def run(searcher):
        searcher.tell(seeds, [_Reward(str(e)) for e in seeds])
        first = _told_rounds(searcher, sizes)
        resumed = make(groups=3, seed=11, **options)
        resumed.load_state_dict(load_state(save_state(searcher.state_dict())))
        return first + _told_rounds(resumed, sizes[:10]), searcher

    kept, searcher = run(make(groups=3, seed=11, **options))
    spaces = [v for v in vars(searcher.study.sampler).values() if type(v).__name__.endswith("SearchSpace")]
    assert spaces and all(s is searcher._search_spaces[n] for n, s in vars(searcher.study.sampler).items() if s in spaces)
    with monkeypatch.context() as patch:
        patch.setattr(make, "_keep_search_spaces", lambda self, sampler: None)
        fresh, _ = run(make(groups=3, seed=11, **options))
    assert len(kept) == sum(sizes) + sum(sizes[:10]) and kept == fresh


def test_rules_told_without_asking_become_completed_trials_when_they_fit(evaluator):
    searcher = TPESearcher(groups=GROUPS, seed=0)
    told = [resolve_rule(name) for name in ("adam", "powersign", "addsign")]  # addsign needs 3 groups
    results = evaluator.evaluate(told, seed=0)
    failed = dataclasses.replace(results[0], reward=float("nan"))  # a non-finite reward counts as the floor
    searcher.tell(told + [told[1]], results + [failed])
    trials = searcher.study.get_trials(deepcopy=False)
    assert len(trials) == 3
    names = parameter_names(GROUPS)
    assert [[t.params[n] for n in names] for t in trials] == [to_tokens(told[k], GROUPS) for k in (0, 1, 1)]
    assert [t.value for t in trials] == [results[0].reward, results[1].reward, FLOOR_REWARD]
    assert all(t.state.name == "COMPLETE" for t in trials)


@pytest.mark.slow
@pytest.mark.parametrize("make", [TPESearcher, NSGAIISearcher], ids=["tpe", "nsga2"])
def test_a_searcher_loaded_from_its_state_proposes_what_the_uninterrupted_one_does(make, evaluator):
    options = {"population_size": 4} if make is NSGAIISearcher else {"n_startup_trials": 4}
    uninterrupted = make(groups=GROUPS, seed=3, **options)
    rounds(uninterrupted, evaluator, batches=4)
    state = load_state(save_state(uninterrupted.state_dict()))  # weights_only, as the driver loads it
    resumed = make(groups=GROUPS, seed=3, **options)
    resumed.load_state_dict(state)
    assert rounds(resumed, evaluator, batches=4) == rounds(uninterrupted, evaluator, batches=4)


def test_a_rule_asked_before_the_state_was_taken_is_told_to_its_trial_after_loading(evaluator):
    searcher = TPESearcher(groups=GROUPS, seed=0)
    pending = searcher.ask(3)
    resumed = TPESearcher(groups=GROUPS, seed=0)
    resumed.load_state_dict(load_state(save_state(searcher.state_dict())))
    resumed.tell(pending, evaluator.evaluate(pending, seed=0))
    trials = resumed.study.get_trials(deepcopy=False)
    assert len(trials) == 3 and all(t.state.name == "COMPLETE" for t in trials)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["tpe", "nsga2"])
def test_a_run_resumed_by_the_driver_equals_an_uninterrupted_one(name, tmp_path):
    options = {"population_size": 4} if name == "nsga2" else {"n_startup_trials": 4}

    def search(path, budget):
        with Evaluator(CONFIG, store=path, backend="serial") as ev:
            return run_named_search(name, ev, budget=budget, seed=1, groups=GROUPS, run_id="run", batch_size=4, **options)

    search(tmp_path / "resumed.sqlite", 12)
    resumed = search(tmp_path / "resumed.sqlite", 24)
    uninterrupted = search(tmp_path / "whole.sqlite", 24)
    assert [r.rule for r in resumed.results] == [r.rule for r in uninterrupted.results]
    with ResultStore(tmp_path / "resumed.sqlite") as store:
        assert len(store.results(run_id="run")) == 24


# -- search quality ------------------------------------------------------------------------------
@pytest.mark.slow
def test_tpe_concentrates_on_good_rules_where_random_search_does_not():
    """Mean reward of the second half of 64 proposals, over three seeds (measured: TPE 0.24,
    random 0.05; every one of six seeds had TPE ahead)."""

    def late_mean(name: str) -> float:
        means = []
        for seed in range(3):
            with Evaluator(CONFIG, store=None, backend="serial") as ev:
                outcome = run_named_search(name, ev, budget=64, seed=seed, groups=GROUPS, batch_size=8)
            means.append(statistics.mean(r.reward for r in outcome.results[32:]))
        return statistics.mean(means)

    assert late_mean("tpe") > 2 * late_mean("random") + 0.02


# -- the optional dependency ---------------------------------------------------------------------
@pytest.mark.parametrize("name", ["tpe", "nsga2"])
def test_without_optuna_the_searcher_fails_with_one_line_saying_how_to_install_it(name, monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)  # `import optuna` now fails as if not installed
    factory = resolve_searcher(name).load_factory()  # resolving imports no Optuna
    with pytest.raises(ImportError, match=rf"^the '{name}' searcher needs optuna, which is not installed: pip install 'optsearch\[optuna\]'$") as error:
        factory(groups=GROUPS, seed=0)
    assert error.value.__cause__ is None and error.value.__suppress_context__


@pytest.mark.slow
def test_importing_the_module_imports_no_optuna():
    code = "import sys, optsearch.searchers.optuna_search; print('optuna' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


def test_the_cli_without_optuna_says_so_in_one_line(monkeypatch, capsys):
    from optsearch.cli import main

    monkeypatch.setitem(sys.modules, "optuna", None)
    argv = ["search", "--searcher", "tpe", "--budget", "2", "--task", "quadratic", "--backend", "serial", "--quiet"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["optsearch: error: the 'tpe' searcher needs optuna, which is not installed: pip install 'optsearch[optuna]'"]
