"""The relay path under CONSENSUS (BatchEngine.relay vouched for by ConsensusRule): the
commitment stays on chain first, the relay replaces the reveal. A relayer lists each seated
committer's head with the opening of its commitment (salt, declared move) and the owner's
signature of the relay (its consent: an opening is public once a first reveal post is sent).
Every forgery reverts at the listing; a false move is refused by the last column (nothing
finalized) until the round drops it; a drop costs nobody a stake; a left-out committer
reveals itself."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from ml import protocol
from ml.chain import BatchTask
from ml.rules import adapter_for
from ml.settings import BatchSettings, ConsensusSettings, column_gas_bound
from conftest import examples, isolated

COST = adapter_for("consensus").cost

N = 40  # 3 words, one column
STAKE = 10**15
ONE_COLUMN = BatchSettings(param_count=N, frac_bits=8, value_bits=12, post_duration=600, min_participants=1,
                           max_participants=4, access_price=10**15, tier_thresholds=(500, 900, 1300),
                           tier_rewards=(300, 200, 100), column_words=3, post_words=3, duplicate_distance=1,
                           replay_rounds=3, keeper_fee=5)
CONS = ConsensusSettings(commit_duration=600, stake=STAKE, min_move=2, max_move=400, max_move_ratio=3000)
LO, HI = -2048, 2047


def floats(ints):
    return np.asarray(ints, dtype=np.float64) / ONE_COLUMN.fmt.scale


def near(offset, seed):
    """An update about ``offset`` from the zero model. Seeds 0-14 are never near duplicates
    of each other whatever words the round samples: seed s lifts lane j by 16 when bit j % 4
    of s + 1 is set, so two seeds differ by >= 12 (noise +-2) on a quarter of every word's
    lanes: >= 24 per sampled word, farther than the limit (1 per lane: 32 for two words)."""
    rng = np.random.default_rng(seed)
    lift = np.where(((seed + 1) >> (np.arange(N) % 4)) & 1, 16, 0)
    return np.clip(offset + lift + rng.integers(-2, 3, N), LO, HI)


@pytest.fixture(scope="module")
def ctask(project, owner):
    return BatchTask.launch(project.ConsensusRule, owner, ONE_COLUMN, np.zeros(N),
                            funding=ONE_COLUMN.round_reserve * 10, extra=CONS)


def money_ok(t):
    c, s = t.engine, t.round_state()
    assert c.balance == s.reward_pool + s.round_reserve + s.total_owed + s.escrowed \
        + int(c.revenueReceived()) - int(c.revenueWithdrawn())
    assert t.rule_contract.balance == 0


def committed(t, owner, posters, draw=True):
    """Everyone in ``posters`` commits; then the seats are drawn (committers <= seats: all)."""
    cs = {}
    for a, ints in posters:
        cs[a] = t.prepare(t.current_round, floats(ints))
        t.commit(a, cs[a])
    if draw:
        t.draw_seats(owner, wait=t.advance_time)
    return cs


def openings(t, cs, who):
    return [t.opening(a, cs[a]) for a in who]


@settings(deadline=None, max_examples=examples(4), suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_relayed_openings_are_aggregated_and_paid_like_reveals(ctask, clients, owner, accounts, chain, data):
    """Any split of the seated committers between revealing and being relayed: the model is
    the reference aggregate, each score and reward the CONSENSUS rule's, every stake back,
    the money conserved, and the relay column under the constructor's gas bound."""
    t = ctask
    k = data.draw(st.integers(1, ONE_COLUMN.max_participants), label="committers")
    revealed = data.draw(st.integers(0, k - 1), label="revealed")
    # Moves within 2x of each other: every one passes the ratio bound (3x the lower median).
    ups = [near(data.draw(st.integers(10, 20), label=f"offset{i}"), i) for i in range(k)]
    relayer = accounts[12]
    with isolated(chain):
        posters = list(zip(clients[:k], ups))
        cs = committed(t, owner, posters)
        for a, _ in posters[:revealed]:
            assert t.reveal(a, cs[a]) is not None
        r = t.relay(relayer, openings(t, cs, clients[revealed:k]), wait=t.advance_time)
        assert r.completed and r.participants == k
        new = protocol.aggregate(ups, "mean")
        assert np.array_equal(t.global_ints(), new)
        mean = sum(cs[a].move for a, _ in posters) // k // N
        for a, u in posters:
            score = protocol.claim_score(protocol.distance(u, new), cs[a].move // N, mean)
            assert r.scores[str(a.address)] == score
            reward = protocol.reward_for(score, ONE_COLUMN.tier_thresholds, ONE_COLUMN.tier_rewards)
            assert t.withdrawable(a) == reward + STAKE
        assert t.withdrawable(relayer) == ONE_COLUMN.keeper_fee
        assert r.max_tx_gas <= column_gas_bound(k, 3, False, COST, replay_heads=t.replay_heads)
        assert t.escrowed == 0
        money_ok(t)


def test_every_seat_relayed_closes_the_round_before_the_deadline(ctask, clients, owner, chain):
    """Commit, then draw and relay: with every seated committer relayed, posting closes at
    once (no reveal phase to wait out) and the round ends in the one column after the listing."""
    t = ctask
    with isolated(chain):
        posters = [(a, near(10 + i, i)) for i, a in enumerate(clients[:4])]
        cs = committed(t, owner, posters)
        before = t.round_state().now
        r = t.relay(owner, openings(t, cs, clients[:4]), wait=lambda s: pytest.fail(f"waited {s} s"))
        assert r.completed and r.transactions == 1
        assert before < t.round_state().post_deadline
        assert t.current_round == 2


# --- what a relayer might try ------------------------------------------------------------


@pytest.fixture
def seated(ctask, clients, owner, chain):
    """Four committers, all seated, inside a snapshot."""
    t = ctask
    with isolated(chain):
        posters = [(a, near(10 + 3 * i, i)) for i, a in enumerate(clients[:4])]
        cs = committed(t, owner, posters)
        yield t, cs, openings(t, cs, clients[:4])


def _relay_call(t, opened, posted=()):
    return t.relay_calls(t.current_round, list(posted), opened)[0]  # the listing


def test_changed_words_revert(seated, owner, reverts):
    t, _, opened = seated
    words = list(opened[1].words)
    words[0] ^= 1
    changed = [opened[0], dataclasses.replace(opened[1], words=words), *opened[2:]]
    with reverts("BadSignature"):  # the owner signed the other head
        t.send(_relay_call(t, changed), owner)


def test_swapped_owners_revert(seated, owner, reverts):
    t, _, opened = seated
    swapped = [dataclasses.replace(opened[0], owner=opened[1].owner),
               dataclasses.replace(opened[1], owner=opened[0].owner), *opened[2:]]
    with reverts("BadSignature"):
        t.send(_relay_call(t, swapped), owner)


def test_changed_salt_or_move_reverts(seated, owner, reverts):
    t, _, opened = seated
    for forged in (dataclasses.replace(opened[2], salt=bytes(32)), dataclasses.replace(opened[2], move=opened[2].move + 1)):
        with reverts("BadReveal"):
            t.send(_relay_call(t, [*opened[:2], forged, opened[3]]), owner)


def test_one_owner_twice_reverts(seated, owner, reverts):
    t, _, opened = seated
    with reverts("NotSeated"):
        t.send(_relay_call(t, [opened[0], opened[1], opened[0]]), owner)


def test_a_committer_who_revealed_cannot_be_relayed_again(seated, clients, owner, reverts):
    t, cs, opened = seated
    assert t.reveal(clients[0], cs[clients[0]]) is not None
    with reverts("NotSeated"):
        t.send(_relay_call(t, opened[:2], posted=[cs[clients[0]].words]), owner)


def test_leaving_someone_out_cannot_close_the_reveal_early(seated, clients, owner, chain, reverts):
    """Three of four seats relayed before the deadline: refused; the left-out committer
    reveals itself, and the relay then carries the rest beside it."""
    t, cs, opened = seated
    with reverts("PostingOpen"):
        t.send(_relay_call(t, opened[:3]), owner)
    assert t.reveal(clients[3], cs[clients[3]]) is not None
    r = t.relay(owner, opened, wait=lambda s: pytest.fail(f"waited {s} s"))  # drops the revealed owner
    assert r.completed and r.participants == 4
    assert set(r.rewards) == {str(a.address) for a in clients[:4]}


def test_a_false_move_relayed_stalls_the_round_until_dropped(ctask, clients, owner, chain, reverts):
    """A committer that declared a move its update does not have hands its opening to a
    relayer that lists it (the listing sees only the head, which the commitment opens).
    The last column measures the move and reverts (BadReveal): nothing is finalized with
    it. The SDK sees the refusal coming (``stalled``), drops it once the timeout allows, and
    the round completes with the honest two. A drop costs no stake (whoever drops chooses
    whom to leave out): the liar loses the round's reward, and the round a timeout."""
    t = ctask
    with isolated(chain):
        posters = [(a, near(10 + i, i)) for i, a in enumerate(clients[:3])]
        cs = {}
        for a, u in posters:
            cs[a] = t.prepare(t.current_round, floats(u))
        cs[clients[2]] = dataclasses.replace(cs[clients[2]], move=cs[clients[2]].move + N)  # a lie
        for a, _ in posters:
            t.commit(a, cs[a])
        t.draw_seats(owner, wait=t.advance_time)
        opened = openings(t, cs, clients[:3])
        assert [o.owner for o in t.admissible(1, opened)] == [str(a.address) for a in clients[:2]]
        t.send(_relay_call(t, opened), owner)  # every seat done: posting is over
        for o in opened:
            t._updates[(1, o.owner)] = list(o.words)
        with reverts("BadReveal"):
            t.send(t.column_call(1, 0, [o.words for o in opened]), owner)
        assert t.stalled(1) == [2]
        r = t.aggregate(owner, wait=t.advance_time)  # waits for the drop time, drops, aggregates
        assert r.completed and set(r.rewards) == {str(a.address) for a in clients[:2]}
        assert np.array_equal(t.global_ints(), protocol.aggregate([u for _, u in posters[:2]], "mean"))
        assert t.withdrawable(clients[2]) == STAKE and t.escrowed == 0
        assert not t.events("StakeForfeited", target="rule", round=1)
        money_ok(t)


def test_unseated_and_uncommitted_owners_revert(ctask, clients, owner, accounts, chain, reverts):
    """Five committers for four seats: the one left unseated cannot be relayed, nor can an
    account that never committed (its opening of another's commitment included)."""
    t = ctask
    with isolated(chain):
        posters = [(a, near(10 + i, i)) for i, a in enumerate(clients[:5])]
        cs = committed(t, owner, posters)
        unseated = [a for a in clients[:5] if not t.seated(1, a)]
        assert len(unseated) == 1
        seated_ = [a for a in clients[:5] if t.seated(1, a)]
        with reverts("NotSeated"):
            t.send(_relay_call(t, openings(t, cs, [*seated_[:3], unseated[0]])), owner)
        stranger = t.opening(accounts[13], cs[seated_[3]])  # signed by an account that never committed
        with reverts("NotSeated"):
            t.send(_relay_call(t, [*openings(t, cs, seated_[:3]), stranger]), owner)


def test_a_relay_before_the_draw_reverts(ctask, clients, owner, chain, reverts):
    t = ctask
    with isolated(chain):
        posters = [(a, near(10 + i, i)) for i, a in enumerate(clients[:2])]
        cs = committed(t, owner, posters, draw=False)
        with reverts("SeatsNotDrawn"):
            t.send(_relay_call(t, openings(t, cs, clients[:2])), owner)


def test_a_multi_column_task_relays_and_admits_the_moves_with_the_last_column(project, clients, owner, chain):
    """The relay lists heads only; the words come in the columns and the move is measured
    across them, so a task of several columns relays too: the openings are admitted by the
    last column, before the round is finished."""
    multi = dataclasses.replace(ONE_COLUMN, column_words=1, post_words=1)
    with isolated(chain):
        t = BatchTask.launch(project.ConsensusRule, owner, multi, np.zeros(N), funding=multi.round_reserve * 2,
                             extra=CONS)
        assert t.max_relayed == multi.max_participants and len(t.columns) == 3
        ups = [near(10 + i, i) for i in range(2)]
        cs = committed(t, owner, list(zip(clients[:2], ups)))
        r = t.relay(owner, openings(t, cs, clients[:2]), wait=t.advance_time)
        assert r.completed and r.participants == 2 and r.transactions == 3
        assert np.array_equal(t.global_ints(), protocol.aggregate(ups, "mean"))
        assert all(t.withdrawable(a) > STAKE for a in clients[:2])
        money_ok(t)


def test_the_keeper_draws_and_relays_together(ctask, clients, owner, chain):
    """No more committers than seats: the SDK sends the draw with the relay (one block under
    interval mining), since every committer is seated whatever the seed."""
    t = ctask
    with isolated(chain):
        posters = [(a, near(10 + i, i)) for i, a in enumerate(clients[:3])]
        cs = committed(t, owner, posters, draw=False)
        r = t.relay(owner, openings(t, cs, clients[:3]), wait=t.advance_time)
        assert r.completed and r.participants == 3 and r.transactions == 1
        assert int.from_bytes(bytes(t.rule_contract.drawSeed(1)), "big") != 0


def test_more_committers_than_seats_draw_first_and_relay_the_seated(ctask, clients, owner, chain):
    t = ctask
    with isolated(chain):
        posters = [(a, near(10 + i, i)) for i, a in enumerate(clients[:5])]
        cs = committed(t, owner, posters, draw=False)
        r = t.relay(owner, openings(t, cs, clients[:5]), wait=t.advance_time)
        assert r.completed and r.participants == 4
        status = {str(a.address): int(t.rule_contract.seatOf(1, a)[0]) for a in clients[:5]}
        assert sorted(status.values()) == [1, 4, 4, 4, 4]  # one committed, never seated
        assert set(r.rewards) == {a for a, s in status.items() if s == 4}


def test_the_sdk_leaves_out_an_opening_the_contract_would_refuse(ctask, clients, owner, chain):
    """An outlier beyond the ratio bound (and a liar): the relayer's SDK checks every opening
    by the reveal's rules first and relays the rest after the deadline; the outlier reveals
    itself and is refused with its stake back (only the ratio refused it)."""
    t = ctask
    with isolated(chain):
        posters = [(a, near(10 + i, i)) for i, a in enumerate(clients[:3])] + [(clients[3], near(60, 3))]
        cs = committed(t, owner, posters)
        assert [o.owner for o in t.admissible(1, openings(t, cs, clients[:4]))] == [str(a.address) for a in clients[:3]]
        lie = dataclasses.replace(t.opening(clients[2], cs[clients[2]]), move=cs[clients[2]].move + 1)
        assert t.admissible(1, [lie]) == []
        assert t.reveal(clients[3], cs[clients[3]]) is None  # refused by the ratio bound: stake back
        r = t.relay(owner, openings(t, cs, clients[:4]), wait=lambda s: pytest.fail(f"waited {s} s"))
        assert r.completed and set(r.rewards) == {str(a.address) for a in clients[:3]}
        assert t.withdrawable(clients[3]) == STAKE
        money_ok(t)


# --- what a participant holding seats might try -------------------------------------------


def test_sybil_copies_relayed_into_the_seats_earn_nothing_but_keep_their_stake(ctask, clients, owner, chain):
    """One update committed from three accounts and handed to a relayer beside an honest
    committer: the relay carries them like any opening, the column flags the copies as near
    duplicates and pays them nothing; their stakes come back (copying is not lying), the
    honest one is paid, the money adds up."""
    t = ctask
    with isolated(chain):
        copy = near(12, 9)
        posters = [(clients[0], near(14, 1))] + [(a, copy) for a in clients[1:4]]
        cs = committed(t, owner, posters, draw=False)
        r = t.relay(owner, openings(t, cs, clients[:4]), wait=t.advance_time)
        assert r.completed and r.participants == 4 and r.transactions == 1
        assert sorted(r.duplicates) == sorted(str(a.address) for a in clients[1:4])
        assert [r.rewards[str(a.address)] for a in clients[1:4]] == [0, 0, 0]
        assert r.rewards[str(clients[0].address)] > 0
        assert [t.withdrawable(a) for a in clients[1:4]] == [STAKE] * 3
        money_ok(t)


def test_sybils_relayed_into_every_seat_of_the_widest_column_stay_under_the_bound(project, owner, accounts, chain):
    """The griefing attack on the relay itself: 24 fresh Sybil accounts commit one update to
    a one-column task sized to the edge (the widest column 24 seats allow, 92 words) and
    have it relayed with the draw: every pair a confirmed near-duplicate, every credit and
    every seat record a fresh write. The relay lands within the contract's own bound (under
    12M), the round completes and nobody is paid."""
    from ml.settings import column_fit

    seats = 24
    w = column_fit(seats, "mean", COST, relayed=seats, replay_rounds=3)
    s = BatchSettings(param_count=16 * w, max_participants=seats, min_participants=1, tier_thresholds=(10**9,),
                      tier_rewards=(1,), duplicate_distance=1, replay_rounds=3, keeper_fee=1)
    cons = ConsensusSettings(stake=10**15, max_move=2**16)
    with isolated(chain):
        t = BatchTask.launch(project.ConsensusRule, owner, s, np.zeros(s.param_count), funding=10**18,
                             extra=cons)
        assert t.column_words == w and len(t.columns) == 1
        sybils = [accounts.generate_test_account() for _ in range(seats)]
        for a in sybils:
            owner.transfer(a, 10**17)
        one = np.random.default_rng(1).normal(0, 2, s.param_count)
        cs = [t.prepare(1, one) for _ in sybils]
        for a, c in zip(sybils, cs):
            t.commit(a, c)
        r = t.relay(owner, [t.opening(a, c) for a, c in zip(sybils, cs)], wait=t.advance_time)
        bound = column_gas_bound(seats, w, False, COST, replay_heads=t.replay_heads)
        assert r.completed and r.participants == seats and r.transactions == 1
        assert r.max_tx_gas <= bound <= 12_000_000, (r.max_tx_gas, bound)
        assert len(r.duplicates) == seats and sum(r.rewards.values()) == 0
        assert [t.withdrawable(a) for a in sybils] == [10**15] * seats


def test_an_opening_read_from_a_reveal_cannot_end_the_revealers_reveal(project, clients, owner, accounts, chain,
                                                                        reverts):
    """The attack the split's first audit found: a committer reveals in two posts; post 0
    carries its salt and move, so anyone can compute its head. An attacker relays that
    opening to end the reveal (the remaining post would revert) and have the round drop the
    update. The relay needs the owner's signature of the relay: without it, BadSignature;
    the revealer finishes and is paid."""
    two_posts = dataclasses.replace(ONE_COLUMN, column_words=1, post_words=2)
    with isolated(chain):
        t = BatchTask.launch(project.ConsensusRule, owner, two_posts, np.zeros(N),
                             funding=two_posts.round_reserve * 2, extra=CONS)
        ups = [near(10 + i, i) for i in range(2)]
        cs = committed(t, owner, list(zip(clients[:2], ups)))
        victim = clients[0]
        first, second = t.reveal_calls(cs[victim])
        t.send(first, victim)  # the opening is now public calldata
        attacker = accounts[15]
        forged = dataclasses.replace(t.opening(attacker, cs[victim]), owner=str(victim.address))
        with reverts("BadSignature"):
            t.send(_relay_call(t, [forged]), attacker)
        t.send(second, victim)
        assert t.reveal(clients[1], cs[clients[1]]) is not None
        r = t.aggregate(owner)
        assert r.completed and set(r.rewards) == {str(a.address) for a in clients[:2]}


def test_an_opening_of_another_commitment_is_left_out_not_fatal(seated, clients, owner, chain):
    """A seated committer hands the relayer an opening that does not open its commitment (other
    salt): relayed, it would revert the listing for all four. The task client leaves it out;
    the other three are relayed after the deadline (the seat stayed open) and paid, and the
    liar forfeits as a no-show."""
    t, cs, opened = seated
    bad = dataclasses.replace(opened[3], salt=bytes(32))
    assert t.admissible(t.current_round, [*opened[:3], bad]) == opened[:3]
    r = t.relay(owner, [*opened[:3], bad], wait=t.advance_time)
    assert r.completed and r.participants == 3
    assert set(r.rewards) == {str(a.address) for a in clients[:3]}
    money_ok(t)
