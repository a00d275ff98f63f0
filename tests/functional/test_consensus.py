"""CONSENSUS rule: commit-reveal-claim, stake, move bounds, claim windows, and every revert."""

import dataclasses

import numpy as np
import pytest

from conftest import CONS_SMALL as CONS, update_near
from ml import codec, protocol

N = CONS.param_count
STAKE = CONS.stake


@pytest.fixture(scope="module")
def ctask(deploy_task):
    return deploy_task(CONS)


@pytest.fixture
def cround(ctask, owner, chain):
    with chain.isolate():
        ctask.start_round(owner)
        yield ctask


def upd(offset, seed=0):
    """An update at mean distance ~offset from the zero model."""
    return update_near(np.zeros(N, dtype=np.int64), offset, seed, CONS.fmt)


def test_commitment_and_link_match_contract(ctask, clients):
    c = ctask.prepare(3, upd(10))
    assert len(c.links) == 1 and c.moves == [int(np.abs(codec.unpack(c.words, N)).sum())]
    assert bytes(ctask.contract.chunkLink(c.words, c.moves[0], b"\0" * 32)) == c.links[0]
    assert bytes(ctask.contract.commitmentHash(3, clients[0], c.salt, c.move, c.links[0])) == \
        ctask.commitment_hash(clients[0], c)


def test_full_round_rewards_by_consensus(cround, owner, clients, chain):
    t = cround
    ups = [upd(10, 1), upd(12, 2), upd(11, 3), upd(0, 4)]  # the last did not train: rejected
    cs = [t.prepare(1, u) for u in ups]
    for a, c in zip(clients, cs):
        t.commit(a, c)
    assert int(t.contract.roundEntrants()) == 4
    chain.pending_timestamp += CONS.round_duration  # the commit phase always runs its course
    pool0 = int(t.contract.rewardPool())
    reveals = [t.reveal(a, c) for a, c in zip(clients, cs)]
    assert [r.accepted for r in reveals] == [True, True, True, False]
    ints = [codec.unpack(c.words, N) for c in cs]
    assert [r.move for r in reveals] == [protocol.distance(i, np.zeros(N, dtype=np.int64)) for i in ints]
    assert int(t.contract.rewardPool()) == pool0 + STAKE  # the free-rider's stake
    fin = t.finalize(owner)  # everyone revealed: no need to wait
    assert fin.completed and fin.participants == 3
    consensus = protocol.mean(ints[:3])
    assert t.global_ints().tolist() == consensus.tolist()
    mean_move = sum(r.move for r in reveals[:3]) // 3
    assert int(t.contract.roundMeanMove(1)) == mean_move
    for a, c, i in zip(clients[:3], cs[:3], ints[:3]):
        cl = t.claim(a, c)
        d = protocol.distance(i, consensus)
        move = protocol.distance(i, np.zeros(N, dtype=np.int64))
        assert cl.distance == d
        assert cl.reward == protocol.claim_reward(d, move, mean_move, [500, 900, 1300], [300, 200, 100])
        assert cl.stake == STAKE and t.withdrawable(a) == cl.reward + STAKE
    assert t.withdrawable(clients[3]) == 0
    c = t.contract
    assert c.balance == (int(c.rewardPool()) + int(c.roundReserve()) + int(c.totalClaimReserve())
                         + int(c.totalRewardsOwed()) + int(c.totalStakes()))


def _ratio_round(deploy_task, owner, clients, chain, offsets, max_participants=4):
    """A task with maxMoveRatio 2000 and round 1 open; commits updates at the given mean
    moves, closes the commit phase and draws the seats."""
    t = deploy_task(dataclasses.replace(CONS, max_move_ratio=2000, max_participants=max_participants))
    t.start_round(owner)
    cs = [t.prepare(1, upd(k, i)) for i, k in enumerate(offsets)]
    for a, c in zip(clients, cs):
        t.commit(a, c)
    chain.pending_timestamp += CONS.round_duration
    t.draw_seats(owner)
    return t, cs


def test_reveals_are_bounded_by_the_median_declared_move(deploy_task, owner, clients, chain):
    """The reference is the lower median of the moves the seated committers declared. A
    boosted update (~5x) within maxMove is rejected before it touches the aggregate; the ratio
    bound depends on the others, so its stake comes back."""
    with chain.isolate():
        t, cs = _ratio_round(deploy_task, owner, clients, chain, [10, 12, 11, 60])
        declared = [c.move // N for c in cs]
        ref = protocol.move_reference(declared)
        assert int(t.contract.moveReference()) == ref == sorted(declared)[1]
        pool = int(t.contract.rewardPool())
        reveals = [t.reveal(a, c) for a, c in zip(clients, cs)]
        assert [r.accepted for r in reveals] == [True, True, True, False] and reveals[3].stake_returned
        assert not protocol.move_accepted(declared[3], CONS.min_move, CONS.max_move, 2000, ref)
        assert int(t.contract.rewardPool()) == pool and t.withdrawable(clients[3]) == STAKE
        t.finalize(owner)
        assert t.global_ints().tolist() == protocol.mean([codec.unpack(c.words, N) for c in cs[:3]]).tolist()


def test_outlier_accepted_at_reveal_is_paid_no_reward_at_claim(deploy_task, owner, clients, chain):
    """Three Sybils hold 3 of 7 seats and declare large moves they never reveal, so that with
    a booster the median is theirs and the boosted update passes the reveal bound and enters
    the average. It drags the consensus towards itself, which the claim score alone would pay
    as the best agreement; the claim-time ratio against the mean of the accepted reveals pays
    it nothing and returns its stake."""
    with chain.isolate():
        t, cs = _ratio_round(deploy_task, owner, clients, chain, [10, 12, 11, 100, 100, 100, 150], 7)
        revealers = [0, 1, 2, 6]
        assert all(t.reveal(clients[i], cs[i]).accepted for i in revealers)
        chain.pending_timestamp += CONS.reveal_duration
        t.finalize(owner)
        ints = [codec.unpack(cs[i].words, N) for i in revealers]
        consensus, zero = protocol.mean(ints), np.zeros(N, dtype=np.int64)
        mean_move = int(t.contract.roundMeanMove(1))
        claims = [t.claim(clients[i], cs[i]) for i in revealers]
        for cl, i in zip(claims, ints):
            d, move = protocol.distance(i, consensus), protocol.distance(i, zero)
            assert cl.distance == d and cl.stake == STAKE
            assert cl.reward == protocol.claim_reward(d, move, mean_move, [500, 900, 1300], [300, 200, 100], 2000)
        boosted = claims[3]
        assert (boosted.reward, boosted.tier) == (0, 3)
        assert all(cl.reward > 0 for cl in claims[:3])
        # without the ratio the score alone would have paid the booster the top tier
        score = protocol.claim_score(boosted.distance, protocol.distance(ints[3], zero), mean_move)
        assert protocol.reward_for(score, [500, 900, 1300], [300, 200, 100]) == 300
        c = t.contract
        assert c.balance == (int(c.rewardPool()) + int(c.roundReserve()) + int(c.totalClaimReserve())
                             + int(c.totalRewardsOwed()) + int(c.totalStakes()))


def test_no_show_forfeits_and_round_finalizes_at_deadline(cround, owner, clients, chain):
    t = cround
    cs = [t.prepare(1, upd(10, k)) for k in range(3)]
    for a, c in zip(clients, cs):
        t.commit(a, c)
    chain.pending_timestamp += CONS.round_duration  # commit phase over (not full)
    for a, c in zip(clients[:2], cs[:2]):
        assert t.reveal(a, c).accepted
    with pytest.raises(Exception):
        t.finalize(owner)  # one committer has not revealed and the reveal phase is open
    chain.pending_timestamp += CONS.reveal_duration
    pool = int(t.contract.rewardPool())
    fin = t.finalize(owner)
    assert fin.completed and fin.participants == 2
    assert int(t.contract.totalStakes()) == 2 * STAKE
    # pool got the no-show's stake, the unused reserve, and paid round 2's reserve
    kept = 2 * 300
    assert int(t.contract.rewardPool()) == pool + STAKE + (4 * 300 - kept) - 4 * 300


def test_claim_window_is_one_later_round(cround, owner, clients, chain):
    t = cround
    r1 = [t.prepare(1, upd(10, k)) for k in range(4)]
    for a, c in zip(clients, r1):
        t.commit(a, c)
    chain.pending_timestamp += CONS.round_duration
    for a, c in zip(clients, r1):
        t.reveal(a, c)
    t.finalize(owner)
    # round 2 completes; round 1's claims stay open throughout
    r2 = [t.prepare(2, upd(20, 10 + k)) for k in range(4)]
    for a, c in zip(clients, r2):
        t.commit(a, c)
    chain.pending_timestamp += CONS.round_duration
    for a, c in zip(clients, r2):
        t.reveal(a, c)
    assert t.claim(clients[0], r1[0]).reward > 0  # during round 2
    t.finalize(owner)
    assert t.claim(clients[1], r1[1]).reward > 0  # after round 2
    # round 3 overwrites round 1's buffer: late claims return only the stake
    r3 = [t.prepare(3, upd(30, 20 + k)) for k in range(4)]
    for a, c in zip(clients, r3):
        t.commit(a, c)
    chain.pending_timestamp += CONS.round_duration
    for a, c in zip(clients, r3):
        t.reveal(a, c)
    reserve_before = int(t.contract.claimReserve(1))
    assert reserve_before == 2 * 300
    t.finalize(owner)
    assert int(t.contract.claimReserve(1)) == 0  # released to the pool
    late = t.claim(clients[2], r1[2])
    assert late.reward == 0 and late.stake == STAKE


def test_consensus_reverts(reverts, owner, clients, chain, cround):
    t = cround
    c0 = t.prepare(1, upd(10))
    h = t.commitment_hash(clients[0], c0)
    con = t.contract
    with reverts("WrongStake"):
        con.commit(1, h, c0.move, sender=clients[0], value=STAKE - 1)
    with reverts("WrongRound"):
        con.commit(2, h, c0.move, sender=clients[0], value=STAKE)
    with reverts("WrongRule"):
        con.submit(1, 0, c0.words, sender=clients[0])
    with reverts("WrongPhase"):
        con.reveal(1, 0, c0.opening(0), c0.words, sender=clients[0])  # commit phase still open
    with reverts("MoveMismatch"):
        con.commit(1, h, 2**200, sender=clients[0], value=STAKE)  # farther than any update can move
    con.commit(1, h, c0.move, sender=clients[0], value=STAKE)
    with reverts("AlreadyCommitted"):
        con.commit(1, h, c0.move, sender=clients[0], value=STAKE)
    # a copier commits the same hash: binds to clients[0], so the copier cannot reveal it
    con.commit(1, h, c0.move, sender=clients[1], value=STAKE)
    # a committer whose move in the clear differs from the one its commitment binds
    c3 = t.prepare(1, upd(12, 5))
    con.commit(1, t.commitment_hash(clients[3], c3), c3.move + 1, sender=clients[3], value=STAKE)
    with reverts("NotClaimable"):
        con.claim(1, 0, c0.opening(0), c0.words, sender=clients[0])  # before finalize
    with reverts("WrongPhase"):
        con.drawSeats(1, sender=clients[2])  # commit phase still open
    chain.pending_timestamp += CONS.round_duration
    with reverts("WrongPhase"):
        con.commit(1, h, c0.move, sender=clients[2], value=STAKE)  # commit phase over
    with reverts("SeatsNotDrawn"):
        con.reveal(1, 0, c0.opening(0), c0.words, sender=clients[0])
    with reverts("NotReleasable"):
        con.releaseStake(1, sender=clients[0])  # the draw may still seat it
    con.drawSeats(1, sender=clients[2])  # anyone may draw
    with reverts("SeatsAlreadyDrawn"):
        con.drawSeats(1, sender=clients[2])
    with reverts("NotReleasable"):
        con.releaseStake(1, sender=clients[0])  # seated: its stake rides on its reveal
    with reverts("NotCommitted"):
        con.reveal(1, 0, c0.opening(0), c0.words, sender=clients[2])
    with reverts("BadReveal"):
        con.reveal(1, 0, c0.opening(0), c0.words, sender=clients[1])  # copied commitment
    with reverts("MoveMismatch"):
        t.reveal(clients[3], c3)  # opens the commitment, but not the move declared in the clear
    altered = list(c0.words)
    altered[0] ^= 1
    with reverts("BadReveal"):
        con.reveal(1, 0, c0.opening(0), altered, sender=clients[0])
    with reverts("WrongLength"):
        con.reveal(1, 0, c0.opening(0), c0.words[:-1], sender=clients[0])
    t.reveal(clients[0], c0)
    with reverts("NotCommitted"):
        con.reveal(1, 0, c0.opening(0), c0.words, sender=clients[0])  # reveal twice
    chain.pending_timestamp += CONS.reveal_duration
    with reverts("WrongPhase"):
        con.reveal(1, 0, c0.opening(0), c0.words, sender=clients[1])  # reveal phase over
    t.finalize(owner)  # 1 accepted < quorum 2: abandoned
    with reverts("BadReveal"):
        con.claim(1, 0, c0.opening(0), altered, sender=clients[0])  # claim with altered weights
    cl = t.claim(clients[0], c0)
    assert cl.reward == 0 and cl.stake == STAKE  # abandoned round: stake back, no reward
    with reverts("NotClaimable"):
        con.claim(1, 0, c0.opening(0), c0.words, sender=clients[0])  # claim twice
    with reverts("NotClaimable"):
        con.claim(1, 0, c0.opening(0), c0.words, sender=clients[1])  # never revealed


def test_paper_task_refuses_consensus_calls(reverts, task, owner, clients, chain):
    with chain.isolate():
        task.start_round(owner)
        with reverts("WrongRule"):
            task.contract.commit(1, b"\x00" * 32, 0, sender=clients[0])
        with reverts("WrongRule"):
            task.contract.reveal(1, 0, (b"\x00" * 32, 0, 0, b"\x00" * 32), codec.pack(np.zeros(40)), sender=clients[0])


def test_outlier_rejected_and_not_in_aggregate(cround, owner, clients, chain):
    t = cround
    ups = [upd(10, 1), upd(11, 2), upd(1500, 3)]  # the last is a poisoner (move > 400)
    cs = [t.prepare(1, u) for u in ups]
    for a, c in zip(clients, cs):
        t.commit(a, c)
    chain.pending_timestamp += CONS.round_duration
    # the poisoner reveals first: rejected before anything enters the aggregate
    assert not t.reveal(clients[2], cs[2]).accepted
    assert t.reveal(clients[0], cs[0]).accepted
    assert t.reveal(clients[1], cs[1]).accepted
    t.finalize(owner)
    ints = [codec.unpack(c.words, N) for c in cs]
    assert t.global_ints().tolist() == protocol.mean(ints[:2]).tolist()


def test_false_move_declaration_cannot_finish(cround, owner, clients, chain, reverts):
    """A free-rider declaring an acceptable move for an update that did not move: its reveal
    reverts, so it never enters the aggregate, and its stake is forfeited at finalize."""
    t = cround
    ups = [upd(10, 1), upd(11, 2), upd(0, 3)]
    cs = [t.prepare(1, u) for u in ups]
    liar = cs[2]
    declared = [12 * N]  # mean move 12: inside [2, 400], but the update moved ~0
    links = protocol.chunk_links(liar.words, declared, t.chunk_words)
    lie = type(liar)(1, liar.salt, liar.words, declared, links)
    for a, c in zip(clients, [cs[0], cs[1], lie]):
        t.commit(a, c)
    chain.pending_timestamp += CONS.round_duration
    t.draw_seats(owner)
    with reverts("MoveMismatch"):
        t.contract.reveal(1, 0, lie.opening(0), lie.words, sender=clients[2])
    impossible = type(liar)(1, liar.salt, liar.words, [2**200], protocol.chunk_links(liar.words, [2**200], t.chunk_words))
    with reverts("BadReveal"):  # the commitment binds the declared move
        t.contract.reveal(1, 0, impossible.opening(0), liar.words, sender=clients[2])
    assert t.reveal(clients[0], cs[0]).accepted and t.reveal(clients[1], cs[1]).accepted
    with reverts("DeadlineNotReached"):
        t.finalize(owner)  # the liar's reveal is still pending
    chain.pending_timestamp += CONS.reveal_duration
    fin = t.finalize(owner)
    assert fin.completed and fin.participants == 2
    ints = [codec.unpack(c.words, N) for c in cs]
    assert t.global_ints().tolist() == protocol.mean(ints[:2]).tolist()
    assert int(t.contract.totalStakes()) == 2 * STAKE  # the liar's stake went to the pool
    assert int(t.contract.statusOf(1, clients[2])[0]) == 6  # still only seated
