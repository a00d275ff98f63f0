"""Flower on fedchain with Flower's deployment runtime: a SuperLink and 3 SuperNodes, each
its own process in the Flower environment (.venv-flower), on loopback, relaying to a task
on a separate anvil (digits) - `make flower-demo` in small, under the rules whose
Flower paths differ: the consortium rule (the sponsor lists the SuperNodes; each signs its
update, which PAPER does the same way) and CONSENSUS (each SuperNode commits and stakes
from its own account, then hands the signed opening to the server, which draws the seats
and relays). The chain's model must equal float FedAvg of the same clients and seeds (up
to the fixed-point rounding: at most one test prediction apart), each round must take the
blocks its rule needs, and exactly the SuperNodes' accounts are paid."""

from __future__ import annotations

import json

import pytest

from ml.node.localnet import ape_run

#: rule -> blocks per round (one transaction each)
BLOCKS = {"consortium": 2,  # the relay, then the column in the block it armed
          "consensus": 4}  # the draw armed, the draw, the relay, the column
#: rule -> rounds run. CONSENSUS: one, as every round waits out its commit phase, which must
#: leave a loaded machine time to start Flower's run and commit (45 s here).
ROUNDS = {"consortium": 2, "consensus": 1}


@pytest.mark.parametrize("rule", ["consortium", "consensus"])
def test_flower_superlink_and_supernodes_train_through_the_chain(tmp_path, rule):
    folder = tmp_path / "flower"
    res = ape_run(["flower_demo", "--rule", rule, "--clients", "3", "--rounds", str(ROUNDS[rule]), "--dataset",
                   "digits", "--block-time", "1", "--commit-duration", "45", "--folder", str(folder),
                   "--json", str(tmp_path / "flower.json")], timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    out = json.loads((tmp_path / "flower.json").read_text())
    rounds = out["rounds"]
    assert out["rule"] == rule and len(rounds) == ROUNDS[rule]
    for r in rounds:
        # a seal first if the armed block was missed: one more transaction and block
        assert r["participants"] == 3 and r["transactions"] in (BLOCKS[rule], BLOCKS[rule] + 1)
        assert r["blocks_in_round"] == r["transactions"]
        assert r["rewards_wei"] > 0
        assert abs(r["chain_accuracy"] - r["fedavg_accuracy"]) <= 1 / 449 + 1e-9  # digits: 449 test images
    # each SuperNode relayed (and under CONSENSUS committed) with its own key: exactly the
    # three node addresses were paid, never the relayer
    from eth_account import Account

    nodes = sorted(Account.from_key((folder / f"node{i}.key").read_text().strip()).address for i in range(3))
    relayer = Account.from_key((folder / "relayer.key").read_text().strip()).address
    assert all(r["rewarded"] == nodes for r in rounds) and relayer not in nodes


def test_flower_strategies_map_onto_the_chains_rules():
    """FedAvg -> MEAN, FedMedian -> MEDIAN, FedTrimmedAvg(beta) -> TRIMMED_MEAN dropping
    floor(beta x seats); a strategy the chain cannot compute is refused (run in the Flower
    environment, where flwr lives)."""
    import subprocess

    from ml.node.flower_net import FLOWER_BIN

    code = (
        "from flwr.serverapp.strategy import FedAvg, FedMedian, FedTrimmedAvg, FedProx\n"
        "from ml.flower import chain_rule\n"
        "assert chain_rule(FedAvg(), 10) == ('mean', 0)\n"
        "assert chain_rule(FedMedian(), 10) == ('median', 0)\n"
        "assert chain_rule(FedTrimmedAvg(beta=0.2), 10) == ('trimmed_mean', 2)\n"
        "try:\n    chain_rule(FedProx(proximal_mu=0.1), 10)\nexcept ValueError as e:\n    print('refused:', e)\n"
        "else:\n    raise SystemExit('FedProx was accepted')\n")
    res = subprocess.run([str(FLOWER_BIN / "python"), "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "refused: FedProx has no on-chain rule" in res.stdout
