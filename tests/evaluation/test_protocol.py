"""The training protocol: one record from the evaluator's config to the trainer, and cache keys that never move."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest

from optsearch.dsl import RuleConfig
from optsearch.evaluation.config import EvalConfig
from optsearch.evaluation.tasks import DEFAULTS
from optsearch.evaluation.training import TrainingProtocol, train_population, train_rule, train_rules

#: Config hashes computed by the code before the training protocol became one record (commit
#: 49bfcc2, ``EvalConfig.config_hash`` unchanged since): they key users' caches and the shipped
#: bench table (``233cc2ceffeb`` and ``b1ff07abdc9f`` are in ``evaluation/bench/data/mnist1d/manifest.json``),
#: so they must never change.
PRE_REFACTOR_HASHES = {
    "default": (EvalConfig(), "038bcfd6181b"),
    "mnist1d resolved": (
        replace(EvalConfig(task="mnist1d"), device="cpu").with_task_defaults(DEFAULTS["mnist1d"]),
        "233cc2ceffeb",
    ),
    "mnist1d held out": (
        replace(EvalConfig(task="mnist1d", device="cpu").with_task_defaults(DEFAULTS["mnist1d"]), screen=False, hurdle=False),
        "b1ff07abdc9f",
    ),
    "digits, 60 steps": (EvalConfig(task="digits", steps=60, hurdle_fraction=0.25, screen=False, halving=()), "ad01465a7312"),
    "digits resolved": (EvalConfig(task="digits").with_task_defaults(DEFAULTS["digits"]), "306ce78ed1e6"),
    "quadratic resolved": (EvalConfig(task="quadratic", steps=40).with_task_defaults(DEFAULTS["quadratic"]), "dbd78fc513bb"),
    "quadratic on cuda": (EvalConfig(task="quadratic", device="cuda"), "6a17a8faf3b2"),
    "every training field": (
        EvalConfig(
            task="mnist1d",
            lrs=(1e-3, 1e-2),
            halving=((0.5, 1),),
            divergence_factor=50.0,
            hurdle_threshold=0.3,
            batch_size=32,
        ),
        "ef6d7f8fa467",
    ),
}


@pytest.mark.parametrize("name", PRE_REFACTOR_HASHES)
def test_config_hashes_are_the_ones_before_the_protocol_record(name):
    config, expected = PRE_REFACTOR_HASHES[name]
    assert config.config_hash() == expected


def test_a_setting_added_later_keeps_every_hash_while_it_has_its_default():
    @dataclass(frozen=True)
    class WithANewSetting(EvalConfig):
        label_smoothing: float = 0.0

    base = EvalConfig(task="digits", steps=30)
    assert WithANewSetting(task="digits", steps=30).config_hash() == base.config_hash()
    assert WithANewSetting(task="digits", steps=30, label_smoothing=0.1).config_hash() != base.config_hash()
    assert replace(base, steps=31).config_hash() != base.config_hash()  # the settings hashed always still count


@pytest.mark.parametrize("task", ["mnist1d", "digits", "quadratic", "rosenbrock"])
def test_the_evaluator_and_the_keyword_api_resolve_the_same_protocol(task):
    config = EvalConfig(task=task).with_task_defaults(DEFAULTS[task])
    protocol = config.training_protocol()
    assert protocol == EvalConfig(task=task).training_protocol(DEFAULTS[task])
    assert protocol == TrainingProtocol.for_task(DEFAULTS[task], hurdle=(config.hurdle_steps, config.hurdle_threshold))
    assert replace(config, hurdle=False).training_protocol() == TrainingProtocol.for_task(DEFAULTS[task])


def test_every_training_setting_of_the_config_reaches_the_protocol():
    rules = RuleConfig(beta1=0.5)
    config = EvalConfig(
        task="digits",
        steps=40,
        batch_size=16,
        lrs=(1, 0.1),
        halving=((0.25, 1),),
        hurdle_fraction=0.5,
        hurdle_threshold=0.3,
        divergence_factor=20,
        time_limit_s=5,
        rule_config=rules,
    )
    protocol = config.training_protocol(DEFAULTS["digits"])
    assert protocol == TrainingProtocol(
        steps=40,
        batch_size=16,
        lrs=(1.0, 0.1),
        time_limit_s=5.0,
        divergence_factor=20.0,
        hurdle=(20, 0.3),
        halving=((10, 1),),
        rule_config=rules,
    )
    assert all(isinstance(lr, float) for lr in protocol.lrs)


def test_an_unresolved_config_needs_the_task_defaults():
    with pytest.raises(ValueError, match="not resolved"):
        EvalConfig(task="quadratic").training_protocol()


def test_the_protocol_checks_its_numbers_and_the_keyword_api_its_names():
    defaults = DEFAULTS["quadratic"]
    with pytest.raises(ValueError, match="lrs"):
        TrainingProtocol.for_task(defaults, lrs=())
    with pytest.raises(ValueError, match="steps"):
        TrainingProtocol.for_task(defaults, steps=0)
    with pytest.raises(ValueError, match="divergence_factor"):
        TrainingProtocol.for_task(defaults, divergence_factor=1.0)
    with pytest.raises(TypeError, match="lr_grid"):
        train_rule("adam", "quadratic", lr_grid=(0.1,))
    with pytest.raises(TypeError, match="not both"):
        train_rule("adam", "quadratic", TrainingProtocol.for_task(defaults), steps=5)


def test_the_loop_reads_the_hurdle_and_rungs_before_the_last_step_only():
    protocol = TrainingProtocol(steps=10, batch_size=1, lrs=(0.1,), hurdle=(10, 0.5), halving=((3, 1), (10, 1), (0, 2)))
    assert (protocol.hurdle_at, protocol.hurdle_bar, protocol.rungs) == (0, 0.5, {3: 1})
    assert TrainingProtocol(steps=10, batch_size=1, lrs=(0.1,)).hurdle_at == 0


def test_a_protocol_given_whole_trains_as_its_keyword_settings():
    settings = dict(lrs=(1e-3, 1e-2, 1e-1), steps=60, halving=((20, 2),), hurdle=(6, 0.0))
    by_keywords = train_rule("adam", "quadratic", seed=3, **settings)
    whole = TrainingProtocol.for_task(DEFAULTS["quadratic"], **settings)
    assert repr(train_rule("adam", "quadratic", whole, seed=3)) == repr(by_keywords)
    assert repr(train_rules(["adam"], "quadratic", whole, seed=3)) == repr([by_keywords])
    assert repr(train_population(["adam"], "quadratic", seed=3, **settings)) == repr([by_keywords])  # the old name
