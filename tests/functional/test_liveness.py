"""The audit's attacks, performed: a relayed update whose later columns nobody can supply,
one whose later column is out of range, a full house of withholding keys, a crashed keeper,
a stalled round past its timeout, an ended task with a round in any state, a signer's
partial post beside its relay, and the block producer grinding the block before the seat
draw. Each test shows the attack no longer locks anything or picks anything."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from ml import codec, protocol
from ml.chain import BatchTask
from ml.settings import EXIT_DELAY, BatchSettings, ConsensusSettings
from conftest import isolated

N = 40  # 3 words: 3 columns of 1 word
T = 500  # aggregation timeout
S = BatchSettings(param_count=N, frac_bits=8, value_bits=12, post_duration=600, min_participants=2,
                  max_participants=4, access_price=10**15, tier_thresholds=(10, 100, 1000),
                  tier_rewards=(300, 200, 100), column_words=1, post_words=1, keeper_fee=5, aggregation_timeout=T)
LO, HI = -(1 << 11), (1 << 11) - 1


def floats(ints):
    return np.asarray(ints, dtype=np.float64) / S.fmt.scale


def honest(seed):
    return np.clip(10 + np.random.default_rng(seed).integers(-5, 6, N), LO, HI)


@pytest.fixture
def task(project, owner, chain):
    with isolated(chain):
        yield BatchTask.launch(project.PaperRule, owner, S, np.zeros(N), funding=S.round_reserve * 4)


def _advance(chain):
    return lambda s: setattr(chain, "pending_timestamp", chain.pending_timestamp + s)


def _sign_head(t, account, round_, head):
    """A signature of an arbitrary head (what a signer who never had the words sends)."""
    from eth_account.messages import encode_typed_data

    from ml.signing import compact

    sig = account.sign_message(encode_typed_data(full_message=protocol.relay_typed_data(
        t.chain_id, t.address, round_, head)))
    return compact(int(sig.v), int.from_bytes(bytes(sig.r), "big"), int.from_bytes(bytes(sig.s), "big"))


def _relay_heads(t, sender, heads_and_signers):
    from eth_abi import encode

    proofs, heads = [], []
    for head, account in heads_and_signers:
        r, vs = _sign_head(t, account, t.current_round, head)
        proofs.append(encode(["address", "bytes32", "bytes32"], [str(account.address), r, vs]))
        heads.append(head)
    return t.engine.relay(t.current_round, heads, proofs, sender=sender)


def test_a_relayed_head_over_an_unopenable_link_is_dropped_and_the_round_completes(task, owner, clients, accounts,
                                                                                   chain, reverts):
    """The audit's HIGH: a fresh key signs a head whose next link has no known preimage and
    relays it after the deadline; it even sends column 0 itself (earning the fee). Column 1
    can never carry it. From postDeadline + aggregationTimeout an honest keeper drops it,
    the columns start again and the honest updates are aggregated and paid."""
    t = task
    ups = [honest(1), honest(2)]
    for a, u in zip(clients, ups):
        t.submit(a, 1, floats(u))
    attacker = accounts[20]
    col0 = codec.pack(honest(3))[:1]
    unopenable = bytes(range(32))
    from eth_utils import keccak

    head = keccak(b"".join(w.to_bytes(32, "big") for w in col0) + unopenable)
    chain.pending_timestamp += S.post_duration
    _relay_heads(t, attacker, [(head, attacker)])
    t.seal_seed(attacker)
    posted = [t.posted_words(1, str(a.address)) for a in clients[:2]]
    nexts = [protocol.update_links(w, 1)[1] for w in posted] + [unopenable]
    t.engine.aggregate(1, 0, [w[0] for w in posted] + col0, nexts, sender=attacker)
    assert t.round_state().columns_done == 1
    # nobody can send column 1: the attacker's link has no preimage
    with reverts("DropTooEarly"):
        t.drop(owner, [2])
    with reverts("QuorumReached"):
        t.engine.abandon(1, sender=owner)
    keeper = accounts[12]
    r = t.aggregate(keeper, wait=_advance(chain))  # waits for the drop time, drops, starts over
    assert r.completed and t.completed_rounds == 1
    assert set(r.rewards) == {str(a.address) for a in clients[:2]} and all(r.rewards.values())
    assert np.array_equal(t.global_ints(), protocol.aggregate(ups, "mean"))
    assert t.status(1, attacker)[0].name == "REFUSED"


def test_a_relayed_update_out_of_range_in_a_later_column_is_dropped(task, owner, clients, accounts, chain, reverts):
    """The audit's second HIGH: a relayed update valid in column 0 and out of the task's
    12-bit lanes in column 2. Its column reverts ValueOutOfRange for everyone; the SDK sees
    it, drops it after the timeout, and the round completes without it."""
    t = task
    for a, seed in zip(clients[:2], (1, 2)):
        t.submit(a, 1, floats(honest(seed)))
    bad = codec.pack(honest(4))
    bad[2] = 3000  # lane 0 of the last word: 3000 > 2047
    attacker = accounts[20]
    chain.pending_timestamp += S.post_duration
    head = protocol.update_links(bad, 1)[0]
    _relay_heads(t, attacker, [(head, attacker)])
    t._updates[(1, str(attacker.address))] = bad  # every word public: the keeper has them
    updates = [t.posted_words(1, a) for a in t.entrants(1)]
    t.seal_seed(owner)
    for c in (0, 1):
        t.send(t.column_call(1, c, updates), owner)
    with reverts("ValueOutOfRange"):
        t.send(t.column_call(1, 2, updates), owner)
    assert t.stalled(1) == [2]
    r = t.aggregate(accounts[12], wait=_advance(chain))
    assert r.completed and str(attacker.address) not in r.rewards and len(r.rewards) == 2


def test_a_full_house_of_withholding_keys_costs_one_round_and_locks_nothing(task, owner, accounts, chain):
    """Every seat relayed before the deadline by fresh keys whose words nobody ever sees: the
    round waits out the timeout, the keeper drops them all, the round ends below quorum, the
    reserve is back in the pool and the next round opens."""
    t = task
    pool = t.reward_pool
    attackers = accounts[16:20]
    heads = [bytes([i + 1]) * 32 for i in range(4)]
    _relay_heads(t, attackers[0], list(zip(heads, attackers)))
    assert t.round_state().posting_closed
    r = t.aggregate(accounts[12], wait=_advance(chain))
    assert not r.completed and t.current_round == 2 and t.completed_rounds == 0
    assert t.reward_pool == pool and t.engine.balance == pool + t.round_reserve


def test_any_round_is_abandoned_after_twice_the_timeout_whatever_its_state(task, owner, clients, accounts, chain,
                                                                          reverts):
    """A keeper crashes after column 0 of a round with quorum: from abandonableAt anyone ends
    it (no new model, the reserve back, the next round open); before that it may not."""
    t = task
    for a, seed in zip(clients[:3], (1, 2, 3)):
        t.submit(a, 1, floats(honest(seed)))
    chain.pending_timestamp += S.post_duration
    t.seal_seed(owner)
    updates = [t.posted_words(1, a) for a in t.entrants(1)]
    t.send(t.column_call(1, 0, updates), accounts[12])  # then the keeper is gone
    at = t.round_state().post_deadline + 2 * T
    chain.pending_timestamp = at - 5
    with reverts("QuorumReached"):
        t.engine.abandon(1, sender=accounts[13])
    chain.pending_timestamp = at
    t.engine.abandon(1, sender=accounts[13])
    assert t.current_round == 2 and t.completed_rounds == 0 and t.withdrawable(accounts[12]) == S.keeper_fee


def test_sweep_after_the_exit_delay_whatever_the_round(task, owner, clients, accounts, chain):
    """The owner ends the task with a round half aggregated; after EXIT_DELAY the sweep ends
    that round and pays the pool: nothing is left but credits, which their owners withdraw."""
    t = task
    for a, seed in zip(clients[:2], (1, 2)):
        t.submit(a, 1, floats(honest(seed)))
    chain.pending_timestamp += S.post_duration
    t.seal_seed(owner)
    t.send(t.column_call(1, 0, [t.posted_words(1, a) for a in t.entrants(1)]), accounts[12])
    t.end_task(owner)
    chain.pending_timestamp += EXIT_DELAY
    assert t.sweep(owner) > 0 and not t.round_open
    assert t.withdraw(accounts[12]) == S.keeper_fee
    assert t.engine.balance == 0


def test_a_relay_replaces_its_signers_partial_post(project, owner, clients, accounts, chain):
    """The audit's SDK LOW: a signer sends one of its three posts, then signs its update for
    a relayer; the relay takes the seat (a partial post counts for nothing) instead of
    reverting for everyone."""
    with isolated(chain):
        t = BatchTask.launch(project.PaperRule, owner, S, np.zeros(N), funding=S.round_reserve)
        u = t.encode(floats(honest(1)))
        t.send(t.post_calls(1, u)[0], clients[0])
        assert t.status(1, clients[0])[0].name == "POSTING"
        signed = [t.sign(a, 1, floats(honest(i + 1))) for i, a in enumerate(clients[:4])]
        r = t.relay(accounts[12], signed, wait=_advance(chain))
        assert r.completed and len(r.rewards) == 4


def test_column_zero_takes_the_randomness_of_a_block_armed_in_advance(task, owner, clients, chain, reverts):
    """Column 0 in any block but the armed one reverts; sealSeed before it reverts too, and
    after it only arms again (two blocks ahead: the arming block's proposer knows the next
    block's RANDAO value, not the one after). So neither the keeper nor the relayer chooses
    the seed, and no producer can grind it through a block hash (none is in it)."""
    t = task
    for a, seed in zip(clients[:4], (1, 2, 3, 4)):
        t.submit(a, 1, floats(honest(seed)))  # the fourth fills the round: it arms block b + 2
    updates = [t.posted_words(1, a) for a in t.entrants(1)]
    with reverts("SeedNotArmed"):
        t.send(t.column_call(1, 0, updates), owner)  # block b + 1: too early
    chain.mine()  # the armed block b + 2 passes unused
    with reverts("SeedNotArmed"):
        t.send(t.column_call(1, 0, updates), owner)
    armed = t.engine.sealSeed(1, sender=owner)  # arms c + 2
    with reverts("SeedNotArmed"):
        t.engine.sealSeed(1, sender=owner)  # c + 1 (a reverted transaction, mined): no re-arming
    receipt = t.engine.sealSeed(1, sender=owner)  # c + 2: sealed
    assert receipt.block_number == armed.block_number + 2
    assert [e.event_name for e in receipt.events] == ["SeedSealed"]
    with reverts("SeedAlreadySealed"):
        t.engine.sealSeed(1, sender=owner)
    assert t.aggregate(owner).completed


CONS = dataclasses.replace(S, min_participants=1, max_participants=2, column_words=3, post_words=3, max_relayed=0)


def test_grinding_the_block_before_the_draw_no_longer_picks_the_seats(project, owner, accounts, chain):
    """The audit's MEDIUM: the producer of the block before the draw knew the next RANDAO
    value and made variants of its own block, whose hash was in the seed, until Sybils held
    every seat. Twelve variants of the arming block (another sender each time: twelve hashes)
    are made here. The contract's seed is keccak(prevrandao, task, round) of the armed block,
    checked on chain for each; with one RANDAO value (what that producer knows) the old
    formula gives many seatings across the variants (the grind), the new one exactly one.
    (anvil draws a fresh RANDAO value per block, which mainnet's producer cannot.)"""
    from eth_abi import encode
    from eth_utils import keccak

    with isolated(chain):
        t = BatchTask.launch(project.ConsensusRule, owner, CONS, np.zeros(N), funding=CONS.round_reserve * 2,
                             extra=ConsensusSettings(commit_duration=100, stake=10, max_move=2**16))
        committers = [str(a.address) for a in accounts[12:20]]
        for i, a in enumerate(accounts[12:20]):
            t.commit(a, t.prepare(1, floats(honest(i))))
        drawable = int(t.rule_contract.commitDeadline())
        web3 = chain.provider.web3
        hashes, randao = [], None
        for variant in range(12):
            snap = chain.snapshot()
            chain.pending_timestamp = drawable
            # the block before the draw, made 12 ways: another sender arms it each time
            arm = t.rule_contract.drawSeats(1, sender=accounts[variant])
            assert [e.event_name for e in arm.events] == ["DrawArmed"]
            hashes.append(bytes(web3.eth.get_block(arm.block_number)["hash"]))
            chain.mine()
            receipt = t.rule_contract.drawSeats(1, sender=accounts[variant], gas_limit=3_000_000)
            assert receipt.block_number == arm.block_number + 2
            (ev,) = [e for e in receipt.events if e.event_name == "SeatsDrawn"]
            mix = bytes(web3.eth.get_block(receipt.block_number)["mixHash"])
            assert bytes(ev.seed) == keccak(encode(["bytes32", "address", "uint256"], [mix, t.rule_address, 1]))
            seated = sorted(a for a in committers if t.seated(1, a))
            assert seated == sorted(protocol.draw_seats(bytes(ev.seed), committers, CONS.max_participants)[:2])
            randao = randao or mix
            chain.restore(snap)
        assert len(set(hashes)) == 12

        def seats(seed):
            return tuple(sorted(protocol.draw_seats(seed, committers, CONS.max_participants)[:2]))

        old = {seats(keccak(encode(["bytes32", "bytes32", "address", "uint256"], [randao, h, t.address, 1])))
               for h in hashes}
        new = {seats(keccak(encode(["bytes32", "address", "uint256"], [randao, t.address, 1]))) for _ in hashes}
        assert len(old) > 1 and len(new) == 1
