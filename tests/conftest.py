"""Shared fixtures: accounts -> contracts -> SDK handles, session-scoped where possible.

Tests that change chain state run inside ``chain.isolate()`` (snapshot/revert), so one
deployment serves many hypothesis examples.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ml.chain import FedTask
from ml.settings import TaskSettings

torch.set_num_threads(1)

SMALL = TaskSettings(
    param_count=40,  # 3 words; the last one has 8 padding lanes
    frac_bits=8,
    value_bits=12,
    round_duration=600,
    min_participants=2,
    max_participants=4,
    access_price=10**15,
    tier_thresholds=(10, 100, 1000),
    tier_rewards=(300, 200, 100),
)

#: The small CONSENSUS task the consensus and security tests share (40 parameters, 4 seats).
CONS_SMALL = TaskSettings(
    param_count=40, frac_bits=8, value_bits=12, round_duration=600, min_participants=2, max_participants=4,
    access_price=10**15, tier_thresholds=(500, 900, 1300), tier_rewards=(300, 200, 100),
    reward_rule="consensus", reveal_duration=600, stake=10**15, min_move=2, max_move=400,
)


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
def lanes(project, owner):
    return project.LanesHarness.deploy(sender=owner)


@pytest.fixture(scope="session")
def median_harness(project, owner):
    return project.MedianHarness.deploy(sender=owner)


@pytest.fixture(scope="session")
def deploy_task(project, owner):
    def deploy(settings: TaskSettings = SMALL, funding: int | None = None) -> FedTask:
        fund = settings.round_reserve * 10 if funding is None else funding
        t = FedTask.deploy(project.FederatedTask, owner, settings, funding=fund)
        t.warm_storage(owner)  # round 1 cannot open before (tests of that deploy directly)
        return t

    return deploy


@pytest.fixture(scope="session")
def task(deploy_task) -> FedTask:
    """A small task, deployed once, with round 1 not yet started."""
    return deploy_task()


@pytest.fixture
def open_task(task, owner, chain):
    """The small task with round 1 open, reverted after the test."""
    with chain.isolate():
        task.start_round(owner)
        yield task


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
    for name in ("FederatedTask", "PaperTask", "ConsensusTask", "RevenueShare"):
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


def assert_money_conserved(contract, ledger, n_accounts: int, max_dust: int) -> None:
    """The contract's ETH balance is exactly what it owes or holds in trust: pool, reserves,
    credited rewards and stakes, revenue owed (per the reference ledger) and the floor dust
    of the revenue split, which is bounded and never paid out."""
    revenue_owed = sum(ledger.revenue_of(str(a)) for a in range(n_accounts))
    dust = ledger.received - ledger.withdrawn - revenue_owed
    assert 0 <= dust <= max_dust
    assert contract.balance == (
        int(contract.rewardPool()) + int(contract.roundReserve()) + int(contract.totalClaimReserve())
        + int(contract.totalRewardsOwed()) + int(contract.totalStakes()) + revenue_owed + dust
    )
