"""Tasks: shapes, fixed disjoint splits, the CIFAR-10 reader (on a fake copy), function tasks."""

from __future__ import annotations

import hashlib
import io
import math
import os
import pickle
import random
import signal
import subprocess
import sys
import tarfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import torch

from optsearch.evaluation import tasks as tasks_module
from optsearch.evaluation.tasks import DEFAULT_TASK, TASKS, Task, get_task, progress_score
from optsearch.evaluation.tasks import cifar10 as cifar
from optsearch.evaluation.tasks import data as data_module
from optsearch.evaluation.tasks.cifar10 import DatasetNotFoundError


def _row_set(x: torch.Tensor) -> set[bytes]:
    return {row.tobytes() for row in x.reshape(x.shape[0], -1).numpy()}


def _check_data_task(task: Task, shape: tuple[int, ...], sizes: tuple[int, int, int]) -> None:
    assert task.input_shape == shape
    assert task.num_classes == 10
    for split, size in zip((task.train, task.val, task.test), sizes):
        assert split is not None
        assert tuple(split.x.shape) == (size, *shape)
        assert split.x.dtype == torch.float32 and split.y.dtype == torch.int64
        assert split.y.shape == (size,)
        assert int(split.y.min()) >= 0 and int(split.y.max()) <= 9
        assert torch.isfinite(split.x).all()
    assert len(torch.unique(task.train.y)) == 10  # type: ignore[union-attr]
    # normalised with training statistics
    assert abs(float(task.train.x.mean())) < 0.05  # type: ignore[union-attr]
    assert abs(float(task.train.x.std()) - 1.0) < 0.05  # type: ignore[union-attr]


def test_task_names_and_default():
    assert set(TASKS) == {"digits", "mnist1d", "mnist1d-bench", "cifar10", "quadratic", "rosenbrock", "arith"}
    assert set(tasks_module.TASK_KINDS) == set(TASKS)
    for name in ("digits", "mnist1d", "quadratic", "rosenbrock", "arith"):
        assert get_task(name).kind == tasks_module.TASK_KINDS[name]
    assert DEFAULT_TASK in ("digits", "mnist1d")
    with pytest.raises(ValueError, match="unknown task"):
        get_task("imagenet")


def test_digits_shapes_and_fixed_disjoint_split():
    task = get_task("digits")
    assert task.kind == "image"
    _check_data_task(task, (1, 8, 8), (1197, 300, 300))
    train, val, test = data_module._split_indices(1797, 300, 300)
    assert len(set(train) | set(val) | set(test)) == 1797  # a partition of the data set
    # fixed: independent of the global generators and of the cache
    data_module.load_digits.cache_clear()
    torch.manual_seed(123)
    np.random.seed(123)
    again = get_task("digits")
    assert again is not task
    for a, b in zip((task.train, task.val, task.test), (again.train, again.val, again.test)):
        assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    assert get_task("digits") is again  # cached


@pytest.mark.slow
def test_mnist1d_shapes_split_and_global_rng_untouched():
    data_module.load_mnist1d.cache_clear()
    data_module._mnist1d_arrays.cache_clear()  # really generate the data set here
    state_np, state_py = np.random.get_state(), random.getstate()
    task = get_task("mnist1d")
    assert task.kind == "sequence"
    _check_data_task(task, (1, 40), (3000, 1000, 1000))
    # generating the data set must not reseed the global generators
    assert np.array_equal(np.random.get_state()[1], state_np[1]) and random.getstate() == state_py
    rows = [_row_set(s.x) for s in (task.train, task.val, task.test)]
    assert not (rows[0] & rows[1]) and not (rows[0] & rows[2]) and not (rows[1] & rows[2])
    assert get_task("mnist1d") is task


def test_function_tasks():
    quad = get_task("quadratic")
    assert quad.kind == "function" and quad.is_function and quad.train is None
    fn = quad.function
    assert fn is not None and 20 <= fn.dim <= 50
    assert float(fn.a.max() / fn.a.min()) == pytest.approx(100.0, rel=1e-4)  # condition number
    w = torch.randn(3, fn.dim)
    w.requires_grad_(True)
    fn.value(w).sum().backward()
    assert torch.allclose(w.grad, fn.gradient(w.detach()), atol=1e-4)
    assert float(fn.value(fn.c[None])) == 0.0

    rosen = get_task("rosenbrock")
    fn = rosen.function
    assert fn is not None and rosen.input_shape == (2,)
    assert float(fn.value(fn.x0[None])) == pytest.approx(12.5)
    assert float(fn.value(torch.tensor([[1.0, 1.0]]))) == 0.0
    w = torch.tensor([[-1.5, 2.0], [0.3, -0.7]], requires_grad=True)
    fn.value(w).sum().backward()
    assert torch.allclose(w.grad, fn.gradient(w.detach()), atol=1e-4)


def test_progress_score():
    assert progress_score(10.0, 10.0) == 0.0
    assert progress_score(10.0, 100.0) == 0.0
    assert progress_score(1.0, 1e-3) == pytest.approx(0.5)
    assert progress_score(1.0, 1e-7) == 1.0
    assert progress_score(1.0, 0.0) == 1.0
    assert progress_score(1.0, math.nan) == 0.0
    assert progress_score(1.0, math.inf) == 0.0


# ------------------------------------------------------------------------------------------------
# CIFAR-10 in torchvision's on-disk format
# ------------------------------------------------------------------------------------------------
PER_BATCH = 50


def _write_fake_cifar(root: Path, protocol: int = 2) -> dict[str, np.ndarray]:
    """Five training batches and a test batch of PER_BATCH random images, as torchvision has them."""
    folder = root / cifar.FOLDER
    folder.mkdir(parents=True)
    rng = np.random.default_rng(7)
    written: dict[str, list[np.ndarray]] = {"x": [], "y": []}
    for name in (*cifar.TRAIN_FILES, cifar.TEST_FILE):
        data = rng.integers(0, 256, size=(PER_BATCH, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, size=PER_BATCH)]
        batch = {
            b"batch_label": f"{name} of 6".encode(),
            b"labels": labels,
            b"data": data,
            b"filenames": [f"img_{i}.png".encode() for i in range(PER_BATCH)],
        }
        with open(folder / name, "wb") as handle:
            pickle.dump(batch, handle, protocol=protocol)
        if name != cifar.TEST_FILE:
            written["x"].append(data)
            written["y"].append(np.asarray(labels))
        else:
            written["x_test"], written["y_test"] = [data], [np.asarray(labels)]  # type: ignore[assignment]
    return {key: np.concatenate(value) for key, value in written.items()}


@pytest.mark.parametrize("protocol", [2, 4])
def test_fake_cifar10_loads_through_the_real_reader(tmp_path, protocol):
    written = _write_fake_cifar(tmp_path, protocol)
    task = get_task("cifar10", data_dir=tmp_path)
    n_train = 5 * PER_BATCH
    n_val = n_train // 10
    _check_data_task(task, (3, 32, 32), (n_train - n_val, n_val, PER_BATCH))
    assert task.pool and task.kind == tasks_module.TASK_KINDS["cifar10"]
    # labels in file order; validation = the last images of the training batches
    assert torch.equal(task.train.y, torch.from_numpy(written["y"][:-n_val]))  # type: ignore[union-attr]
    assert torch.equal(task.val.y, torch.from_numpy(written["y"][-n_val:]))  # type: ignore[union-attr]
    assert torch.equal(task.test.y, torch.from_numpy(written["y_test"]))  # type: ignore[union-attr]
    # pixels: channel-major rows, normalised per channel with training statistics
    raw = written["x"][:-n_val].reshape(-1, 3, 32, 32).astype(np.float64)
    mean, std = raw.mean(axis=(0, 2, 3)), raw.std(axis=(0, 2, 3))
    expected = (written["x_test"][3].reshape(3, 32, 32) - mean[:, None, None]) / std[:, None, None]
    assert np.allclose(task.test.x[3].numpy(), expected, atol=1e-4)  # type: ignore[union-attr]


def test_missing_cifar10_raises_with_path(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(DatasetNotFoundError) as info:
        get_task("cifar10", data_dir=missing)
    message = str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    assert str(missing / cifar.FOLDER) in message and "\n" not in message
    assert "--download" in message and cifar.CIFAR10_URL in message


def test_default_data_dir_honours_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("OPTSEARCH_DATA", str(tmp_path))
    assert cifar.default_data_dir() == tmp_path
    monkeypatch.delenv("OPTSEARCH_DATA")
    assert cifar.default_data_dir() == Path.home() / ".cache" / "optsearch"


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_restricted_unpickler_refuses_arbitrary_globals(tmp_path):
    path = tmp_path / "evil"
    path.write_bytes(pickle.dumps({b"data": _Evil()}))
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        cifar.load_pickle(path)
    path.write_bytes(pickle.dumps({b"data": np.arange(6, dtype=np.uint8).reshape(2, 3), b"labels": [1, 2]}, protocol=5))
    loaded = cifar.load_pickle(path)
    assert loaded[b"data"].tolist() == [[0, 1, 2], [3, 4, 5]] and loaded[b"labels"] == [1, 2]


def _tarball(path: Path, entries: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, payload in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return path


def test_safe_extract_refuses_path_traversal(tmp_path):
    bad = _tarball(tmp_path / "bad.tar.gz", {"ok/file": b"x", "../escape": b"y"})
    target = tmp_path / "target"
    target.mkdir()
    with pytest.raises(ValueError, match="unsafe"):
        cifar.safe_extract(bad, target)
    assert not (tmp_path / "escape").exists()


def _fake_cifar_archive(tmp_path) -> Path:
    """A tarball of a fake CIFAR-10 folder, as the real download is laid out."""
    source = tmp_path / "source"
    _write_fake_cifar(source)
    archive = tmp_path / "cifar.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(source / cifar.FOLDER, arcname=cifar.FOLDER)
    return archive


def test_download_checks_md5_and_extracts(tmp_path):
    archive = _fake_cifar_archive(tmp_path)
    digest = hashlib.md5(archive.read_bytes()).hexdigest()
    with pytest.raises(OSError, match="md5"):
        cifar.download_cifar10(tmp_path / "bad", url=archive.as_uri(), md5="0" * 32)
    assert not list((tmp_path / "bad").iterdir())  # no partial download left behind
    folder = cifar.download_cifar10(tmp_path / "data", url=archive.as_uri(), md5=digest)
    assert folder == tmp_path / "data" / cifar.FOLDER
    arrays = cifar.load_cifar10(tmp_path / "data")
    assert arrays["x_train"].shape == (5 * PER_BATCH, 3, 32, 32) and arrays["x_test"].shape == (PER_BATCH, 3, 32, 32)


# ------------------------------------------------------------------------------------------------
# Downloading from a misbehaving server (a local one on 127.0.0.1: no network needed)
# ------------------------------------------------------------------------------------------------
class _Archive(BaseHTTPRequestHandler):
    """``/archive`` serves the fake tarball; ``/stall`` stops sending half-way and waits;
    ``/truncated`` closes the connection half-way (both announce the full length); else 404."""

    archive = b""
    release = threading.Event()

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        if self.path not in ("/archive", "/stall", "/truncated"):
            self.send_error(404)
            return
        body = self.archive
        self.send_response(200)
        self.send_header("Content-Type", "application/gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.path == "/archive":
            self.wfile.write(body)
            return
        self.wfile.write(body[: len(body) // 2])
        self.wfile.flush()
        if self.path == "/stall":
            self.release.wait(60)
        self.close_connection = True

    def log_message(self, *args) -> None:
        pass


@pytest.fixture()
def archive_server(tmp_path):
    """``(base URL on 127.0.0.1, md5 of the archive)`` of a server of a fake CIFAR-10 tarball."""
    archive = _fake_cifar_archive(tmp_path)
    handler = type("Handler", (_Archive,), {"archive": archive.read_bytes(), "release": threading.Event()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", hashlib.md5(handler.archive).hexdigest()
    handler.release.set()
    server.shutdown()
    server.server_close()


def test_a_stalled_download_times_out_quickly_and_leaves_nothing(tmp_path, archive_server):
    url, digest = archive_server
    root = tmp_path / "data"
    started = time.monotonic()
    with pytest.raises(cifar.DownloadError, match="timed out") as info:
        cifar.download_cifar10(root, url=url + "/stall", md5=digest, timeout_s=0.5)
    assert time.monotonic() - started < 10
    assert url + "/stall" in str(info.value) and "\n" not in str(info.value)
    assert not list(root.iterdir())


def test_a_truncated_download_is_an_error_and_leaves_nothing(tmp_path, archive_server):
    url, digest = archive_server
    root = tmp_path / "data"
    with pytest.raises(cifar.DownloadError, match="closed after"):
        cifar.download_cifar10(root, url=url + "/truncated", md5=digest, timeout_s=5)
    assert not list(root.iterdir())
    with pytest.raises(cifar.DownloadError, match="HTTP Error 404"):
        cifar.download_cifar10(root, url=url + "/missing", md5=digest, timeout_s=5)
    assert not list(root.iterdir())


def _default_sigint() -> None:
    """In the child: Ctrl-C as a user's shell delivers it, whatever the test runner's own process ignores
    or blocks (a child inherits both, and Python only turns SIGINT into KeyboardInterrupt when it starts
    with the default disposition)."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start_download(root: Path, url: str, digest: str) -> subprocess.Popen:
    """A separate process downloading ``url`` into ``root``, once its partial file exists."""
    code = (
        "import sys; from optsearch.evaluation.tasks.cifar10 import download_cifar10; "
        "download_cifar10(sys.argv[1], url=sys.argv[2], md5=sys.argv[3], timeout_s=60)"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code, str(root), url, digest], stderr=subprocess.PIPE, text=True, preexec_fn=_default_sigint
    )
    part = root / f"{cifar.PART_PREFIX}{process.pid}"
    deadline = time.monotonic() + 120
    while not (part.exists() and part.stat().st_size > 0):
        assert process.poll() is None, process.stderr.read()
        assert time.monotonic() < deadline, "the download never started"
        time.sleep(0.05)
    return process


@pytest.mark.slow
def test_interrupted_and_killed_downloads_leave_no_partial_file(tmp_path, archive_server):
    url, digest = archive_server
    root = tmp_path / "data"
    interrupted = _start_download(root, url + "/stall", digest)
    interrupted.send_signal(signal.SIGINT)  # Ctrl-C: the download removes its own partial file
    assert interrupted.wait(30) != 0 and "KeyboardInterrupt" in interrupted.stderr.read()
    assert not list(root.iterdir())

    killed = _start_download(root, url + "/stall", digest)
    killed.kill()  # SIGKILL: no cleanup possible, so the next download removes the leftover
    killed.wait(30)
    killed.stderr.close()
    leftover = root / f"{cifar.PART_PREFIX}{killed.pid}"
    assert leftover.exists()
    with subprocess.Popen(["sleep", "60"]) as alive:  # a download in progress by a live process
        in_progress = root / f"{cifar.PART_PREFIX}{alive.pid}"
        in_progress.write_bytes(b"partial")
        folder = cifar.download_cifar10(root, url=url + "/archive", md5=digest, timeout_s=5)
        alive.kill()
    assert not leftover.exists() and in_progress.exists()
    assert folder == root / cifar.FOLDER
    assert cifar.load_cifar10(root)["x_test"].shape == (PER_BATCH, 3, 32, 32)
