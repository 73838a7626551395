"""The data tasks' loaders: digits, MNIST-1D and CIFAR-10 as normalised tensors with fixed splits.

Inputs are float32 tensors (``[N, C, H, W]`` / ``[N, C, L]``, normalised with training-set
statistics) and labels int64, split into train / validation / test by a **fixed** split that does
not depend on the evaluation seed. Each loader caches its task: treat the tensors as read-only.
"""

from __future__ import annotations

import random
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
import torch

from . import cifar10
from .task import SPLIT_SEED, DataSplit, Task

if TYPE_CHECKING:
    from .registry import TaskSpec


def _split_indices(n: int, n_val: int, n_test: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A fixed seeded partition of ``range(n)`` into train / validation / test indices."""
    order = np.random.default_rng(SPLIT_SEED).permutation(n)
    n_train = n - n_val - n_test
    return order[:n_train], order[n_train : n_train + n_val], order[n_train + n_val :]


def _split(x: np.ndarray, y: np.ndarray) -> DataSplit:
    return DataSplit(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), torch.from_numpy(y.astype(np.int64)))


def _data_task(spec: "TaskSpec", train: DataSplit, val: DataSplit, test: DataSplit, *, pool: bool = False) -> Task:
    return Task(
        name=spec.name,
        kind=spec.kind,
        num_classes=10,
        input_shape=tuple(int(s) for s in train.x.shape[1:]),
        defaults=spec.defaults,
        train=train,
        val=val,
        test=test,
        pool=pool,
        description=spec.description,
    )


@lru_cache(maxsize=None)
def load_digits(spec: "TaskSpec") -> Task:
    """sklearn's 1797 digits as ``[N, 1, 8, 8]``: 1197 / 300 / 300 by a fixed permutation."""
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    x = bunch.images.astype(np.float64)[:, None] / 16.0  # [1797, 1, 8, 8]
    y = bunch.target.astype(np.int64)
    train, val, test = _split_indices(len(y), 300, 300)
    mean, std = x[train].mean(), x[train].std()
    x = (x - mean) / std
    return _data_task(spec, _split(x[train], y[train]), _split(x[val], y[val]), _split(x[test], y[test]))


@lru_cache(maxsize=1)
def _mnist1d_arrays() -> dict[str, np.ndarray]:
    """The standard MNIST-1D arrays, generated offline (``make_dataset``, never ``get_dataset``)."""
    from mnist1d.data import get_dataset_args, make_dataset

    # make_dataset reseeds the global `random` and numpy generators: restore them afterwards.
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        data = make_dataset(get_dataset_args())
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
    return {key: np.asarray(data[key]) for key in ("x", "y", "x_test", "y_test")}


@lru_cache(maxsize=None)
def load_mnist1d(spec: "TaskSpec") -> Task:
    """MNIST-1D as ``[N, 1, 40]``: the last 1000 training signals validate, its test set tests."""
    arrays = _mnist1d_arrays()
    x, y = arrays["x"][:, None, :], arrays["y"]  # [4000, 1, 40]; already shuffled and normalised
    n_val = 1000
    return _data_task(
        spec,
        _split(x[:-n_val], y[:-n_val]),
        _split(x[-n_val:], y[-n_val:]),
        _split(arrays["x_test"][:, None, :], arrays["y_test"]),
    )


@lru_cache(maxsize=4)
def load_cifar10(spec: "TaskSpec", root: str) -> Task:
    """CIFAR-10 from ``root``: the last 5000 training images validate; per-channel normalisation."""
    arrays = cifar10.load_cifar10(root)
    x_train = arrays["x_train"]
    n_val = len(x_train) // 10  # the last 5000 of the 50 000 training images
    train_x, val_x = x_train[:-n_val], x_train[-n_val:]
    mean = train_x.mean(axis=(0, 2, 3), dtype=np.float64).reshape(1, 3, 1, 1)
    std = train_x.std(axis=(0, 2, 3), dtype=np.float64).reshape(1, 3, 1, 1)

    def normalise(images: np.ndarray) -> np.ndarray:
        return ((images.astype(np.float32) - mean.astype(np.float32)) / std.astype(np.float32)).astype(np.float32)

    return _data_task(
        spec,
        _split(normalise(train_x), arrays["y_train"][:-n_val]),
        _split(normalise(val_x), arrays["y_train"][-n_val:]),
        _split(normalise(arrays["x_test"]), arrays["y_test"]),
        pool=True,
    )
