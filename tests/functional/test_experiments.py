"""The experiment bookkeeping that turns measurements into the paper's figures."""

import math

import pytest

from studies import experiments as ex
from studies.federation import RoundRecord


def rec(r, acc, base, train=1.0, chain=0.5, blocks=3, base_s=1.2):
    return RoundRecord(round=r, accuracy=acc, baseline_accuracy=base, participants=5, gas_submit=10, gas_aggregate=2,
                       gas_total=12, train_seconds=train, chain_seconds=chain, rewards_paid_wei=0, distances=[],
                       tiers=[], saturated=0, param_count=10, baseline_seconds=base_s, blocks=blocks)


def test_cost_break_even_is_server_over_cost_per_round():
    prices = ex.Prices(gas_price_gwei=2.0, eth_usd=1000.0, server_usd=300.0)
    rows = ex.cost_rows(50_000_000, prices)  # 0.1 ETH = 100 USD per round
    assert [r["usd_per_round"] for r in rows] == pytest.approx([100.0, 200.0, 300.0])
    assert [r["break_even_rounds"] for r in rows] == pytest.approx([3.0, 1.5, 1.0])
    assert math.isinf(ex.cost_rows(0, prices)[0]["break_even_rounds"])


def test_quick_plan_shortens_only_block_runs():
    full, quick = ex.Plan(quick=False), ex.Plan(quick=True, quick_rounds=3)
    assert full.block_runs() == [(5, 30), (10, 10), (20, 10)]
    assert quick.block_runs() == [(5, 3), (10, 3), (20, 3)]
    assert quick.accuracy_rounds == full.accuracy_rounds == (10, 30)


def test_rows_average_the_first_rounds_and_report_differences():
    run = ex.Run(clients=5, rounds=3, split="iid", mining="instant", model="logreg",
                 records=[rec(1, 0.80, 0.81, chain=1.0), rec(2, 0.85, 0.85, chain=0.5), rec(3, 0.9, 0.8995)])
    acc = ex.accuracy_rows([run], (2, 3, 4))  # 4 is beyond the run: skipped
    assert [(a["rounds"], round(a["diff_pp"], 2)) for a in acc] == [(2, 0.0), (3, 0.05)]
    row = ex.time_row(run, 2)
    assert row["chain_s"] == pytest.approx(0.75) and row["chain_s_per_client"] == pytest.approx(0.15)
    assert row["rounds"] == 2 and row["blocks"] == 3 and row["baseline_s"] == pytest.approx(1.2)
