"""The blob plane as a state machine: posts (and replays, and second posts), honest and
lying claims (a wrong lane, a wrong score, a wrong chunk kept consistent above it), disputes
by a watcher, disputes of honest claims, time, finalize, abandon, reopening, withdrawals.
After every step: the contract's balance is exactly pool + reserve + owed + bonds, every
credit the model expects is what the contract says, a live wrong claim is always
refutable by the watcher's audit, and an honest one never. At the end, the liveness
check: from wherever the run stopped, legal transactions close the round and pay out every
credit, leaving only the pool."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from conftest import examples, refused, steps
from ml import blobs as B
from ml import protocol
from ml.blob_chain import BlobTaskClient
from ml.settings import BlobSettings

N = 45  # 3 elements, one chunk: a level-0 dispute opens 3 + 3 elements
REWARDS, THRESHOLDS = (30, 20, 10), (40, 80, 160)
BOND, FEE, POST, WINDOW, TIMEOUT = 1000, 5, 100, 3600, 3700
S = BlobSettings(param_count=N, frac_bits=8, value_bits=12, post_duration=POST, min_participants=2,
                 max_participants=3, tier_thresholds=THRESHOLDS, tier_rewards=REWARDS, keeper_fee=FEE,
                 assert_bond=BOND, dispute_window=WINDOW, assert_timeout=TIMEOUT, access_price=0)
LIES = ("none", "lane", "score", "chunk")


def update(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(-200, 201, N)


def lie(honest: B.Claim, kind: str) -> B.Claim:
    lay = honest.layout
    if kind == "none":
        return honest
    if kind == "lane":
        bad = honest.model.copy()
        bad[16] = bad[16] + 1 if bad[16] < lay.hi else bad[16] - 1
        return B.Claim(bad, B.encode_update(bad, lay), honest.scores, honest.trees, honest.sums, lay)
    trees = [[list(lv) for lv in t] for t in honest.trees]
    scores = list(honest.scores)
    scores[0] += 5
    if kind == "chunk":
        trees[0][0][0] += 5
    return B.Claim(honest.model, honest.model_blobs, scores, trees, B.sums_blobs(trees, lay), lay)


def test_blob_state_machine(accounts, chain):
    owner, people = accounts[0], list(accounts)[1:6]
    keepers, watcher = list(accounts)[6:8], accounts[8]

    class BlobMachine(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            self.snap = chain.snapshot()
            self.t = BlobTaskClient.launch(owner, S, np.zeros(N, dtype=np.int64), funding=S.round_reserve * 3)
            self.model = np.zeros(N, dtype=np.int64)
            self.posted: list[tuple[str, np.ndarray]] = []
            self.claim: tuple[str, B.Claim, str] | None = None  # claimant, claim, lie
            self.owed: dict[str, int] = {}

        def teardown(self):
            try:
                self.drain()
            finally:
                chain.restore(self.snap)

        # --- helpers -------------------------------------------------------------------
        def now(self) -> int:
            return max(int(chain.pending_timestamp), int(chain.blocks.head.timestamp) + 1)

        def v(self):
            return self.t.view()

        def credit(self, who: str, wei: int) -> None:
            self.owed[who] = self.owed.get(who, 0) + wei

        def honest(self) -> B.Claim:
            return B.make_claim([u for _, u in self.posted], self.model, self.t.layout)

        # --- rules ---------------------------------------------------------------------
        @precondition(lambda self: self.v().open and self.now() <= self.v().post_deadline
                      and self.v().entrants < S.max_participants)
        @rule(i=st.integers(0, len(people) - 1), seed=st.integers(0, 50), replay=st.booleans())
        def post(self, i, seed, replay):
            who = people[i]
            r = self.v().round
            if any(a == str(who.address) for a, _ in self.posted):
                with refused("AlreadyPosted"):
                    self.t.post(who, r, update(seed + 100 * i))
            elif replay and self.posted:
                with refused("Replayed"):
                    self.t.post(who, r, self.posted[0][1])
            else:
                u = update(seed + 100 * i + 1000 * r)
                self.t.post(who, r, u)
                self.posted.append((str(who.address), u))

        @precondition(lambda self: self.v().open and self.now() <= self.v().post_deadline
                      and self.v().entrants < S.max_participants)
        @rule(seed=st.integers(0, 50))
        def fill_and_close(self, seed):
            """Every free seat posted, then the posting phase ends (what most rounds do)."""
            r = self.v().round
            for j, who in enumerate(people):
                if self.v().entrants == S.max_participants:
                    break
                if not any(a == str(who.address) for a, _ in self.posted):
                    u = update(seed + 100 * j + 1000 * r + 7)
                    self.t.post(who, r, u)
                    self.posted.append((str(who.address), u))
            chain.pending_timestamp = max(self.now(), self.v().post_deadline + 1)

        @rule(k=st.sampled_from([5, 61, 3601]))
        def time_passes(self, k):
            chain.pending_timestamp = self.now() + k

        @precondition(lambda self: self.v().open and self.v().posting_closed and self.claim is None
                      and self.v().entrants >= S.min_participants
                      and self.now() <= self.v().post_deadline + TIMEOUT)
        @rule(k=st.integers(0, 1), kind=st.sampled_from(LIES))
        def assert_claim(self, k, kind):
            claim = lie(self.honest(), kind)
            self.t.assert_claim(keepers[k], self.v().round, claim)
            self.claim = (str(keepers[k].address), claim, kind)

        @precondition(lambda self: self.claim is not None and self.now() < self.v().claim_deadline)
        @rule(element=st.integers(0, 4095))
        def dispute(self, element):
            r = self.v().round
            claimant, claim, kind = self.claim
            found = self.t.audit(r, self.honest())
            if kind == "none":
                assert found is None
                with refused("ClaimHolds"):
                    self.t.dispute_element(watcher, r, element)
                return
            assert found is not None
            self.t.dispute(watcher, r, found)
            self.credit(str(watcher.address), BOND // 2)
            self.claim = None

        @precondition(lambda self: self.claim is not None and self.now() >= self.v().claim_deadline)
        @rule()
        def finalize(self):
            claimant, claim, _ = self.claim
            self.t.finalize(keepers[0], self.v().round)
            # an undisputed claim stands, right or wrong: the one-honest-watcher assumption
            self.model = claim.model
            for (a, _), score in zip(self.posted, claim.scores):
                self.credit(a, protocol.reward_for(score // N, list(THRESHOLDS), list(REWARDS)))
            self.credit(claimant, FEE + BOND)
            self.claim, self.posted = None, []
            assert np.array_equal(self.t.model_ints(), self.model)

        @precondition(lambda self: self.v().open and self.claim is None
                      and self.now() >= self.t._engine.functions.abandonableAt().call())
        @rule()
        def abandon(self):
            self.t.abandon(keepers[1], self.v().round)
            self.posted = []

        @precondition(lambda self: not self.v().open)
        @rule()
        def reopen(self):
            self.t.start_round(keepers[1])

        @precondition(lambda self: any(self.owed.values()))
        @rule(pick=st.integers(0, 20))
        def withdraw(self, pick):
            who = [a for a, w in self.owed.items() if w][pick % sum(1 for w in self.owed.values() if w)]
            account = next(x for x in accounts if str(x.address) == who)
            assert self.t.withdraw(account) == self.owed[who]
            self.owed[who] = 0

        # --- invariants ----------------------------------------------------------------
        @invariant()
        def money_and_credits(self):
            v = self.v()
            assert self.t.web3.eth.get_balance(self.t.address) == v.reward_pool + v.round_reserve + v.total_owed \
                + v.bonds
            assert v.total_owed == sum(self.owed.values())
            for a, w in self.owed.items():
                assert self.t.withdrawable(a) == w

        def drain(self):
            """Liveness: legal moves from here end the round and pay every credit."""
            v = self.v()
            if v.open:
                if self.claim is not None:
                    chain.pending_timestamp = max(self.now(), v.claim_deadline) + 1
                    self.finalize()
                else:
                    chain.pending_timestamp = max(self.now(), int(self.t._engine.functions.abandonableAt().call()))
                    self.abandon()
            assert not self.v().open
            for who, w in list(self.owed.items()):
                if w:
                    account = next(x for x in accounts if str(x.address) == who)
                    assert self.t.withdraw(account) == w
            v = self.v()
            assert v.total_owed == 0 and self.t.web3.eth.get_balance(self.t.address) == v.reward_pool

    run_state_machine_as_test(BlobMachine, settings=settings(
        max_examples=examples(3), stateful_step_count=steps(20), deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]))
