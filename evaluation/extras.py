"""Optional dependencies (``pip install 'optsearch[ray]'``, ``[optuna]``): imported on use, with one clear error."""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["OptionalDependencyError", "require"]


class OptionalDependencyError(ImportError):
    """An optional dependency is not installed; the message says which extra installs it."""


def require(module: str, extra: str, what: str) -> ModuleType:
    """Import ``module``, or raise :class:`OptionalDependencyError` saying that ``what`` needs it.

    A module that is installed but fails to import (one of its own dependencies missing) raises
    its own error: that one says what is really wrong.
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        if error.name not in (None, module):
            raise
        raise OptionalDependencyError(
            f"{what} needs {module}, which is not installed: pip install 'optsearch[{extra}]'"
        ) from None
