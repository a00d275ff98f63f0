"""Research, not part of the product: float simulation of candidate CONSENSUS claim scores
(leave-one-out cosine vs the L1 claimScore) for honest clients, a noisy free-rider and a
next-round copier, MNIST logreg, 5 rounds, seeds 0-4, IID and Dirichlet(0.5). Issue 3 notes.
Run: .venv/bin/python -m studies.research.consensus_scores | tee docs/results/research/consensus_scores.out.txt"""
import numpy as np, torch
torch.set_num_threads(1)
from ml import data as D
from ml.models import build_model, set_flat
from ml.training import TrainConfig, client_seed, initial_weights, train_local
from ml import codec

POP = ["honest"] * 5 + ["noisy_free_rider", "copier"]
data = D.load_dataset("mnist")
fmt = codec.FixedPoint(12, 16)
def q(x): return codec.quantize(x, fmt).ints.astype(np.float64)

for split in ("iid", "dirichlet"):
  for seed in range(5):
    parts = D.partition(data.y_train, len(POP) + 3, split, seed, 0.5)  # 10 shards like the study
    model = build_model("logreg", data.n_features, data.n_classes, seed)
    g = q(initial_weights("logreg", data, seed, fmt))
    rng = np.random.default_rng(seed)
    prev = {}
    worst = {}
    for r in range(1, 6):
        gf = g / 4096
        honest = {}
        for i in range(5):
            set_flat(model, gf)
            honest[i] = q(train_local(model, data.x_train[parts[i]], data.y_train[parts[i]], TrainConfig(), client_seed(seed, r, i)))
        ref = honest[0]
        delta = ref - g
        sigma = float(np.mean(np.abs(delta))) * np.sqrt(np.pi / 2)
        ups = dict(honest)
        ups[5] = np.rint(g + rng.normal(0, sigma, g.size))
        ups[6] = prev.get(0, ref)  # copier: previous round's victim model (round 1: same-round copy)
        U = {i: ups[i] - g for i in ups}
        n = len(U)
        s = sum(U.values()) / n
        g_new = np.floor(sum(ups.values()) / n + 0.5)
        sc = {}
        for i, u in U.items():
            s_loo = (n * s - u) / (n - 1)
            cos = float(u @ s_loo / (np.linalg.norm(u) * np.linalg.norm(s_loo) + 1e-9))
            move = np.abs(u).mean(); dist = np.abs(ups[i] - g_new).mean(); mean_move = np.mean([np.abs(x).mean() for x in U.values()])
            l1 = (dist + mean_move - move) / mean_move
            sc[i] = (cos, l1)
        hc = [sc[i][0] for i in range(5)]
        line = f"{split:9} s{seed} r{r}  honest cos {min(hc):+.3f}..{max(hc):+.3f}  noisy {sc[5][0]:+.3f}  copier {sc[6][0]:+.3f} | L1 honest max {max(sc[i][1] for i in range(5)):.3f} noisy {sc[5][1]:.3f} copier {sc[6][1]:.3f}"
        print(line, flush=True)
        prev = honest
        g = g_new
