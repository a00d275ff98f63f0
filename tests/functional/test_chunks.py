"""Models larger than one transaction: chunked submit, reveal, claim and finalize.

A 100-parameter model in chunks of 3 words (48 parameters): chunks of 3, 3 and 1 words,
the last with 12 padding lanes. Partial submissions are allowed; each chunk's result is the
exact rounded mean of what reached it (protocol.chunked_mean)."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from ml import codec, protocol
from ml.settings import TaskSettings

N = 100
CHUNKED = TaskSettings(
    param_count=N, frac_bits=8, value_bits=12, round_duration=600, min_participants=2, max_participants=4,
    access_price=10**15, tier_thresholds=(10, 100, 1000), tier_rewards=(300, 200, 100), chunk_words=3,
)
STAKE = 10**15
CONS = TaskSettings(**{**CHUNKED.__dict__, "reward_rule": "consensus", "reveal_duration": 600, "stake": STAKE,
                       "min_move": 2, "max_move": 400, "tier_thresholds": (500, 900, 1300)})
LIMIT = 2**11


@pytest.fixture(scope="module")
def ptask(deploy_task, owner):
    t = deploy_task(CHUNKED)
    assert t.chunks == [(0, 3), (3, 6), (6, 7)]
    return t


@pytest.fixture(scope="module")
def ctask(deploy_task):
    return deploy_task(CONS)


def floats(ints):
    return codec.dequantize(np.asarray(ints), CHUNKED.fmt)


def ints_strategy():
    return st.lists(st.integers(-LIMIT, LIMIT - 1), min_size=N, max_size=N).map(np.array)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    initial=ints_strategy(),
    updates=st.lists(ints_strategy(), min_size=2, max_size=4),
    partial=st.lists(st.integers(0, 2), min_size=4, max_size=4),
    step=st.integers(1, 3),
)
def test_chunked_round_is_the_exact_mean_of_what_arrived(ptask, owner, clients, chain, initial, updates, partial,
                                                         step):
    """Two clients always finish; the others stop after `partial[k]` chunks. Every parameter
    of the new model is the rounded mean of the values that reached it; finished
    submissions are rewarded by their full distance; the model is finalized `step` chunks
    per transaction."""
    t = ptask
    sent = [3 if k < 2 else partial[k] for k in range(len(updates))]
    with chain.isolate():
        t.set_initial_model(owner, floats(initial))
        t.start_round(owner)
        for k, (u, n_sent) in enumerate(zip(updates, sent)):
            sub = t.submit(clients[k], 1, floats(u), chunks=n_sent)
            if n_sent == 3:
                assert sub.transactions == 3 and sub.distance == protocol.distance(u, initial)
                assert sub.reward == protocol.reward_for(sub.distance, list(CHUNKED.tier_thresholds),
                                                          list(CHUNKED.tier_rewards))
            else:
                assert sub is None
        chain.pending_timestamp += CHUNKED.round_duration
        fin = t.finalize(owner, max_chunks=step)
        assert fin.completed and fin.participants == 2
        assert fin.transactions == -(-3 // step)
        expected = protocol.chunked_mean(initial, list(zip(updates, sent)), CHUNKED.chunk_words, CHUNKED.value_bits)
        assert t.global_ints().tolist() == expected.tolist()
        assert int(t.contract.completedRounds()) == 1
        # every finished version stays readable
        assert codec.unpack(t.contract.modelSlice(0, 0, 7), N).tolist() == initial.tolist()


def test_chunk_order_and_shape_reverts(ptask, owner, clients, chain, reverts):
    c = ptask.contract
    words = codec.pack(np.zeros(N, dtype=np.int64))
    with chain.isolate():
        ptask.start_round(owner)
        a = clients[0]
        with reverts("WrongChunk"):
            c.submit(1, 1, words[3:6], sender=a)  # chunk 1 before chunk 0
        with reverts("WrongChunk"):
            c.submit(1, 3, words[6:], sender=a)  # no chunk 3
        with reverts("WrongLength"):
            c.submit(1, 0, words[:2], sender=a)
        c.submit(1, 0, words[:3], sender=a)
        assert [int(v) for v in c.statusOf(1, a)] == [5, 1, 0]  # sending, next chunk 1
        with reverts("WrongChunk"):
            c.submit(1, 0, words[:3], sender=a)  # chunk 0 twice
        with reverts("WrongChunk"):
            c.submit(1, 2, words[6:], sender=a)  # skips chunk 1
        padded = words[6:]
        padded[0] |= 1 << (16 * (N % 16))
        c.submit(1, 1, words[3:6], sender=a)
        with reverts("NonZeroPadding"):
            c.submit(1, 2, padded, sender=a)
        receipt = c.submit(1, 2, words[6:], sender=a)
        assert [e.event_name for e in receipt.events].count("Submitted") == 1
        with reverts("AlreadySubmitted"):
            c.submit(1, 0, words[:3], sender=a)
        # A sender of chunk 0 only holds no seat: seats go to complete submissions, so
        # partial senders lock nobody out (the audit's PAPER seat capture).
        late = CHUNKED.max_participants
        for k in range(1, late + 1):
            c.submit(1, 0, words[:3], sender=clients[k])
        assert int(c.roundEntrants()) == late + 1 > CHUNKED.max_participants
        for k in range(1, late):
            c.submit(1, 1, words[3:6], sender=clients[k])
            c.submit(1, 2, words[6:], sender=clients[k])
        assert int(c.roundSubmissions()) == CHUNKED.max_participants
        with reverts("RoundFull"):  # the reserve pays maxParticipants contributions
            c.submit(1, 1, words[3:6], sender=clients[late])


def test_finalize_in_steps_blocks_the_round(ptask, owner, clients, chain, reverts):
    t, c = ptask, ptask.contract
    with chain.isolate():
        t.start_round(owner)
        for k in range(2):
            t.submit(clients[k], 1, floats(np.full(N, 5 + k)))
        before = t.global_ints()
        chain.pending_timestamp += CHUNKED.round_duration
        receipt = c.finalizeChunks(1, sender=clients[5])  # anyone may finalize
        names = [e.event_name for e in receipt.events]
        assert "RoundClosed" in names and "RoundFinalized" not in names
        assert bool(c.finalizing()) and not t.round_open and int(c.finalizeCursor()) == 1
        assert t.global_ints().tolist() == before.tolist()  # not current until complete
        with reverts("RoundNotOpen"):
            c.submit(1, 0, codec.pack(np.zeros(N, dtype=np.int64))[:3], sender=clients[2])
        with reverts("RoundStillOpen"):
            c.startRound(sender=owner)
        c.finalizeChunks(0, sender=clients[5])  # a no-op step is harmless
        receipt = c.finalizeChunks(5, sender=clients[6])
        assert "RoundFinalized" in [e.event_name for e in receipt.events]
        assert t.global_ints().tolist() == [6] * N  # mean of 5 and 6 rounds half up
        assert t.current_round == 2 and t.round_open


def test_chunked_consensus_round(ctask, owner, clients, chain, reverts):
    """Commit binds every chunk; each chunk is checked on arrival; an unfinished reveal's
    chunks count where they arrived but its stake is forfeited; claims go chunk by chunk."""
    t, c = ctask, ctask.contract
    rng = np.random.default_rng(7)
    with chain.isolate():
        t.start_round(owner)
        ups = [np.clip(10 + rng.integers(-3, 4, N), -LIMIT, LIMIT - 1) for _ in range(4)]
        cs = [t.prepare(1, floats(u)) for u in ups]
        assert [len(x.links) for x in cs] == [3] * 4
        for a, x in zip(clients, cs):
            t.commit(a, x)
        x = cs[0]
        with reverts("BadReveal"):  # the commitment binds the sender: nobody else can open it
            c.reveal(1, 0, x.opening(0), x.words[:3], sender=clients[1])
        assert c.reveal(1, 0, x.opening(0), x.words[:3], sender=clients[0]).events[0].event_name == "ChunkReceived"
        wrong = list(x.words[3:6])
        wrong[0] ^= 1
        with reverts("BadReveal"):
            c.reveal(1, 1, x.opening(1), wrong, sender=clients[0])
        lie = (x.salt, x.move, x.moves[1] + 1, x.opening(1)[3])
        with reverts("BadReveal"):  # the chunk move is bound by the link too
            c.reveal(1, 1, lie, x.words[3:6], sender=clients[0])
        with reverts("WrongChunk"):
            c.reveal(1, 2, x.opening(2), x.words[6:], sender=clients[0])
        c.reveal(1, 1, x.opening(1), x.words[3:6], sender=clients[0])
        c.reveal(1, 2, x.opening(2), x.words[6:], sender=clients[0])
        assert [int(v) for v in c.statusOf(1, clients[0])][:2] == [2, 0]
        assert t.reveal(clients[1], cs[1]).accepted and t.reveal(clients[2], cs[2]).accepted
        assert t.reveal(clients[3], cs[3], chunks=2) is None  # stops after two chunks
        chain.pending_timestamp += CONS.reveal_duration
        fin = t.finalize(owner, max_chunks=1)
        assert fin.completed and fin.participants == 3 and fin.transactions == 3
        expected = protocol.chunked_mean(np.zeros(N), [(u, 3) for u in ups[:3]] + [(ups[3], 2)],
                                          CONS.chunk_words, CONS.value_bits)
        assert t.global_ints().tolist() == expected.tolist()
        assert int(c.totalStakes()) == 3 * STAKE  # the unfinished reveal forfeited its stake
        mean_move = int(c.roundMeanMove(1))
        assert mean_move == sum(protocol.distance(u, np.zeros(N)) for u in ups[:3]) // 3
        with reverts("WrongChunk"):
            c.claim(1, 1, cs[0].opening(1), cs[0].words[3:6], sender=clients[0])
        for k in range(3):
            cl = t.claim(clients[k], cs[k])
            dist = protocol.distance(ups[k], expected)
            move = protocol.distance(ups[k], np.zeros(N))
            assert (cl.distance, cl.transactions, cl.stake) == (dist, 3, STAKE)
            assert cl.reward == protocol.claim_reward(dist, move, mean_move, list(CONS.tier_thresholds),
                                                       list(CONS.tier_rewards), CONS.max_move_ratio)
        with reverts("NotClaimable"):
            t.claim(clients[3], cs[3])  # never finished revealing


def test_declared_move_beyond_any_update_reverts(ctask, owner, clients, chain, reverts):
    t = ctask
    with chain.isolate():
        t.start_round(owner)
        x = t.prepare(1, floats(np.full(N, 3)))
        huge = [2**100, 0, 0]
        fake = type(x)(1, x.salt, x.words, huge, protocol.chunk_links(x.words, huge, CONS.chunk_words))
        with reverts("MoveMismatch"):
            t.commit(clients[0], fake)  # farther than any update can move: refused at commit
