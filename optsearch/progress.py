"""Progress bars for a command's long phases, on stderr: presentation only.

The library reports how far it is through plain callbacks and knows nothing of terminals (the
subpackages never import the package root): ``progress(done, total)`` for one phase
(:func:`~optsearch.evaluation.experiments.heldout.evaluate_heldout`,
:func:`~optsearch.evaluation.experiments.race.race_rules`,
:func:`~optsearch.evaluation.experiments.funnel.transfer_found`,
:func:`~optsearch.evaluation.experiments.transfer.runner.run_suite`), and
``phases(phase, done, total)`` for a command of several
(:func:`~optsearch.searchers.studies.compare.run_comparison`). They are called in the parent process
only: work in worker processes or on Ray is counted as the parent receives it.

:class:`Bars` draws them with rich, one bar per phase, and erases them when the command ends. It
draws only where someone watches: stderr is a terminal (not ``TERM=dumb``), ``CI`` is not set (to
anything but ``0`` or ``false``) and the command was not given ``--quiet``. Otherwise every
callback returns at once, so what a command writes — its files, its stdout — is the same with or
without bars.
"""

from __future__ import annotations

import os
import sys
from functools import partial
from typing import Any, Callable, Optional, TextIO

__all__ = ["Bars", "shown"]


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def shown(quiet: bool = False, stream: Optional[TextIO] = None) -> bool:
    """Whether bars are drawn on ``stream`` (stderr): not ``quiet``, not under CI, a real terminal."""
    if quiet or os.environ.get("CI", "").strip().lower() not in ("", "0", "false"):
        return False
    return os.environ.get("TERM") != "dumb" and _isatty(sys.stderr if stream is None else stream)


class Bars:
    """One bar per phase on stderr, for ``with Bars(quiet=args.quiet) as bars: ... bars.bar("race")``.

    ``console``: where to draw (a rich ``Console``; tests pass one that records), which also
    forces the bars on. Without it, bars are drawn on stderr when :func:`shown` says so.
    """

    def __init__(self, *, quiet: bool = False, console: Any = None):
        self.enabled = console is not None or shown(quiet)
        self._console = console
        self._progress: Any = None
        self._tasks: dict[str, Any] = {}

    def __enter__(self) -> "Bars":
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            console = self._console if self._console is not None else Console(stderr=True)
            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                TextColumn("{task.fields[status]}"),
                console=console,
                transient=True,
                # Lines printed to stdout go above the bars when both share the terminal; a piped
                # stdout is left alone, so it holds exactly what it holds without bars.
                redirect_stdout=_isatty(sys.stdout),
                redirect_stderr=True,
            )
            self._progress.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def update(self, phase: str, done: float, total: Optional[float], status: str = "") -> None:
        """Show ``phase`` at ``done`` of ``total`` (``None``: not known yet), with a ``status`` text."""
        if self._progress is None:
            return
        task = self._tasks.get(phase)
        if task is None:
            self._tasks[phase] = self._progress.add_task(phase, total=total, completed=done, status=status)
        else:
            self._progress.update(task, total=total, completed=done, status=status)

    @property
    def phases(self) -> Optional[Callable[[str, float, Optional[float]], None]]:
        """``phases(phase, done, total)`` for a command of several phases; None when nothing is drawn
        (so the library need not count)."""
        return self.update if self.enabled else None

    def bar(self, phase: str) -> Optional[Callable[[float, Optional[float]], None]]:
        """``progress(done, total)`` for the one phase ``phase``; None when nothing is drawn."""
        return partial(self.update, phase) if self.enabled else None
