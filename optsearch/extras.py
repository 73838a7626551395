"""Optional dependencies: re-exported from :mod:`optsearch.evaluation.extras`, where they live (below
every subpackage that uses them)."""

from __future__ import annotations

from optsearch.evaluation.extras import OptionalDependencyError, require

__all__ = ["OptionalDependencyError", "require"]
