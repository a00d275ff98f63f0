"""The consortium rule (ConsortiumRule): the sponsor's allowlist decides who takes a seat,
posted or relayed, and every accepted update earns the same reward. Attacks: an unlisted
account posting or relayed, Sybils of one member, a member removed mid-task, a stranger
editing the list; a state machine checks the money and liveness invariants after every
step with members added and removed at random."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule, run_state_machine_as_test

from conftest import MoneyRules, examples, isolated, steps
from ml import codec, protocol
from ml.chain import BatchTask
from ml.settings import BatchSettings

N = 24  # 2 words, one per column
REWARD, FEE, T = 40, 3, 50
S = BatchSettings(param_count=N, frac_bits=6, value_bits=12, post_duration=100, min_participants=2,
                  max_participants=4, access_price=7, tier_rewards=(REWARD,), tier_thresholds=(0,),
                  aggregation="mean", column_words=1, post_words=1, keeper_fee=FEE, aggregation_timeout=T,
                  rule="consortium")


def ints(seed: int, offset: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(offset + rng.integers(-300, 301, N), -2048, 2047)


def floats(u: np.ndarray) -> np.ndarray:
    return codec.dequantize(np.asarray(u, dtype=np.int64), S.fmt)


@pytest.fixture
def task(owner, clients, chain):
    with isolated(chain):
        t = BatchTask.launch("consortium", owner, S, np.zeros(N), funding=S.round_reserve * 4)
        t.add_members(owner, clients[:4])
        yield t


def test_members_are_paid_the_same_whatever_their_distance(task, owner, clients, chain):
    t = task
    ups = [ints(1, 0), ints(2, 900), ints(3, -1500)]  # far apart: a tiered rule would pay them differently
    for a, u in zip(clients, ups):
        t.submit(a, 1, floats(u))
    chain.pending_timestamp += S.post_duration
    r = t.aggregate(owner)
    assert r.completed and r.rewards == {str(a.address): REWARD for a in clients[:3]}
    assert np.array_equal(t.global_ints(), protocol.aggregate(ups, "mean"))
    assert t.tiers() == [(0, REWARD)]


def test_an_unlisted_account_cannot_post_or_be_relayed(task, owner, clients, accounts, chain, reverts):
    """A stranger (and a Sybil of a member: any fresh key) holds no seat, posted or relayed."""
    t = task
    stranger = accounts[15]
    with reverts("NotMember"):
        t.submit(stranger, 1, floats(ints(4)))
    chain.pending_timestamp += S.post_duration
    signed = t.sign(stranger, 1, floats(ints(4)))
    with reverts("NotMember"):
        t.send(t.relay_calls(1, [], [signed])[0], owner)
    member = t.sign(clients[1], 1, floats(ints(6)))
    t.send(t.relay_calls(1, [], [member])[0], owner)  # a member's signed update is listed
    assert t.entrants(1) == [str(clients[1].address)]


def test_only_the_sponsor_edits_the_list(task, owner, clients, accounts, reverts):
    t = task
    with reverts("NotSponsor"):
        t.add_members(clients[0], [accounts[15]])
    with reverts("NotSponsor"):
        t.remove_members(clients[0], [clients[1]])
    assert t.members() == [str(a.address) for a in clients[:4]]


def test_a_member_removed_mid_task_keeps_its_listed_update_and_takes_no_further_seat(task, owner, clients, chain,
                                                                                      reverts):
    t = task
    t.submit(clients[0], 1, floats(ints(1)))
    t.submit(clients[1], 1, floats(ints(2)))
    t.remove_members(owner, [clients[0]])
    assert not t.is_member(clients[0]) and t.members() == [str(a.address) for a in clients[1:4]]
    chain.pending_timestamp += S.post_duration
    r1 = t.aggregate(owner)  # accepted while it was a member: aggregated and paid
    assert r1.rewards == {str(a.address): REWARD for a in clients[:2]}
    with reverts("NotMember"):
        t.submit(clients[0], 2, floats(ints(3)))
    t.add_members(owner, [clients[0]])  # back on the list: a seat again
    assert t.submit(clients[0], 2, floats(ints(3))).index == 0


def test_a_half_posted_update_of_a_removed_member_cannot_be_finished(task, owner, clients, chain, reverts):
    """The allowlist is checked at every post: removal between two posts of one update stops it."""
    t = task
    u = t.encode(floats(ints(1)))
    first, second = t.post_calls(1, u)
    t.send(first, clients[0])
    t.remove_members(owner, [clients[0]])
    with reverts("NotMember"):
        t.send(second, clients[0])
    assert t.status(1, clients[0])[0].name == "POSTING" and t.entrants(1) == []


def test_consortium_state_machine(accounts, chain):
    owner, people = accounts[0], list(accounts)[1:7]
    buyers, keepers = list(accounts)[7:9], list(accounts)[9:11]

    class Consortium(MoneyRules, RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            self.snap = chain.snapshot()
            self.t = BatchTask.launch("consortium", owner, S, np.zeros(N), funding=S.round_reserve * 3)
            self.members: set[int] = set()
            self.global_ = np.zeros(N, dtype=np.int64)
            self.owed, self.ledger, self.bought = {}, protocol.RevenueLedger(), set()
            self.payees, self.buyers, self.owner, self.chain = people + keepers, buyers, owner, chain
            self.listed: list[tuple[str, np.ndarray]] = []

        def teardown(self):
            chain.restore(self.snap)

        def open_for_posts(self):
            s = self.t.round_state()
            return s.open and s.now < s.post_deadline and len(self.listed) < S.max_participants \
                and s.columns_done == 0 and not int.from_bytes(s.seed, "big")

        def _on_list(self, who):
            return any(a == str(who.address) for a, _ in self.listed)

        @rule(i=st.integers(0, len(people) - 1), add=st.booleans())
        def sponsor_edits(self, i, add):
            if add:
                self.t.add_members(owner, [people[i]])
                self.members.add(i)
            else:
                self.t.remove_members(owner, [people[i]])
                self.members.discard(i)

        @precondition(lambda self: self.open_for_posts() and self.t.round_state().now < self.t.round_state().post_deadline)
        @rule(i=st.integers(0, len(people) - 1), seed=st.integers(0, 99))
        def post(self, i, seed):
            who = people[i]
            if self._on_list(who):
                return
            u = ints(seed, 50 * i)
            if i in self.members:
                self.t.submit(who, self.t.current_round, floats(u))
                self.listed.append((str(who.address), u))
            else:
                from ape.exceptions import ContractLogicError

                with pytest.raises(ContractLogicError):
                    self.t.submit(who, self.t.current_round, floats(u))

        @precondition(lambda self: self.open_for_posts())
        @rule(i=st.integers(0, len(people) - 1), seed=st.integers(0, 99))
        def relay_signed(self, i, seed):
            """A signed update carried after the deadline (members only)."""
            who = people[i]
            if self._on_list(who):
                return
            s = self.t.round_state()
            chain.pending_timestamp = max(chain.pending_timestamp, s.post_deadline)
            u = ints(seed, -40 * i)
            call = self.t.relay_calls(s.round, [], [self.t.sign(who, s.round, floats(u))])[0]
            if i in self.members:
                self.t.send(call, keepers[0])
                self.t._updates[(s.round, str(who.address))] = codec.pack(u)
                self.listed.append((str(who.address), u))
            else:
                from ape.exceptions import ContractLogicError

                with pytest.raises(ContractLogicError):
                    self.t.send(call, keepers[0])

        @precondition(lambda self: self.t.round_open)
        @rule(k=st.sampled_from([T // 2, T, 2 * T]))
        def time_passes(self, k):
            chain.pending_timestamp += k

        @precondition(lambda self: self.t.round_open and self.t.round_state().now >= self.t.round_state().abandonable_at)
        @rule()
        def abandon_stalled(self):
            self.t.abandon(keepers[1])
            self.listed = []

        @precondition(lambda self: self.t.round_open and self.t.round_state().posting_closed)
        @rule(k=st.integers(0, 1))
        def aggregate(self, k):
            r = self.t.aggregate(keepers[k], wait=lambda s: setattr(chain, "pending_timestamp",
                                                                   chain.pending_timestamp + s))
            if len(self.listed) < S.min_participants:
                assert not r.completed
            else:
                assert r.completed and r.rewards == {a: REWARD for a, _ in self.listed}
                self.global_ = protocol.aggregate([u for _, u in self.listed], "mean")
                for a, _ in self.listed:
                    self.owed[a] = self.owed.get(a, 0) + REWARD
                    self.ledger.add_shares(a, REWARD)
                self.credit(keepers[k], FEE * len(self.t.columns))
            self.listed = []

    run_state_machine_as_test(Consortium, settings=settings(
        max_examples=examples(2), stateful_step_count=steps(20), deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]))
