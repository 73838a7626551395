"""The manifest beside a report: what was run, exactly enough to run it again.

``<out>/manifest.toml`` holds the resolved settings (every key of
:data:`optsearch.experiment.SETTINGS` with the value the run used, defaults included), the
``[[searchers]]`` with their labels and options, the versions of Python and of the libraries that
decide a result, the git commit (and whether the checkout had uncommitted changes) when optsearch
runs from a git checkout, and the command line. It is an experiment file:
``optsearch compare --config <out>/manifest.toml`` runs the same comparison again and, through
the store it names, resumes it (a finished one trains nothing new). Paths inside ``<out>`` are
written relative to it, so the folder can be moved as a whole.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from . import toml_text

MANIFEST = "manifest.toml"

#: The distributions whose versions are recorded (those not installed are left out).
DISTRIBUTIONS = ("optsearch", "torch", "stable-baselines3", "sb3-contrib", "deap", "gymnasium", "numpy", "optuna")

HEADER = """\
# What `optsearch compare` ran. Re-run it (resuming from the store) with:
#   optsearch compare --config {path}
# Relative paths are relative to this file's folder.
"""


def versions() -> dict[str, str]:
    """Python's version and each installed distribution's of :data:`DISTRIBUTIONS`."""
    found = {"python": platform.python_version()}
    for name in DISTRIBUTIONS:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return found


def git_state(folder: Optional[Path] = None) -> Optional[tuple[str, bool]]:
    """``(commit, dirty)`` of the git checkout optsearch runs from, or ``None`` when it does not
    run from one (an installed copy, even inside some other repository, or no git at all)."""
    folder = folder or Path(__file__).resolve().parent
    marker = folder / "__init__.py"

    def git(*argv: str) -> Optional[str]:
        try:
            done = subprocess.run(["git", *argv], cwd=folder, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout if done.returncode == 0 else None

    # The package must be tracked there: a site-packages copy inside an unrelated checkout is not.
    if git("ls-files", "--error-unmatch", str(marker)) is None:
        return None
    commit = git("rev-parse", "HEAD")
    if commit is None:
        return None
    status = git("status", "--porcelain", "--untracked-files=no")
    return commit.strip(), bool(status and status.strip())


def _relative(value: str, folder: Path) -> str:
    """``value`` relative to ``folder`` when it lies inside it, else absolute."""
    path = Path(value).resolve()
    try:
        relative = path.relative_to(folder.resolve())
    except ValueError:
        return str(path)
    return relative.as_posix() if relative.parts else "."


def bench_record(task: Any) -> Optional[dict[str, Any]]:
    """For a bench task, what identifies the bench: its table's content hash and the protocol it stands for."""
    from optsearch.evaluation.rewards import source_info

    try:
        return source_info(str(task or "")).record
    except ValueError:  # not a registered task: nothing to identify
        return None


def manifest_text(
    settings: Mapping[str, Any],
    searchers: Sequence[Mapping[str, Any]],
    folder: Path,
    *,
    command: Sequence[str],
    path_keys: Sequence[str] = (),
) -> str:
    """The manifest's TOML: ``settings`` (``None`` left out; ``path_keys`` written relative to
    ``folder`` when inside it), the searchers, and the record (versions, git, command)."""
    data: dict[str, Any] = {}
    for name, value in settings.items():
        if value is None:
            continue
        data[name] = _relative(str(value), folder) if name in path_keys else (list(value) if isinstance(value, tuple) else value)
    data["command"] = list(command)
    data["written_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    state = git_state()
    if state is not None:
        data["git_commit"], data["git_dirty"] = state
    data["searchers"] = [dict(entry) for entry in searchers]
    data["versions"] = versions()
    bench = bench_record(settings.get("task"))
    if bench is not None:
        data["bench"] = bench
    return HEADER.format(path=(folder / MANIFEST).as_posix().replace("\n", " ")) + toml_text.dumps(data)


def write_manifest(
    settings: Mapping[str, Any],
    searchers: Sequence[Mapping[str, Any]],
    folder: Path,
    *,
    command: Sequence[str],
    path_keys: Sequence[str] = (),
) -> Path:
    """Write :func:`manifest_text` to ``folder/manifest.toml`` (atomically) and return its path."""
    path = folder / MANIFEST
    partial = folder / f".{MANIFEST}.{os.getpid()}"
    partial.write_text(manifest_text(settings, searchers, folder, command=command, path_keys=path_keys), encoding="utf-8")
    partial.replace(path)
    return path
