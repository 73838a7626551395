"""The comparison report: ``summary.md``/``.csv`` with the verdict (and by budget), the learning
table, the leaderboard and the curves, computed from results already held and written out.
Nothing here trains or asks an evaluator: the numbers come from
:mod:`optsearch.evaluation.statistics`, the trainings behind them from
:mod:`optsearch.evaluation.experiments`."""
