"""The batch engine (PaperTask): posts, column aggregation by every rule against the Python
reference, rewards with the last column, and the attacks on each new mechanism."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from ml import codec, protocol
from ml.chain import BatchTask
from ml.settings import BatchSettings

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
        out[rule] = BatchTask.launch(project.PaperTask, owner, s, np.zeros(N), funding=s.round_reserve * 20)
    return out


@settings(deadline=None, max_examples=12, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
@pytest.mark.parametrize("rule", ["mean", "median", "trimmed_mean"])
def test_new_model_is_the_reference_aggregate(batch_tasks, rule, clients, owner, chain, data):
    t = batch_tasks[rule]
    k = data.draw(st.integers(1, BASE.max_participants), label="updates")
    ups = [data.draw(vectors(), label=f"u{i}") for i in range(k)]
    with chain.isolate():
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
    with chain.isolate():
        with reverts("WrongPost"):
            calls[1].send(clients[0])  # post 1 before post 0
        calls[0].send(clients[0])
        bad = dataclasses.replace(calls[1], args=(1, 1, [u.words[2] ^ 1], b"\0" * 32))
        with reverts("BrokenLink"):
            bad.send(clients[0])  # not the words post 0 linked to
        with reverts("NonZeroPadding"):
            dataclasses.replace(calls[1], args=(1, 1, [u.words[2] | (1 << 255)], b"\0" * 32)).send(clients[0])
        calls[1].send(clients[0])
        with reverts("AlreadyPosted"):
            calls[0].send(clients[0])
        assert int(t.contract.roundEntrants()) == 1


def test_column_with_a_forged_update_reverts(batch_tasks, clients, owner, chain, reverts):
    t = batch_tasks["median"]
    ups = [np.full(N, 5 * i) for i in range(3)]
    with chain.isolate():
        for a, u in zip(clients, ups):
            t.submit(a, 1, floats(u))
        chain.pending_timestamp += BASE.post_duration
        names = t.entrants(1)
        words = [t.posted_words(1, a) for a in names]
        forged = [list(w) for w in words]
        forged[1][0] = words[0][0]  # the keeper swaps in another value for update 1
        with reverts("ColumnMismatch"):
            t.column_call(1, 0, forged).send(owner)
        with reverts("ColumnMismatch"):
            t.column_call(1, 0, [words[1], words[0], words[2]]).send(owner)  # reordered
        with reverts("WrongLength"):
            t.column_call(1, 0, words[:2]).send(owner)  # one left out
        with reverts("WrongColumn"):
            t.column_call(1, 1, words).send(owner)  # out of order
        r = t.aggregate(owner)
        assert r.completed


def test_rewards_fees_and_money(project, clients, owner, chain, accounts):
    s = dataclasses.replace(BASE, keeper_fee=7)
    with chain.isolate():
        t = BatchTask.launch(project.PaperTask, owner, s, np.zeros(N), funding=s.round_reserve * 3)
        ups = [np.full(N, 3), np.full(N, 50), np.full(N, 2000)]
        for a, u in zip(clients, ups):
            t.submit(a, 1, floats(u))
        chain.pending_timestamp += s.post_duration
        keeper = accounts[12]
        r = t.aggregate(keeper)
        assert [r.rewards[str(a.address)] for a in clients[:3]] == [300, 200, 0]
        assert t.withdrawable(keeper) == 7 * len(t.columns)
        c = t.contract
        assert c.balance == int(c.rewardPool()) + int(c.roundReserve()) + int(c.totalOwed())
