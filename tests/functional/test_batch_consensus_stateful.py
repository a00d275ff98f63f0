"""A stateful property test of ConsensusRule on its engine: more actors than seats commit (honest, small,
Sybil copies, replays of old rounds, liars, oversized and idle updates), anyone draws the
seats, seated actors reveal, reveal half (post 0 of 2) or not at all, or hand their
openings to a relayer, who lists them (a liar's among them: it stalls the last column
until anyone drops it), lists them and withholds the words (a crashing or withholding
relayer: dropped the same way), or front-runs with its own signature (reverts); the
unseated take their stakes back, keepers crash after column 0, time passes past the
abandon time and anyone abandons, anyone closes and aggregates rounds (some below quorum),
participants withdraw, buyers buy access, the pool runs dry and is refilled, in any order. After every
step the contract agrees with a plain-Python model built from ml.protocol: the seat draw,
every admission, reward, stake and fee, the model, the money invariant, and the liveness
invariant (conftest.assert_way_out)."""

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from conftest import MoneyRules, examples, steps
from ml import codec, protocol
from ml.chain import Update
from ml.settings import BatchSettings, ConsensusSettings

N = 24  # 2 words, one per column and per post
THRESHOLDS, REWARDS = (600, 1000, 1400), (30, 20, 10)
FEE, STAKE = 3, 1000
S = BatchSettings(param_count=N, frac_bits=6, value_bits=12, post_duration=100, min_participants=2,
                  max_participants=3, access_price=7, tier_thresholds=THRESHOLDS, tier_rewards=REWARDS,
                  aggregation="trimmed_mean", trim=1, column_words=1, post_words=1, duplicate_distance=1,
                  replay_rounds=2, keeper_fee=FEE, aggregation_timeout=100)
C = ConsensusSettings(commit_duration=100, stake=STAKE, min_move=2, max_move=60, max_move_ratio=3000)
ACTORS = 5
LO, HI = -2048, 2047
KINDS = ["train", "train", "small", "copy", "replay", "lie", "huge", "idle"]


@pytest.mark.parametrize("focus", [False, True], ids=["any-order", "relay-phase"])
def test_consensus_state_machine(project, accounts, chain, reverts, focus):
    """``focus``: every round starts with a committer per seat and the seats drawn, in one
    step, so runs spend their steps on reveals, relays and the attacks on them (relays are
    moves of this machine only: in any order a round rarely reaches them)."""
    owner, people = accounts[0], list(accounts)[1:1 + ACTORS]
    buyers, keepers = list(accounts)[6:9], list(accounts)[9:11]

    class Consensus(MoneyRules, RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            self.snap = chain.snapshot()
            # Block time from block count, not the wall clock: phases (and so which rules
            # apply) must not depend on how fast a step ran, or hypothesis cannot replay.
            chain.provider.make_request("anvil_setBlockTimestampInterval", [1])
            from ml.chain import BatchTask

            self.t = BatchTask.launch(project.ConsensusRule, owner, S, np.zeros(N), funding=S.round_reserve * 3,
                                      extra=C)
            # A relayer with its own client: what it lists and withholds, no keeper knows.
            self.withholder = BatchTask.at(self.t.address)
            self.c = self.t.engine
            self.global_ = np.zeros(N, dtype=np.int64)
            self.history = []  # ints of every accepted update, for replays
            self.accepted_in = {}  # head link -> round
            self.owed = {}  # address -> wei credited (rewards, fees, stakes back)
            self.stakes = 0  # wei of stakes the contract holds
            self.ledger = protocol.RevenueLedger()
            self.bought = set()
            self.payees, self.buyers, self.owner, self.chain = people + keepers, buyers, owner, chain
            self._new_round()

        def _new_round(self):
            self.commits = {}  # actor -> (Commitment, ints, honest declaration?)
            self.order = []  # committers in commit order
            self.seated = None  # actors holding a seat, once drawn
            self.reference = 0
            self.finished = set()  # seated actors whose reveal finished (listed or refused)
            self.listed = []  # (actor, ints, move) in list order
            self.released = set()
            self.half = set()  # seated actors that sent post 0 of 2 and stopped
            self.crashed = False  # a keeper sent column 0 and stopped
            self.stuck = {}  # relayed actor no column can carry -> "liar" or "withheld" (words)
            self.dropped = False  # a drop closed the round's relays

        def teardown(self):
            chain.provider.make_request("anvil_removeBlockTimestampInterval", [])
            chain.restore(self.snap)

        def now(self):
            return chain.pending_timestamp

        def _move_to(self, timestamp):
            """Mines a block at ``timestamp``, so views that read block.timestamp see it too."""
            chain.pending_timestamp = max(self.now(), timestamp)
            chain.mine()

        # --- commit, draw, reveal, release ----------------------------------------------
        @precondition(lambda self: not focus and self.t.round_open and len(self.commits) < ACTORS
                      and self.now() < int(self.t.rule_contract.commitDeadline()))
        @rule(pick=st.integers(0, ACTORS - 1), kind=st.sampled_from(KINDS), seed=st.integers(0, 99))
        def commit(self, pick, kind, seed):
            free = [a for a in range(ACTORS) if a not in self.commits]
            actor = free[pick % len(free)]
            rng = np.random.default_rng(seed)
            base = self.global_
            if kind == "copy" and self.commits:
                ints = next(iter(self.commits.values()))[1].copy()
            elif kind == "replay" and self.history:
                ints = self.history[seed % len(self.history)].copy()
            elif kind == "small":
                ints = base + rng.choice([-3, 3], N)
            elif kind == "huge":
                ints = base + rng.choice([-90, 90], N)
            elif kind == "idle":
                ints = base.copy()
            else:
                ints = base + rng.integers(-30, 31, N)
            ints = np.clip(ints, LO, HI).astype(np.int64)
            c = self.t.prepare(self.t.current_round, codec.dequantize(ints, self.t.fmt))
            honest = kind != "lie"
            if not honest:
                c = dataclasses.replace(c, move=c.move + 16 * N)
            self.t.commit(people[actor], c)
            self.commits[actor] = (c, ints, honest)
            self.order.append(actor)
            self.stakes += STAKE

        @precondition(lambda self: focus and self.t.round_open and not self.commits
                      and self.now() < int(self.t.rule_contract.commitDeadline()))
        @rule(kinds=st.lists(st.sampled_from(KINDS), min_size=S.max_participants, max_size=S.max_participants),
              seed=st.integers(0, 99), k=st.integers(0, 1))
        def commit_all_and_draw(self, kinds, seed, k):
            """As many actors as seats commit, the phase ends, the seats are drawn: one step to
            the seated state, where reveals, relays and their attacks compete. Every committer
            is seated: which ones a draw picks depends on the block's RANDAO value, which anvil
            draws at random, and rules enabled by it would make runs irreproducible (the
            lottery itself is the any-order machine's)."""
            for i, kind in enumerate(kinds):
                self.commit(0, kind, seed + i)
            self.end_commit_phase()
            self.draw(k)

        @precondition(lambda self: not focus and self.t.round_open and self.commits
                      and self.now() < int(self.t.rule_contract.commitDeadline()))
        @rule()
        def end_commit_phase(self):
            self._move_to(int(self.t.rule_contract.commitDeadline()))

        @precondition(lambda self: not focus and self.t.round_open and self.seated is None
                      and int(self.t.rule_contract.commitDeadline()) <= self.now() < self.t.round_state().post_deadline)
        @rule(k=st.integers(0, 1))
        def draw(self, k):
            d = self.t.draw_seats(keepers[k])
            order = protocol.draw_seats(d.seed, [str(people[a].address) for a in self.order], S.max_participants)
            seated_addr = order[: min(len(self.order), S.max_participants)]
            self.seated = {a for a in self.order if str(people[a].address) in seated_addr}
            assert {a for a in self.order if self.t.seated(self.t.current_round, people[a])} == self.seated
            self.reference = protocol.move_reference([self.commits[a][0].move // N for a in self.seated])
            assert d.move_reference == self.reference

        @precondition(lambda self: self.t.round_open and self.seated and self.now() < self.t.round_state().post_deadline
                      and not self.t.round_state().posting_closed)
        @rule(pick=st.integers(0, ACTORS - 1))
        def reveal(self, pick):
            waiting = self._waiting()
            if not waiting:
                return
            actor = waiting[pick % len(waiting)]
            c, ints, honest = self.commits[actor]
            got = self.t.reveal(people[actor], c)
            self.finished.add(actor)
            mean = int(np.abs(ints - self.global_).sum()) // N
            in_bounds = honest and C.min_move <= mean <= C.max_move
            admitted = in_bounds and protocol.move_accepted(mean, C.min_move, C.max_move, C.max_move_ratio,
                                                            self.reference)
            assert (got is not None) == admitted, (actor, mean, honest, self.reference)
            if admitted:
                self.listed.append((actor, ints, int(np.abs(ints - self.global_).sum())))
            else:
                self.stakes -= STAKE
                if in_bounds:  # refused by the ratio bound alone: the stake comes back
                    self.credit(people[actor], STAKE)

        def _waiting(self):
            """Seated actors that have not revealed, wholly or in part."""
            return sorted(self.seated - self.finished - self.half)

        @precondition(lambda self: self.t.round_open and self.seated and self.now() < self.t.round_state().post_deadline
                      and not self.t.round_state().posting_closed)
        @rule(pick=st.integers(0, ACTORS - 1))
        def reveal_half(self, pick):
            """A seated committer sends post 0 of 2 and stops: a no-show that forfeits its stake."""
            waiting = self._waiting()
            if not waiting:
                return
            actor = waiting[pick % len(waiting)]
            self.t.send(self.t.reveal_calls(self.commits[actor][0])[0], people[actor])
            self.half.add(actor)

        # --- relaying openings ------------------------------------------------------------
        def _vouched(self, actor):
            """Whether the rule vouches for the actor's opening (its declared move in bounds)."""
            mean = self.commits[actor][0].move // N
            return protocol.move_accepted(mean, C.min_move, C.max_move, C.max_move_ratio, self.reference)

        def _relayable(self):
            """Seated actors not done, whose declaration the rule vouches for (a half reveal
            too: the relay replaces its partial post)."""
            return [a for a in sorted(self.seated - self.finished) if self._vouched(a)]

        @precondition(lambda self: focus and self.t.round_open and self.seated and not self.crashed
                      and not self.dropped and self._relayable())
        @rule(mask=st.integers(1, 7), k=st.integers(0, 1), withhold=st.booleans())
        def relay(self, mask, k, withhold):
            """Seated actors hand their openings (signed: their consent) to a relayer, who
            lists them; ``withhold``: it keeps the words to itself and vanishes. Before the
            deadline a listing that leaves a seat open reverts (posting stays open)."""
            options = self._relayable()
            picked = [a for i, a in enumerate(options) if mask >> i & 1] or options[:1]
            self._relay(picked, k, withhold)

        @precondition(lambda self: focus and self.t.round_open and self.seated and not self.crashed
                      and not self.dropped and self._relayable())
        @rule(k=st.integers(0, 1), withhold=st.booleans())
        def relay_the_rest(self, k, withhold):
            """A relayer lists every seat still open that it can, as the task client does: at
            once when that closes the round, else after the deadline (a seat it cannot carry
            had until then to reveal)."""
            picked = self._relayable()
            if self.finished | set(picked) != self.seated:
                self._move_to(self.t.round_state().post_deadline)
            self._relay(picked, k, withhold)

        def _relay(self, picked, k, withhold):
            relayer = self.withholder if withhold else self.t
            opened = [relayer.opening(people[a], self.commits[a][0]) for a in picked]
            if self.now() < self.t.round_state().post_deadline and self.finished | set(picked) != self.seated:
                with reverts("PostingOpen"):
                    relayer.list_relayed(keepers[k], opened)
                return
            relayer.list_relayed(keepers[k], opened)
            for a in picked:
                c, ints, honest = self.commits[a]
                self.finished.add(a)
                self.half.discard(a)
                self.listed.append((a, ints, int(np.abs(ints - self.global_).sum())))
                if withhold or not honest:
                    self.stuck[a] = "withheld" if withhold else "liar"

        @precondition(lambda self: focus and self.t.round_open and self.seated and not self.crashed
                      and not self.dropped and self._relayable())
        @rule(pick=st.integers(0, ACTORS - 1), k=st.integers(0, 1))
        def front_run(self, pick, k):
            """A keeper relays a seated actor's opening under its own signature: refused."""
            options = self._relayable()
            actor = options[pick % len(options)]
            c = self.commits[actor][0]
            mine = self.t.sign(keepers[k], c.round, Update(list(c.words), c.saturated))
            forged = dataclasses.replace(self.t.opening(people[actor], c), r=mine.r, vs=mine.vs)
            with reverts("BadSignature"):
                self.t.list_relayed(keepers[k], [forged])

        @precondition(lambda self: focus and self.t.round_open and self.stuck and self.t.round_state().posting_closed)
        @rule(k=st.integers(0, 1))
        def drop_stalled(self, k):
            """Past postDeadline + aggregationTimeout anyone drops what no column can carry
            (the client sees it coming: ``stalled``); dropped stakes come back, columns start
            over, the round relays no more."""
            self._move_to(self.t.round_state().post_deadline + S.aggregation_timeout)
            stuck = [i for i, (a, _, _) in enumerate(self.listed) if a in self.stuck]
            assert self.t.stalled(self.t.current_round) == stuck
            self.t.drop(keepers[k], stuck)
            for a in self.stuck:
                self.credit(people[a], STAKE)
                self.stakes -= STAKE
            self.listed = [x for x in self.listed if x[0] not in self.stuck]
            self.stuck = {}
            self.crashed = False
            self.dropped = True

        @precondition(lambda self: self.t.round_open and not self.crashed and self.t.round_state().posting_closed
                      and len(self.listed) >= S.min_participants
                      and "withheld" not in self.stuck.values())  # nobody has those words
        @rule(k=st.integers(0, 1))
        def keeper_crashes(self, k):
            """A keeper sends column 0 and is gone; whoever comes next continues from column 1."""
            self.t.send(self.t.column_call(self.t.current_round, 0, [codec.pack(u) for _, u, _ in self.listed]), keepers[k])
            self.credit(keepers[k], FEE)
            self.crashed = True

        @precondition(lambda self: self.t.round_open and (self.commits or not focus))  # focus: commits first
        @rule(k=st.sampled_from([50, 100, 400]))
        def time_passes(self, k):
            self._move_to(self.now() + k)

        @precondition(lambda self: self.t.round_open and self.now() >= self.t.round_state().abandonable_at)
        @rule(k=st.integers(0, 1))
        def abandon_stalled(self, k):
            """Past postDeadline + 2 x aggregationTimeout anyone ends the round, whatever its
            state: listed stakes back, seated no-shows forfeit, the unseated release theirs."""
            round_ = self.t.current_round
            self.t.abandon(keepers[k])
            self._settle_unfinished(round_)

        def _settle_unfinished(self, round_):
            for actor, _, _ in self.listed:
                self.credit(people[actor], STAKE)
                self.stakes -= STAKE
            self.stakes -= (len(self.seated or ()) - len(self.finished)) * STAKE
            pending = [a for a in self.commits if a not in self.released and not (self.seated and a in self.seated)]
            self._release_unseated(round_, pending)
            self._new_round()

        def releasable(self):
            over = not self.t.round_open or self.now() >= self.t.round_state().post_deadline
            if self.seated is None and not over:
                return []
            return [a for a in self.commits if a not in self.released and not (self.seated and a in self.seated)]

        @precondition(lambda self: self.releasable())
        @rule(pick=st.integers(0, ACTORS - 1))
        def release(self, pick):
            options = self.releasable()
            actor = options[pick % len(options)]
            assert self.t.release_stake(people[actor], self.t.current_round) == STAKE
            self.released.add(actor)
            self.stakes -= STAKE
            self.credit(people[actor], STAKE)

        # --- closing and aggregating --------------------------------------------------------
        # Only once someone revealed (or nobody committed): otherwise most rounds would end
        # before anyone revealed. A round never drawn still ends at its deadline (`wait_out`).
        @precondition(lambda self: self.t.round_open and (self.commits or not focus)
                      and int(self.t.rule_contract.commitDeadline()) <= self.now() < self.t.round_state().post_deadline
                      and (self.finished or not self.commits or self.seated == set())
                      and not self.t.round_state().posting_closed)
        @rule()
        def close_posting(self):
            self._move_to(self.t.round_state().post_deadline)

        @precondition(lambda self: not focus and self.t.round_open and self.seated is None and len(self.commits) == 1
                      and int(self.t.rule_contract.commitDeadline()) <= self.now() < self.t.round_state().post_deadline)
        @rule()
        def wait_out(self):
            """Nobody draws (tried with one committer, so most rounds do get drawn): the round
            runs to its posting deadline with every stake held."""
            self._move_to(self.t.round_state().post_deadline)

        @precondition(lambda self: self.t.round_open and self.t.round_state().posting_closed and not self.stuck)
        @rule(k=st.integers(0, 1))
        def aggregate(self, k):
            keeper = keepers[k]
            round_ = self.t.current_round
            r = self.t.aggregate(keeper)
            n = len(self.listed)
            assert r.completed == (n >= S.min_participants)
            for actor, _, _ in self.listed:  # every listed update gets its stake back
                self.credit(people[actor], STAKE)
                self.stakes -= STAKE
            missing = len(self.seated or ()) - len(self.finished)
            self.stakes -= missing * STAKE  # seated no-shows forfeit to the pool
            if r.completed:
                ups = [u for _, u, _ in self.listed]
                words = [codec.pack(u) for u in ups]
                old = codec.pack(self.global_)
                new = protocol.aggregate(ups, S.aggregation, S.trim)
                seed = bytes(self.c.roundSeed(round_))
                columns = [[[w[c]] for w in words] for c in range(len(words[0]))]
                dup = protocol.near_duplicates(columns, [[w] for w in old], seed, S.duplicate_distance)
                mean_move = sum(m for _, _, m in self.listed) // n // N
                for i, (actor, u, move) in enumerate(self.listed):
                    head = protocol.update_links(words[i], 1)[0]
                    seen = self.accepted_in.get(head)
                    replay = seen is not None and round_ - seen <= S.replay_rounds
                    self.accepted_in[head] = round_
                    m = move // N
                    if m * 1000 > C.max_move_ratio * mean_move:
                        want = 0
                    else:
                        score = protocol.claim_score(int(np.abs(u - new).sum()) // N, m, mean_move)
                        want = protocol.reward_for(score, list(THRESHOLDS), list(REWARDS))
                    if i in dup or replay:
                        want = 0
                    addr = str(people[actor].address)
                    assert r.rewards[addr] == want, (i, dup, replay)
                    if want:
                        self.credit(people[actor], want)
                        self.ledger.add_shares(addr, want)
                self.history.extend(ups)
                self.global_ = new
                self.credit(keeper, FEE * (len(self.t.columns) - self.crashed))
            # Committers never seated (or of a round never drawn) keep their stakes until they
            # release them; they do so now, before this model forgets the round.
            pending = [a for a in self.commits if a not in self.released and not (self.seated and a in self.seated)]
            self._release_unseated(round_, pending)
            self._new_round()

        def _release_unseated(self, round_, actors):
            for a in actors:
                assert self.t.release_stake(people[a], round_) == STAKE
                self.stakes -= STAKE
                self.credit(people[a], STAKE)

        # --- invariants (with MoneyRules': the model and the money) -------------------------
        @invariant()
        def stakes_are_held(self):
            assert self.t.escrowed == self.stakes

    run_state_machine_as_test(Consensus, settings=settings(
        max_examples=examples(2), stateful_step_count=steps(20), deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]))
