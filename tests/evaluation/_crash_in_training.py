"""Makes a process-backend worker crash while training one rule (not collected by pytest).

A test names this module in the worker pool's ``preload`` and sets the environment variable
:data:`RULE_VARIABLE` to a rule's text before the workers start. On import in a worker it then
replaces ``optsearch.evaluation.jobs._train`` so that a population holding that rule kills the
worker's process with ``os._exit(EXIT_CODE)`` (as a segfault or the OOM killer would), while every
other population trains normally. Without the variable, importing it changes nothing.
"""

from __future__ import annotations

import os

from optsearch.evaluation import jobs

RULE_VARIABLE = "OPTSEARCH_TEST_CRASHING_RULE"
EXIT_CODE = 77

CRASHING_RULE = os.environ.get(RULE_VARIABLE)

if CRASHING_RULE:
    _train = jobs._train

    def _train_or_die(rules, config, seed, data_dir):  # type: ignore[no-untyped-def]
        if CRASHING_RULE in rules:
            os._exit(EXIT_CODE)
        return _train(rules, config, seed, data_dir)

    jobs._train = _train_or_die
