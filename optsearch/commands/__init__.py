"""The ``optsearch`` subcommands, a module per group; each module's ``register(commands)`` adds its
parsers, whose ``handler`` parses nothing more, calls the library and prints.

- :mod:`.vocabulary`: ``list``, ``export``
- :mod:`.evaluate`: ``eval``, ``show``
- :mod:`.search`: ``search``
- :mod:`.compare`: ``compare``
- :mod:`.confirm`: ``confirm``
- :mod:`.transfer`: ``transfer``

Every library import a command needs is made inside it, so that the parser (and ``optsearch
list``) never loads Stable-Baselines3, Ray, matplotlib, scikit-learn or SciPy.
"""
