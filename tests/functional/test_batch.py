"""The batch engine (with the PAPER rule): posts, column aggregation by every rule against the Python
reference, rewards with the last column, and the attacks on each new mechanism."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from ml import codec, protocol
from ml.chain import BatchTask
from ml.settings import BatchSettings
from conftest import examples, isolated

N = 40  # 3 words; the last has 8 padding lanes
BASE = BatchSettings(param_count=N, frac_bits=8, value_bits=12, post_duration=600, min_participants=1,
                     max_participants=6, access_price=10**15, tier_thresholds=(10, 100, 1000),
                     tier_rewards=(300, 200, 100), column_words=1, post_words=2)
LO, HI = -(1 << 11), (1 << 11) - 1


def floats(ints, fmt=BASE.fmt):
    return np.asarray(ints, dtype=np.float64) / fmt.scale


def vectors(n=N):
    element = st.one_of(st.sampled_from([LO, HI, 0, -1]), st.integers(LO, HI))
    return st.lists(element, min_size=n, max_size=n).map(lambda v: np.asarray(v, dtype=np.int64))


@pytest.fixture(scope="module")
def batch_tasks(project, owner):
    """One task per aggregation rule, round 1 open on the zero model."""
    out = {}
    for rule, trim in (("mean", 0), ("median", 0), ("trimmed_mean", 1)):
        s = dataclasses.replace(BASE, aggregation=rule, trim=trim)
        out[rule] = BatchTask.launch(project.PaperRule, owner, s, np.zeros(N), funding=s.round_reserve * 20)
    return out


@settings(deadline=None, max_examples=examples(6), suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
@pytest.mark.parametrize("rule", ["mean", "median", "trimmed_mean"])
def test_new_model_is_the_reference_aggregate(batch_tasks, rule, clients, owner, chain, data):
    t = batch_tasks[rule]
    k = data.draw(st.integers(1, BASE.max_participants), label="updates")
    ups = [data.draw(vectors(), label=f"u{i}") for i in range(k)]
    with isolated(chain):
        for a, u in zip(clients, ups):
            t.submit(a, 1, floats(u))
        chain.pending_timestamp += BASE.post_duration
        r = t.aggregate(owner)
        assert r.completed and r.participants == k
        trim = 1 if rule == "trimmed_mean" else 0
        assert np.array_equal(t.global_ints(), protocol.aggregate(ups, rule, trim))


def test_post_checks_links_order_and_lanes(batch_tasks, clients, chain, reverts):
    t = batch_tasks["mean"]
    u = t.encode(floats(np.arange(N) - 20))
    calls = t.post_calls(1, u)
    assert len(calls) == 2  # 3 words in posts of 2
    with isolated(chain):
        with reverts("WrongPost"):
            t.send(calls[1], clients[0])  # post 1 before post 0
        t.send(calls[0], clients[0])
        bad = dataclasses.replace(calls[1], args=(1, 1, [u.words[2] ^ 1], b"\0" * 32, b""))
        with reverts("BrokenLink"):
            t.send(bad, clients[0])  # not the words post 0 linked to
        with reverts("NonZeroPadding"):
            t.send(dataclasses.replace(calls[1], args=(1, 1, [u.words[2] | (1 << 255)], b"\0" * 32, b"")), clients[0])
        t.send(calls[1], clients[0])
        with reverts("AlreadyPosted"):
            t.send(calls[0], clients[0])
        assert t.round_state().entrants == 1


def test_column_with_a_forged_update_reverts(batch_tasks, clients, owner, chain, reverts):
    t = batch_tasks["median"]
    ups = [np.full(N, 5 * i) for i in range(3)]
    with isolated(chain):
        for a, u in zip(clients, ups):
            t.submit(a, 1, floats(u))
        chain.pending_timestamp += BASE.post_duration
        names = t.entrants(1)
        words = [t.posted_words(1, a) for a in names]
        forged = [list(w) for w in words]
        forged[1][0] = words[0][0]  # the keeper swaps in another value for update 1
        t.seal_seed(owner)
        with reverts("ColumnMismatch"):
            t.send(t.column_call(1, 0, forged), owner)
        with reverts("ColumnMismatch"):
            t.send(t.column_call(1, 0, [words[1], words[0], words[2]]), owner)  # reordered
        with reverts("WrongLength"):
            t.send(t.column_call(1, 0, words[:2]), owner)  # one left out
        with reverts("WrongColumn"):
            t.send(t.column_call(1, 1, words), owner)  # out of order
        r = t.aggregate(owner)
        assert r.completed


def test_rewards_fees_and_money(project, clients, owner, chain, accounts):
    s = dataclasses.replace(BASE, keeper_fee=7)
    with isolated(chain):
        t = BatchTask.launch(project.PaperRule, owner, s, np.zeros(N), funding=s.round_reserve * 3)
        ups = [np.full(N, 3), np.full(N, 50), np.full(N, 2000)]
        for a, u in zip(clients, ups):
            t.submit(a, 1, floats(u))
        chain.pending_timestamp += s.post_duration
        keeper = accounts[12]
        r = t.aggregate(keeper)
        assert [r.rewards[str(a.address)] for a in clients[:3]] == [300, 200, 0]
        assert t.withdrawable(keeper) == 7 * len(t.columns)
        st = t.round_state()
        assert t.engine.balance == st.reward_pool + st.round_reserve + st.total_owed


# --- settings the engine refuses --------------------------------------------------------


@pytest.mark.parametrize("change,error", [
    ({"param_count": 3200, "max_participants": 40, "column_words": 100, "post_words": 100},
     "ColumnTooLarge"),  # 40 x 101 words > 126 KiB
    ({"column_words": 768}, "BadColumnWords"),
    ({"post_words": 3, "column_words": 2}, "BadPostWords"),  # not a whole number of columns
    ({"post_words": 4025}, "BadPostWords"),  # over MAX_POST_WORDS
    ({"max_participants": 257, "column_words": 1}, "TooManyParticipants"),
    ({"min_participants": 7}, "BadParticipantBounds"),
])
def test_bad_settings_revert(project, owner, reverts, change, error):
    s = dataclasses.replace(BASE, **change)
    with reverts(error):
        project.PaperRule.deploy(s.as_tuple(), list(s.tier_thresholds), list(s.tier_rewards), sender=owner)


@pytest.mark.parametrize("index,value,error", [
    (7, 3, "BadAggregation"), (10, 0, "BadColumnWords"),
    # every phase and timeout is bounded, so every round ends within bounded time
    (3, 0, "BadDuration"), (3, 30 * 86400 + 1, "BadDuration"), (15, 0, "BadDuration"),
    # "no limit" would overflow the sample bound in every column and lock the round
    (11, 2**16 + 1, "BadDuplicateDistance"),
    (13, 2**128, "FeeTooLarge"),  # the reserve could overflow and no round ever open
])
def test_raw_settings_python_would_not_build_revert(project, owner, reverts, index, value, error):
    """Values the Python settings never produce (an unknown rule; column 0, which Python reads
    as "the default"), sent raw."""
    t = list(BASE.as_tuple())
    t[index] = value
    with reverts(error):
        project.PaperRule.deploy(tuple(t), list(BASE.tier_thresholds), list(BASE.tier_rewards), sender=owner)


# --- attacks ----------------------------------------------------------------------------

GUARDED = dataclasses.replace(BASE, duplicate_distance=1, replay_rounds=3, max_participants=6)


@pytest.fixture
def guarded(project, owner, chain):
    with isolated(chain):
        yield BatchTask.launch(project.PaperRule, owner, GUARDED, np.zeros(N), funding=GUARDED.round_reserve * 5)


def _run_round(t, owner, chain, posters):
    r = t.current_round
    for a, u in posters:
        t.submit(a, r, floats(u))
    chain.pending_timestamp += GUARDED.post_duration
    return t.aggregate(owner)


def _honest(seed, offset=20):
    rng = np.random.default_rng(seed)
    return np.clip(offset + rng.integers(-6, 7, N), LO, HI)


def test_sybils_posting_one_update_many_times_earn_nothing(guarded, owner, clients, chain):
    """Three Sybil seats post the same update (and a fourth a +-1 jittered copy); the two
    honest clients are paid, no Sybil is."""
    t = guarded
    copy = _honest(99)
    jitter = np.clip(copy + np.random.default_rng(5).integers(-1, 2, N), LO, HI)
    posters = [(clients[0], _honest(1)), (clients[1], copy), (clients[2], copy), (clients[3], copy),
               (clients[4], jitter), (clients[5], _honest(2))]
    r = _run_round(t, owner, chain, posters)
    paid = {a: r.rewards[str(a.address)] for a, _ in posters}
    assert paid[clients[0]] > 0 and paid[clients[5]] > 0
    assert [paid[c] for c in clients[1:5]] == [0, 0, 0, 0]
    assert {str(c.address) for c in clients[2:4]} <= set(r.replays)  # exact copies: same head link
    assert str(clients[4].address) in r.duplicates  # the jittered one: near on every sample


def test_exact_replay_of_an_accepted_update_earns_nothing(guarded, owner, clients, chain):
    t = guarded
    first = _run_round(t, owner, chain, [(clients[0], _honest(1)), (clients[1], _honest(2))])
    assert first.rewards[str(clients[0].address)] > 0
    # round 2: an outsider posts client 0's round-1 update unchanged (its calldata is public)
    second = _run_round(t, owner, chain, [(clients[2], _honest(1)), (clients[3], _honest(3, 25))])
    assert second.rewards[str(clients[2].address)] == 0 and second.replays == [str(clients[2].address)]
    assert second.rewards[str(clients[3].address)] > 0


def test_replays_are_remembered_for_replay_rounds_and_then_forgotten(guarded, owner, clients, chain):
    """The ring keeps the last replayRounds (3) rounds' head lists: an update accepted in
    round 1 is a replay in round 4 and, accepted again there, in round 5; one accepted only
    in round 1 is forgotten by round 5 (its ring slot now holds round 5's list)."""
    t = guarded
    u, v = _honest(1), _honest(2)
    _run_round(t, owner, chain, [(clients[0], u), (clients[1], v)])
    for k in (2, 3):
        _run_round(t, owner, chain, [(clients[0], _honest(10 + k)), (clients[1], _honest(20 + k))])
    r4 = _run_round(t, owner, chain, [(clients[2], u), (clients[3], _honest(30))])
    assert r4.replays == [str(clients[2].address)]
    r5 = _run_round(t, owner, chain, [(clients[4], u), (clients[5], v)])
    assert r5.replays == [str(clients[4].address)] and r5.rewards[str(clients[5].address)] > 0


def test_an_earlier_rounds_records_cannot_be_reused(guarded, owner, clients, chain, reverts):
    """Records are keyed by participant and list index with the round inside them. A
    participant that left round 1 after its first post (its link to post 1 stored) cannot
    continue in round 2: its entry reads as empty, post 1 is refused and it starts over; a
    list index round 1 used and round 2 does not reads as no one."""
    t = guarded
    first, _ = t.post_calls(1, t.encode(floats(_honest(7))))
    t.send(first, clients[0])
    assert int(t.engine.statusOf(1, clients[0])[0]) == 1  # POSTING
    r1 = _run_round(t, owner, chain, [(clients[1], _honest(1)), (clients[2], _honest(2)), (clients[3], _honest(3))])
    assert r1.completed and str(clients[0].address) not in r1.rewards
    _, second = t.post_calls(2, t.encode(floats(_honest(7))))
    with reverts("WrongPost"):
        t.send(second, clients[0])
    assert int(t.engine.statusOf(2, clients[0])[0]) == 0
    r2 = _run_round(t, owner, chain, [(clients[0], _honest(7)), (clients[1], _honest(11))])
    assert r2.completed and r2.rewards[str(clients[0].address)] > 0
    assert int(str(t.engine.entrant(2, 2)), 16) == 0 and int(str(t.engine.entrant(1, 2)), 16) != 0


def test_updates_that_did_not_move_on_the_samples_are_not_called_copies(guarded, owner, clients, chain):
    """Two honest updates that differ only outside the sampled words: the samples prove nothing
    (nothing moved there), so neither is a duplicate."""
    t = guarded
    posters = [(clients[0], _honest(1)), (clients[1], _honest(2))]
    r = _run_round(t, owner, chain, posters)
    assert r.duplicates == [] and all(v > 0 for v in r.rewards.values())
    # and two free riders (both exactly the current model) are not duplicates either: they
    # moved nothing (the PAPER rule pays them anyway: the paper's weakness, see CONSENSUS)
    g = t.global_ints()
    r2 = _run_round(t, owner, chain, [(clients[2], g), (clients[3], _honest(3)), (clients[4], g.copy())])
    assert str(clients[2].address) not in r2.duplicates and str(clients[4].address) not in r2.duplicates


def test_withheld_aggregation_does_not_stall_the_round(project, owner, clients, chain):
    """No keeper shows up: any participant sends the columns itself (the SDK reads every
    update back from the post transactions) and is paid the keeper fee."""
    fee = dataclasses.replace(GUARDED, keeper_fee=5)
    with isolated(chain):
        t = BatchTask.launch(project.PaperRule, owner, fee, np.zeros(N), funding=fee.round_reserve * 2)
        for a, seed in zip(clients[:3], (1, 2, 3)):
            t.submit(a, 1, floats(_honest(seed)))
        chain.pending_timestamp += fee.post_duration
        stranger = BatchTask.at(t.address)  # a fresh handle: no local copies
        r = stranger.aggregate(clients[1])
        assert r.completed and t.completed_rounds == 1
        assert t.withdrawable(clients[1]) == r.rewards[str(clients[1].address)] + 5 * len(t.columns)


def test_round_below_quorum_is_abandoned_and_its_reserve_returned(project, owner, clients, chain, reverts):
    s = dataclasses.replace(BASE, min_participants=3)
    with isolated(chain):
        t = BatchTask.launch(project.PaperRule, owner, s, np.zeros(N), funding=s.round_reserve * 2)
        pool = t.reward_pool
        t.submit(clients[0], 1, floats(_honest(1)))
        with reverts("PostingOpen"):
            t.engine.abandon(1, sender=owner)
        chain.pending_timestamp += s.post_duration
        with reverts("NoQuorum"):
            t.send(t.column_call(1, 0, [t.posted_words(1, str(clients[0].address))]), owner)
        r = t.aggregate(owner)
        assert not r.completed and t.completed_rounds == 0 and t.current_round == 2
        assert t.reward_pool == pool  # round 1's reserve came back; round 2 locked the same again


def test_largest_legal_column_fits_the_pool_and_gas_limits(project, owner, clients, accounts, chain):
    """Every seat taken with all-extreme values (no zero byte, the most calldata gas) and the
    widest column the settings allow: the column transaction stays under 128 KiB and 12M gas
    under every aggregation rule, whatever was posted."""
    from ml.settings import default_column_words

    n_params, seats = 16 * 402, 10
    ext = np.where(np.arange(n_params) % 2 == 0, -(1 << 15) + 0x0101, (1 << 15) - 0x0102)
    for rule in ("mean", "median", "trimmed_mean"):
        s = BatchSettings(param_count=n_params, frac_bits=12, max_participants=seats, aggregation=rule, trim=2,
                          tier_thresholds=(10**9,), tier_rewards=(1,), duplicate_distance=1, replay_rounds=1)
        with isolated(chain):
            t = BatchTask.launch(project.PaperRule, owner, s, np.zeros(n_params), funding=10**18)
            posters = list(accounts)[1 : seats + 1]
            for i, a in enumerate(posters):
                t.submit(a, 1, floats(np.roll(ext, i), s.fmt))
            chain.pending_timestamp += s.post_duration
            r = t.aggregate(owner)
            assert r.completed and t.column_words == default_column_words(n_params, seats, rule, replay_rounds=1)
            assert r.max_tx_bytes <= 128 * 1024 and r.max_tx_gas <= 12_000_000, (rule, r.max_tx_bytes, r.max_tx_gas)


@settings(deadline=None, max_examples=examples(6), suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_duplicates_and_rewards_match_the_reference(project, owner, clients, chain, data):
    """Random honest updates with planted exact and jittered copies, several columns: the
    updates the chain calls duplicates and what it pays are what ml.protocol says."""
    s = dataclasses.replace(GUARDED, column_words=1, post_words=1, tier_thresholds=(15, 25, 40))
    k = data.draw(st.integers(2, 6), label="updates")
    ups = []
    for i in range(k):
        kind = data.draw(st.sampled_from(["honest", "copy", "jitter"]) if ups else st.just("honest"), label=f"kind{i}")
        if kind == "honest":
            ups.append(_honest(data.draw(st.integers(0, 10**6)), data.draw(st.integers(5, 40))))
        else:
            src = ups[data.draw(st.integers(0, len(ups) - 1))]
            noise = np.random.default_rng(i).integers(-1, 2, N) if kind == "jitter" else 0
            ups.append(np.clip(src + noise, LO, HI))
    with isolated(chain):
        t = BatchTask.launch(project.PaperRule, owner, s, np.zeros(N), funding=s.round_reserve * 2)
        posters = list(zip(clients, ups))
        r = _run_round(t, owner, chain, posters)
        words = [codec.pack(u) for u in ups]
        columns = [[[w[c]] for w in words] for c in range(len(t.columns))]
        old = [[0] for _ in t.columns]
        seed = bytes(t.engine.roundSeed(1))
        dup = protocol.near_duplicates(columns, old, seed, s.duplicate_distance)
        heads = [protocol.update_links(w, 1)[0] for w in words]
        replay = {i for i in range(k) if heads[i] in heads[:i]}
        assert set(r.duplicates) == {str(clients[i].address) for i in dup}
        assert set(r.replays) == {str(clients[i].address) for i in replay}
        for i, u in enumerate(ups):
            score = protocol.distance(u, np.zeros(N, dtype=np.int64))
            want = 0 if i in dup or i in replay else protocol.reward_for(score, list(s.tier_thresholds),
                                                                           list(s.tier_rewards))
            assert r.rewards[str(clients[i].address)] == want, (i, score)


@settings(deadline=None, max_examples=examples(5), suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_gas_stays_under_the_bounds_the_constructor_relies_on(project, owner, accounts, chain, data):
    """For random rules, seats, model sizes, column widths, and posters that are fresh
    accounts (every credit a zero-to-nonzero write) possibly all posting one update (every
    pair a confirmed near-duplicate), posted or (PAPER) all relayed, every column transaction
    costs at most columnGasBound(n, maxRelayed, w) (the constructor refuses settings above
    12M with it) and every post at most the SDK's post limit (settings.post_gas)."""
    from ml.settings import ConsensusSettings, column_gas_bound, post_gas

    consensus = data.draw(st.booleans(), label="consensus")
    n = data.draw(st.integers(1, 8), label="seats")
    words = data.draw(st.integers(1, 60), label="model words")
    w = data.draw(st.integers(1, words), label="column words")
    rule = data.draw(st.sampled_from(["mean", "median", "trimmed_mean"]), label="rule")
    sybils = data.draw(st.booleans(), label="one update for every seat")
    relay = not consensus and data.draw(st.booleans(), label="every update relayed")
    s = BatchSettings(param_count=16 * words, max_participants=n, min_participants=1, aggregation=rule, trim=1,
                      column_words=w, post_words=w * max(1, 40 // w), tier_thresholds=(10**9,), tier_rewards=(1,),
                      duplicate_distance=1, replay_rounds=2, keeper_fee=1)
    cons = ConsensusSettings(stake=10**15, max_move=2**16) if consensus else None
    rng = np.random.default_rng(words * 31 + n)
    with isolated(chain):
        t = BatchTask.launch(project.ConsensusRule if consensus else project.PaperRule, owner, s,
                             np.zeros(16 * words), funding=10**18, extra=cons)
        fresh = [accounts.generate_test_account() for _ in range(n)]
        for a in fresh:
            owner.transfer(a, 10**17)
        one = rng.normal(0, 4, 16 * words)
        ups = [one if sybils else rng.normal(0, 4, 16 * words) for _ in fresh]
        if consensus:
            cs = [t.prepare(1, u) for u in ups]
            for a, c in zip(fresh, cs):
                t.commit(a, c)
            t.draw_seats(owner, wait=t.advance_time)
            posts = [t.reveal(a, c) for a, c in zip(fresh, cs)]
        elif relay:
            posts = []
            r = t.relay(owner, [t.sign(a, 1, u) for a, u in zip(fresh, ups)])  # a full house: at once
        else:
            posts = [t.submit(a, 1, u) for a, u in zip(fresh, ups)]
        for p in posts:
            assert p.max_tx_gas <= post_gas(t.post_words, t.column_words)
        if not relay:
            chain.pending_timestamp += s.post_duration
            r = t.aggregate(owner)  # each column's gas limit is the bound: exceeding it would revert
        assert t.max_relayed == dataclasses.replace(s, rule=t.rule).resolved_max_relayed
        bound = column_gas_bound(n, w, rule != "mean", t.adapter.cost, t.max_relayed, s.replay_rounds * n)
        assert bound == int(t.engine.columnGasBound(n, t.max_relayed, w, int(rule != "mean")))
        assert r.completed and r.max_tx_gas <= bound, (n, words, w, rule, r.max_tx_gas, bound)
        assert (set(r.duplicates) == {str(a.address) for a in fresh}) == (sybils and n > 1)


def test_sybils_holding_every_seat_cannot_push_a_column_past_the_gas_cap(project, owner, accounts, chain):
    """The griefing attack on a later legal transaction: 40 fresh Sybil accounts take every
    seat of a task sized to the edge (the widest column its settings allow) and post one
    update, so every pair is a confirmed near-duplicate and every credit a fresh write.
    Every column still lands within the contract's own bound (under 12M, far under the
    16,777,216 cap), and nobody is paid."""
    from ml.settings import ConsensusSettings, column_gas_bound

    seats = 40
    for consensus, rule in ((False, "median"), (True, "mean")):
        s = BatchSettings(param_count=10_000, max_participants=seats, min_participants=1, aggregation=rule,
                          tier_thresholds=(10**9,), tier_rewards=(1,), duplicate_distance=1, replay_rounds=3,
                          keeper_fee=1)
        cons = ConsensusSettings(stake=10**15, max_move=2**16) if consensus else None
        with isolated(chain):
            t = BatchTask.launch(project.ConsensusRule if consensus else project.PaperRule, owner, s,
                                 np.zeros(s.param_count), funding=10**18, extra=cons)
            sybils = [accounts.generate_test_account() for _ in range(seats)]
            for a in sybils:
                owner.transfer(a, 10**17)
            one = np.random.default_rng(1).normal(0, 2, s.param_count)
            if consensus:
                cs = [t.prepare(1, one) for _ in sybils]
                for a, c in zip(sybils, cs):
                    t.commit(a, c)
                t.draw_seats(owner, wait=t.advance_time)
                for a, c in zip(sybils, cs):
                    t.reveal(a, c)
            else:
                for a in sybils:
                    t.submit(a, 1, one)
            r = t.aggregate(owner)
            bound = column_gas_bound(seats, t.column_words, rule != "mean", t.adapter.cost, t.max_relayed,
                                     t.replay_heads)
            assert r.completed and r.transactions == len(t.columns) > 1
            assert r.max_tx_gas <= bound <= 12_000_000, (rule, r.max_tx_gas, bound)
            assert len(r.duplicates) == seats and sum(r.rewards.values()) == 0


def test_withdraw_cannot_be_reentered_and_a_refused_payment_keeps_the_credit(project, owner, clients, chain,
                                                                              reverts):
    """A keeper contract earns the column fee, then withdraws with a receive() that
    re-enters withdraw() or refuses the ETH: both revert whole (TransferFailed) and the
    credit stays; a plain receive() then gets it exactly once."""
    s = dataclasses.replace(BASE, keeper_fee=5, max_participants=1)
    with isolated(chain):
        t = BatchTask.launch(project.PaperRule, owner, s, np.zeros(N), funding=10**18)
        keeper = project.Reenterer.deploy(t.address, sender=owner)
        u = t.encode(floats(np.arange(N) % 7 - 3))
        t.submit(clients[0], 1, u)
        t.seal_seed(owner)
        for c in range(len(t.columns)):
            keeper.aggregate(*t.column_call(1, c, [u.words]).args, sender=owner)
        fees = 5 * len(t.columns)
        assert t.withdrawable(keeper) == fees and t.round_version(1) == 1
        for mode in (1, 2):  # REENTER, REFUSE
            with reverts("TransferFailed"):
                keeper.withdraw(mode, sender=owner)
            assert t.withdrawable(keeper) == fees
        before = keeper.balance
        keeper.withdraw(0, sender=owner)
        assert keeper.balance == before + fees and t.withdrawable(keeper) == 0
        with reverts("NothingToWithdraw"):
            keeper.withdraw(0, sender=owner)


def test_an_ended_task_finishes_its_round_then_the_owner_sweeps_only_the_pool(project, owner, clients, chain,
                                                                               reverts):
    """The exit: `endTask` lets the open round finish and opens no other; after EXIT_DELAY
    the owner sweeps the pool, never what contributors are owed."""
    s = dataclasses.replace(BASE, max_participants=2, keeper_fee=3)
    with isolated(chain):
        t = BatchTask.launch(project.PaperRule, owner, s, np.zeros(N), funding=s.round_reserve * 3)
        with reverts("NotOwner"):
            t.end_task(clients[0])
        sweepable = t.end_task(owner)
        with reverts("TaskIsEnded"):
            t.end_task(owner)
        for a, off in ((clients[0], 5), (clients[1], 50)):
            t.submit(a, 1, floats(np.full(N, off)))
        r = t.aggregate(owner)
        assert r.completed and not r.next_round_open and not t.round_open
        with reverts("TaskIsEnded"):
            t.start_round(owner)
        with reverts("SweepTooEarly"):
            t.sweep(owner)
        chain.pending_timestamp = sweepable
        with reverts("NotOwner"):
            t.sweep(clients[0])
        pool, owed = t.reward_pool, [t.withdrawable(a) for a in (clients[0], clients[1], owner)]
        assert pool > 0 and owed[0] == 300 and owed[1] == 200
        before = owner.balance
        receipt_amount = t.sweep(owner)
        assert receipt_amount == pool and t.reward_pool == 0 and owner.balance > before + pool - 10**16
        assert [t.withdrawable(a) for a in (clients[0], clients[1], owner)] == owed  # nobody's credit touched
        with reverts("NothingToWithdraw"):
            t.sweep(owner)
        assert t.withdraw(clients[0]) == 300 and t.engine.balance == owed[1] + owed[2]


def test_python_constants_are_the_contracts(project, owner, batch_tasks, reverts):
    """Every protocol constant ml.settings states once is the contract's own: limits by their
    getters, the aggregation codes by what the constructor accepts, the gas terms through
    columnGasBound itself (PAPER and CONSENSUS hooks) over seats, widths and sorting."""
    from ml import settings as S
    from ml.rules import adapter_for

    c = batch_tasks["mean"].engine
    assert int(batch_tasks["mean"].rule_contract.MAX_TIERS()) == S.MAX_TIERS
    limits = (S.MAX_SEATS, S.MAX_COLUMN_WORDS, S.MAX_COLUMN_BYTES, S.MAX_POST_WORDS, S.MAX_COLUMN_GAS,
              S.MAX_REPLAY_ROUNDS, S.EXIT_DELAY, S.MAX_DURATION, S.MAX_DUPLICATE_DISTANCE)
    assert tuple(int(x) for x in batch_tasks["mean"].rule_contract.limits()) == limits
    for i, rule in enumerate(S.AGGREGATIONS):
        assert int(batch_tasks[rule].engine.settings()[12]) == i
    with reverts("BadAggregation"):
        project.PaperRule.deploy((*BASE.as_tuple()[:7], len(S.AGGREGATIONS), *BASE.as_tuple()[8:]),
                                 list(BASE.tier_thresholds), list(BASE.tier_rewards), sender=owner)
    # column 0 looks up every head of the last replayRounds rounds: bounded
    with reverts("BadReplayRounds"):
        project.PaperRule.deploy((*BASE.as_tuple()[:12], S.MAX_REPLAY_ROUNDS + 1, *BASE.as_tuple()[13:]),
                                 list(BASE.tier_thresholds), list(BASE.tier_rewards), sender=owner)
    with pytest.raises(ValueError, match="replay_rounds"):
        dataclasses.replace(BASE, replay_rounds=S.MAX_REPLAY_ROUNDS + 1)
    cons = BatchTask.launch(project.ConsensusRule, owner, BASE, np.zeros(N), funding=BASE.round_reserve,
                            extra=S.ConsensusSettings()).engine
    # the largest post is a reveal's first (five head words, two lengths and a two-word
    # opening besides the words): it fits
    reveal = len(cons.submit.encode_input(1, 0, [1] * S.MAX_POST_WORDS, b"\1" * 32, b"\1" * 64))
    assert reveal <= S.MAX_COLUMN_BYTES < reveal + 32
    for n, r, w, sorts in ((1, 1, 1, 0), (2, 0, 7, 1), (10, 10, 400, 0), (10, 3, 375, 1), (33, 33, 50, 1),
                           (64, 0, 1, 0)):
        assert int(c.columnGasBound(n, r, w, sorts)) == S.column_gas_bound(n, w, bool(sorts), relayed=r)
        assert int(cons.columnGasBound(n, r, w, sorts)) == S.column_gas_bound(n, w, bool(sorts),
                                                                              adapter_for("consensus").cost, r)
    guarded = BatchTask.launch(project.PaperRule, owner, GUARDED, np.zeros(N), funding=GUARDED.round_reserve).engine
    heads = GUARDED.replay_rounds * GUARDED.max_participants
    assert int(guarded.columnGasBound(6, 0, 1, 0)) == S.column_gas_bound(6, 1, False, relayed=0, replay_heads=heads)
