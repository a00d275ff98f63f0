"""One federation run on chain (all clients driven from this process, each submitting
from its own account), side by side with the float FedAvg baseline on the same seeds."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Sequence

import numpy as np
from tqdm import tqdm

from . import codec
from .chain import FedTask
from .data import Dataset
from .models import build_model, get_flat, param_count, set_flat
from .training import TrainConfig, accuracy, client_seed, fedavg_baseline, train_local


@dataclass
class RoundRecord:
    """What one round did: the per-round row of `train_round`'s table and JSON."""

    round: int
    accuracy: float  # test accuracy of the on-chain global model after the round
    baseline_accuracy: float | None  # float FedAvg, same seeds; None with --no-baseline
    participants: int
    gas_submit: int
    gas_finalize: int
    gas_total: int
    train_seconds: float
    chain_seconds: float
    rewards_paid_wei: int
    distances: list[int]
    tiers: list[int]
    saturated: int
    param_count: int
    baseline_seconds: float | None = None  # float FedAvg round (training + mean), same machine
    blocks: int = 0  # blocks from the round's first transaction to the block that finalized it

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RunConfig:
    model: str = "logreg"
    clients: int = 5
    rounds: int = 10
    train: TrainConfig = TrainConfig()
    seed: int = 0
    baseline: bool = True


def initial_weights(model_name: str, data: Dataset, seed: int, fmt: codec.FixedPoint) -> np.ndarray:
    """The seeded initial model, already on the fixed-point grid so that chain run and
    baseline start from exactly the same weights."""
    model = build_model(model_name, data.n_features, data.n_classes, seed)
    return codec.dequantize(codec.quantize(get_flat(model), fmt).ints, fmt)


def run_onchain(
    task: FedTask,
    owner: Any,
    clients: Sequence[Any],
    data: Dataset,
    parts: Sequence[np.ndarray],
    cfg: RunConfig,
    on_round: Callable[[RoundRecord], None] | None = None,
    progress: bool = False,
) -> list[RoundRecord]:
    """Runs ``cfg.rounds`` rounds. The owner has already deployed and funded the task;
    here it sets the initial model and opens round 1. ``clients[i]`` trains on ``parts[i]``."""
    if len(clients) != len(parts):
        raise ValueError(f"{len(clients)} client accounts for {len(parts)} data shards")
    model = build_model(cfg.model, data.n_features, data.n_classes, cfg.seed)
    if param_count(model) != task.param_count:
        raise ValueError(f"model {cfg.model} has {param_count(model)} parameters, task expects {task.param_count}")

    init = initial_weights(cfg.model, data, cfg.seed, task.fmt)
    baseline_s: list[float] = []
    baseline = (
        fedavg_baseline(cfg.model, data, list(parts), cfg.rounds, cfg.train, cfg.seed, init, baseline_s)
        if cfg.baseline else None
    )
    if task.current_round == 0:
        task.set_initial_model(owner, init)
        task.start_round(owner)

    records = []
    for r in range(1, cfg.rounds + 1):
        round_id = task.current_round
        t0 = time.perf_counter()
        global_ = task.global_model()
        chain_s = time.perf_counter() - t0
        train_s = 0.0
        locals_ = []
        steps = tqdm(list(enumerate(zip(clients, parts))), desc=f"round {round_id}", unit="client",
                     leave=False, disable=not progress)
        for c, (account, idx) in steps:
            t0 = time.perf_counter()
            set_flat(model, global_)
            locals_.append(train_local(model, data.x_train[idx], data.y_train[idx], cfg.train,
                                       client_seed(cfg.seed, r, c)))
            train_s += time.perf_counter() - t0
        # Clients are independent: every submission goes out at once, none waits for another.
        t0 = time.perf_counter()
        first_block = task.block_number + 1
        subs = task.submit_many(round_id, list(zip(clients, locals_)))
        chain_s += time.perf_counter() - t0
        t0 = time.perf_counter()
        fin = task.finalize(owner)
        new_global = task.global_model()
        chain_s += time.perf_counter() - t0
        set_flat(model, new_global)
        rec = RoundRecord(
            round=round_id,
            accuracy=accuracy(model, data.x_test, data.y_test),
            baseline_accuracy=baseline[r - 1] if baseline else None,
            participants=fin.participants,
            gas_submit=sum(s.gas_used for s in subs),
            gas_finalize=fin.gas_used,
            gas_total=sum(s.gas_used for s in subs) + fin.gas_used,
            train_seconds=round(train_s, 3),
            chain_seconds=round(chain_s, 3),
            rewards_paid_wei=sum(s.reward for s in subs),
            distances=[s.distance for s in subs],
            tiers=[s.tier for s in subs],
            saturated=sum(s.saturated for s in subs),
            param_count=task.param_count,
            baseline_seconds=round(baseline_s[r - 1], 3) if baseline else None,
            blocks=fin.block_number - first_block + 1,
        )
        records.append(rec)
        if on_round:
            on_round(rec)
        if not fin.next_round_open and r < cfg.rounds:
            reserve = max(reward for _, reward in task.tiers()) * int(task.contract.maxParticipants())
            raise RuntimeError(
                f"round {r + 1} could not open: reward pool {int(task.contract.rewardPool())} wei "
                f"< round reserve {reserve} wei; fund the task (FedTask.fund) and call startRound"
            )
    return records
