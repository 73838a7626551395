"""Run a search in a subprocess (the kill-and-resume test SIGKILLs it mid-way)."""

import sys

from optsearch.evaluation.config import EvalConfig
from optsearch.evaluation.evaluator import Evaluator
from optsearch.searchers import run_named_search

name, store, budget = sys.argv[1], sys.argv[2], int(sys.argv[3])
with Evaluator(EvalConfig(task="quadratic", steps=40), store=store) as evaluator:
    run_named_search(name, evaluator, budget=budget, seed=5, groups=2, run_id="killed", batch_size=2)
