"""The audit's findings, each replayed as the attack it describes; every one must now fail.

1. an all-minimum chunk zeroed the accumulator, so an honest chunk no longer fit a transaction;
2. skipping `warmStorage` set the same trap for good;
3. one round of tiny accepted moves ratcheted the move reference and locked the task;
4. first-come seats let Sybils take every seat (CONSENSUS) or lock rounds (PAPER);
5. no exit for the sponsor's unspent funds;
7. PAPER submissions after the deadline, `claim` on a PAPER task.
(Finding 6, unchecked settings, is `test_task.py::test_invalid_config_reverts`.)
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from eth_utils import keccak
from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from conftest import CONS_SMALL, update_near as _update_near
from ml import codec, protocol
from ml.chain import FedTask
from ml.settings import DEFAULT_TX_GAS_BUDGET, GAS_PER_TX_OVERHEAD, GAS_PER_WORD_SEND, MAX_CHUNK_WORDS, TaskSettings

ACC_ROOT = int.from_bytes(keccak(text="fedchain.accumulator"), "big") - 1
PER_TX_CAP = 16_777_216  # EIP-7825


def accumulator_slots(provider, address, words):
    return [int.from_bytes(bytes(provider.get_storage(address, ACC_ROOT + i)), "big") for i in range(2 * words)]


def test_the_gas_bound_of_a_chunk_fits_the_budget():
    """The bound the SDK uses as a gas limit, and the properties below, stay under the budget
    for the largest legal chunk."""
    assert GAS_PER_TX_OVERHEAD + GAS_PER_WORD_SEND * MAX_CHUNK_WORDS <= DEFAULT_TX_GAS_BUDGET < PER_TX_CAP


# --- 1. an all-minimum chunk -------------------------------------------------------------

BIG = TaskSettings(param_count=MAX_CHUNK_WORDS * 16, frac_bits=12, value_bits=16, round_duration=600,
                   min_participants=2, max_participants=2, tier_thresholds=(10**6,), tier_rewards=(1,),
                   chunk_words=MAX_CHUNK_WORDS)


@pytest.mark.parametrize("seats", [1, 2])
def test_all_minimum_chunk_cannot_brick_the_accumulator(deploy_task, owner, clients, chain, seats):
    """The attacker holds `seats` seats and sends the all-minimum value (biased 0) as the only
    contributions of a 767-word chunk; the round is abandoned (1 seat) or completes with the
    all-minimum model (2 seats). Before the fix every accumulator word of the chunk became
    0 and the next honest first submission needed 35,325,474 gas (> the 16,777,216 cap), for
    good. Now no word is ever 0 again and the honest submission costs what it did before."""
    with chain.isolate():
        t = deploy_task(BIG)
        t.start_round(owner)
        rng = np.random.default_rng(0)
        honest = rng.integers(-3000, 3000, BIG.param_count)
        lowest = np.full(BIG.param_count, -(1 << 15), dtype=np.int64)
        for a in clients[:seats]:
            t.submit(a, 1, codec.dequantize(lowest, t.fmt))
        chain.pending_timestamp += BIG.round_duration
        fin = t.finalize(owner)
        assert fin.completed == (seats == 2)
        slots = accumulator_slots(t.contract.provider, t.address, t.model_words)
        assert all(slots), "an accumulator word went back to zero"
        sub = t.submit(clients[5], 2, codec.dequantize(honest, t.fmt))
        assert sub.max_tx_gas <= t.send_gas_limit(MAX_CHUNK_WORDS) <= DEFAULT_TX_GAS_BUDGET
        print(f"honest 767-word chunk after the all-minimum attack ({seats} seat(s)): {sub.max_tx_gas:,} gas")


# --- 2. skipping warmStorage --------------------------------------------------------------


def test_round_one_cannot_open_on_cold_storage(project, owner, chain, reverts):
    """A deployment that skips (or half-does) the warm-up can never open round 1, so no legal
    submission ever pays 22,100 gas per accumulator slot."""
    s = TaskSettings(param_count=40 * 16, chunk_words=16, tier_thresholds=(1,), tier_rewards=(1,))
    with chain.isolate():
        t = FedTask.deploy(project.FederatedTask, owner, s, funding=s.round_reserve)
        t.set_initial_model(owner, np.zeros(s.param_count), warm=False)
        with reverts("StorageNotWarmed"):
            t.start_round(owner)
        with reverts("WarmOutOfOrder"):
            t.contract.warmStorage(1, 10, sender=owner)  # must start where the last stopped
        t.contract.warmStorage(0, 10, sender=owner)
        with reverts("StorageNotWarmed"):
            t.start_round(owner)
        assert t.warm_storage(owner) == 1  # the SDK warms what is left
        t.start_round(owner)
        with reverts("ModelLocked"):
            t.contract.warmStorage(40, 40, sender=owner)


# --- any sequence of actions: an honest chunk always fits -------------------------------

SMALL_CHUNKS = TaskSettings(param_count=8 * 16 * 3 - 5, frac_bits=4, value_bits=8, round_duration=100,
                            min_participants=2, max_participants=3, tier_thresholds=(1, 10), tier_rewards=(2, 1),
                            chunk_words=8)
KINDS = ("lowest", "highest", "zero", "random")


def test_honest_chunk_always_fits_after_any_sequence(project, accounts, chain):
    """Stateful: participants send any prefix of their chunks with extreme or random values,
    rounds are finalized, completed or abandoned, in any order. After every step every
    accumulator word is nonzero (so every participant write costs 5,000 gas, never 22,100)
    and an honest first chunk stays under the SDK's per-chunk bound, which for the largest
    chunk is under the 12M budget."""
    owner, people, probe = accounts[0], list(accounts)[1:6], accounts[20]
    lo, hi = -(1 << (SMALL_CHUNKS.value_bits - 1)), (1 << (SMALL_CHUNKS.value_bits - 1)) - 1

    class Griefing(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            self.snap = chain.snapshot()
            self.t = FedTask.deploy(project.FederatedTask, owner, SMALL_CHUNKS, funding=SMALL_CHUNKS.round_reserve * 50)
            self.t.set_initial_model(owner, np.zeros(SMALL_CHUNKS.param_count))
            self.t.start_round(owner)
            self.sent = set()

        def teardown(self):
            chain.restore(self.snap)

        @precondition(lambda self: self.t.round_open and chain.pending_timestamp < int(self.t.contract.roundDeadline()))
        @rule(actor=st.integers(0, len(people) - 1), kind=st.sampled_from(KINDS), chunks=st.integers(1, 3),
              seed=st.integers(0, 9))
        def send(self, actor, kind, chunks, seed):
            if (self.t.current_round, actor) in self.sent:
                return
            if int(self.t.contract.roundSubmissions()) >= SMALL_CHUNKS.max_participants:
                return
            n = SMALL_CHUNKS.param_count
            ints = {"lowest": np.full(n, lo), "highest": np.full(n, hi), "zero": np.zeros(n, dtype=np.int64),
                    "random": np.random.default_rng(seed).integers(lo, hi + 1, n)}[kind]
            self.t.submit(people[actor], self.t.current_round, codec.dequantize(ints, self.t.fmt), chunks=chunks)
            self.sent.add((self.t.current_round, actor))

        @precondition(lambda self: self.t.round_open)
        @rule()
        def finalize(self):
            chain.pending_timestamp = max(chain.pending_timestamp, int(self.t.contract.roundDeadline()))
            self.t.finalize(owner)

        @invariant()
        def no_accumulator_word_is_zero(self):
            assert all(accumulator_slots(self.t.contract.provider, self.t.address, self.t.model_words))

        @invariant()
        def an_honest_first_chunk_fits(self):
            c = self.t.contract
            if not self.t.round_open or int(c.roundSubmissions()) >= SMALL_CHUNKS.max_participants:
                return
            words = codec.pack(np.random.default_rng(1).integers(lo, hi + 1, SMALL_CHUNKS.param_count))
            gas = c.submit.estimate_gas_cost(self.t.current_round, 0, words[:8], sender=probe)
            assert gas <= self.t.send_gas_limit(8)

    run_state_machine_as_test(Griefing, settings=settings(
        max_examples=8, stateful_step_count=12, deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]))


# --- 3. the move-reference ratchet ---------------------------------------------------------

CONS = dataclasses.replace(CONS_SMALL, max_move_ratio=2000, duplicate_distance=1)
N = CONS.param_count
STAKE = CONS.stake


def update_near(global_ints, offset, seed):
    # noise of +-4 units: two honest updates differ by ~3 per parameter, far from copies
    return _update_near(global_ints, offset, seed, CONS.fmt, noise=4)


def consensus_round(t, owner, chain, committers, offsets, seeds):
    """Commits, waits out the commit phase, draws, reveals every seated committer, finalizes.
    Returns {account: (Commitment, Reveal or None)} and the Finalization."""
    g = t.global_ints()
    round_ = t.current_round
    cs = {a: t.prepare(round_, update_near(g, k, s)) for a, k, s in zip(committers, offsets, seeds)}
    for a, c in cs.items():
        t.commit(a, c)
    chain.pending_timestamp += CONS.round_duration
    t.draw_seats(owner)
    seated = set(t.seated(round_))
    out = {a: (c, t.reveal(a, c) if str(a.address) in seated else None) for a, c in cs.items()}
    chain.pending_timestamp += CONS.reveal_duration
    return out, t.finalize(owner)


def test_move_reference_ratchet_cannot_lock_the_task(deploy_task, owner, clients, chain):
    """Round 1: three Sybils with tiny moves (~3) and one honest update (~12). Before the fix
    the round set lastMeanMove to 3, every later honest reveal (~11-12 > 2 x 3) was rejected,
    every round was abandoned and honest stakes were forfeited for good. Now the reference is
    the median of the round's own seated declarations: the honest reveal is rejected in the
    attack round but keeps its stake, and the next all-honest round completes and pays."""
    with chain.isolate():
        t = deploy_task(CONS)
        t.start_round(owner)
        sybils, honest = clients[:3], clients[3:6]
        r1, fin1 = consensus_round(t, owner, chain, [*sybils, honest[0]], [3, 3, 3, 12], [1, 2, 3, 4])
        assert fin1.completed and int(t.contract.completedRounds()) == 1
        rejected = r1[honest[0]][1]
        assert not rejected.accepted and rejected.stake_returned  # outvoted, not punished
        assert t.withdrawable(honest[0]) == STAKE
        completed = []
        for r in (2, 3):
            res, fin = consensus_round(t, owner, chain, honest, [12, 11, 12], [10 * r, 10 * r + 1, 10 * r + 2])
            assert all(rev.accepted for _, rev in res.values())
            completed.append(fin.completed)
            claims = [t.claim(a, c) for a, (c, _) in res.items()]
            assert all(cl.reward > 0 and cl.stake == STAKE for cl in claims)
        assert completed == [True, True] and int(t.contract.completedRounds()) == 3


# --- 4. seats ----------------------------------------------------------------------------


def test_sybils_cannot_take_every_seat_or_the_reserve(deploy_task, owner, accounts, chain, reverts):
    """Ten Sybils commit before five honest clients (at the round's opening) for five seats;
    they all reveal one identical small update. Before the fix the Sybils filled every seat,
    honest commits reverted (`WrongPhase`) and each Sybil took the top tier. Now everyone
    can commit, seats are drawn at random after the commit phase (the contract's draw equals
    the reference's), the undrawn take their stake back, and copies of one update earn
    nothing, whichever Sybils were seated."""
    s = dataclasses.replace(CONS, max_participants=5, min_participants=2, max_move_ratio=0)
    people = list(accounts)[1:16]
    sybils, honest = people[:10], people[10:]
    with chain.isolate():
        t = deploy_task(s)
        t.start_round(owner)
        seats_taken, sybil_reward, honest_reward = 0, 0, 0
        for round_ in (1, 2, 3):
            g = t.global_ints()
            copy = update_near(g, 3, 99)
            cs = {a: t.prepare(round_, copy) for a in sybils}
            cs |= {a: t.prepare(round_, update_near(g, 12, 7 * round_ + i)) for i, a in enumerate(honest)}
            for a, c in cs.items():
                t.commit(a, c)  # no honest commit is refused
            chain.pending_timestamp += s.round_duration
            d = t.draw_seats(honest[0])
            seated = t.seated(round_)
            assert seated == protocol.draw_seats(d.seed, [str(a.address) for a in cs], 5)[:5]
            assert (d.committers, d.seats) == (15, 5)
            for a, c in cs.items():
                if str(a.address) in seated:
                    assert t.reveal(a, c).accepted
                else:
                    with reverts("NotSeated"):
                        t.contract.reveal(round_, 0, c.opening(0), c.words, sender=a)
                    assert t.release_stake(a, round_) == STAKE
            t.finalize(owner)
            seated_sybils = [a for a in sybils if str(a.address) in seated]
            seats_taken += len(seated_sybils)
            for a in [x for x in cs if str(x.address) in seated]:
                cl = t.claim(a, cs[a])
                assert cl.stake == STAKE
                if a in sybils:
                    sybil_reward += cl.reward
                    if len(seated_sybils) >= 2:
                        assert cl.reward == 0  # a near copy of another accepted update
                else:
                    honest_reward += cl.reward
        print(f"3 rounds: Sybils held {seats_taken}/15 seats, earned {sybil_reward} wei vs honest {honest_reward}")
        assert int(t.contract.totalStakes()) == 0  # every stake returned: nobody forfeited


def test_seat_draw_is_proportional_in_expectation():
    """Over many draws (the reference, which the test above holds the contract to), 10 Sybils
    among 15 committers hold 10/15 of 5 seats on average, whatever their commit order."""
    committers = [f"0x{i:040x}" for i in range(15)]
    sybils_first = set(committers[:10])
    sybils_last = set(committers[5:])
    draws = 3000
    held_first = held_last = 0
    for k in range(draws):
        seated = protocol.draw_seats(k.to_bytes(32, "big"), committers, 5)[:5]
        held_first += len(sybils_first.intersection(seated))
        held_last += len(sybils_last.intersection(seated))
    for held in (held_first, held_last):
        assert abs(held / (5 * draws) - 10 / 15) < 0.02


def test_paper_partial_senders_lock_nobody_out(deploy_task, owner, accounts, chain):
    """PAPER: addresses that send chunk 0 only used to fill every seat (`RoundFull` for the
    honest, round abandoned, for gas alone). Seats now go to complete submissions."""
    s = TaskSettings(param_count=16 * 6, frac_bits=8, value_bits=12, min_participants=2, max_participants=3,
                     tier_thresholds=(10**6,), tier_rewards=(1,), chunk_words=2)
    people = list(accounts)[1:10]
    with chain.isolate():
        t = deploy_task(s)
        t.start_round(owner)
        for a in people[:6]:
            assert t.submit(a, 1, np.zeros(s.param_count), chunks=1) is None  # chunk 0 of 3 only
        subs = [t.submit(a, 1, np.full(s.param_count, 0.5)) for a in people[6:9]]
        assert all(x is not None for x in subs)
        fin = t.finalize(owner)  # every seat complete: no need to wait
        assert fin.completed and fin.participants == 3


# --- 5. exit --------------------------------------------------------------------------


def test_sponsor_recovers_only_what_nobody_is_owed(deploy_task, owner, clients, buyer, chain, reverts):
    """The owner ends the task; after EXIT_DELAY it sweeps the pool and the reserves of claims
    still open, never credited rewards, stakes or revenue. Claims after the sweep return the
    stake only; withdrawals always work."""
    with chain.isolate():
        t = deploy_task(CONS)
        c = t.contract
        t.start_round(owner)
        res, fin = consensus_round(t, owner, chain, clients[:3], [12, 11, 12], [1, 2, 3])
        assert fin.completed
        (c0, _), (c1, _), (c2, _) = res.values()
        claimed = t.claim(clients[0], c0)  # credited: owed whatever happens
        c.setAccessPrice(10**15, sender=owner)
        t.buy_access(buyer)  # revenue to the shareholder clients[0]
        with reverts("NotOwner"):
            c.endTask(sender=clients[0])
        with reverts("SweepTooEarly"):
            c.sweep(sender=owner)  # not ended
        sweepable = t.end_task(owner)
        with reverts("TaskIsEnded"):
            c.endTask(sender=owner)
        chain.pending_timestamp += CONS.round_duration + CONS.reveal_duration
        t.finalize(owner)  # round 2 (open when the task ended) closes; no round 3
        assert not t.round_open
        with reverts("TaskIsEnded"):
            t.start_round(owner)
        t.claim(clients[1], c1)  # claims still open during the delay
        with reverts("SweepTooEarly"):
            c.sweep(sender=owner)
        chain.pending_timestamp = sweepable
        with reverts("NotOwner"):
            c.sweep(sender=clients[0])
        owed = int(c.totalRewardsOwed()) + int(c.totalStakes()) + int(c.revenueOf(clients[0]))
        expected = int(c.rewardPool()) + int(c.totalClaimReserve())
        before = int(owner.balance)
        receipt = c.sweep(sender=owner)
        assert int(owner.balance) == before + expected - receipt.total_fees_paid
        assert int(c.balance) >= owed  # dust of the revenue split stays
        late = t.claim(clients[2], c2)
        assert late.reward == 0 and late.stake == STAKE
        for a in clients[:3]:
            t.withdraw(a)
        assert int(c.totalRewardsOwed()) == int(c.totalStakes()) == 0
        assert claimed.reward > 0
        with reverts("NothingToWithdraw"):
            c.sweep(sender=owner)


def test_funds_are_recoverable_when_round_one_never_starts(deploy_task, owner, chain):
    with chain.isolate():
        t = deploy_task(CONS, funding=10**16)
        t.fund(owner, 10**16)
        sweepable = t.end_task(owner)
        chain.pending_timestamp = sweepable
        assert t.sweep(owner) == 2 * 10**16
        assert int(t.contract.balance) == 0


# --- 7. tidy ---------------------------------------------------------------------------


def test_paper_submission_after_the_deadline_and_claims_are_refused(open_task, owner, clients, chain, reverts):
    t = open_task
    words = codec.pack(np.zeros(t.param_count, dtype=np.int64))
    chain.pending_timestamp += 600
    with reverts("SubmissionsClosed"):
        t.contract.submit(1, 0, words, sender=clients[0])
    with reverts("WrongRule"):
        t.contract.claim(1, 0, (b"\0" * 32, 0, 0, b"\0" * 32), words, sender=clients[0])


def test_seat_draw_fits_the_budget_at_max_seats(deploy_task, owner, accounts, chain):
    """The draw is the one CONSENSUS transaction whose gas grows with seats, and committers
    choose the declarations it sorts. Measured per seat with 20 seats of 23 committers
    declaring descending moves, then extrapolated to MAX_SEATS with the median's measured
    worst case (tests/test_lanes.py): it stays under the 12M budget."""
    s = dataclasses.replace(CONS, max_participants=20, min_participants=1)
    people = list(accounts)[1:24]
    with chain.isolate():
        t = deploy_task(s)
        t.start_round(owner)
        g = t.global_ints()
        for i, a in enumerate(people):
            t.commit(a, t.prepare(1, update_near(g, 300 - 10 * i, i)))
        d = t.draw_seats(owner, wait=t.advance_time)
        assert (d.committers, d.seats) == (23, 20)
        per_seat_bound = 100_000 + 30_000 * d.seats
        assert d.gas_used <= per_seat_bound, d
        assert 100_000 + 30_000 * int(t.contract.MAX_SEATS()) + 600_000 <= DEFAULT_TX_GAS_BUDGET
        print(f"draw, 20 seats of 23 committers: {d.gas_used:,} gas")


def test_withheld_draw_neither_stalls_the_task_nor_costs_stakes(deploy_task, owner, clients, chain, reverts):
    """A keeper that never draws: any committer's reveal draws for itself (the SDK does it),
    and if nobody draws at all the round closes at its deadline, nobody forfeits, every
    committer takes its stake back and the next round opens."""
    with chain.isolate():
        t = deploy_task(CONS)
        t.start_round(owner)
        g = t.global_ints()
        cs = [t.prepare(1, update_near(g, 12, i)) for i in range(3)]
        for a, c in zip(clients, cs):
            t.commit(a, c)
        chain.pending_timestamp += CONS.round_duration + CONS.reveal_duration  # nobody drew
        with reverts("WrongPhase"):
            t.contract.drawSeats(1, sender=clients[0])  # too late: the reveal phase is over
        fin = t.finalize(owner)
        assert not fin.completed and t.current_round == 2 and t.round_open
        assert int(t.contract.totalStakes()) == 3 * STAKE  # nothing forfeited
        for a in clients[:3]:
            assert t.release_stake(a, 1) == STAKE
        assert int(t.contract.totalStakes()) == 0
        # round 2, still no keeper: the first revealer draws, and the round completes
        g = t.global_ints()
        cs = [t.prepare(2, update_near(g, 12, 10 + i)) for i in range(3)]
        for a, c in zip(clients, cs):
            t.commit(a, c)
        chain.pending_timestamp += CONS.round_duration
        assert not t.seats_drawn(2)
        assert all(t.reveal(a, c).accepted for a, c in zip(clients, cs))
        assert t.seats_drawn(2) and t.finalize(owner).completed
