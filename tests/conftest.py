"""Shared fixtures: accounts -> contracts -> SDK handles, session-scoped where possible.

Tests that change chain state run inside ``isolated(chain)`` (snapshot/revert), so one
deployment serves many hypothesis examples.

Hypothesis profiles: ``fast`` (the default, what ``make test`` runs) and ``thorough``
(``make test-thorough``: FEDCHAIN_HYPOTHESIS=thorough, five times the examples and twice
the state machines' steps). Every property states its fast count through ``examples``.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

import numpy as np
import pytest
import torch
from hypothesis import settings as _hypothesis_settings

from ml.chain import BatchTask
from ml.settings import BatchSettings, ConsensusSettings

torch.set_num_threads(1)

PROFILE = os.environ.get("FEDCHAIN_HYPOTHESIS", "fast")
if PROFILE not in ("fast", "thorough"):
    raise ValueError(f"FEDCHAIN_HYPOTHESIS must be fast or thorough, got {PROFILE!r}")
_hypothesis_settings.register_profile("fast", deadline=None, max_examples=20)
_hypothesis_settings.register_profile("thorough", deadline=None, max_examples=100)
_hypothesis_settings.load_profile(PROFILE)


def examples(n: int) -> int:
    """Examples of a property (or runs of a state machine): ``n`` in the fast profile, five
    times as many in the thorough one."""
    return n * (5 if PROFILE == "thorough" else 1)


def steps(n: int) -> int:
    """Steps per state-machine run: ``n`` fast, twice as many thorough."""
    return n * (2 if PROFILE == "thorough" else 1)


@contextmanager
def isolated(chain):
    """Runs the block on a chain snapshot and reverts it after, like ``chain.isolate()``, but
    lets exceptions through: ape 0.8's ``isolate`` swallows every exception raised inside
    it, assertions included, so a test body inside it could never fail."""
    snapshot = chain.snapshot()
    pending = chain.pending_timestamp
    try:
        yield
    finally:
        chain.restore(snapshot)
        chain.pending_timestamp = pending


@contextmanager
def refused(error: str):
    """The block reverts with the contract's custom error ``error``, however it surfaces:
    ape's exception for plain calls (which may print only the error's arguments), a
    TaskError for blob transactions; the selector is matched against the project's ABIs."""
    from ml.transport import abi_of, error_name

    with pytest.raises(Exception) as info:
        yield
    text = f"{type(info.value).__name__}: {info.value} {getattr(info.value, 'message', '')} " \
           f"{getattr(info.value, 'revert_message', '')} {getattr(info.value, 'txn', '')}"
    names = {type(info.value).__name__, getattr(getattr(info.value, "abi", None), "name", "")}
    decoded = error_name(text, [abi_of(c) for c in ("BlobEngine", "BlobHarness", "BatchEngine")])
    assert error in names or error in text or decoded.startswith(error), text


def update_near(base_ints, offset: int, seed: int, fmt, noise: int = 1):
    """Floats of an update at ~``offset`` units per parameter from ``base_ints``, each value
    jittered by up to +-``noise`` (seeded), clipped to ``fmt``'s range."""
    rng = np.random.default_rng(seed)
    ints = np.clip(np.asarray(base_ints) + offset + rng.integers(-noise, noise + 1, len(base_ints)),
                   fmt.min_int, fmt.max_int)
    return np.asarray(ints, dtype=np.float64) / fmt.scale


@pytest.fixture(scope="session")
def owner(accounts):
    return accounts[0]


@pytest.fixture(scope="session")
def clients(accounts):
    return list(accounts)[1:9]


@pytest.fixture(scope="session")
def buyer(accounts):
    return accounts[9]


@pytest.fixture(scope="session")
def median_harness(project, owner):
    return project.MedianHarness.deploy(sender=owner)


@pytest.fixture(scope="session")
def launch_task(project, owner):
    """Deploys a PAPER task (or with ``consensus`` a CONSENSUS one) with a zero initial model
    and round 1 open; the pool funds ``rounds`` rounds."""

    def launch(settings: BatchSettings, consensus: ConsensusSettings | None = None, rounds: int = 5,
               initial=None) -> BatchTask:
        init = np.zeros(settings.param_count) if initial is None else initial
        return BatchTask.launch("consensus" if consensus else "paper", owner, settings, init,
                                funding=settings.round_reserve * rounds, extra=consensus)

    return launch


def ints_to_floats(ints, fmt):
    return np.asarray(ints, dtype=np.float64) / fmt.scale


def _error_selectors(contract_type) -> dict[str, str]:
    from eth_utils import keccak

    out = {}
    for err in contract_type.errors:
        sig = f"{err.name}({','.join(i.canonical_type for i in err.inputs)})"
        out[err.name] = keccak(text=sig)[:4].hex().removeprefix("0x")
    return out


@pytest.fixture(scope="session")
def reverts(project):
    """``with reverts("WrongRound"):`` passes only if the call reverts with that custom
    error (decoded by ape, or recognised by its selector when ape cannot decode it)."""
    from contextlib import contextmanager

    from ape.exceptions import ContractLogicError

    selectors = {}
    from ml.rules import RULES, adapter_for

    for name in ("BatchEngine", "RevenueShare", *(adapter_for(r).contract for r in RULES)):
        selectors.update(_error_selectors(getattr(project, name).contract_type))

    @contextmanager
    def check(error: str):
        assert error in selectors, f"unknown custom error {error}"
        with pytest.raises(ContractLogicError) as info:
            yield info
        exc = info.value
        text = f"{exc} {getattr(exc, 'message', '')} {getattr(exc, 'revert_message', '')}".lower()
        raw = text.encode("latin-1", "ignore").hex()
        found = type(exc).__name__ == error or selectors[error] in text or selectors[error] in raw
        assert found, f"expected {error} ({selectors[error]}), got {type(exc).__name__}: {exc!r}"

    return check


def assert_money_conserved(t, ledger) -> None:
    """The engine's ETH balance is exactly what it owes or holds in trust: pool, the open
    round's reserve, credits (rewards, fees, returned stakes), the rule's escrow (stakes),
    revenue owed (per the reference ledger) and the floor dust of the revenue split, which
    is bounded and never paid out. The rule holds no ETH."""
    revenue_owed = sum(ledger.revenue_of(a) for a in ledger.shares)
    dust = ledger.received - ledger.withdrawn - revenue_owed
    assert 0 <= dust <= len(ledger.shares)
    s = t.round_state()
    assert t.engine.balance == s.reward_pool + s.round_reserve + s.total_owed + s.escrowed + revenue_owed + dust
    assert t.rule_contract.balance == 0


def assert_way_out(t, chain, keeper, owner, accounts) -> None:
    """The liveness invariant, checked on a snapshot and reverted: from this state, within
    bounded time, legal transactions (each under 12M gas) return every wei not credited and
    pay every credit. A keeper with no rights ends the open round at its abandonableAt
    (postDeadline + 2 x aggregationTimeout) whatever its state; the owner ends the task and,
    EXIT_DELAY later, sweeps the pool (ending any round opened meanwhile); unseated CONSENSUS
    stakes are released; every account withdraws. What stays is revenue dust: at most one
    wei per account."""
    from ml.settings import EXIT_DELAY, MAX_COLUMN_GAS

    snap, pending = chain.snapshot(), chain.pending_timestamp
    c, r_, web3 = t.engine, t.rule_contract, t.web3
    used = []

    def send(contract, method, args, sender, gas=MAX_COLUMN_GAS):
        # bare web3 on anvil's unlocked accounts: a few requests a transaction, not ape's ~40
        h = web3.eth.send_transaction({"from": str(getattr(sender, "address", sender)), "to": str(contract.address),
                                       "data": bytes(getattr(contract, method).encode_input(*args)), "gas": gas})
        r = web3.eth.wait_for_transaction_receipt(h, timeout=60)
        assert r["status"] == 1, f"{method}{args} reverted: no way out"
        used.append(int(r["gasUsed"]))

    try:
        s = t.round_state()
        if s.open:
            chain.pending_timestamp = max(chain.pending_timestamp, s.abandonable_at)
            send(c, "abandon", (s.round,), keeper)
        if not t.round_state().ended_at:
            send(c, "endTask", (), owner)
        chain.pending_timestamp = max(chain.pending_timestamp, t.round_state().ended_at + EXIT_DELAY)
        s = t.round_state()
        if s.open or s.reward_pool:
            send(c, "sweep", (), owner)
        assert not t.round_open
        if t.rule == "consensus":
            for e in t.events("Committed", target="rule"):
                if int(r_.seatOf(e.round, e.participant)[0]) == 1:  # committed, never seated
                    send(r_, "releaseStake", (e.round,), e.participant)
        for a in accounts:
            if t.withdrawable(a):
                send(c, "withdraw", (), a)
        assert max(used, default=0) <= MAX_COLUMN_GAS
        s = t.round_state()
        assert s.total_owed == 0 and s.reward_pool == 0 and s.round_reserve == 0 and s.escrowed == 0
        assert c.balance <= len(accounts), c.balance
    finally:
        chain.restore(snap)
        chain.pending_timestamp = pending


class MoneyRules:
    """Rules and invariants the state machines share (mix into a RuleBasedStateMachine):
    anyone owed withdraws exactly what the model says, buyers buy access (revenue split by
    the reference ledger, or to the pool while nobody holds shares), the owner refills a
    dry pool; after every step the model and the money invariant hold. Expects ``t`` (the
    BatchTask), ``c`` (its contract), ``global_``, ``owed`` (address -> wei), ``ledger``,
    ``bought``, ``chain``, and the accounts ``payees``, ``buyers``, ``owner`` (and ``others``:
    accounts the rules may credit besides)."""

    from hypothesis import strategies as _st
    from hypothesis.stateful import invariant as _invariant, precondition as _precondition, rule as _rule

    def credit(self, who, wei: int) -> None:
        addr = str(who.address)
        self.owed[addr] = self.owed.get(addr, 0) + wei

    def due(self, who) -> int:
        addr = str(who.address)
        return self.owed.get(addr, 0) + self.ledger.revenue_of(addr)

    @_precondition(lambda self: any(self.due(w) for w in self.payees))
    @_rule(pick=_st.integers(0, 15))
    def withdraw(self, pick):
        options = [w for w in self.payees if self.due(w)]
        who = options[pick % len(options)]
        assert self.t.withdraw(who) == self.due(who)
        self.owed[str(who.address)] = 0
        self.ledger.take(str(who.address))

    @_precondition(lambda self: len(self.bought) < len(self.buyers))
    @_rule(pick=_st.integers(0, 15))
    def buy(self, pick):
        free = [b for b in range(len(self.buyers)) if b not in self.bought]
        b = free[pick % len(free)]
        self.t.buy_access(self.buyers[b])
        self.bought.add(b)
        if self.ledger.total_shares:  # else unattributed: the pool takes it (the contract's rule)
            self.ledger.buy(self.t.access_price)

    @_precondition(lambda self: not self.t.round_open)
    @_rule()
    def refill(self):
        self.t.fund(self.owner, self.t.round_reserve)
        self.t.start_round(self.owner)

    @_invariant()
    def model_matches(self):
        assert np.array_equal(self.t.global_ints(), self.global_)

    @_invariant()
    def every_wei_has_a_way_out(self):
        assert_way_out(self.t, self.chain, self.payees[-1], self.owner,
                       list(self.payees) + list(self.buyers) + list(getattr(self, "others", [])))

    @_invariant()
    def money_is_conserved(self):
        assert_money_conserved(self.t, self.ledger)
        assert self.t.total_owed == sum(self.owed.values())
