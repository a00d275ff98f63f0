"""A stateful property test of the batch engine (PAPER rule): random actors post updates
(honest, copies, replays of old rounds, wild values), leave updates half posted, have them
relayed, and attackers relay heads whose words never appear, whose later links open to
nothing, or whose later lanes are out of range; time passes past the drop and abandon
timeouts; keepers crash after column 0; anyone closes, aggregates (dropping what stalls) or
abandons rounds; rounds fall
below quorum; participants withdraw, buyers buy access, the pool runs dry and is refilled,
in any order. After every step the contract agrees with a plain-Python model built from
ml.protocol (the model, every reward and fee, the money invariant) and the liveness
invariant holds: legal transactions lead every wei out (conftest.assert_way_out)."""

import numpy as np
from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule, run_state_machine_as_test

from conftest import MoneyRules, examples, steps
from ml import codec, protocol
from ml.settings import BatchSettings

N = 24  # 2 words, one per column
THRESHOLDS, REWARDS = (20, 60, 200), (30, 20, 10)
FEE = 3
T = 50  # aggregation timeout
S = BatchSettings(param_count=N, frac_bits=6, value_bits=12, post_duration=100, min_participants=2,
                  max_participants=4, access_price=7, tier_thresholds=THRESHOLDS, tier_rewards=REWARDS,
                  aggregation="median", column_words=1, post_words=1, duplicate_distance=1, replay_rounds=2,
                  keeper_fee=FEE, aggregation_timeout=T)
ACTORS = 5
LO, HI = -2048, 2047
ATTACKS = ["withheld", "unopenable", "out_of_range"]


def test_batch_state_machine(project, accounts, chain):
    owner, people = accounts[0], list(accounts)[1:1 + ACTORS]
    buyers, keepers = list(accounts)[6:9], list(accounts)[9:11]
    attackers = list(accounts)[11:14]

    class Engine(MoneyRules, RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            self.snap = chain.snapshot()
            from ml.chain import BatchTask

            self.t = BatchTask.launch(project.PaperRule, owner, S, np.zeros(N), funding=S.round_reserve * 3)
            self.c = self.t.engine
            self.global_ = np.zeros(N, dtype=np.int64)
            self.history = []  # ints of every accepted update, for replays
            self.accepted_in = {}  # head link -> round
            self.owed = {}  # address -> wei credited by the engine
            self.ledger = protocol.RevenueLedger()
            self.bought = set()
            self.payees, self.buyers, self.owner, self.chain = people + keepers, buyers, owner, chain
            self._new_round()

        def _new_round(self):
            self.posted = []  # (actor, ints) of the open round, in list order
            self.relayed = []  # (address, ints or None, kind) relayed into the open round, in order
            self.partial = set()  # actors with one post of two in
            self.crashed = False  # a keeper sent column 0 and stopped

        def teardown(self):
            chain.restore(self.snap)

        def seats_taken(self):
            return len(self.posted) + len(self.relayed)

        def posting_open(self):
            return self.t.round_open and chain.pending_timestamp < self.t.round_state().post_deadline \
                and self.seats_taken() < S.max_participants

        def _rng_ints(self, kind, seed):
            rng = np.random.default_rng(seed)
            if kind == "copy" and self.posted:
                return self.posted[seed % len(self.posted)][1].copy()
            if kind == "replay" and self.history:
                return self.history[seed % len(self.history)].copy()
            if kind == "wild":
                return rng.integers(LO, HI + 1, N)
            if kind == "idle":
                return self.global_.copy()
            return np.clip(self.global_ + rng.integers(-30, 31, N), LO, HI)

        def _listed(self, actor):
            addr = str(people[actor].address)
            return any(a == actor for a, _ in self.posted) or any(a == addr for a, _, _ in self.relayed)

        # --- rules -----------------------------------------------------------------
        @precondition(lambda self: self.posting_open())
        @rule(actor=st.integers(0, ACTORS - 1), kind=st.sampled_from(["train", "copy", "replay", "wild", "idle"]),
              seed=st.integers(0, 99))
        def post(self, actor, kind, seed):
            if self._listed(actor) or actor in self.partial:
                return
            ints = self._rng_ints(kind, seed)
            self.t.submit(people[actor], self.t.current_round, codec.dequantize(ints, self.t.fmt))
            self.posted.append((actor, np.asarray(ints, dtype=np.int64)))

        @precondition(lambda self: self.posting_open())
        @rule(actor=st.integers(0, ACTORS - 1), seed=st.integers(0, 99))
        def post_half(self, actor, seed):
            """Post 0 of 2, then nothing: counts for nothing, holds no seat."""
            if self._listed(actor) or actor in self.partial:
                return
            u = self.t.encode(codec.dequantize(self._rng_ints("train", seed), self.t.fmt))
            self.t.send(self.t.post_calls(self.t.current_round, u)[0], people[actor])
            self.partial.add(actor)

        def may_relay(self):
            if not self.t.round_open or self.crashed or self.seats_taken() >= S.max_participants:
                return False
            return int.from_bytes(bytes(self.c.roundSeed(self.t.current_round)), "big") == 0

        def _relay(self, signer, head):
            from eth_account.messages import encode_typed_data

            from ml.signing import compact

            round_ = self.t.current_round
            sig = signer.sign_message(encode_typed_data(full_message=protocol.relay_typed_data(
                self.t.chain_id, self.t.address, round_, head)))
            r, vs = compact(int(sig.v), int.from_bytes(bytes(sig.r), "big"), int.from_bytes(bytes(sig.s), "big"))
            if chain.pending_timestamp < self.t.round_state().post_deadline and self.seats_taken() + 1 < S.max_participants:
                chain.pending_timestamp = self.t.round_state().post_deadline  # not a full house: after the deadline
            from eth_abi import encode

            self.c.relay(round_, [head], [encode(["address", "bytes32", "bytes32"], [str(signer.address), r, vs])],
                         sender=keepers[0])

        def _update(self, words):
            from ml.chain import Update

            return Update(list(words))

        @precondition(lambda self: self.may_relay())
        @rule(actor=st.integers(0, ACTORS - 1), seed=st.integers(0, 99))
        def relay_honest(self, actor, seed):
            """A signed update relayed; its words reach the keeper (a half poster's too)."""
            if self._listed(actor):
                return
            ints = np.asarray(self._rng_ints("train", seed), dtype=np.int64)
            words = codec.pack(ints)
            self._relay(people[actor], protocol.update_links(words, 1)[0])
            self.t._updates[(self.t.current_round, str(people[actor].address))] = words
            self.relayed.append((str(people[actor].address), ints, "honest"))

        @precondition(lambda self: self.may_relay())
        @rule(who=st.integers(0, len(attackers) - 1), kind=st.sampled_from(ATTACKS), seed=st.integers(0, 99))
        def relay_attack(self, who, kind, seed):
            """An attacker's relayed head: its words withheld, its next link opening to nothing
            (column 0 words known, column 1 never), or a lane out of range in column 1."""
            addr = str(attackers[who].address)
            if any(a == addr for a, _, _ in self.relayed):
                return
            from eth_utils import keccak

            words = codec.pack(np.asarray(self._rng_ints("train", seed), dtype=np.int64))
            if kind == "unopenable":  # column 0 public, its next link some hash nobody can open
                link = keccak(b"unopenable" + seed.to_bytes(32, "big"))
                head = keccak(words[0].to_bytes(32, "big") + link)
                self._relay(attackers[who], head)
                self.t._updates[(self.t.current_round, addr)] = words[:1]
            else:
                if kind == "out_of_range":
                    words = [words[0], (words[1] & ~0xFFFF) | 0x0900]  # 2304 > 2047 in lane 0
                self._relay(attackers[who], protocol.update_links(words, 1)[0])
                if kind != "withheld":
                    self.t._updates[(self.t.current_round, addr)] = words  # public: still unusable
            self.relayed.append((addr, None, kind))

        @precondition(lambda self: self.t.round_open and self.t.round_state().columns_done == 0 and not self.relayed
                      and len(self.posted) >= S.min_participants
                      and (chain.pending_timestamp >= self.t.round_state().post_deadline
                           or self.seats_taken() == S.max_participants))
        @rule(k=st.integers(0, 1))
        def keeper_crashes(self, k):
            """A keeper seals the seed, sends column 0 and is gone: whoever aggregates next
            continues from column 1 (and a relay is closed from here)."""
            round_ = self.t.current_round
            self.t.seal_seed(keepers[k], column_next=True)
            self.t.send(self.t.column_call(round_, 0, [codec.pack(u) for _, u in self.posted]), keepers[k])
            self.credit(keepers[k], FEE)
            self.crashed = True

        @precondition(lambda self: self.t.round_open)
        @rule()
        def close_posting(self):
            chain.pending_timestamp = max(chain.pending_timestamp, self.t.round_state().post_deadline)

        @precondition(lambda self: self.t.round_open)
        @rule(k=st.sampled_from([T // 2, T, 2 * T]))
        def time_passes(self, k):
            chain.pending_timestamp += k

        @precondition(lambda self: self.t.round_open and chain.pending_timestamp >= self.t.round_state().abandonable_at)
        @rule(k=st.integers(0, 1))
        def abandon_stalled(self, k):
            """Past postDeadline + 2 x timeout anyone ends the round, whatever its state."""
            self.t.abandon(keepers[k])
            self._new_round()

        @precondition(lambda self: self.t.round_open and (chain.pending_timestamp >= self.t.round_state().post_deadline
                                                            or self.seats_taken() == S.max_participants))
        @rule(k=st.integers(0, 1))
        def aggregate(self, k):
            keeper = keepers[k]
            round_ = self.t.current_round
            r = self.t.aggregate(keeper, wait=lambda s: setattr(chain, "pending_timestamp",
                                                                chain.pending_timestamp + s))
            honest_relayed = [(a, u) for a, u, kind in self.relayed if kind == "honest"]
            listed = [(str(people[a].address), u) for a, u in self.posted] + honest_relayed
            n = len(listed)
            if n < S.min_participants:
                assert not r.completed
            else:
                assert r.completed
                ups = [u for _, u in listed]
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
                for i, (addr, u) in enumerate(listed):
                    score = protocol.distance(u, codec.unpack(old, N))
                    want = 0 if i in dup or i in replay else protocol.reward_for(score, list(THRESHOLDS),
                                                                                   list(REWARDS))
                    assert r.rewards[addr] == want, (i, score, dup, replay)
                    if want:
                        self.owed[addr] = self.owed.get(addr, 0) + want
                        self.ledger.add_shares(addr, want)
                self.history.extend(ups)
                # a drop restarts the columns; fees stop once the round paid columnCount of them
                self.credit(keeper, FEE * (len(self.t.columns) - self.crashed))
            self._new_round()

    run_state_machine_as_test(Engine, settings=settings(
        max_examples=examples(2), stateful_step_count=steps(20), deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]))
