"""Experiments: what trains rules or asks the evaluator to, beyond the search itself.

- :mod:`.heldout`: incumbents re-trained on held-out seeds (the verdict's numbers);
- :mod:`.race`: rules and Adam trained on fresh seeds until each rule is decided;
- :mod:`.transfer`: rules on other tasks and networks (the DeepOBS protocol), across tasks;
- :mod:`.funnel`: the rules a race confirmed, transferred;
- :mod:`.rosenbrock`: the paper's figure, update rules descending the Rosenbrock function.

Each writes its own files; the statistics (:mod:`optsearch.evaluation.statistics`) and the
comparison report (:mod:`optsearch.evaluation.reports`) sit below them and train nothing.
"""
