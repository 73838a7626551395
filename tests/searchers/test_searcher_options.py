"""Searcher options: accepted names from the signature, text typed by it, checks, and a real run."""

from __future__ import annotations

import pytest

from optsearch.evaluation.config import EvalConfig
from optsearch.evaluation.evaluator import Evaluator
from optsearch.evaluation.store import ResultStore
from optsearch.searchers import run_named_search
from optsearch.searchers.options import SearcherOptionError, accepted_options, check_options, describe, parse_option
from optsearch.searchers.registry import resolve_searcher

CONFIG = EvalConfig(task="quadratic", steps=20)


def test_an_ask_tell_searcher_accepts_its_factorys_keywords_but_not_groups_or_seed():
    options = accepted_options(resolve_searcher("reinforce"))
    assert list(options) == ["hidden", "lr", "entropy_weight", "baseline_decay"]
    assert describe(options) == "hidden (int), lr (float), entropy_weight (float), baseline_decay (float)"


def test_an_sb3_runner_accepts_the_adapters_and_the_algorithms_keywords():
    options = accepted_options(resolve_searcher("ppo"))
    assert {"n_envs", "log_dir", "ent_coef", "learning_rate", "n_steps", "gamma", "policy_kwargs"} <= set(options)
    assert not {"env", "policy", "seed", "device", "budget", "groups", "label"} & set(options)


@pytest.mark.parametrize(
    "name, text, expected",
    [
        ("reinforce", "entropy_weight=0", ("entropy_weight", 0.0)),
        ("reinforce", "hidden= 32", ("hidden", 32)),
        ("reinforce", "lr=3e-4", ("lr", 3e-4)),
        ("ppo", "normalize_advantage=false", ("normalize_advantage", False)),
        ("ppo", "learning_rate=1e-3", ("learning_rate", 1e-3)),  # float | Callable: the float
        ("ppo", "target_kl=0.02", ("target_kl", 0.02)),  # Optional[float], default None
        ("ppo", "log_dir=logs/ppo", ("log_dir", "logs/ppo")),
        ("ppo", "policy_kwargs={ net_arch = [16, 16] }", ("policy_kwargs", {"net_arch": [16, 16]})),  # untyped: a TOML literal
    ],
)
def test_option_text_is_typed_by_the_parameter(name, text, expected):
    assert parse_option(resolve_searcher(name), text) == expected


@pytest.mark.parametrize(
    "values, message",
    [
        ({"entropy": 0.0}, "searcher 'reinforce' has no option 'entropy'; its options are hidden (int), lr (float)"),
        ({"hidden": 16.0}, "option hidden expects a whole number, got 16.0"),
        ({"hidden": True}, "option hidden expects a whole number, got True"),
        ({"lr": "fast"}, "option lr expects a number, got 'fast'"),
    ],
)
def test_unknown_or_ill_typed_values_fail_naming_the_accepted_options(values, message):
    with pytest.raises(SearcherOptionError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_options(resolve_searcher("reinforce"), values)


def test_run_named_search_builds_the_searcher_with_its_options_and_records_the_label(tmp_path):
    with Evaluator(CONFIG, store=tmp_path / "s.sqlite", backend="serial") as evaluator:
        small = run_named_search(
            "evolution", evaluator, budget=6, groups=2, batch_size=2, label="tiny", population_size=2, sample_size=1
        )
        default = run_named_search("evolution", evaluator, budget=6, groups=2, batch_size=2)
        with pytest.raises(SearcherOptionError, match="has no option 'population'"):
            run_named_search("evolution", evaluator, budget=6, population=2)
    assert (small.run_id, small.searcher, default.run_id) == ("tiny-quadratic-seed0", "tiny", "evolution-quadratic-seed0")
    # a population of two starts mutating at the third proposal; the default one is still random there
    assert [r.rule for r in small.results][:2] == [r.rule for r in default.results][:2]
    assert [r.rule for r in small.results][2:] != [r.rule for r in default.results][2:]
    with ResultStore(tmp_path / "s.sqlite") as store:
        assert {r.searcher for r in store.results(run_id="tiny-quadratic-seed0")} == {"tiny"}


def test_an_sb3_option_reaches_the_runner(tmp_path):
    logs = tmp_path / "logs"
    with Evaluator(CONFIG, store=tmp_path / "s.sqlite", backend="serial") as evaluator:
        outcome = run_named_search("a2c", evaluator, budget=4, groups=1, label="a2c-2envs", n_envs=2, log_dir=str(logs), ent_coef=0.0)
    assert len(outcome.results) == 4 and outcome.searcher == "a2c-2envs"
    assert (logs / "a2c-2envs-quadratic-seed0" / "progress.csv").exists()


@pytest.mark.parametrize(
    "spec, message",
    [
        ("os:getcwd", "'os:getcwd' is builtin_function_or_method, not a subclass of optsearch.searchers.Searcher"),
        ("optsearch.searchers.base:Searcher.nope", "has no attribute 'Searcher.nope'"),
        ("no_such_module_xyz:Thing", "cannot import 'no_such_module_xyz'"),
        ("optsearch.evaluation.records:EvalResult", "is EvalResult, not a subclass"),
        ("nosuch", "unknown searcher 'nosuch'; searchers are "),
    ],
)
def test_a_bad_spec_is_one_clear_line(spec, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(".", r"\.")) as caught:
        resolve_searcher(spec)
    assert "\n" not in str(caught.value)


def test_a_module_attribute_spec_resolves_to_a_searcher_entry():
    entry = resolve_searcher("optsearch.searchers.random_search:RandomSearch")
    assert entry.origin == "module:attribute" and entry.name == "optsearch.searchers.random_search:RandomSearch"
    assert entry.description.startswith("Uniform over valid token sequences")
