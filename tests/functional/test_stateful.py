"""A stateful property test of the CONSENSUS protocol: random actors commit (more than
there are seats), draw seats, reveal, release stakes, finalize, claim, withdraw and buy
access in any order; after every step the contract must
agree with a plain-Python model of the protocol built from ml.protocol."""

import numpy as np
from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from ml import codec, protocol
from ml.settings import TaskSettings

from conftest import assert_money_conserved

N = 24
THRESHOLDS, REWARDS = (500, 900, 1300), (30, 20, 10)
S = TaskSettings(param_count=N, frac_bits=6, value_bits=12, round_duration=100, reveal_duration=100,
                 min_participants=2, max_participants=4, access_price=0, tier_thresholds=THRESHOLDS,
                 tier_rewards=REWARDS, reward_rule="consensus", stake=1000, min_move=2, max_move=300,
                 max_move_ratio=3000, duplicate_distance=1)
ACTORS = 5
KINDS = {"train": 20, "small": 6, "idle": 0, "wild": 900}  # offset from the global, in units


def test_consensus_state_machine(project, accounts, chain):
    owner, people = accounts[0], list(accounts)[1:1 + ACTORS]
    buyers = list(accounts)[6:9]

    class Protocol(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            self.snap = chain.snapshot()
            from ml.chain import FedTask

            self.t = FedTask.deploy(project.FederatedTask, owner, S, funding=S.round_reserve * 4)
            self.t.warm_storage(owner)
            self.c = self.t.contract
            self.t.start_round(owner)
            self.rng = np.random.default_rng(0)
            self.global_ = np.zeros(N, dtype=np.int64)
            self.results = {}  # completed round -> (result ints, mean move); at most two claimable
            self.buffers = [0, 0]
            self.current = 0
            self.commits = {}  # actor -> Commitment for the open round, in commit order
            self.seated = None  # actors drawn for the open round (None: not drawn)
            self.seed = b""
            self.releasable = set()  # (round, actor): committed, not drawn
            self.revealed = {}  # actor -> (ints, move, accepted)
            self.claimable = {}  # (round, actor) -> (Commitment, ints)
            self.owed = [0] * ACTORS
            self.ledger = protocol.RevenueLedger()
            self.shares_of = {}
            self.bought = set()
            self.paid_rounds = set()

        def teardown(self):
            chain.restore(self.snap)

        # --- helpers ---------------------------------------------------------------
        @property
        def round(self):
            return self.t.current_round

        def commit_open(self):
            return self.t.round_open and chain.pending_timestamp < int(self.c.commitDeadline())

        def draw_due(self):
            return self.t.round_open and self.seated is None and \
                int(self.c.commitDeadline()) <= chain.pending_timestamp < int(self.c.roundDeadline())

        # --- rules -----------------------------------------------------------------
        @precondition(lambda self: self.commit_open())
        @rule(actor=st.integers(0, ACTORS - 1), kind=st.sampled_from(sorted(KINDS)), seed=st.integers(0, 9))
        def commit(self, actor, kind, seed):
            if actor in self.commits:
                return
            noise = np.random.default_rng(seed).integers(-2, 3, N)
            ints = np.clip(self.global_ + KINDS[kind] + noise * (kind != "idle"), -2048, 2047)
            c = self.t.prepare(self.round, codec.dequantize(ints, self.t.fmt))
            self.t.commit(people[actor], c)
            self.commits[actor] = c

        @precondition(lambda self: self.draw_due())
        @rule()
        def draw(self):
            d = self.t.draw_seats(owner)
            order = [str(people[a].address) for a in self.commits]
            seated_addrs = protocol.draw_seats(d.seed, order, S.max_participants)[:d.seats]
            assert self.t.seated(self.round) == seated_addrs
            by_addr = {str(people[a].address): a for a in self.commits}
            self.seated = [by_addr[x] for x in seated_addrs]
            self.seed = d.seed
            assert d.seats == min(len(self.commits), S.max_participants)
            ref = protocol.move_reference([self.commits[a].move // N for a in self.seated])
            assert d.move_reference == int(self.c.moveReference()) == ref
            self.releasable |= {(self.round, a) for a in self.commits if a not in self.seated}

        @precondition(lambda self: self.t.round_open and self.seated is not None)
        @rule(actor=st.integers(0, ACTORS - 1))
        def reveal(self, actor):
            if actor not in self.seated or actor in self.revealed:
                return
            if chain.pending_timestamp >= int(self.c.roundDeadline()):
                return
            c = self.commits[actor]
            ints = codec.unpack(c.words, N)
            rev = self.t.reveal(people[actor], c)
            move = protocol.distance(ints, self.global_)
            assert rev.move == move
            ref = protocol.move_reference([self.commits[a].move // N for a in self.seated])
            assert rev.accepted == protocol.move_accepted(move, S.min_move, S.max_move, S.max_move_ratio, ref)
            in_bounds = S.min_move <= move <= S.max_move
            assert rev.stake_returned == (not rev.accepted and in_bounds)
            if rev.stake_returned:
                self.owed[actor] += S.stake
            self.revealed[actor] = (ints, move, rev.accepted)

        @precondition(lambda self: bool(self.releasable))
        @rule(pick=st.integers(0, 10**6))
        def release(self, pick):
            r, actor = sorted(self.releasable)[pick % len(self.releasable)]
            self.releasable.discard((r, actor))
            assert self.t.release_stake(people[actor], r) == S.stake
            self.owed[actor] += S.stake

        @precondition(lambda self: self.t.round_open)
        @rule()
        def end_commit_phase(self):
            chain.pending_timestamp = max(chain.pending_timestamp, int(self.c.commitDeadline()))

        @precondition(lambda self: self.t.round_open)
        @rule()
        def finalize(self):
            chain.pending_timestamp = max(chain.pending_timestamp, int(self.c.roundDeadline()))
            r = self.round
            fin = self.t.finalize(owner)
            if self.seated is None:  # nobody drew: every committer takes its stake back
                self.releasable |= {(r, a) for a in self.commits}
            accepted = {a: v for a, v in self.revealed.items() if v[2]}
            assert fin.completed == (len(accepted) >= S.min_participants)
            if fin.completed:
                result = protocol.mean([v[0] for v in accepted.values()])
                mean_move = sum(v[1] for v in accepted.values()) // len(accepted)
                target = 1 - self.current
                expired = self.buffers[target]
                self.results.pop(expired, None)
                self.buffers[target], self.current = r, target
                samples = protocol.sample_words(self.seed, self.t.model_words)
                old = [codec.pack(self.global_)[w] for w in samples]
                picked = {a: [self.commits[a].words[w] for w in samples] for a in accepted}
                copied = {a: any(protocol.near_copy(picked[a], picked[b], old, S.duplicate_distance)
                                 for b in accepted if b != a) for a in accepted}
                self.results[r] = (result, mean_move, copied)
                self.global_ = result
            for a in accepted:
                self.claimable[(r, a)] = (self.commits[a], accepted[a][0], accepted[a][1])
            self.commits, self.revealed, self.seated = {}, {}, None
            if not self.t.round_open:
                self.t.fund(owner, S.round_reserve)
                self.t.start_round(owner)

        @precondition(lambda self: bool(self.claimable))
        @rule(pick=st.integers(0, 10**6))
        def claim(self, pick):
            key = sorted(self.claimable)[pick % len(self.claimable)]
            r, actor = key
            if r == self.round and self.t.round_open:
                return
            c, ints, move = self.claimable.pop(key)
            assert key not in self.paid_rounds
            self.paid_rounds.add(key)
            cl = self.t.claim(people[actor], c)
            reward = 0
            if r in self.results:
                result, mean_move, copied = self.results[r]
                d = protocol.distance(ints, result)
                assert cl.distance == d
                reward = protocol.claim_reward(d, move, mean_move, list(THRESHOLDS), list(REWARDS), S.max_move_ratio,
                                                copied[actor])
            assert cl.reward == reward and cl.stake == S.stake
            self.owed[actor] += reward + S.stake
            if reward:
                self.ledger.add_shares(str(actor), reward)

        @rule(actor=st.integers(0, ACTORS - 1))
        def withdraw(self, actor):
            if self.t.withdrawable(people[actor]) == 0:
                return
            paid = self.t.withdraw(people[actor])
            assert paid == self.owed[actor] + self.ledger.take(str(actor))
            self.owed[actor] = 0

        @rule(buyer=st.integers(0, 2), price=st.integers(1, 10**6))
        def buy_access(self, buyer, price):
            if buyer in self.bought:
                return
            self.bought.add(buyer)
            self.c.setAccessPrice(price, sender=owner)
            self.c.buyAccess(sender=buyers[buyer], value=price)
            self.ledger.buy(price)

        # --- invariants --------------------------------------------------------------
        @invariant()
        def money_is_conserved(self):
            assert_money_conserved(self.c, self.ledger, n_accounts=ACTORS, max_dust=ACTORS + 1)
            assert int(self.c.totalRewardsOwed()) == sum(self.owed)

        @invariant()
        def global_is_mean_of_accepted(self):
            assert self.t.global_ints().tolist() == self.global_.tolist()

        @invariant()
        def withdrawable_matches_model(self):
            for a in range(ACTORS):
                assert self.t.withdrawable(people[a]) == self.owed[a] + self.ledger.revenue_of(str(a))

    run_state_machine_as_test(
        Protocol,
        settings=settings(max_examples=6, stateful_step_count=25, deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]),
    )
