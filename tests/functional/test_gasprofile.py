"""The gas profiler (studies.gasprofile) accounts for every unit of gas: a relayed round's
transactions re-executed opcode by opcode add up, by function, to what the receipts say,
the model's code deposit is 200 gas per byte, and the relay's own functions appear."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from studies import bench, gasprofile
from conftest import isolated

SOLC = Path(__file__).resolve().parents[2] / "tools" / "bin" / "solc-v0.8.37"


@pytest.fixture(scope="module")
def paper_map():
    return gasprofile.SourceMap.compile(SOLC, "contracts/BatchEngine.sol", "BatchEngine")


def test_a_relayed_round_is_charged_whole_to_functions_and_intrinsic_gas(project, owner, clients, chain, paper_map):
    n, k = 16 * 40, 3
    rng = np.random.default_rng(3)
    with isolated(chain):
        t, base = bench.bench_task(project.PaperRule, owner, clients[:k], n, "mean", rng, relay=True)
        start = chain.blocks.height
        bench.play_round(t, owner, clients[:k], base, n, rng, 2, relay=True)
        web3 = chain.provider.web3
        hashes = [h for b in range(start + 1, chain.blocks.height + 1) for h in web3.eth.get_block(b)["transactions"]]
        profiles = [gasprofile.profile_transaction(chain.provider, "0x" + bytes(h).hex(), paper_map) for h in hashes]
        data = bytes(web3.eth.get_transaction(hashes[1])["input"])
    # the relay (heads and proofs), then the one column (the relay armed its block)
    assert len(profiles) == 1 + len(t.columns) == 2
    relay, p = profiles
    # Above the EIP-7623 floor: the receipt is base + calldata (16/4 gas per byte) + every
    # function's gas, less the refund of the slots the round's end clears (at most a fifth).
    assert p.calldata_gas == sum(16 if b else 4 for b in data)
    spent = 21_000 + p.calldata_gas + sum(p.by_function.values())
    assert 0 < spent - p.gas_used == -p.adjustment <= spent // 5
    # The new model column's code (200 gas per byte of 40 words) and the round's head list
    # (16 bytes per update: bench tasks check replays), plus the two creations' own work.
    deposit = 200 * (32 * 40 + 16 * (k + k % 2))
    assert deposit < p.by_function["code deposit (CREATE)"] < deposit + 2 * 60_000
    assert any(f.startswith("BatchEngine.sol:_") and "Distances" in f for f in p.by_function), p.by_function
    assert "BatchEngine.sol:relay" in relay.by_function
    # the rule vouches for the relayed updates (signatures): one call into it, charged whole
    assert any(f.endswith("-> STATICCALL") or f.endswith("-> CALL") for f in relay.by_function), relay.by_function
    rows = gasprofile.round_table(profiles, n, k, top=5)
    assert rows[-1]["gas"] == relay.gas_used + p.gas_used == sum(r["gas"] for r in rows[:-1])
    assert rows[-2]["what"] == "storage refunds"
