"""A stateful property test of the batch engine (PaperTask): random actors post updates
(honest, copies, replays of old rounds, wild values), anyone closes and aggregates rounds,
rounds fall below quorum, participants withdraw, buyers buy access, the pool runs dry and
is refilled, in any order. After every step the contract agrees with a plain-Python model
built from ml.protocol: the model, every reward and fee, and the money invariant."""

import numpy as np
from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule, run_state_machine_as_test

from conftest import MoneyRules
from ml import codec, protocol
from ml.settings import BatchSettings

N = 24  # 2 words, one per column
THRESHOLDS, REWARDS = (20, 60, 200), (30, 20, 10)
FEE = 3
S = BatchSettings(param_count=N, frac_bits=6, value_bits=12, post_duration=100, min_participants=2,
                  max_participants=4, access_price=7, tier_thresholds=THRESHOLDS, tier_rewards=REWARDS,
                  aggregation="median", column_words=1, post_words=1, duplicate_distance=1, replay_rounds=2,
                  keeper_fee=FEE)
ACTORS = 5
LO, HI = -2048, 2047


def test_batch_state_machine(project, accounts, chain):
    owner, people = accounts[0], list(accounts)[1:1 + ACTORS]
    buyers, keepers = list(accounts)[6:9], list(accounts)[9:11]

    class Engine(MoneyRules, RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            self.snap = chain.snapshot()
            from ml.chain import BatchTask

            self.t = BatchTask.launch(project.PaperTask, owner, S, np.zeros(N), funding=S.round_reserve * 3)
            self.c = self.t.contract
            self.global_ = np.zeros(N, dtype=np.int64)
            self.posted = []  # (actor, ints) of the open round, in list order
            self.history = []  # ints of every accepted update, for replays
            self.accepted_in = {}  # head link -> round
            self.owed = {}  # address -> wei credited by the engine
            self.ledger = protocol.RevenueLedger()
            self.bought = set()
            self.payees, self.buyers, self.owner = people + keepers, buyers, owner

        def teardown(self):
            chain.restore(self.snap)

        def posting_open(self):
            return self.t.round_open and chain.pending_timestamp < int(self.c.postDeadline()) \
                and len(self.posted) < S.max_participants

        # --- rules -----------------------------------------------------------------
        @precondition(lambda self: self.posting_open())
        @rule(actor=st.integers(0, ACTORS - 1), kind=st.sampled_from(["train", "copy", "replay", "wild", "idle"]),
              seed=st.integers(0, 99))
        def post(self, actor, kind, seed):
            if any(a == actor for a, _ in self.posted):
                return
            rng = np.random.default_rng(seed)
            if kind == "copy" and self.posted:
                ints = self.posted[seed % len(self.posted)][1].copy()
            elif kind == "replay" and self.history:
                ints = self.history[seed % len(self.history)].copy()
            elif kind == "wild":
                ints = rng.integers(LO, HI + 1, N)
            elif kind == "idle":
                ints = self.global_.copy()
            else:
                ints = np.clip(self.global_ + rng.integers(-30, 31, N), LO, HI)
            self.t.submit(people[actor], self.t.current_round, codec.dequantize(ints, self.t.fmt))
            self.posted.append((actor, np.asarray(ints, dtype=np.int64)))

        @precondition(lambda self: self.t.round_open)
        @rule()
        def close_posting(self):
            chain.pending_timestamp = max(chain.pending_timestamp, int(self.c.postDeadline()))

        @precondition(lambda self: self.t.round_open and (chain.pending_timestamp >= int(self.c.postDeadline())
                                                            or len(self.posted) == S.max_participants))
        @rule(k=st.integers(0, 1))
        def aggregate(self, k):
            keeper = keepers[k]
            round_ = self.t.current_round
            r = self.t.aggregate(keeper)
            n = len(self.posted)
            if n < S.min_participants:
                assert not r.completed
            else:
                assert r.completed
                ups = [u for _, u in self.posted]
                words = [codec.pack(u) for u in ups]
                old = codec.pack(self.global_)
                self.global_ = protocol.aggregate(ups, "median")
                seed = bytes(self.c.roundSeed(round_))
                columns = [[[w[c]] for w in words] for c in range(len(words[0]))]
                dup = protocol.near_duplicates(columns, [[w] for w in old], seed, S.duplicate_distance)
                replay = set()
                for i, w in enumerate(words):
                    head = protocol.update_links(w, 1)[0]
                    seen = self.accepted_in.get(head)
                    if seen is not None and round_ - seen <= S.replay_rounds:
                        replay.add(i)
                    self.accepted_in[head] = round_
                for i, (actor, u) in enumerate(self.posted):
                    score = protocol.distance(u, codec.unpack(old, N))
                    want = 0 if i in dup or i in replay else protocol.reward_for(score, list(THRESHOLDS),
                                                                                   list(REWARDS))
                    addr = str(people[actor].address)
                    assert r.rewards[addr] == want, (i, score, dup, replay)
                    if want:
                        self.credit(people[actor], want)
                        self.ledger.add_shares(addr, want)
                self.history.extend(ups)
                self.credit(keeper, FEE * len(self.t.columns))
            self.posted = []

    run_state_machine_as_test(Engine, settings=settings(
        max_examples=6, stateful_step_count=25, deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]))
