"""Revenue sharing: the contract equals the reference ledger wei for wei, and no wei is
created or lost (a stateful property test over submits, purchases and withdrawals)."""

import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import SMALL, assert_money_conserved
from ml import codec, protocol

N = SMALL.param_count
action = st.one_of(
    st.tuples(st.just("submit"), st.integers(0, 3), st.integers(0, 2)),  # client, distance tier
    st.tuples(st.just("buy"), st.integers(0, 2), st.integers(1, 10**17)),  # buyer, price
    st.tuples(st.just("withdraw"), st.integers(0, 3), st.just(0)),
    st.tuples(st.just("finalize"), st.just(0), st.just(0)),
)
TIER_OFFSETS = [5, 50, 500]  # |v - g| per parameter landing in tiers 0, 1, 2


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(action, min_size=1, max_size=14))
def test_revenue_matches_reference_and_conserves_wei(deploy_task, owner, clients, accounts, chain, actions):
    buyers = list(accounts)[9:12]
    with chain.isolate():
        task = deploy_task()
        c = task.contract
        task.start_round(owner)
        ledger = protocol.RevenueLedger()
        rewards = {i: 0 for i in range(4)}
        withdrawn = 0
        bought = set()
        for kind, who, arg in actions:
            if kind == "submit":
                if not task.round_open or int(c.statusOf(task.current_round, clients[who])[0]) != 0:
                    continue
                g = task.global_ints()
                sub = task.submit(clients[who], task.current_round,
                                  codec.dequantize(np.clip(g + TIER_OFFSETS[arg], -2048, 2047), task.fmt))
                rewards[who] += sub.reward
                if sub.reward:
                    ledger.add_shares(str(who), sub.reward)
            elif kind == "buy":
                if who in bought:
                    continue
                bought.add(who)
                c.setAccessPrice(arg, sender=owner)
                c.buyAccess(sender=buyers[who], value=arg)
                ledger.buy(arg)
            elif kind == "withdraw":
                if task.withdrawable(clients[who]) == 0:
                    continue
                paid = task.withdraw(clients[who])
                assert paid == rewards[who] + ledger.take(str(who))
                withdrawn += paid
                rewards[who] = 0
            elif kind == "finalize" and int(c.roundSubmissions()) >= SMALL.min_participants:
                chain.pending_timestamp += SMALL.round_duration
                task.finalize(owner)
            # invariants after every step
            for i in range(4):
                assert task.withdrawable(clients[i]) == rewards[i] + ledger.revenue_of(str(i))
            assert int(c.revenueReceived()) == ledger.received
            assert int(c.revenueWithdrawn()) == ledger.withdrawn
            assert_money_conserved(c, ledger, n_accounts=4, max_dust=4)  # <= 1 wei of floor per contributor
            assert int(c.totalRewardsOwed()) == sum(rewards.values())


@given(st.lists(st.integers(1, 10**20), min_size=1, max_size=5),
       st.lists(st.integers(0, 10**18), min_size=1, max_size=20))
def test_reference_ledger_never_pays_more_than_received(shares, payments):
    ledger = protocol.RevenueLedger()
    for i, s in enumerate(shares):
        ledger.add_shares(str(i), s)
    for p in payments:
        ledger.buy(p)
    owed = [ledger.revenue_of(str(i)) for i in range(len(shares))]
    assert sum(owed) <= ledger.received
    # floor per account, plus the carry of at most total_shares / 2^64 wei not yet spread
    assert ledger.received - sum(owed) <= len(shares) + -(-ledger.total_shares // protocol.MAGNITUDE)
    exact = [ledger.received * s / sum(shares) for s in shares]
    carry_wei = -(-ledger.total_shares // protocol.MAGNITUDE)  # revenue still held in the carry
    assert all(abs(o - e) <= 1 + carry_wei + 1e-6 * e for o, e in zip(owed, exact))
