"""Human-facing output of a run: the per-round table and the closing summary."""

from __future__ import annotations

from typing import Mapping, Sequence

from .federation import RoundRecord

WEI_PER_ETH = 10**18


def _eth(wei: int) -> str:
    return f"{wei / WEI_PER_ETH:.4f}"


def print_round_header(baseline: bool) -> None:
    cols = f"{'round':>5} {'acc(chain)':>10}"
    if baseline:
        cols += f" {'acc(float)':>10} {'diff pp':>7}"
    cols += f" {'clients':>7} {'gas':>11} {'gas/p/cl':>9} {'chain s':>8} {'train s':>8} {'rewards ETH':>11}"
    print(cols)
    print("-" * len(cols))


def print_round_row(rec: RoundRecord) -> None:
    params = max(1, rec.param_count)
    row = f"{rec.round:>5} {rec.accuracy:>10.4f}"
    if rec.baseline_accuracy is not None:
        row += f" {rec.baseline_accuracy:>10.4f} {100 * (rec.accuracy - rec.baseline_accuracy):>+7.2f}"
    per_param = rec.gas_total / max(1, rec.participants) / params  # all-in: sends + aggregation
    row += (
        f" {rec.participants:>7} {rec.gas_total:>11,} {per_param:>9.0f} {rec.chain_seconds:>8.2f}"
        f" {rec.train_seconds:>8.2f} {_eth(rec.rewards_paid_wei):>11}"
    )
    print(row, flush=True)


def print_summary(records: Sequence[RoundRecord], earned: Mapping[str, int]) -> None:
    last = records[-1]
    print()
    print(f"final test accuracy (on-chain global model): {last.accuracy:.4f}")
    if last.baseline_accuracy is not None:
        worst = max(abs(r.accuracy - r.baseline_accuracy) for r in records if r.baseline_accuracy is not None)
        print(f"float FedAvg baseline: {last.baseline_accuracy:.4f}  (largest per-round gap {100 * worst:.2f} pp)")
    print(f"total gas: {sum(r.gas_total for r in records):,}   "
          f"chain time {sum(r.chain_seconds for r in records):.1f} s, "
          f"training time {sum(r.train_seconds for r in records):.1f} s")
    print("earned by each client (withdrawable):")
    for address, wei in earned.items():
        print(f"  {address}  {_eth(wei)} ETH")
