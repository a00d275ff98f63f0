"""Local training, evaluation and the float FedAvg baseline (no chain)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .codec import FixedPoint, dequantize, quantize
from .data import Dataset
from .models import build_model, get_flat, set_flat


@dataclass(frozen=True)
class TrainConfig:
    local_epochs: int = 1
    lr: float = 0.1
    batch_size: int = 32


def client_seed(seed: int, round_: int, client: int) -> int:
    """Seed of one client's local training in one round; shared by chain run and baseline."""
    return (seed * 1_000_003 + round_ * 10_007 + client) % (2**31)


def train_local(
    model: nn.Module, x: np.ndarray, y: np.ndarray, cfg: TrainConfig, seed: int
) -> np.ndarray:
    """Runs minibatch SGD on (x, y) from the model's current weights; returns the new flat
    weights. Deterministic for a given seed (batch order from a seeded generator)."""
    gen = torch.Generator().manual_seed(seed)
    xt = torch.from_numpy(x)
    yt = torch.from_numpy(y)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for _ in range(cfg.local_epochs):
        order = torch.randperm(len(yt), generator=gen)
        xs, ys = xt[order], yt[order]  # one gather per epoch; batches are then views
        for start in range(0, len(ys), cfg.batch_size):
            opt.zero_grad(set_to_none=True)
            loss_fn(model(xs[start : start + cfg.batch_size]), ys[start : start + cfg.batch_size]).backward()
            opt.step()
    return get_flat(model)


@torch.no_grad()
def accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    model.eval()
    pred = model(torch.from_numpy(x)).argmax(dim=1).numpy()
    return float((pred == y).mean())


def initial_weights(model_name: str, data: Dataset, seed: int, fmt: FixedPoint) -> np.ndarray:
    """The seeded initial model, already on the fixed-point grid, so that a chain run and
    its float baseline start from exactly the same weights."""
    model = build_model(model_name, data.n_features, data.n_classes, seed)
    return dequantize(quantize(get_flat(model), fmt).ints, fmt)


def fedavg_baseline(
    model_name: str,
    data: Dataset,
    parts: list[np.ndarray],
    rounds: int,
    cfg: TrainConfig,
    seed: int,
    initial: np.ndarray,
    seconds: list[float] | None = None,
) -> list[float]:
    """Plain float FedAvg: same clients, seeds and start as the chain run; the server takes
    the unweighted mean, as the contract does. Returns test accuracy after each round and,
    into ``seconds`` if given, each round's wall time (training and averaging)."""
    model = build_model(model_name, data.n_features, data.n_classes, seed)
    global_ = np.asarray(initial, dtype=np.float64)
    accs = []
    for r in range(1, rounds + 1):
        t0 = time.perf_counter()
        updates = []
        for c, idx in enumerate(parts):
            set_flat(model, global_)
            updates.append(train_local(model, data.x_train[idx], data.y_train[idx], cfg, client_seed(seed, r, c)))
        global_ = np.mean(updates, axis=0)
        if seconds is not None:
            seconds.append(time.perf_counter() - t0)
        set_flat(model, global_)
        accs.append(accuracy(model, data.x_test, data.y_test))
    return accs
