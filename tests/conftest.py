"""Suite-wide settings."""

import atexit
import os
import shutil
import tempfile

# The bench remembers what it computes for rules outside its table in a machine-wide cache
# (optsearch.evaluation.bench.facts). The tests use one of their own, shared by the processes they
# start, so that no run depends on what an earlier one left in ~/.cache.
if "OPTSEARCH_CACHE" not in os.environ:
    os.environ["OPTSEARCH_CACHE"] = tempfile.mkdtemp(prefix="optsearch-test-cache-")
    atexit.register(shutil.rmtree, os.environ["OPTSEARCH_CACHE"], ignore_errors=True)
