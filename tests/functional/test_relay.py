"""The relay path (BatchEngine.relay, vouched for by the PAPER rule): signed updates carried by an untrusted relayer, checked
and aggregated exactly like posted ones. Every forgery a relayer could try reverts; the
one thing it can do, leave an update out, costs the left-out owner nothing (it posts
itself before posting closes)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from ml import protocol, signing
from ml.chain import BatchTask
from ml.settings import BatchSettings
from conftest import examples, isolated

N = 40  # 3 words: 3 columns of 1 word, the last with 8 padding lanes
BASE = BatchSettings(param_count=N, frac_bits=8, value_bits=12, post_duration=600, min_participants=1,
                     max_participants=4, access_price=10**15, tier_thresholds=(10, 100, 1000),
                     tier_rewards=(300, 200, 100), column_words=1, post_words=3, keeper_fee=5)
LO, HI = -(1 << 11), (1 << 11) - 1


def floats(ints):
    return np.asarray(ints, dtype=np.float64) / BASE.fmt.scale


@pytest.fixture(scope="module")
def relay_task(project, owner):
    """Round 1 open on the zero model; round 2 needs one aggregated round first."""
    return BatchTask.launch(project.PaperRule, owner, BASE, np.zeros(N), funding=BASE.round_reserve * 10)


def vectors():
    return st.lists(st.integers(LO, HI), min_size=N, max_size=N).map(lambda v: np.asarray(v, dtype=np.int64))


def _signed(t, accounts_, ups, round_=1):
    return [t.sign(a, round_, floats(u)) for a, u in zip(accounts_, ups)]


def test_the_digest_is_eip712_and_the_reference(relay_task, owner):
    """Contract, Python reference and eth_account's typed-data encoder agree on the bytes."""
    from eth_account.messages import encode_typed_data
    from eth_utils import keccak

    t = relay_task
    head = bytes(range(32))
    ours = protocol.relay_digest(t.chain_id, t.address, 7, head)
    m = encode_typed_data(full_message=protocol.relay_typed_data(t.chain_id, t.address, 7, head))
    assert bytes(t.rule_contract.relayDigest(7, head)) == ours == keccak(b"\x19" + m.version + m.header + m.body)


@settings(deadline=None, max_examples=examples(6), suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_relayed_updates_are_aggregated_and_paid_like_posted_ones(relay_task, clients, owner, accounts, chain, data):
    """Any split of the seats between posters and relayed owners: the model is the reference
    aggregate of all updates, and each owner's score, tier and reward are what the same
    update earns posted (the reference distance to the starting model)."""
    t = relay_task
    k = data.draw(st.integers(1, BASE.max_participants), label="updates")
    posted = data.draw(st.integers(0, k - 1), label="posted")
    ups = [data.draw(vectors(), label=f"u{i}") for i in range(k)]
    relayer = accounts[12]
    with isolated(chain):
        for a, u in zip(clients[:posted], ups[:posted]):
            t.submit(a, 1, floats(u))
        signed = _signed(t, clients[posted:k], ups[posted:])
        r = t.relay(relayer, signed, wait=lambda s: setattr(chain, "pending_timestamp", chain.pending_timestamp + s))
        assert r.completed and r.participants == k
        assert np.array_equal(t.global_ints(), protocol.aggregate(ups, "mean", 0))
        for a, u in zip(clients[:k], ups):
            score = protocol.distance(u, np.zeros(N, dtype=np.int64))
            assert r.scores[str(a.address)] == score
            assert r.rewards[str(a.address)] == protocol.reward_for(score, BASE.tier_thresholds, BASE.tier_rewards)
        assert t.withdrawable(relayer) == BASE.keeper_fee * len(t.columns)
        assert t.current_round == 2


@pytest.fixture(scope="module")
def wide_task(project, owner):
    """Two-word columns (columns [0, 2) and [2, 3)): MEAN measures relayed distances in the
    same pass as the column, word by word, with one accumulator per relayed update."""
    return BatchTask.launch(project.PaperRule, owner, dataclasses.replace(BASE, column_words=2, post_words=2),
                            np.zeros(N), funding=BASE.round_reserve * 10)


@settings(deadline=None, max_examples=examples(4), suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_relayed_distances_over_wide_columns(wide_task, clients, accounts, chain, data):
    t = wide_task
    k = data.draw(st.integers(1, BASE.max_participants), label="updates")
    posted = data.draw(st.integers(0, k - 1), label="posted")
    ups = [data.draw(vectors(), label=f"u{i}") for i in range(k)]
    with isolated(chain):
        for a, u in zip(clients[:posted], ups[:posted]):
            t.submit(a, 1, floats(u))
        r = t.relay(accounts[12], _signed(t, clients[posted:k], ups[posted:]),
                    wait=lambda s: setattr(chain, "pending_timestamp", chain.pending_timestamp + s))
        assert np.array_equal(t.global_ints(), protocol.aggregate(ups, "mean", 0))
        for a, u in zip(clients[:k], ups):
            assert r.scores[str(a.address)] == protocol.distance(u, np.zeros(N, dtype=np.int64))


def test_a_full_house_closes_the_round_in_one_transaction_batch(relay_task, clients, owner, chain):
    """Every seat relayed before the deadline: no waiting, and the relayer's columns are the
    round's only transactions."""
    t = relay_task
    ups = [np.full(N, 10 * (i + 1)) for i in range(BASE.max_participants)]
    with isolated(chain):
        start = chain.pending_timestamp
        r = t.relay(owner, _signed(t, clients, ups), wait=lambda s: pytest.fail("a full house must not wait"))
        assert r.completed and r.transactions == len(t.columns)
        assert chain.pending_timestamp - start < BASE.post_duration
        assert t.current_round == 2 and all(t.status(1, a)[0].name == "LISTED" for a in clients[:4])


# --- what a relayer might try ------------------------------------------------------------


@pytest.fixture
def round_with_signed(relay_task, clients, chain):
    """Four signed updates of round 1 (a full house), inside a snapshot."""
    t = relay_task
    ups = [np.clip(np.full(N, 7 * (i + 1)) + np.arange(N), LO, HI) for i in range(BASE.max_participants)]
    with isolated(chain):
        yield t, _signed(t, clients, ups), ups


def _calls(t, signed, posted=()):
    return t.relay_calls(t.current_round, list(posted), signed)


def test_changed_words_revert(round_with_signed, owner, reverts):
    t, signed, _ = round_with_signed
    changed = list(signed)
    words = list(changed[1].words)
    words[0] ^= 1  # column 0: the head no longer matches the signature
    changed[1] = dataclasses.replace(changed[1], words=words)
    with reverts("BadSignature"):
        t.send(_calls(t, changed)[0], owner)


def test_changed_later_column_reverts(round_with_signed, owner, reverts):
    t, signed, _ = round_with_signed
    calls = _calls(t, signed)  # the listing (heads and signatures), then columns 0, 1, 2
    t.send(calls[0], owner)
    t.seal_seed(owner)
    t.send(calls[1], owner)
    changed = list(signed)
    words = list(changed[2].words)
    words[1] ^= 1 << 4  # column 1: the link signed through column 0's next link
    changed[2] = dataclasses.replace(changed[2], words=words)
    with reverts("ColumnMismatch"):
        t.send(_calls(t, changed)[2], owner)
    t.send(calls[2], owner)
    t.send(calls[3], owner)
    assert t.current_round == 2


def test_reordered_updates_revert(round_with_signed, owner, reverts):
    """Swapping two owners' words in a later column, or pairing a signature with another
    owner's words in column 0."""
    t, signed, _ = round_with_signed
    swapped = [signed[1], signed[0]] + signed[2:]
    calls = _calls(t, signed)
    t.send(calls[0], owner)
    t.seal_seed(owner)
    with reverts("ColumnMismatch"):
        t.send(_calls(t, swapped)[1], owner)
    t.send(calls[1], owner)
    with reverts("WrongColumn"):
        t.send(calls[1], owner)  # column 0 again
    with reverts("RelayClosed"):
        t.send(calls[0], owner)  # and no relay once the seed is sealed


def test_signature_paired_with_other_words_reverts(round_with_signed, owner, reverts):
    t, signed, _ = round_with_signed
    mixed = [dataclasses.replace(signed[0], words=signed[1].words)] + signed[1:]
    with reverts("BadSignature"):
        t.send(_calls(t, mixed)[0], owner)


def test_forged_signer_reverts(round_with_signed, owner, accounts, reverts):
    """Claiming another owner for a signature, a zero signer with a garbage signature, and a
    malleable high-s twin of a valid signature."""
    t, signed, _ = round_with_signed
    other = dataclasses.replace(signed[0], signer=str(accounts[15].address))
    with reverts("BadSignature"):
        t.send(_calls(t, [other] + signed[1:])[0], owner)
    garbage = dataclasses.replace(signed[0], signer="0x" + "00" * 20, r=b"\1" * 32, vs=b"\2" * 32)
    with reverts("BadSignature"):
        t.send(_calls(t, [garbage] + signed[1:])[0], owner)
    vs = int.from_bytes(signed[0].vs, "big")
    parity, s = vs >> 255, vs & ((1 << 255) - 1)
    twin = ((1 - parity) << 255) | (signing._ORDER - s)
    high = dataclasses.replace(signed[0], vs=twin.to_bytes(32, "big"))
    with reverts("BadSignature"):
        t.send(_calls(t, [high] + signed[1:])[0], owner)


def test_replays_revert(relay_task, project, clients, owner, chain, reverts):
    """A round-1 signature in round 2, another task's signature, one owner twice."""
    t = relay_task
    ups = [np.full(N, 10 * (i + 1)) for i in range(BASE.max_participants)]
    with isolated(chain):
        old = _signed(t, clients, ups)
        t.relay(owner, old)
        assert t.current_round == 2
        with reverts("BadSignature"):
            t.send(t.relay_calls(2, [], [dataclasses.replace(s, round=2) for s in old])[0], owner)
        other = BatchTask.launch(project.PaperRule, owner, BASE, np.zeros(N), funding=BASE.round_reserve * 2)
        foreign = _signed(other, clients, ups, round_=2)
        with reverts("BadSignature"):
            t.send(t.relay_calls(2, [], foreign)[0], owner)
        fresh = _signed(t, clients, ups, round_=2)
        with reverts("AlreadyPosted"):
            t.send(t.relay_calls(2, [], [fresh[0], fresh[1], fresh[2], fresh[0]])[0], owner)


def test_relayed_values_are_range_checked(relay_task, clients, owner, chain, reverts):
    """A relayed update was never posted, so its lanes are checked in every column it
    crosses: a lane out of the 12-bit range, and a nonzero padding lane."""
    t = relay_task
    with isolated(chain):
        ok = [np.full(N, 3)] * 3
        signed = _signed(t, clients[:3], ok)
        bad = list(signed[0].words)
        bad[1] = (bad[1] & ~0xFFFF) | 0x0900  # 2304 > 2047 in lane 0 of word 1 (column 1)
        forged = t.sign(clients[3], 1, protocol_update(t, bad))
        calls = t.relay_calls(1, [], signed + [forged])
        t.send(calls[0], owner)
        t.seal_seed(owner)
        t.send(calls[1], owner)
        with reverts("ValueOutOfRange"):
            t.send(calls[2], owner)
    with isolated(chain):
        pad = list(signed[0].words)
        pad[2] |= 1 << 255
        forged = t.sign(clients[3], 1, protocol_update(t, pad))
        calls = t.relay_calls(1, [], signed + [forged])
        t.send(calls[0], owner)
        t.seal_seed(owner)
        t.send(calls[1], owner)
        t.send(calls[2], owner)
        with reverts("NonZeroPadding"):
            t.send(calls[3], owner)


def protocol_update(t, words):
    from ml.chain import Update

    return Update(list(words))


# --- what a relayer can do: leave someone out ----------------------------------------------


def test_leaving_someone_out_cannot_close_posting_early(round_with_signed, owner, reverts):
    t, signed, _ = round_with_signed
    with reverts("PostingOpen"):
        t.send(_calls(t, signed[:3])[0], owner)  # three of four seats: must wait for the deadline


def test_a_censored_client_posts_itself_and_is_aggregated(round_with_signed, clients, owner, chain, reverts):
    """The relayer drops client 3's signed update. Seeing the round still open near the
    deadline, client 3 posts itself; the relayer's columns after the deadline must carry it
    (it is on the list), and it is paid like the relayed three."""
    t, signed, ups = round_with_signed
    t.submit(clients[3], 1, floats(ups[3]))
    chain.pending_timestamp += BASE.post_duration
    mine = t.posted_words(1, str(clients[3].address))
    with reverts("AlreadyPosted"):
        t.send(_calls(t, [signed[0], signed[3]], posted=[mine])[0], owner)  # its signed copy too
    r = t.relay(owner, signed[:3])
    assert r.completed and r.participants == 4
    assert set(r.rewards) == {str(a.address) for a in clients[:4]}
    assert r.rewards[str(clients[3].address)] == protocol.reward_for(
        protocol.distance(ups[3], np.zeros(N, dtype=np.int64)), BASE.tier_thresholds, BASE.tier_rewards)
    assert np.array_equal(t.global_ints(), protocol.aggregate(ups, "mean", 0))


def test_a_relay_over_the_seats_reverts(round_with_signed, clients, reverts, owner):
    """Five updates for four seats (every one relayable): more than the relay may carry."""
    from ml.relay import relay_plan

    t, signed, ups = round_with_signed
    extra = t.sign(clients[4], 1, floats(ups[0] + 1))
    with pytest.raises(ValueError, match="at most 4"):
        _calls(t, signed + [extra])
    (first,) = relay_plan(1, [], signed + [extra], t.column_words, False).listing
    with reverts("TooManyRelayed"):
        getattr(t.engine, first.method)(*first.args, sender=owner)


def test_a_seat_taken_by_a_poster_meanwhile(round_with_signed, clients, owner, reverts):
    """An outsider posts while the relayer holds four signed updates for four seats: the
    relay as planned now overfills the round (RoundFull); the SDK re-reads the list and
    relays what still fits, so the round still closes at once."""
    t, signed, ups = round_with_signed
    t.submit(clients[5], 1, floats(ups[0] + 3))
    with reverts("RoundFull"):
        t.send(_calls(t, signed, posted=[t.posted_words(1, str(clients[5].address))])[0], owner)
    r = t.relay(owner, signed, wait=lambda s: pytest.fail("the seats are full: no waiting"))
    assert r.completed and r.participants == 4
    assert set(r.rewards) == {str(a.address) for a in (clients[5], *clients[:3])}


def test_a_relay_counts_only_what_it_will_carry_before_deciding_to_wait(round_with_signed, clients, owner, chain):
    """Three signed updates for four seats, one of whose owners has posted itself: the relay
    carries two, which is no full house, so it waits for the deadline (it used to count the
    posted owner twice and send too early: PostingOpen)."""
    t, signed, ups = round_with_signed
    t.submit(clients[3], 1, floats(ups[3]))
    waited = []

    def wait(seconds):
        waited.append(seconds)
        chain.pending_timestamp += seconds

    r = t.relay(owner, signed[1:], wait=wait)
    assert waited and r.completed and r.participants == 3
    assert set(r.rewards) == {str(a.address) for a in clients[1:4]}


# --- how many seats a relay may carry (maxRelayed) ----------------------------------------


@pytest.fixture(scope="module")
def capped_task(project, owner):
    """Four seats, of which a relay carries at most two."""
    s = dataclasses.replace(BASE, max_relayed=2)
    return BatchTask.launch(project.PaperRule, owner, s, np.zeros(N), funding=s.round_reserve * 10)


def test_a_relay_over_max_relayed_reverts_and_the_sdk_says_so(capped_task, clients, owner, chain, reverts):
    from ml.relay import relay_plan

    t = capped_task
    assert t.max_relayed == 2
    ups = [np.full(N, 5 * (i + 1)) for i in range(4)]
    with isolated(chain):
        signed = _signed(t, clients[:4], ups)
        (first,) = relay_plan(1, [], signed[:3], t.column_words, False).listing  # no SDK cap: the contract's
        with reverts("TooManyRelayed"):
            getattr(t.engine, first.method)(*first.args, sender=owner)
        with pytest.raises(ValueError, match="at most 2"):
            t.relay_calls(1, [], signed[:3])


def test_a_capped_relay_carries_what_it_may_and_the_others_post(capped_task, clients, owner, chain):
    """Four signed updates, a relay of at most two: the SDK carries the first two; with the
    other two owners posting themselves it is a full house at once, and without them it
    waits for the deadline and aggregates the two."""
    t = capped_task
    ups = [np.full(N, 5 * (i + 1)) for i in range(4)]
    with isolated(chain):
        signed = _signed(t, clients[:4], ups)
        for a, u in zip(clients[2:4], ups[2:]):
            t.submit(a, 1, floats(u))
        r = t.relay(owner, signed, wait=lambda s: pytest.fail("a full house: no waiting"))
        assert r.completed and r.participants == 4
        assert np.array_equal(t.global_ints(), protocol.aggregate(ups, "mean", 0))
    with isolated(chain):
        signed = _signed(t, clients[:4], ups)
        waited = []

        def wait(seconds):
            waited.append(seconds)
            chain.pending_timestamp += seconds

        r = t.relay(owner, signed, wait=wait)
        assert waited and r.completed and r.participants == 2
        assert set(r.rewards) == {str(a.address) for a in clients[:2]}


def _constructor_error(project, owner, container, *args):
    """The custom error selector a constructor reverts with (a raw eth_call of the creation
    code: ape's error enrichment of constructor reverts depends on the types it has seen)."""
    from web3.exceptions import ContractCustomError

    data = bytes(container.contract_type.deployment_bytecode.to_bytes()) + bytes(
        container.constructor.encode_input(*args))
    with pytest.raises(ContractCustomError) as info:
        owner.provider.web3.eth.call({"from": owner.address, "data": "0x" + data.hex()})
    return str(info.value.data if hasattr(info.value, "data") else info.value)


def test_max_relayed_settings_are_checked(project, owner):
    """More relayable seats than seats; a relayable CONSENSUS task of several columns (it
    could never relay); and 60 relayable seats, whose column bound exceeds the budget at any
    width: each refused with its own error. The same 60 seats without a relay deploy (the
    relay's per-seat gas no longer caps every task at 48 seats)."""
    from eth_utils import keccak

    from ml.settings import ConsensusSettings, default_column_words

    def selector(sig):
        return keccak(text=sig)[:4].hex()

    tiers = (list(BASE.tier_thresholds), list(BASE.tier_rewards))
    raw = list(BASE.as_tuple())
    raw[14] = BASE.max_participants + 1  # maxRelayed
    assert selector("BadMaxRelayed(uint256,uint256)") in _constructor_error(project, owner, project.PaperRule,
                                                                              tuple(raw), *tiers)
    # a CONSENSUS task of several columns relays too (the opening is admitted before the
    # last column finishes the round, not before column 0)
    multi = dataclasses.replace(BASE, max_relayed=1)  # 3 one-word columns
    assert BatchTask.deploy(project.ConsensusRule, owner, multi, extra=ConsensusSettings(stake=1)).max_relayed == 1
    sixty = BatchSettings(param_count=8192, max_participants=60, tier_thresholds=(10**9,), tier_rewards=(1,))
    assert sixty.resolved_max_relayed == 0 and sixty.resolved_column_words == 26
    with pytest.raises(ValueError, match="cannot fit one word"):
        default_column_words(8192, 60, relayed=60)
    relayable = dataclasses.replace(sixty, max_relayed=60, column_words=1, post_words=1)
    assert selector("ColumnTooCostly(uint256,uint256)") in _constructor_error(project, owner, project.PaperRule,
                                                                                relayable.as_tuple(), *tiers)
    t = BatchTask.deploy(project.PaperRule, owner, sixty, funding=sixty.round_reserve)
    assert t.max_relayed == 0 and t.max_participants == 60 and t.column_words == 26


def test_sybils_relayed_into_every_seat_of_the_widest_columns_stay_under_the_bound(project, owner, accounts, chain):
    """The griefing attack on a later legal transaction, through the relay: 20 fresh Sybil
    accounts (they only sign; nothing needs funding) sign one update for a MEDIAN task whose
    two columns are the widest that 20 relayable seats allow, and a relayer carries them
    all: every pair a confirmed near-duplicate, every seat record, replay record and credit
    a fresh write, every relayed word lane-checked and measured in both columns. Each column
    lands within the contract's own bound (under 12M), and nobody is paid."""
    from ml.settings import column_fit, column_gas_bound

    seats = 20
    w = column_fit(seats, "median", relayed=seats, replay_rounds=3)
    s = BatchSettings(param_count=16 * 2 * w, max_participants=seats, min_participants=1, aggregation="median",
                      tier_thresholds=(10**9,), tier_rewards=(1,), duplicate_distance=1, replay_rounds=3,
                      keeper_fee=1, max_relayed=seats)
    with isolated(chain):
        t = BatchTask.launch(project.PaperRule, owner, s, np.zeros(s.param_count), funding=10**18)
        assert t.column_words == w and len(t.columns) == 2
        sybils = [accounts.generate_test_account() for _ in range(seats)]
        one = np.random.default_rng(2).normal(0, 2, s.param_count)
        r = t.relay(owner, [t.sign(a, 1, one) for a in sybils])
        bound = column_gas_bound(seats, w, True, relayed=seats, replay_heads=t.replay_heads)
        assert r.completed and r.participants == seats and r.transactions == 2
        assert r.max_tx_gas <= bound <= 12_000_000, (r.max_tx_gas, bound)
        assert len(r.duplicates) == seats and sum(r.rewards.values()) == 0


def test_one_malformed_update_costs_the_others_nothing(round_with_signed, clients, owner, chain):
    """A relayer's inputs come from others (a Flower server's from its SuperNodes). Items
    that would revert the listing for everyone - another round, the wrong length, values
    outside the lanes, a signature not the owner's, a second update of one owner, garbage -
    are left out by the task client; the well-formed ones are relayed after the deadline
    (their seats were left open) and paid."""
    t, signed, ups = round_with_signed
    bad_round = t.sign(clients[3], 2, floats(ups[3]))
    short = dataclasses.replace(signed[3], words=signed[3].words[:-1])
    wide = t.sign(clients[3], 1, floats(ups[3]))
    wide = dataclasses.replace(wide, words=[wide.words[0] | (0x7FFF << 16 * 3)] + wide.words[1:])  # a 15-bit lane
    forged = dataclasses.replace(signed[3], signer=str(clients[4].address))
    twice = t.sign(clients[0], 1, floats(ups[1]))
    garbage = dataclasses.replace(signed[3], r=b"\x01")
    items = [*signed[:3], bad_round, short, wide, forged, twice, garbage]
    assert t.well_formed(1, items) == signed[:3]
    r = t.relay(owner, items, wait=t.advance_time)
    assert r.completed and r.participants == 3
    assert set(r.rewards) == {str(a.address) for a in clients[:3]}
    assert np.array_equal(t.global_ints(), protocol.aggregate(ups[:3], "mean", 0))
