"""The blob plane's trust model, with real processes: a keeper process that asserts a model
with one wrong lane is caught by an independent watcher process (`ape run watcher`), which
refutes the claim, takes half the bond, asserts the right claim, and the round completes
with the right model. Both talk JSON-RPC to one anvil (1-s blocks, prague); the clients post
their blobs from this process through bare web3."""

from __future__ import annotations

import numpy as np
import pytest
from eth_account import Account

from ml import blobs as B
from ml import protocol
from ml.blob_chain import BlobTaskClient
from ml.node.localnet import MNEMONIC, Anvil, Proc, wait_until
from ml.settings import BlobSettings

N = 8192
BOND = 10**17
S = BlobSettings(param_count=N, frac_bits=8, max_participants=3, min_participants=2, post_duration=20,
                 dispute_window=3600, assert_timeout=3600, assert_bond=BOND, keeper_fee=10**15, access_price=0)


def key(i: int):
    Account.enable_unaudited_hdwallet_features()
    return Account.from_mnemonic(MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}")


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    folder = tmp_path_factory.mktemp("watcher")
    anvil = Anvil(folder, block_time=1)
    anvil.start()
    task = BlobTaskClient.deploy_over_web3(anvil.uri, key(0), S, funding=S.round_reserve * 3)
    task.set_initial_model(key(0), np.zeros(N, dtype=np.int64))
    procs = [Proc("keeper", ["keeper", "--task", task.address, "--account", "test:5", "--wrong-lane", "7",
                             "--poll", "0.5", "--network", anvil.uri], folder / "keeper.log").start(),
             Proc("watcher", ["watcher", "--task", task.address, "--account", "test:6", "--poll", "0.5",
                              "--network", anvil.uri], folder / "watcher.log").start()]
    yield {"task": task, "procs": procs}
    for p in procs:
        p.stop(timeout=20)
    anvil.stop()


def _logs(net) -> str:
    return "\n".join(f"--- {p.name}\n{p.log()[-3000:]}" for p in net["procs"])


def test_a_keeper_asserting_a_wrong_lane_is_refuted_by_a_watcher_and_the_round_completes(net):
    task = net["task"]
    wait_until(lambda: all("[" in p.log() for p in net["procs"]), 120, "the keeper and the watcher to start")
    task.start_round(key(0))
    rng = np.random.default_rng(0)
    updates = [rng.integers(-300, 301, N) for _ in range(3)]
    for i, u in enumerate(updates):
        task.post(key(i + 1), 1, u)
    try:
        # the watcher refutes the lie and asserts the right claim; then an hour's window passes
        wait_until(lambda: task.live_claim(1) is not None and task.live_claim(1).claimant == key(6).address, 180,
                   "the watcher's claim")
        task.advance_time(3601)
        wait_until(lambda: task.version == 1, 120, "round 1 to be finalized")
    except TimeoutError:
        pytest.fail(_logs(net))
    refuted = task.events("ClaimRefuted", round=1)
    assert len(refuted) == 1, _logs(net)
    assert refuted[0].claimant == key(5).address and refuted[0].disputer == key(6).address
    expected = protocol.aggregate(updates, "mean")
    assert np.array_equal(task.model_ints(1), expected)
    assert [h for h, _ in task.model_hashes(1)] == [B.blob_hash(b) for b in B.encode_update(expected, task.layout)]
    # the watcher: half the liar's bond, then its own bond back and the fee
    assert task.withdrawable(key(6)) == BOND // 2 + BOND + S.keeper_fee
    assert task.withdrawable(key(5)) == 0
    assert "refuted the claim" in net["procs"][1].log()
