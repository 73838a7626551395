"""CIFAR-10 from a local copy in torchvision's on-disk format, without torchvision.

Layout read: ``<data_dir>/cifar-10-batches-py/data_batch_1 … data_batch_5`` and ``test_batch``,
each a pickled dict with ``b"data"`` (uint8, N × 3072, channel-major 3×32×32 rows) and
``b"labels"`` (N ints) — the files of https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz.

The pickles are read with a *restricted* unpickler: it can rebuild numpy arrays and dtypes (and
the plain containers pickle encodes with opcodes: dicts, lists, ints, bytes, str) and refuses
every other global, so a tampered file cannot run code.

``download_cifar10`` fetches the tarball with ``urllib``, checks its MD5 and extracts it after
checking every member stays inside the target directory (regular files and folders only). The
download goes to ``<data_dir>/.cifar-10-python.tar.gz.part-<pid>``, removed whatever ends the
download (an error, a timeout, Ctrl-C); one left behind by a killed process is removed by the next
download into that folder. A connection that stalls for ``timeout_s`` ends it with
:class:`DownloadError`.
"""

from __future__ import annotations

import codecs
import hashlib
import http.client
import math
import os
import pickle
import shutil
import tarfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
FOLDER = "cifar-10-batches-py"
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILE = "test_batch"
IMAGE_SHAPE = (3, 32, 32)
DATA_ENV = "OPTSEARCH_DATA"
DOWNLOAD_TIMEOUT_S = 60.0  # the longest wait for the server (to connect, or for the next bytes)
PART_PREFIX = ".cifar-10-python.tar.gz.part-"  # + the pid of the downloading process

PathLike = Union[str, "os.PathLike[str]"]


class DatasetNotFoundError(FileNotFoundError):
    """A dataset is not on disk where it was looked for (the message says how to get it)."""


class DownloadError(OSError):
    """A dataset could not be downloaded (the message names the URL and the reason)."""


def default_data_dir() -> Path:
    """``$OPTSEARCH_DATA`` if set, else ``~/.cache/optsearch``."""
    env = os.environ.get(DATA_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "optsearch"


# ------------------------------------------------------------------------------------------------
# Restricted unpickling
# ------------------------------------------------------------------------------------------------
def _allowed_globals() -> dict[tuple[str, str], Any]:
    reconstruct = np.zeros(1).__reduce__()[0]  # numpy's array rebuild function, whatever its module
    frombuffer = np.zeros(1).__reduce_ex__(5)[0]  # protocol-5 rebuild (np.frombuffer + reshape)
    allowed: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): codecs.encode,  # bytes pickled by Python 3 with protocol < 3
    }
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(module, "_reconstruct")] = reconstruct
    for module in ("numpy.core.numeric", "numpy._core.numeric"):
        allowed[(module, "_frombuffer")] = frombuffer
    return allowed


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that only rebuilds numpy arrays, dtypes and plain containers."""

    _ALLOWED = _allowed_globals()

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name} from a CIFAR-10 file") from None


def load_pickle(path: PathLike) -> Any:
    """Unpickle ``path`` with :class:`RestrictedUnpickler` (Python 2 strings decode as bytes)."""
    with open(path, "rb") as handle:
        return RestrictedUnpickler(handle, encoding="bytes").load()


def _key(batch: dict, name: str) -> Any:
    for key in (name.encode(), name):
        if key in batch:
            return batch[key]
    raise ValueError(f"CIFAR-10 batch has no {name!r} entry")


def load_batch(path: PathLike) -> tuple[np.ndarray, np.ndarray]:
    """``(images uint8 [N, 3, 32, 32], labels int64 [N])`` of one batch file."""
    batch = load_pickle(path)
    if not isinstance(batch, dict):
        raise ValueError(f"{path}: expected a dict, got {type(batch).__name__}")
    data = np.asarray(_key(batch, "data"), dtype=np.uint8)
    labels = np.asarray(_key(batch, "labels"), dtype=np.int64)
    if data.ndim != 2 or data.shape[1] != int(np.prod(IMAGE_SHAPE)) or data.shape[0] != labels.shape[0]:
        raise ValueError(f"{path}: unexpected shapes data {data.shape}, labels {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise ValueError(f"{path}: labels outside 0..9")
    return data.reshape(-1, *IMAGE_SHAPE), labels


def _not_found(folder: Path, missing: list[str]) -> DatasetNotFoundError:
    return DatasetNotFoundError(
        f"CIFAR-10 not found: looked for {', '.join(missing)} in {folder}; pass --download "
        f"(download=True) or download {CIFAR10_URL} and extract it into {folder.parent}"
    )


def load_cifar10(data_dir: Optional[PathLike] = None) -> dict[str, np.ndarray]:
    """The 50 000 training and 10 000 test images of a local copy.

    Returns ``{"x_train": uint8 [50000, 3, 32, 32], "y_train": int64, "x_test", "y_test"}``
    (sizes as found on disk). Raises :class:`DatasetNotFoundError` when files are missing.
    """
    root = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
    folder = root / FOLDER
    missing = [name for name in (*TRAIN_FILES, TEST_FILE) if not (folder / name).is_file()]
    if missing:
        raise _not_found(folder, missing)
    parts = [load_batch(folder / name) for name in TRAIN_FILES]
    x_test, y_test = load_batch(folder / TEST_FILE)
    return {
        "x_train": np.concatenate([p[0] for p in parts]),
        "y_train": np.concatenate([p[1] for p in parts]),
        "x_test": x_test,
        "y_test": y_test,
    }


# ------------------------------------------------------------------------------------------------
# Download
# ------------------------------------------------------------------------------------------------
def md5sum(path: PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def safe_extract(archive: PathLike, target: PathLike) -> None:
    """Extract a tar archive into ``target``, refusing members that would land outside it.

    Only regular files and directories are extracted (no links, devices or absolute paths).
    """
    target = Path(target).resolve()
    with tarfile.open(archive, "r:*") as tar:
        members = tar.getmembers()
        for member in members:
            destination = (target / member.name).resolve()
            if os.path.isabs(member.name) or ".." in Path(member.name).parts:
                raise ValueError(f"unsafe path in archive: {member.name!r}")
            if destination != target and target not in destination.parents:
                raise ValueError(f"unsafe path in archive: {member.name!r}")
            if not (member.isfile() or member.isdir()):
                raise ValueError(f"refusing to extract {member.name!r}: not a regular file or folder")
        if hasattr(tarfile, "data_filter"):
            tar.extractall(target, members=members, filter="data")
        else:  # pragma: no cover - Python < 3.11.4
            tar.extractall(target, members=members)


def _pid_alive(pid: int) -> bool:
    """True when a process with this id exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def remove_stale_parts(root: Path) -> list[Path]:
    """Delete the partial downloads in ``root`` whose downloading process is gone; returns them."""
    removed = []
    for part in root.glob(PART_PREFIX + "*"):
        pid = part.name[len(PART_PREFIX) :]
        # Our own pid can only be a dead process's whose pid was reused: we are not downloading yet.
        if pid.isdigit() and int(pid) != os.getpid() and _pid_alive(int(pid)):
            continue  # another process is downloading into this folder right now
        part.unlink(missing_ok=True)
        removed.append(part)
    return removed


def _fetch(url: str, destination: Path, timeout_s: float) -> None:
    """Copy ``url`` into ``destination``; :class:`DownloadError` on any network failure."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response, open(destination, "wb") as out:  # noqa: S310
            shutil.copyfileobj(response, out)
            expected = response.headers.get("Content-Length")
            received = out.tell()
    except (OSError, http.client.HTTPException) as error:
        cause = error.reason if isinstance(error, urllib.error.URLError) else error
        if not isinstance(cause, BaseException):  # an HTTP status: the error says it best
            cause = error
        if isinstance(cause, TimeoutError):
            reason = f"the server sent nothing for {timeout_s:g} s (timed out)"
        else:
            reason = f"{type(cause).__name__}: {cause}"
        raise DownloadError(f"cannot download CIFAR-10 from {url}: {reason}") from None
    # HTTPResponse.read(n) returns b"" when the connection ends before Content-Length: no error.
    if expected is not None and expected.isdigit() and received != int(expected):
        raise DownloadError(
            f"cannot download CIFAR-10 from {url}: the connection closed after {received} of {expected} bytes"
        )


def download_cifar10(
    data_dir: Optional[PathLike] = None,
    *,
    url: str = CIFAR10_URL,
    md5: str = CIFAR10_MD5,
    timeout_s: float = DOWNLOAD_TIMEOUT_S,
) -> Path:
    """Download and extract CIFAR-10 into ``data_dir`` (no-op when already there); returns the folder.

    ``timeout_s`` bounds every wait for the server (connecting, then each read), not the whole
    download. Raises :class:`DownloadError` when the download fails, stalls or is corrupt; no
    partial file is left behind (see the module docstring).
    """
    if not (timeout_s > 0 and math.isfinite(timeout_s)):
        raise ValueError(f"timeout_s must be a positive number of seconds, got {timeout_s}")
    root = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
    folder = root / FOLDER
    if all((folder / name).is_file() for name in (*TRAIN_FILES, TEST_FILE)):
        return folder
    root.mkdir(parents=True, exist_ok=True)
    remove_stale_parts(root)
    part = root / f"{PART_PREFIX}{os.getpid()}"
    try:
        _fetch(url, part, timeout_s)
        got = md5sum(part)
        if got != md5:
            raise DownloadError(f"CIFAR-10 download from {url} is corrupt: md5 {got}, expected {md5}")
        safe_extract(part, root)
    finally:  # also on KeyboardInterrupt
        part.unlink(missing_ok=True)
    return folder
