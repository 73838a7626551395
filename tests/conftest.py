"""Suite-wide settings."""

import os
import tempfile

# The bench remembers what it computes for rules outside its table in a machine-wide cache
# (optsearch.evaluation.bench.facts). The tests use one of their own, shared by the processes they
# start, so that no run depends on what an earlier one left in ~/.cache.
os.environ.setdefault("OPTSEARCH_CACHE", tempfile.mkdtemp(prefix="optsearch-test-cache-"))
