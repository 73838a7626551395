"""Where training runs: :func:`resolve_device` checks a device name against this machine."""

from __future__ import annotations

from typing import Optional, Union

import torch

__all__ = ["default_device", "device_name", "resolve_device"]


def default_device() -> str:
    """``"cuda"`` when this machine has a CUDA device, else ``"cpu"``."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_device(device: Union[str, torch.device, None]) -> torch.device:
    """``device`` as a :class:`torch.device` that exists here: ``cpu``, ``cuda[:N]`` or ``mps``
    (``None``: :func:`default_device`).

    Raises ``ValueError`` naming the device when torch does not know it or this machine lacks it.
    """
    if device is None:
        device = default_device()
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"unknown device {str(device)!r}; use cpu, cuda, cuda:N or mps") from None
    if resolved.type == "cpu":
        return resolved
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {str(device)!r}: CUDA is not available on this machine; use cpu")
        count = torch.cuda.device_count()
        if resolved.index is not None and resolved.index >= count:
            raise ValueError(f"device {str(device)!r}: this machine has {count} CUDA device(s)")
        return resolved
    if resolved.type == "mps":
        if not torch.backends.mps.is_available():
            raise ValueError(f"device {str(device)!r}: MPS is not available on this machine; use cpu")
        return resolved
    raise ValueError(f"device {str(device)!r} is not supported; use cpu, cuda, cuda:N or mps")


def device_name(device: Optional[str]) -> str:
    """The checked name of ``device`` (``None``: the default) as a string for configs and cache keys."""
    return str(resolve_device(device))
