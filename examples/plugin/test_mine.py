"""The conformance kit, run on the plugin: ``python -m pytest examples/plugin/test_mine.py``."""

from optsearch.testing import SearcherConformance


class TestMySearcher(SearcherConformance):
    searcher = "mine_plugin:MySearcher"
    options = {"mutations": 2}
