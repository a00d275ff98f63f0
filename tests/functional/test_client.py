"""The participant state machine in-process: one step at a time against the test chain."""

import time

import numpy as np
import pytest

from ml import data as datasets
from ml.models import build_model, param_count
from ml.node.participant import Client, ClientState, has_pending
from ml import protocol
from ml.settings import BatchSettings, ConsensusSettings, Status
from conftest import isolated

DIGITS = datasets.load_dataset("digits")
N = param_count(build_model("logreg", DIGITS.n_features, DIGITS.n_classes))
S = BatchSettings(param_count=N, min_participants=1, max_participants=2, post_duration=600,
                  tier_thresholds=(100000,), tier_rewards=(10**15,))
CONS = ConsensusSettings(commit_duration=600, stake=10**15, min_move=1, max_move=100000)


@pytest.fixture
def client_on_task(launch_task, clients, chain, tmp_path):
    with isolated(chain):
        t = launch_task(S, CONS)
        c = Client(t, clients[0], DIGITS, np.arange(300), 0, "logreg", 0, ClientState(tmp_path), log=lambda m: None,
                   stuck_after=0)
        yield t, c


def test_stuck_transaction_is_replaced_then_the_action_redone(client_on_task, clients, chain):
    """A transaction that stays pending blocks the client (it never sends a second one beside
    it) until it replaces it with a same-nonce no-op; then it commits exactly once."""
    import threading

    t, c = client_on_task
    provider, me = chain.provider, clients[0]
    web3 = provider.web3
    nonce = me.nonce
    provider.make_request("evm_setAutomine", [False])  # nothing gets mined: our transaction hangs
    try:
        raw = me.sign_transaction(me.prepare_transaction(
            provider.network.ecosystem.create_transaction(receiver=me.address, value=1, gas_limit=21_000,
                                                          max_fee=10**9, max_priority_fee=10**9, type=2,
                                                          chain_id=chain.chain_id, nonce=nonce)))
        h = web3.eth.send_raw_transaction(raw.serialize_transaction())
        assert has_pending(web3, me.address)
        c.stuck_after = 3600
        assert c.step() is None  # pending: wait, send nothing
        c.stuck_after = 0
        out: list = []
        step = threading.Thread(target=lambda: out.append(c.step()))
        step.start()
        time.sleep(2)  # the replacement is in the pool, beside nothing: same nonce
        provider.make_request("evm_mine", [])
        step.join(60)
    finally:
        provider.make_request("evm_setAutomine", [True])
    assert out and "replaced stuck transaction" in out[0]
    assert not has_pending(web3, me.address) and me.nonce == nonce + 1
    assert _never_mined(web3, h)
    assert t.status(1, me)[0] == Status.NONE
    assert "committed" in c.step()
    assert t.status(1, me)[0] == Status.COMMITTED
    assert c.step() is None  # nothing left to do in the commit phase


def _never_mined(web3, h) -> bool:
    from web3.exceptions import TransactionNotFound

    try:
        return web3.eth.get_transaction_receipt(h) is None
    except TransactionNotFound:
        return True


def test_restarted_client_reveals_exactly_what_it_committed_and_withdraws(client_on_task, owner, clients, tmp_path,
                                                                           chain):
    """The state file holds the committed words, move, salt and head link, not floats: a new
    Client on the same folder (a restart) draws the seats, reveals from it without
    re-quantizing, and withdraws reward and stake once the round is aggregated."""
    t, c = client_on_task
    me = clients[0]
    assert "committed" in c.step()
    state = ClientState(tmp_path)
    saved = state.commitment(1)
    assert bytes(t.rule_contract.commitmentOf(1, me)) == protocol.commitment_hash(t.rule_address, 1, str(me.address), saved.salt,
                                                                             saved.move, saved.head)
    t.advance_time(600)
    chain.mine()  # the client reads the latest block's time: the commit phase is over
    restarted = Client(t, me, DIGITS, np.arange(300), 0, "logreg", 0, ClientState(tmp_path), log=lambda m: None)
    did = []
    while t.status(1, me)[0] != Status.LISTED:
        did.append(restarted.step())
        assert len(did) < 5, did
    assert "drew seats" in did[0] and "revealed (on the list)" in did[-1]
    assert t.round_state().posting_closed  # every seat revealed: the round closes early
    agg = t.aggregate(owner)
    before = me.balance
    assert "withdrew" in restarted.step()
    assert agg.rewards[me.address] == 10**15 and me.balance > before and t.withdrawable(me) == 0
    assert t.status(1, me)[0] == Status.LISTED and state.rounds() == []


def test_broadcast_resends_a_transaction_the_node_dropped(clients, chain):
    """A node may drop a sent transaction from its pool (anvil does, with several large ones
    from one sender): waiting for it sends the same bytes again instead of waiting forever."""
    import threading

    from ml.transport import await_receipt

    provider, me, to = chain.provider, clients[0], clients[1]
    web3 = provider.web3
    before = to.balance
    provider.make_request("evm_setAutomine", [False])
    try:
        raw = me.sign_transaction(me.prepare_transaction(
            provider.network.ecosystem.create_transaction(receiver=to.address, value=7, gas_limit=21_000,
                                                          max_fee=10**10, max_priority_fee=10**9, type=2,
                                                          chain_id=chain.chain_id, nonce=me.nonce))).serialize_transaction()
        h = "0x" + bytes(web3.eth.send_raw_transaction(raw)).hex()
        provider.make_request("anvil_dropTransaction", [h])
        assert _never_mined(web3, h) and web3.eth.get_transaction_count(me.address, "pending") == me.nonce
        out: list = []
        waiter = threading.Thread(target=lambda: out.append(await_receipt(web3, raw, h, time.monotonic() + 60)))
        waiter.start()
        time.sleep(2)  # the waiter finds it gone and sends it again
        provider.make_request("evm_mine", [])
        waiter.join(60)
    finally:
        provider.make_request("evm_setAutomine", [True])
    assert out and out[0]["status"] == 1 and to.balance == before + 7
