"""Research, not part of the product: the largest poison the CONSENSUS reveal bounds let in.
Two of ten clients send global - s x (an honest update), with s chosen so the mean move sits
just under the bound, MNIST logreg IID, fixed point 12.16, maxMove 400, ratio 2000 per-mille
(configs/demo.toml) and 3000. Three bounds: "median", the contract's (maxMoveRatio x
moveReference: the lower median of the seated commits' declared moves, poisoners' included);
"declared", the previous rule (the mean of the declared moves, capped by the last round's
mean); and "last", the rule before it (maxMoveRatio x the last round's mean only; round 1
bounded by maxMove alone). Accuracy after each round against the all-honest run. Also: the
largest honest move over the round's mean (IID and Dirichlet(0.5), 3 seeds, 2 rounds), which
is how low the ratio can go without rejecting honest clients.
Run: .venv/bin/python -m studies.research.adaptive_poisoner | tee docs/results/research/adaptive_poisoner.out.txt"""
import numpy as np
import torch

from ml import codec
from ml import data as D
from ml.models import build_model, set_flat
from ml.protocol import aggregate
from ml.training import TrainConfig, accuracy, client_seed, initial_weights, train_local

torch.set_num_threads(1)
data = D.load_dataset("mnist")
fmt = codec.FixedPoint(12, 16)
MAX_MOVE = 400


def q(x):
    return codec.quantize(x, fmt).ints.astype(np.int64)


def train_round(model, g, parts, seed: int, r: int, clients: int) -> list[np.ndarray]:
    ups = []
    for i in range(clients):
        set_flat(model, g / fmt.scale)
        ups.append(q(train_local(model, data.x_train[parts[i]], data.y_train[parts[i]], TrainConfig(),
                                 client_seed(seed, r, i))))
    return ups


def mean_move(u: np.ndarray, g: np.ndarray) -> int:
    return int(np.abs(u - g).sum()) // g.size


def run(poisoners: int, ratio: int, bound_rule: str = "declared", seed: int = 0, rounds: int = 5) -> list[float]:
    parts = D.partition(data.y_train, 10, "iid", seed, 0.5)
    model = build_model("logreg", data.n_features, data.n_classes, seed)
    g = q(initial_weights("logreg", data, seed, fmt))
    last_mean, accs = 0, []
    c = ratio / 1000
    for r in range(1, rounds + 1):
        ups = train_round(model, g, parts, seed, r, 10 - poisoners)
        honest_delta = ups[0] - g
        if bound_rule == "median":
            # the contract's rule now: ratio x the lower median of the seated declarations;
            # the poisoners declare their own (large) move, which a minority cannot make the median
            declared = sorted([mean_move(u, g) for u in ups] + [MAX_MOVE] * poisoners)
            bound = min(MAX_MOVE, c * declared[(len(declared) - 1) // 2])
        elif bound_rule == "declared":
            # p <= c x (honest declared + poisoners x p) / 10, solved for the largest p
            honest_sum = sum(mean_move(u, g) for u in ups)
            bound = min(MAX_MOVE, c * honest_sum / 10 / (1 - c * poisoners / 10))
            if last_mean:
                bound = min(bound, c * last_mean)
        else:
            bound = MAX_MOVE if last_mean == 0 else min(MAX_MOVE, c * last_mean)
        s = (bound - 1) / (np.abs(honest_delta).sum() / g.size)  # largest scale within the bound
        for _ in range(poisoners):
            ups.append(np.clip(np.rint(g - s * honest_delta), -(2**15), 2**15 - 1).astype(np.int64))
        last_mean = sum(mean_move(u, g) for u in ups) // len(ups)
        g = aggregate(ups, "mean").astype(np.int64)
        set_flat(model, g / fmt.scale)
        accs.append(accuracy(model, data.x_test, data.y_test))
    return accs


def honest_move_spread(split: str, seed: int, rounds: int = 2) -> list[float]:
    """Largest honest mean move over the round's mean, per round, ten honest clients."""
    parts = D.partition(data.y_train, 10, split, seed, 0.5)
    model = build_model("logreg", data.n_features, data.n_classes, seed)
    g = q(initial_weights("logreg", data, seed, fmt))
    out = []
    for r in range(1, rounds + 1):
        ups = train_round(model, g, parts, seed, r, 10)
        moves = np.array([mean_move(u, g) for u in ups])
        out.append(round(float(moves.max() / moves.mean()), 2))
        g = aggregate(ups, "mean").astype(np.int64)
    return out


import sys

RULES = sys.argv[1:] or ["median", "declared", "last"]
base = run(0, 2000)
print("all honest                  ", [round(a, 4) for a in base])
for bound_rule in RULES:
    for ratio in (2000, 3000):
        acc = run(2, ratio, bound_rule)
        print(f"2 adaptive, {bound_rule:8} {ratio}‰", [round(a, 4) for a in acc],
              f"gap {100 * (base[-1] - acc[-1]):+.2f} pp", flush=True)
print("honest max/mean move per round (how low maxMoveRatio can go without rejecting honest clients):")
for split in ("iid", "dirichlet") if RULES != ["median"] else ():
    for seed in range(3):
        print(f"  {split:9} seed {seed}: {honest_move_spread(split, seed)}", flush=True)
