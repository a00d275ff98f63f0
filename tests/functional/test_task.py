"""FederatedTask: aggregation equals the reference, tiers, rounds, payouts, every revert."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from ml import codec, protocol
from ml.settings import TaskSettings
from conftest import SMALL

FMT = SMALL.fmt
N = SMALL.param_count
def fixture_ok(max_examples):
    return settings(deadline=None, max_examples=max_examples,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def vec(draw_ints):
    return np.asarray(draw_ints, dtype=np.int64)


def value_vectors(n=N, bits=SMALL.value_bits):
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    element = st.one_of(st.sampled_from([lo, hi, 0, -1]), st.integers(lo, hi))
    return st.lists(element, min_size=n, max_size=n).map(vec)


def submit_ints(task, account, round_, ints):
    return task.submit(account, round_, codec.dequantize(ints, task.fmt))


# --- aggregation -------------------------------------------------------------------


@fixture_ok(25)
@given(data=st.data())
def test_global_model_is_reference_mean(task, owner, clients, chain, data):
    initial = data.draw(value_vectors(), label="initial")
    k = data.draw(st.integers(SMALL.min_participants, SMALL.max_participants), label="participants")
    subs = [data.draw(value_vectors(), label=f"client{i}") for i in range(k)]
    with chain.isolate():
        task.set_initial_model(owner, codec.dequantize(initial, FMT))
        task.start_round(owner)
        for i, s in enumerate(subs):
            res = submit_ints(task, clients[i], 1, s)
            assert res.distance == protocol.distance(s, initial)
            assert res.tier == protocol.reward_tier(res.distance, list(SMALL.tier_thresholds))
            assert res.reward == protocol.reward_for(res.distance, list(SMALL.tier_thresholds), list(SMALL.tier_rewards))
        fin = task.finalize(owner)
        assert fin.completed and fin.participants == k
        assert task.global_ints().tolist() == protocol.mean(subs).tolist()


@fixture_ok(8)
@given(data=st.data())
def test_second_round_overwrites_accumulator(task, owner, clients, chain, data):
    """Round 2's mean must not contain round 1's submissions (the accumulator is reused)."""
    r1 = [data.draw(value_vectors()) for _ in range(2)]
    r2 = [data.draw(value_vectors()) for _ in range(3)]
    with chain.isolate():
        task.start_round(owner)
        for i, s in enumerate(r1):
            submit_ints(task, clients[i], 1, s)
        chain.pending_timestamp += SMALL.round_duration
        task.finalize(owner)
        assert task.current_round == 2 and task.round_open
        for i, s in enumerate(r2):
            res = submit_ints(task, clients[i], 2, s)
            assert res.distance == protocol.distance(s, protocol.mean(r1))
        chain.pending_timestamp += SMALL.round_duration
        task.finalize(owner)
        assert task.global_ints().tolist() == protocol.mean(r2).tolist()


@pytest.mark.parametrize("bits", [2, 8, 16])
def test_extreme_values_every_width(deploy_task, owner, clients, chain, bits):
    """All-min and all-max submissions average exactly at every value width; max participants."""
    settings_ = TaskSettings(param_count=17, frac_bits=0, value_bits=bits, min_participants=1,
                             max_participants=8, tier_thresholds=(1,), tier_rewards=(1,))
    with chain.isolate():
        t = deploy_task(settings_)
        t.start_round(owner)
        lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        subs = [np.full(17, lo if i % 3 else hi, dtype=np.int64) for i in range(8)]
        for i, s in enumerate(subs):
            submit_ints(t, clients[i], 1, s)
        t.finalize(owner)
        assert t.global_ints().tolist() == protocol.mean(subs).tolist()


def test_abandoned_round_keeps_model(open_task, owner, clients, chain):
    t = open_task
    before = t.global_ints()
    submit_ints(t, clients[0], 1, np.full(N, 5))  # quorum is 2
    chain.pending_timestamp += SMALL.round_duration
    fin = t.finalize(owner)
    assert not fin.completed and fin.participants == 1
    assert t.global_ints().tolist() == before.tolist()
    assert int(t.contract.completedRounds()) == 0 and t.current_round == 2


# --- rewards and money ---------------------------------------------------------------


@fixture_ok(50)
@given(st.integers(0, 5000))
def test_reward_tier_view_matches_reference(task, d):
    assert int(task.contract.rewardTier(d)) == protocol.reward_tier(d, list(SMALL.tier_thresholds))


def test_reserve_and_pool_accounting(open_task, owner, clients, chain):
    t = open_task
    c = t.contract
    reserve = SMALL.round_reserve
    funded = SMALL.round_reserve * 10
    assert int(c.roundReserve()) == reserve and int(c.rewardPool()) == funded - reserve
    paid = 0
    for i in range(2):
        paid += submit_ints(t, clients[i], 1, np.zeros(N, dtype=np.int64)).reward
    assert paid == 2 * SMALL.tier_rewards[0]  # distance 0 from the zero model: top tier
    chain.pending_timestamp += SMALL.round_duration
    t.finalize(owner)
    # leftover reserve went back to the pool, and round 2 reserved again
    assert int(c.rewardPool()) == funded - paid - reserve
    assert int(c.totalRewardsOwed()) == paid
    assert c.balance == int(c.rewardPool()) + int(c.roundReserve()) + paid


def test_withdraw_pays_rewards_and_revenue(open_task, owner, clients, buyer, chain, reverts):
    t = open_task
    for i in range(2):
        submit_ints(t, clients[i], 1, np.zeros(N, dtype=np.int64))
    t.buy_access(buyer)
    assert t.has_access(buyer) and not t.has_access(clients[3])
    ledger = protocol.RevenueLedger()
    for i in range(2):
        ledger.add_shares(str(i), SMALL.tier_rewards[0])
    ledger.buy(SMALL.access_price)
    owed = t.withdrawable(clients[0])
    assert owed == SMALL.tier_rewards[0] + ledger.revenue_of("0")
    assert SMALL.access_price // 2 - owed + SMALL.tier_rewards[0] <= 1  # at most 1 wei of floor dust
    before = clients[0].balance
    receipt = t.contract.withdraw(sender=clients[0])
    assert clients[0].balance == before + owed - receipt.total_fees_paid
    assert t.withdrawable(clients[0]) == 0
    with reverts("NothingToWithdraw"):
        t.contract.withdraw(sender=clients[0])


def test_revenue_before_any_contributor_funds_pool(task, buyer, chain):
    with chain.isolate():
        pool = int(task.contract.rewardPool())
        task.buy_access(buyer)
        assert int(task.contract.rewardPool()) == pool + SMALL.access_price


def test_round_cannot_promise_more_than_pool(deploy_task, owner, chain, reverts):
    with chain.isolate():
        t = deploy_task(funding=SMALL.round_reserve - 1)
        with reverts("InsufficientPool"):
            t.start_round(owner)
        t.fund(owner, 1)
        t.start_round(owner)
        assert int(t.contract.rewardPool()) == 0


def test_next_round_waits_for_funding(deploy_task, owner, clients, chain, reverts):
    with chain.isolate():
        t = deploy_task(funding=SMALL.round_reserve)
        t.start_round(owner)
        for i in range(SMALL.max_participants):  # full round: finalize needs no deadline
            submit_ints(t, clients[i], 1, np.zeros(N, dtype=np.int64))
        fin = t.finalize(owner)
        assert fin.completed and not fin.next_round_open
        with reverts("InsufficientPool"):
            t.start_round(clients[0])
        t.fund(clients[0], SMALL.round_reserve)
        t.start_round(clients[0])  # anyone may open later rounds
        assert t.current_round == 2


def test_reentrant_withdraw_is_refused(open_task, project, owner, chain, reverts):
    t = open_task
    attacker = project.Reenterer.deploy(t.contract.address, sender=owner)
    attacker.submit(1, codec.pack(np.zeros(N)), sender=owner)
    assert t.withdrawable(attacker) > 0
    with reverts("TransferFailed"):  # receive() re-enters, hits Reentrancy, so the transfer fails
        attacker.withdraw(False, sender=owner)
    with reverts("TransferFailed"):
        attacker.withdraw(True, sender=owner)
    assert t.withdrawable(attacker) == SMALL.tier_rewards[0]  # nothing lost


# --- revert paths --------------------------------------------------------------------


def raw_words(values=None):
    return codec.pack(np.zeros(N, dtype=np.int64) if values is None else values)


def test_submit_reverts(open_task, owner, clients, chain, reverts):
    c = open_task.contract
    a = clients[0]
    with reverts("WrongRound"):
        c.submit(2, 0, raw_words(), sender=a)
    with reverts("WrongLength"):
        c.submit(1, 0, raw_words()[:-1], sender=a)
    with reverts("WrongLength"):
        c.submit(1, 0, raw_words() + [0], sender=a)
    padded = raw_words()
    padded[-1] |= 1 << (16 * (N % 16))  # first unused lane
    with reverts("NonZeroPadding"):
        c.submit(1, 0, padded, sender=a)
    too_big = raw_words()
    too_big[1] |= (1 << (SMALL.value_bits - 1)) << 16 * 5  # lane 5 = 2^(B-1): out of range for B=12
    with reverts("ValueOutOfRange"):
        c.submit(1, 0, too_big, sender=a)
    too_small = raw_words()
    too_small[0] |= ((-(1 << (SMALL.value_bits - 1)) - 1) % 2**16) << 16 * 15
    with reverts("ValueOutOfRange"):
        c.submit(1, 0, too_small, sender=a)
    c.submit(1, 0, raw_words(), sender=a)
    with reverts("AlreadySubmitted"):
        c.submit(1, 0, raw_words(), sender=a)
    for i in range(1, SMALL.max_participants):
        c.submit(1, 0, raw_words(), sender=clients[i])
    with reverts("RoundFull"):
        c.submit(1, 0, raw_words(), sender=clients[SMALL.max_participants])
    assert int(c.roundSubmissions()) == SMALL.max_participants


def test_submit_to_closed_round_reverts(task, clients, owner, reverts):
    with reverts("RoundNotOpen"):
        task.contract.submit(0, 0, raw_words(), sender=clients[0])
    with reverts("RoundNotOpen"):
        task.contract.finalize(sender=owner)


def test_finalize_before_deadline_reverts(open_task, owner, clients, chain, reverts):
    open_task.contract.submit(1, 0, raw_words(), sender=clients[0])
    with reverts("DeadlineNotReached"):
        open_task.finalize(owner)
    chain.pending_timestamp += SMALL.round_duration
    open_task.finalize(owner)


def test_owner_only_and_lifecycle_reverts(task, owner, clients, chain, reverts):
    c = task.contract
    with chain.isolate():
        with reverts("NotOwner"):
            c.setInitialModel(0, raw_words(), sender=clients[0])
        with reverts("NotOwner"):
            c.startRound(sender=clients[0])
        with reverts("NotOwner"):
            c.setAccessPrice(1, sender=clients[0])
        with reverts("WrongChunk"):
            c.setInitialModel(1, raw_words(), sender=owner)  # one chunk only
        with reverts("WrongLength"):
            c.setInitialModel(0, [], sender=owner)
        with reverts("WrongLength"):
            c.setInitialModel(0, raw_words()[1:], sender=owner)  # a chunk is set whole
        with reverts("WrongLength"):
            c.warmStorage(2, 4, sender=owner)  # runs past the last word
        with reverts("NotOwner"):
            c.warmStorage(0, 1, sender=clients[0])
        padded = raw_words()
        padded[-1] |= 1 << (16 * (N % 16))
        with reverts("NonZeroPadding"):
            c.setInitialModel(0, padded, sender=owner)
        bad = raw_words()
        bad[0] |= 0x7FFF  # lane 0 = 32767: outside 12 bits
        with reverts("ValueOutOfRange"):
            c.setInitialModel(0, bad, sender=owner)
        task.start_round(owner)
        with reverts("RoundStillOpen"):
            c.startRound(sender=owner)
        with reverts("ModelLocked"):
            c.setInitialModel(0, raw_words(), sender=owner)
        with reverts("ModelLocked"):
            c.warmStorage(0, 1, sender=owner)


def test_access_reverts_and_price_change(task, owner, buyer, chain, reverts):
    c = task.contract
    with chain.isolate():
        with reverts("WrongPayment"):
            c.buyAccess(sender=buyer, value=SMALL.access_price - 1)
        c.buyAccess(sender=buyer, value=SMALL.access_price)
        with reverts("AlreadyLicensed"):
            c.buyAccess(sender=buyer, value=SMALL.access_price)
        receipt = c.setAccessPrice(7, sender=owner)
        assert receipt.events[0].newPrice == 7 and int(c.accessPrice()) == 7


def test_view_slice_bounds(task, reverts):
    words = task.model_words
    assert len(task.contract.globalModelSlice(1, words)) == words - 1
    with reverts("WrongLength"):
        task.contract.globalModelSlice(0, words + 1)
    with reverts("WrongLength"):
        task.contract.globalModelSlice(2, 1)


CONFIG_FIELDS = ["param_count", "value_bits", "frac_bits", "round_duration", "min_participants",
                 "max_participants", "access_price", "tier_thresholds", "tier_rewards", "reward_rule",
                 "reveal_duration", "stake", "min_move", "max_move", "max_move_ratio", "chunk_words",
                 "duplicate_distance"]


@pytest.mark.parametrize(
    "change, error",
    [
        (dict(param_count=0), "ZeroParamCount"),
        (dict(value_bits=1, frac_bits=0), "BadValueBits"),
        (dict(value_bits=17), "BadValueBits"),
        (dict(frac_bits=12), "BadFracBits"),
        (dict(min_participants=0), "BadParticipantBounds"),
        (dict(min_participants=5), "BadParticipantBounds"),
        (dict(value_bits=16, max_participants=2**15), "TooManyParticipants"),  # the lanes' sentinel bit
        (dict(round_duration=0), "ZeroDuration"),
        (dict(tier_thresholds=(), tier_rewards=()), "BadTiers"),
        (dict(tier_thresholds=tuple(range(1, 10)), tier_rewards=(1,) * 9), "BadTiers"),
        (dict(tier_rewards=(1, 2)), "BadTiers"),
        (dict(tier_thresholds=(5, 5), tier_rewards=(2, 1)), "TiersNotAscending"),
        (dict(reward_rule=2), "BadRewardRule"),
        (dict(reward_rule=1, stake=1, reveal_duration=0), "ZeroDuration"),
        (dict(reward_rule=1, stake=1, min_move=5, max_move=4), "BadMoveBounds"),
        (dict(chunk_words=0), "BadChunkWords"),
        (dict(chunk_words=768), "BadChunkWords"),
        # the audit's unchecked settings: free commits, an overflowing ratio, an overflowing reserve
        (dict(reward_rule=1, stake=0), "ZeroStake"),
        (dict(reward_rule=1, stake=1, max_move_ratio=2**240), "MoveRatioTooLarge"),
        (dict(tier_rewards=((2**128 - 1) // 4 + 1, 1, 1)), "RewardsTooLarge"),
        (dict(reward_rule=1, stake=1, max_participants=257), "TooManyParticipants"),
    ],
)
def test_invalid_config_reverts(project, owner, change, error, reverts):
    """Each bad setting is refused at deployment with its own custom error."""
    cfg = dict(zip(CONFIG_FIELDS, SMALL.as_tuple()))
    cfg.update({k: list(v) if isinstance(v, tuple) else v for k, v in change.items()})
    with reverts(error):
        project.FederatedTask.deploy(tuple(cfg[f] for f in CONFIG_FIELDS), sender=owner)


def test_largest_legal_settings_deploy(project, owner):
    """The bounds above are tight: the largest ratio, reserve and seat count still deploy."""
    cfg = dict(zip(CONFIG_FIELDS, SMALL.as_tuple()))
    cfg.update(reward_rule=1, stake=1, max_move_ratio=2**240 - 1, max_participants=4,
               tier_rewards=[(2**128 - 1) // 4, 1, 1])
    project.FederatedTask.deploy(tuple(cfg[f] for f in CONFIG_FIELDS), sender=owner)
    cfg.update(max_participants=256, min_participants=1, tier_rewards=[1, 1, 1])
    project.FederatedTask.deploy(tuple(cfg[f] for f in CONFIG_FIELDS), sender=owner)


def test_sdk_rejects_wrong_size(open_task, clients):
    with pytest.raises(ValueError, match="expects 40"):
        open_task.submit(clients[0], 1, np.zeros(41))


def test_python_constants_are_the_contracts(task):
    """ml.settings states each protocol constant once for Python; it must be the contract's."""
    from ml.settings import MAX_CHUNK_WORDS, MAX_SEATS

    assert int(task.contract.MAX_CHUNK_WORDS()) == MAX_CHUNK_WORDS
    assert int(task.contract.MAX_SEATS()) == MAX_SEATS
    assert int(task.contract.SAMPLE_WORDS()) == protocol.SAMPLE_WORDS
    assert (int(task.contract.PAPER()), int(task.contract.CONSENSUS())) == (0, 1)


def test_round_close_rule_and_reserve_come_from_the_chain(open_task, owner, clients):
    """canClose is the rule finalize applies (keepers poll it); roundReserveNeeded the reserve
    startRound locks, equal to the settings' statement of it."""
    t = open_task
    assert t.round_reserve == SMALL.round_reserve
    assert not t.round_state().can_close
    for a in clients[: SMALL.max_participants - 1]:
        submit_ints(t, a, 1, np.zeros(N, dtype=np.int64))
    assert not t.round_state().can_close
    submit_ints(t, clients[SMALL.max_participants], 1, np.zeros(N, dtype=np.int64))
    assert t.round_state().can_close
    assert t.finalize(owner).completed


def test_round_may_close_at_its_deadline_without_everyone(open_task, owner, clients, chain):
    t = open_task
    submit_ints(t, clients[0], 1, np.zeros(N, dtype=np.int64))
    assert not t.round_state().can_close
    chain.pending_timestamp += SMALL.round_duration
    chain.mine()
    assert t.round_state().can_close
    assert not t.finalize(owner).completed  # 1 of min 2: abandoned, as canClose promised it may close
