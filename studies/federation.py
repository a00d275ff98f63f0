"""One federation run on chain (all clients driven from this process, each submitting
from its own account), side by side with the float FedAvg baseline on the same seeds:
the driver behind `ape run train_round`, the experiments and the end-to-end test."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Sequence

import numpy as np
from tqdm import tqdm

from ml import codec
from ml.chain import BatchTask
from ml.data import Dataset
from ml.models import build_model, param_count, set_flat
from ml.training import TrainConfig, accuracy, client_seed, fedavg_baseline, train_local


@dataclass
class RoundRecord:
    """What one round did: the per-round row of `train_round`'s table and JSON."""

    round: int
    accuracy: float  # test accuracy of the on-chain global model after the round
    baseline_accuracy: float | None  # float FedAvg, same seeds; None with --no-baseline
    participants: int
    gas_submit: int
    gas_aggregate: int  # every column transaction
    gas_total: int
    train_seconds: float
    chain_seconds: float
    rewards_paid_wei: int
    distances: list[int]
    tiers: list[int]
    saturated: int
    param_count: int
    baseline_seconds: float | None = None  # float FedAvg round (training + mean), same machine
    blocks: int = 0  # blocks from the round's first transaction to the block of its last column

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RunConfig:
    model: str = "logreg"
    rounds: int = 10
    train: TrainConfig = TrainConfig()
    seed: int = 0
    baseline: bool = True
    #: post: every client posts, then a keeper aggregates; relay: every client signs and the
    #: keeper (here the owner) carries all updates in the columns.
    path: str = "post"

    def __post_init__(self) -> None:
        if self.path not in ("post", "relay"):
            raise ValueError(f"path must be post or relay, got {self.path!r}")


def run_onchain(
    task: BatchTask,
    owner: Any,
    clients: Sequence[Any],
    data: Dataset,
    parts: Sequence[np.ndarray],
    cfg: RunConfig,
    on_round: Callable[[RoundRecord], None] | None = None,
    progress: bool = False,
) -> list[RoundRecord]:
    """Runs ``cfg.rounds`` rounds on a launched PAPER task (``BatchTask.launch``: round 1
    open, a seat for every client);
    ``clients[i]`` trains on ``parts[i]``. The float baseline starts from the task's own
    initial model (version 0), read back from the chain."""
    if len(clients) != len(parts):
        raise ValueError(f"{len(clients)} client accounts for {len(parts)} data shards")
    model = build_model(cfg.model, data.n_features, data.n_classes, cfg.seed)
    if param_count(model) != task.param_count:
        raise ValueError(f"model {cfg.model} has {param_count(model)} parameters, task expects {task.param_count}")

    init = codec.dequantize(task.model_ints(0), task.fmt)
    baseline_s: list[float] = []
    baseline = (
        fedavg_baseline(cfg.model, data, list(parts), cfg.rounds, cfg.train, cfg.seed, init, baseline_s)
        if cfg.baseline else None
    )

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
        if cfg.path == "relay":
            subs = []
            signed = [task.sign(a, round_id, u) for a, u in zip(clients, locals_)]
            saturated = sum(s.saturated for s in signed)
            fin = task.relay(owner, signed)  # every seat relayed: no waiting for the deadline
        else:
            subs = task.submit_many(round_id, list(zip(clients, locals_)))
            saturated = sum(s.saturated for s in subs)
        chain_s += time.perf_counter() - t0
        t0 = time.perf_counter()
        if cfg.path == "post":
            # Every seat is taken, so posting is closed: aggregate the round at once.
            fin = task.aggregate(owner)
        who = [str(a.address) for a in clients]
        paid = [fin.rewards.get(a, 0) for a in who]
        distances, tiers = [fin.scores.get(a, 0) for a in who], [fin.tiers.get(a, 0) for a in who]
        new_global = task.global_model()
        chain_s += time.perf_counter() - t0
        set_flat(model, new_global)
        rec = RoundRecord(
            round=round_id,
            accuracy=accuracy(model, data.x_test, data.y_test),
            baseline_accuracy=baseline[r - 1] if baseline else None,
            participants=fin.participants,
            gas_submit=sum(s.gas_used for s in subs),
            gas_aggregate=fin.gas_used,
            gas_total=sum(s.gas_used for s in subs) + fin.gas_used,
            train_seconds=round(train_s, 3),
            chain_seconds=round(chain_s, 3),
            rewards_paid_wei=sum(paid),
            distances=distances,
            tiers=tiers,
            saturated=saturated,
            param_count=task.param_count,
            baseline_seconds=round(baseline_s[r - 1], 3) if baseline else None,
            blocks=fin.block_number - first_block + 1,
        )
        records.append(rec)
        if on_round:
            on_round(rec)
        if not fin.next_round_open and r < cfg.rounds:
            raise RuntimeError(
                f"round {r + 1} could not open: reward pool {task.reward_pool} wei "
                f"< round reserve {task.round_reserve} wei; fund the task (BatchTask.fund) and call startRound"
            )
    return records


@dataclass
class BlobRoundRecord:
    """One round of the blob plane: the model's accuracy next to float FedAvg, what the
    round cost, and whether the asserted model is ml.protocol's aggregate of the posts."""

    round: int
    accuracy: float
    baseline_accuracy: float | None
    participants: int
    execution_gas: int  # posts + drafts + assert + finalize
    blob_gas: int
    blobs: int
    transactions: int
    train_seconds: float
    chain_seconds: float
    model_blobs_match: bool  # the final model's versioned hashes = blobs of protocol.aggregate(posts)
    rewards_paid_wei: int
    param_count: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_blob(task: Any, keeper: Any, clients: Sequence[Any], data: Dataset, parts: Sequence[np.ndarray],
             cfg: RunConfig, on_round: Callable[[BlobRoundRecord], None] | None = None,
             progress: bool = False) -> list[BlobRoundRecord]:
    """Runs ``cfg.rounds`` rounds on a launched blob task (``BlobTaskClient.launch``: round
    1 open, a seat per client): every client trains and posts its update as blobs, then
    ``keeper`` asserts the honest claim, the dispute window passes (a dev chain's clock is
    moved), and it finalizes and opens the next round. Needs a dev chain."""
    from ml import blobs as B
    from ml import protocol

    model = build_model(cfg.model, data.n_features, data.n_classes, cfg.seed)
    if param_count(model) != task.config.param_count:
        raise ValueError(f"model {cfg.model} has {param_count(model)} parameters, task expects "
                         f"{task.config.param_count}")
    fmt = task.fmt
    init = codec.dequantize(task.model_ints(0), fmt)
    baseline = (fedavg_baseline(cfg.model, data, list(parts), cfg.rounds, cfg.train, cfg.seed, init)
                if cfg.baseline else None)
    web3 = task.web3
    records = []
    for r in range(1, cfg.rounds + 1):
        round_id = task.current_round
        t0 = time.perf_counter()
        global_ = task.global_model()
        chain_s = time.perf_counter() - t0
        train_s, posted = 0.0, []
        steps = tqdm(list(enumerate(zip(clients, parts))), desc=f"round {round_id}", unit="client", leave=False,
                     disable=not progress)
        receipts = []
        for c, (account, idx) in steps:
            t0 = time.perf_counter()
            set_flat(model, global_)
            ints = codec.quantize(train_local(model, data.x_train[idx], data.y_train[idx], cfg.train,
                                              client_seed(cfg.seed, r, c)), fmt).ints
            train_s += time.perf_counter() - t0
            t0 = time.perf_counter()
            receipts += task.post(account, round_id, ints)
            posted.append(ints)
            chain_s += time.perf_counter() - t0
        t0 = time.perf_counter()
        claim = task.honest_claim(round_id)
        asserted = task.assert_claim(keeper, round_id, claim)
        drafts = [e.tx_hash for e in task.events("BlobsPosted", round=round_id, account=str(keeper.address))]
        task.advance_time(task.config.dispute_window + 1)
        fin = task.finalize(keeper, round_id)
        chain_s += time.perf_counter() - t0
        expected = protocol.aggregate(posted, task.config.aggregation, task.config.trim)
        hashes = [h for h, _ in task.model_hashes(task.version)]
        match = hashes == [B.blob_hash(b) for b in B.encode_update(expected, task.layout)]
        tx_receipts = [web3.eth.get_transaction_receipt(x.tx_hash) for x in receipts]
        tx_receipts += [web3.eth.get_transaction_receipt(x) for x in set(drafts)]
        gas = sum(int(x["gasUsed"]) for x in tx_receipts) + asserted.gas_used + fin.gas_used
        blob_gas = sum(int(x.get("blobGasUsed", 0)) for x in tx_receipts)
        paid = sum(int(e.reward) for e in fin.named("Rewarded"))
        set_flat(model, codec.dequantize(task.model_ints(), fmt))
        rec = BlobRoundRecord(round=round_id, accuracy=accuracy(model, data.x_test, data.y_test),
                              baseline_accuracy=baseline[r - 1] if baseline else None, participants=len(posted),
                              execution_gas=gas, blob_gas=blob_gas, blobs=blob_gas // B.GAS_PER_BLOB,
                              transactions=len(tx_receipts) + 2,
                              train_seconds=round(train_s, 3), chain_seconds=round(chain_s, 3),
                              model_blobs_match=match, rewards_paid_wei=paid, param_count=task.config.param_count)
        records.append(rec)
        if on_round:
            on_round(rec)
        if r < cfg.rounds:
            task.start_round(keeper)
    return records
