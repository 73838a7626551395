"""Studies that run searchers: comparisons of searchers over seeds (:mod:`.compare`) and the
bench's searcher stages (:mod:`.bench_stages`). They orchestrate searches, evaluators and reports;
the search algorithms themselves are the modules of :mod:`optsearch.searchers`."""
