"""NOS-Bench, the benchmark of update rules, for researchers (in the spirit of HPOBench and NAS-Bench).

>>> from optsearch.bench import load_bench
>>> bench = load_bench("mnist1d")
>>> bench.query("adam", seed=0).reward          # the search protocol's result on seed 0 (recorded)
>>> bench.expected("adam").test_acc             # expected full-training test accuracy
>>> bench.expected(["adam", "sign(m)"])         # one Expected per rule; .source: "table" or "surrogate"
>>> bench.size, bench.protocol, bench.best      # coverage, config hash / trainer / content hash, best rule

The same bench is a task, ``mnist1d-bench``, for ``eval``, ``search``, ``compare``, experiment files,
plugins and the Gymnasium environment (see :mod:`optsearch.evaluation.bench`).
"""

from optsearch.evaluation.bench.bench import Bench, BenchError, BenchResult, Expected, bench_names, load_bench

__all__ = ["Bench", "BenchError", "BenchResult", "Expected", "bench_names", "load_bench"]
