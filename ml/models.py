"""Torch models and the flat-vector view of their parameters the codec works on."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class LogisticRegression(nn.Module):
    """Multinomial logistic regression (softmax of one linear layer), as in the paper."""

    def __init__(self, n_features: int, n_classes: int) -> None:
        super().__init__()
        self.linear = nn.Linear(n_features, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.flatten(1))


class MLP(nn.Module):
    """One hidden ReLU layer."""

    def __init__(self, n_features: int, n_classes: int, hidden: int = 16) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_features, hidden), nn.ReLU(), nn.Linear(hidden, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1))


class WideMLP(nn.Module):
    """Two hidden ReLU layers, 1024 and 256 wide: 1,068,810 parameters on MNIST, the
    blob plane's model (a column-plane round of it would cost ~1.1 billion gas)."""

    def __init__(self, n_features: int, n_classes: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_features, 1024), nn.ReLU(), nn.Linear(1024, 256), nn.ReLU(),
                                 nn.Linear(256, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1))


class CNN(nn.Module):
    """Two 5x5 conv layers (8 and 16 channels) with max-pooling, then 256->24->10:
    9,842 parameters on 28x28 inputs, small enough for one submission transaction."""

    def __init__(self, n_features: int, n_classes: int) -> None:
        super().__init__()
        side = int(round(n_features**0.5))
        if side * side != n_features or side < 16:
            raise ValueError(f"cnn needs square images of side >= 16, got {n_features} features")
        self.side = side
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        )
        flat = 16 * (((side - 4) // 2 - 4) // 2) ** 2
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(flat, 24), nn.ReLU(), nn.Linear(24, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x.reshape(-1, 1, self.side, self.side)))


MODELS = ("logreg", "mlp", "cnn", "mlp1m")


def build_model(name: str, n_features: int, n_classes: int, seed: int = 0) -> nn.Module:
    """Builds a model with seeded initial weights."""
    torch.manual_seed(seed)
    if name == "logreg":
        return LogisticRegression(n_features, n_classes)
    if name == "mlp":
        return MLP(n_features, n_classes)
    if name == "cnn":
        return CNN(n_features, n_classes)
    if name == "mlp1m":
        return WideMLP(n_features, n_classes)
    raise ValueError(f"unknown model {name!r} (choose from {', '.join(MODELS)})")


def param_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def get_flat(model: nn.Module) -> np.ndarray:
    """All parameters, in `model.parameters()` order, as one float64 vector."""
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()]).double().numpy()


def set_flat(model: nn.Module, flat: np.ndarray) -> None:
    """Loads a flat vector produced by `get_flat` (or decoded from chain) into the model."""
    flat = np.asarray(flat)
    if flat.size != param_count(model):
        raise ValueError(f"vector has {flat.size} values, model has {param_count(model)} parameters")
    offset = 0
    with torch.no_grad():
        for p in model.parameters():
            n = p.numel()
            p.copy_(torch.from_numpy(flat[offset : offset + n].reshape(p.shape)).to(p.dtype))
            offset += n
