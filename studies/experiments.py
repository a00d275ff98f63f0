"""The paper's experiments (its figures 6-9) side by side with plain federated learning:
accuracy, time per round (instant mining and mainnet-like blocks) and running cost.

`ape run experiments` drives this module; every figure is also written as CSV/JSON, and
`write_results_page` turns the measurements into docs/RESULTS.md with honest verdicts.
"""

from __future__ import annotations

import csv
import json
import math
import os
import platform
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ml import data as datasets
from ml.chain import BatchTask, set_automine
from ml.models import build_model, param_count
from ml.settings import BatchSettings
from ml.training import TrainConfig, initial_weights

from .federation import RoundRecord, RunConfig, run_onchain

#: The paper's figures for comparison.
PAPER_ROUND_OVERHEAD_S = (15.0, 18.0)
PAPER_SERVER_KRW = 5_000_000
PAPER_CIFAR_ROUNDS = (280, 630, 2000)  # CIFAR-10, 100 users: 80 / 82 / 85 % accuracy


@dataclass(frozen=True)
class Prices:
    """Every price is an option. The defaults are assumptions, not quotes: this machine has
    no internet. 1 gwei is a typical 2025 mainnet base fee (it ranged ~0.1-5 gwei most of
    the year); 3,000 USD/ETH a round 2025 price; the server cost is the paper's 5,000,000 KRW
    at 1,390 KRW/USD."""

    gas_price_gwei: float = 1.0
    eth_usd: float = 3000.0
    server_usd: float = 3600.0

    def usd(self, gas: float) -> float:
        return gas * self.gas_price_gwei * 1e-9 * self.eth_usd


@dataclass
class Run:
    """One on-chain federation run and what it measured."""

    clients: int
    rounds: int
    split: str
    mining: str  # "instant" or "<n>s blocks"
    model: str
    records: list[RoundRecord] = field(default_factory=list)
    path: str = "post"  # post, or relay (signed updates carried in the columns)

    @property
    def label(self) -> str:
        return f"{self.clients} clients, {self.split}, {self.mining}, {self.path}"

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["records"] = [r.as_dict() for r in self.records]
        return d


@dataclass(frozen=True)
class Plan:
    """Which runs to make. `quick` shortens only the block-time runs, and says so."""

    accuracy_clients: tuple[int, ...] = (5, 10)
    accuracy_rounds: tuple[int, ...] = (10, 30)
    splits: tuple[str, ...] = ("iid", "dirichlet")
    time_rounds: tuple[int, ...] = (10, 20, 30)
    time_clients: tuple[int, ...] = (5, 10, 20)
    block_time: int = 12
    quick: bool = True
    quick_rounds: int = 3
    cost_models: tuple[str, ...] = ("logreg", "mlp", "cnn")
    seed: int = 0

    def block_runs(self) -> list[tuple[int, int]]:
        """(clients, rounds) of the block-time runs: the rounds study as one run of the
        longest length (its prefixes give the shorter ones), the clients study at 10 rounds."""
        if self.quick:
            return [(k, self.quick_rounds) for k in self.time_clients]
        longest = max(self.time_rounds)
        runs = [(self.time_clients[0], longest)]
        runs += [(k, min(self.time_rounds)) for k in self.time_clients[1:]]
        return runs


def machine() -> dict[str, Any]:
    import torch

    try:
        anvil = subprocess.run(["anvil", "--version"], capture_output=True, text=True, timeout=20).stdout.split("\n")[0]
    except (OSError, subprocess.SubprocessError):
        anvil = "unknown"
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu, "cores": os.cpu_count(), "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(), "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
        "anvil": anvil, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def run_federation(container: Any, provider: Any, accts: Sequence[Any], data: datasets.Dataset, model: str,
                   clients: int, rounds: int, split: str, seed: int, baseline: bool, block_time: int | None,
                   on_round: Callable[[RoundRecord], None] | None = None, path: str = "post") -> Run:
    """Deploys a task, sets the initial model and opens round 1 with instant mining, then
    runs ``rounds`` rounds, under interval mining of ``block_time`` seconds if given."""
    owner, client_accts = accts[0], list(accts[1 : clients + 1])
    if len(client_accts) < clients:
        raise ValueError(f"{clients} clients need {clients + 1} accounts, the node has {len(accts)}")
    parts = datasets.partition(data.y_train, clients, split, seed, 0.5)
    n = param_count(build_model(model, data.n_features, data.n_classes))
    settings = BatchSettings(param_count=n, max_participants=clients, min_participants=max(1, (clients + 1) // 2),
                             post_duration=24 * 3600)
    task = BatchTask.launch(container, owner, settings, initial_weights(model, data, seed, settings.fmt),
                            funding=settings.round_reserve * rounds)
    cfg = RunConfig(model=model, rounds=rounds, seed=seed, baseline=baseline, train=TrainConfig(), path=path)
    run = Run(clients, rounds, split, f"{block_time}s blocks" if block_time else "instant", model, path=path)
    if block_time:
        set_automine(task.web3, False, block_time)
    try:
        run.records = run_onchain(task, owner, client_accts, data, parts, cfg, on_round=on_round)
    finally:
        if block_time:
            set_automine(task.web3, True)
    return run


# --- summaries -------------------------------------------------------------------------


def accuracy_rows(runs: Sequence[Run], checkpoints: Sequence[int]) -> list[dict[str, Any]]:
    rows = []
    for run in runs:
        for r in checkpoints:
            if r > len(run.records):
                continue
            rec = run.records[r - 1]
            rows.append({"clients": run.clients, "split": run.split, "rounds": r, "chain": rec.accuracy,
                         "float": rec.baseline_accuracy,
                         "diff_pp": 100 * (rec.accuracy - rec.baseline_accuracy)})
    return rows


def time_row(run: Run, rounds: int) -> dict[str, Any]:
    recs = run.records[:rounds]
    k = len(recs)
    chain_s = sum(r.chain_seconds for r in recs) / k
    row = {
        "mining": run.mining, "path": run.path, "clients": run.clients, "rounds": k,
        "train_s": sum(r.train_seconds for r in recs) / k,
        "chain_s": chain_s, "chain_s_per_client": chain_s / run.clients,
        "blocks": sum(r.blocks for r in recs) / k,
        "baseline_s": (sum(r.baseline_seconds or 0 for r in recs) / k) if recs[0].baseline_seconds else None,
    }
    return row


def cost_rows(gas_per_round: float, prices: Prices, model_counts: Sequence[int] = (1, 2, 3)) -> list[dict[str, Any]]:
    usd = prices.usd(gas_per_round)
    return [{"models": m, "gas_per_round": gas_per_round * m, "usd_per_round": usd * m,
             "break_even_rounds": prices.server_usd / (usd * m) if usd else math.inf} for m in model_counts]


# --- files ------------------------------------------------------------------------------


def write_csv(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not rows:
        path.write_text("")
        return
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(rows)


def write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, default=str))


# --- plots ------------------------------------------------------------------------------


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_accuracy(runs: Sequence[Run], path: Path) -> None:
    plt = _plt()
    fig, axes = plt.subplots(1, len(runs), figsize=(4.2 * len(runs), 3.6), sharey=True, squeeze=False)
    for ax, run in zip(axes[0], runs):
        x = [r.round for r in run.records]
        ax.plot(x, [100 * r.baseline_accuracy for r in run.records], "-", color="tab:gray", lw=3, alpha=0.6,
                label="plain FedAvg (float, no chain)")
        ax.plot(x, [100 * r.accuracy for r in run.records], "--", color="tab:blue", lw=1.5,
                label="on-chain FL (16-bit fixed point)")
        ax.set_title(f"{run.clients} clients, {'IID' if run.split == 'iid' else 'Dirichlet(0.5)'}")
        ax.set_xlabel("round")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("test accuracy (%)")
    axes[0][0].legend(loc="lower right", fontsize=8)
    fig.suptitle("Fig. 6 — MNIST logistic regression: on-chain vs plain federated learning")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_time(rows: Sequence[dict[str, Any]], by: str, path: Path, title: str) -> None:
    """Stacked bars of training and chain seconds per round, per mining mode, with the plain
    FL (no chain) round time as a marker."""
    plt = _plt()
    mode_of = lambda r: f"{r['mining']}, {r.get('path', 'post')}"  # noqa: E731
    modes = sorted({mode_of(r) for r in rows}, key=lambda m: (not m.startswith("instant"), m))
    fig, axes = plt.subplots(1, len(modes), figsize=(4.2 * len(modes), 3.8), squeeze=False)
    for ax, mode in zip(axes[0], modes):
        sel = [r for r in rows if mode_of(r) == mode]
        x = np.arange(len(sel))
        train = [r["train_s"] for r in sel]
        chain = [r["chain_s"] for r in sel]
        ax.bar(x, train, color="tab:green", label="local training (all clients, one machine)")
        ax.bar(x, chain, bottom=train, color="tab:blue", label="chain: post (or sign) -> columns -> read model")
        base = [r["baseline_s"] for r in sel]
        if any(b is not None for b in base):
            ax.plot(x, [b if b is not None else np.nan for b in base], "kD", ms=7,
                    label="plain FL round, no chain (same clients, same machine)")
        for xi, r in zip(x, sel):
            ax.text(xi, r["train_s"] + r["chain_s"], f"{r['blocks']:.1f} blk", ha="center", va="bottom", fontsize=8)
        ax.set_xticks(x, [f"{r[by]}" for r in sel])
        ax.set_xlabel("rounds run" if by == "rounds" else "clients")
        ax.set_ylabel("seconds per round")
        ax.set_title(mode)
        ax.grid(axis="y", alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_cost(gas_per_round: float, prices: Prices, model_gas: dict[str, int], path: Path,
              relay_gas_per_round: float | None = None) -> None:
    plt = _plt()
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    usd = prices.usd(gas_per_round)
    horizon = max(PAPER_CIFAR_ROUNDS[-1], int(1.3 * prices.server_usd / usd)) if usd else PAPER_CIFAR_ROUNDS[-1]
    x = np.geomspace(1, horizon, 200)
    paths = [("post", gas_per_round, "-")] + ([("relay", relay_gas_per_round, "--")] if relay_gas_per_round else [])
    for name, gas, style in paths:
        u = prices.usd(gas)
        for m in (1, 2, 3):
            ax.plot(x, m * u * x, style, label=f"{m} model{'s' if m > 1 else ''}, {name}")
            if u:
                ax.plot([prices.server_usd / (m * u)], [prices.server_usd], "o", color=ax.lines[-1].get_color())
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.axhline(prices.server_usd, color="k", ls="--", label=f"server budget ({prices.server_usd:,.0f} USD)")
    for r in PAPER_CIFAR_ROUNDS:
        ax.axvline(r, color="tab:gray", ls=":", lw=1)
    ax.set_xlabel("rounds (log; dots: break-even; dotted: the paper's CIFAR-10 rounds to 80/82/85 %)")
    ax.set_ylabel("cumulative cost, USD (log)")
    ax.set_title(f"Fig. 9 — running cost at {prices.gas_price_gwei:g} gwei, {prices.eth_usd:,.0f} USD/ETH")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    names = list(model_gas)
    ax2.bar(names, [model_gas[n] / 1e6 for n in names], color="tab:purple")
    for i, n in enumerate(names):
        ax2.text(i, model_gas[n] / 1e6, f"{model_gas[n] / 1e6:.1f}M", ha="center", va="bottom", fontsize=8)
    ax2.set_ylabel("gas per round, 5 clients (millions)")
    ax2.set_title("gas per round vs model")
    ax2.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
