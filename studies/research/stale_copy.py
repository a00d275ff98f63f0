"""Research, not part of the product: how close is a next-round copier's vector (client 0's
update of the previous round, re-sent) to client 0's fresh update of this round, compared
with how far honest clients are from each other? And where do the victim, the copier and
the lowest honest client land under the CONSENSUS claim score? MNIST logreg, the
adversary study's population (5 honest + noisy free-rider + copier in the aggregate, 10
shards), 5 rounds, seeds 0-4, IID and Dirichlet(0.5), fixed point 12.16 as on chain.
Run: .venv/bin/python -m studies.research.stale_copy | tee docs/results/research/stale_copy.out.txt"""
import numpy as np
import torch

from ml import codec
from ml import data as D
from ml.models import build_model, set_flat
from ml.protocol import claim_score
from ml.training import TrainConfig, client_seed, initial_weights, train_local

torch.set_num_threads(1)
data = D.load_dataset("mnist")
fmt = codec.FixedPoint(12, 16)


def q(x):
    return codec.quantize(x, fmt).ints.astype(np.int64)


def l1(a, b):
    return int(np.abs(a - b).sum())


print("copy~victim: L1(copier, victim's fresh update) / min L1 between two honest clients; "
      "scores: CONSENSUS claim score (per-mille, lower is better)")
for split in ("iid", "dirichlet"):
    for seed in range(5):
        parts = D.partition(data.y_train, 10, split, seed, 0.5)
        model = build_model("logreg", data.n_features, data.n_classes, seed)
        g = q(initial_weights("logreg", data, seed, fmt))
        rng = np.random.default_rng(seed)
        prev0 = None
        for r in range(1, 6):
            honest = {}
            for i in range(5):
                set_flat(model, g / 4096)
                honest[i] = q(train_local(model, data.x_train[parts[i]], data.y_train[parts[i]], TrainConfig(),
                                          client_seed(seed, r, i)))
            sigma = float(np.mean(np.abs(honest[0] - g))) * np.sqrt(np.pi / 2)
            ups = dict(honest)
            ups[5] = np.rint(g + rng.normal(0, sigma, g.size)).astype(np.int64)
            if prev0 is None:  # round 1: nothing to copy yet (on chain the copier loses its stake)
                prev0 = honest[0]
                g = np.floor(sum(ups.values()) / len(ups) + 0.5).astype(np.int64)
                continue
            ups[6] = prev0
            n = len(ups)
            g_new = np.floor(sum(ups.values()) / n + 0.5).astype(np.int64)
            moves = {i: l1(u, g) for i, u in ups.items()}
            mean_move = sum(moves.values()) // n
            score = {i: claim_score(l1(u, g_new), moves[i], mean_move) for i, u in ups.items()}
            pair = min(l1(honest[i], honest[j]) for i in range(5) for j in range(i + 1, 5))
            worst = max(range(5), key=lambda i: score[i])
            print(f"{split:9} s{seed} r{r}  copy~victim {l1(ups[6], honest[0]) / pair:5.2f}  "
                  f"score victim {score[0]:5d} copier {score[6]:5d} noisy {score[5]:5d} "
                  f"worst honest {score[worst]:5d} (client {worst})", flush=True)
            prev0 = honest[0]
            g = g_new
