"""Statistics: pure math over numbers and results. Nothing here trains or asks an evaluator.

- :mod:`.stats`: best-so-far curves, interquartile means, stratified-bootstrap intervals, the
  probability of improvement;
- :mod:`.differences`: the difference of two samples with its interval (paired or unpaired), and
  the seeds it would take to separate them;
- :mod:`.incumbents`: a run's incumbents and their held-out scores;
- :mod:`.racing`: the sequential procedure that races rules against Adam, and its error rates.
"""
