"""The model, the data and the training: fedchain's own (ml.models, ml.data, ml.training),
so that a Flower run and a plain float FedAvg run of the same seeds train identically."""

from __future__ import annotations

import numpy as np
import torch

from ml.data import load_dataset, partition
from ml.models import build_model
from ml.training import TrainConfig, accuracy, client_seed, train_local

torch.set_num_threads(1)  # see the README: results and speed depend on the thread count


def load_data(name: str, partition_id: int, num_partitions: int, seed: int):
    """This SuperNode's IID share of the training set, and the test set."""
    data = load_dataset(name)
    idx = partition(data.y_train, num_partitions, "iid", seed)[partition_id]
    return data, data.x_train[idx], data.y_train[idx]


def net(model: str, data, seed: int) -> torch.nn.Module:
    return build_model(model, data.n_features, data.n_classes, seed)


def train(model: torch.nn.Module, x: np.ndarray, y: np.ndarray, epochs: int, lr: float, batch: int, seed: int,
          round_: int, partition_id: int) -> None:
    train_local(model, x, y, TrainConfig(epochs, lr, batch), client_seed(seed, round_, partition_id))


def test(model: torch.nn.Module, data) -> float:
    return accuracy(model, data.x_test, data.y_test)
