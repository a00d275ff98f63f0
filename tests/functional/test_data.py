"""Data loading and partitions (no chain)."""

import gzip
import struct

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from ml import data
from conftest import examples


def _write_idx(path, array, code=0x08, gz=False):
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    raw = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(raw) if gz else raw)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_folder_round_trip(tmp_path, gz):
    rng = np.random.default_rng(0)
    for split, n in (("train", 20), ("t10k", 7)):
        suffix = ".gz" if gz else ""
        _write_idx(tmp_path / f"{split}-images-idx3-ubyte{suffix}", rng.integers(0, 256, (n, 4, 4)), gz=gz)
        _write_idx(tmp_path / f"{split}-labels-idx1-ubyte{suffix}", rng.integers(0, 10, n), gz=gz)
    ds = data.load_idx_dataset(tmp_path)
    assert ds.x_train.shape == (20, 16) and ds.x_test.shape == (7, 16)
    assert ds.x_train.dtype == np.float32 and 0 <= ds.x_train.min() and ds.x_train.max() <= 1
    assert ds.image_shape == (4, 4)


def test_idx_errors(tmp_path):
    bad = tmp_path / "x"
    bad.write_bytes(b"\x01\x02\x08\x01")
    with pytest.raises(ValueError, match="magic"):
        data.read_idx(bad)
    short = tmp_path / "y"
    short.write_bytes(bytes([0, 0, 8, 1]) + struct.pack(">I", 10) + b"\x00" * 3)
    with pytest.raises(ValueError, match="expected 10 data bytes"):
        data.read_idx(short)
    with pytest.raises(FileNotFoundError, match="no train-images"):
        data.load_idx_dataset(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        data.load_idx_dataset(tmp_path / "missing")


def test_real_mnist_is_shipped():
    ds = data.load_dataset("mnist")
    assert ds.x_train.shape == (60000, 784) and ds.x_test.shape == (10000, 784)
    assert sorted(np.unique(ds.y_test).tolist()) == list(range(10))


@settings(max_examples=examples(25), deadline=None)
@given(st.integers(1, 50), st.integers(0, 10**6))
def test_iid_partition_is_a_partition(n_clients, seed):
    parts = data.partition_iid(500, n_clients, seed)
    allidx = np.concatenate(parts)
    assert sorted(allidx.tolist()) == list(range(500))
    sizes = [len(p) for p in parts]
    assert max(sizes) - min(sizes) <= 1
    assert all(np.array_equal(a, b) for a, b in zip(parts, data.partition_iid(500, n_clients, seed)))


@settings(max_examples=examples(15), deadline=None)
@given(st.integers(2, 10), st.sampled_from([0.1, 0.5, 5.0]), st.integers(0, 10**6))
def test_dirichlet_partition_is_a_seeded_partition(n_clients, alpha, seed):
    labels = np.random.default_rng(1).integers(0, 10, 2000)
    parts = data.partition_dirichlet(labels, n_clients, alpha, seed)
    assert sorted(np.concatenate(parts).tolist()) == list(range(2000))
    assert min(len(p) for p in parts) >= 10
    again = data.partition_dirichlet(labels, n_clients, alpha, seed)
    assert all(np.array_equal(a, b) for a, b in zip(parts, again))


def test_dirichlet_small_alpha_skews_labels():
    labels = np.random.default_rng(1).integers(0, 10, 5000)
    skewed = data.partition_dirichlet(labels, 5, 0.1, 0)
    even = data.partition_iid(5000, 5, 0)
    def top_share(parts):
        return np.mean([np.bincount(labels[p], minlength=10).max() / len(p) for p in parts])
    assert top_share(skewed) > 2 * top_share(even)


def test_bad_partition_arguments():
    with pytest.raises(ValueError, match="unknown partition"):
        data.partition(np.zeros(10), 2, "zipf", 0)
    with pytest.raises(ValueError, match="cannot split"):
        data.partition_iid(3, 4, 0)
    with pytest.raises(ValueError, match="alpha"):
        data.partition_dirichlet(np.zeros(100), 2, 0.0, 0)
    with pytest.raises(ValueError, match="unknown dataset"):
        data.load_dataset("cifar")
