"""The ServerApp: Flower's loop with the FedChain strategy. The server relays; the task on
chain aggregates, pays and publishes the model; the evaluation reads the chain's model."""

from __future__ import annotations

import json
import time
from pathlib import Path

from flwr.app import ArrayRecord, ConfigRecord, Context, MetricRecord
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedAvg

from fedchain_quickstart.task import load_data, net, test
from ml.flower import FedChain
from ml.chain import TaskClient

app = ServerApp()


@app.main()
def main(grid: Grid, context: Context) -> None:
    rc = context.run_config
    info = json.loads(Path(str(rc["task-file"])).read_text())
    task = TaskClient.over_web3(str(rc["rpc-url"]), info["address"], info["abis"])
    data, _, _ = load_data(str(rc["dataset"]), 0, 1, int(rc["seed"]))
    model = net(str(rc["model"]), data, int(rc["seed"]))
    strategy = FedChain(task, Path(str(rc["relayer-key-file"])).read_text().strip(),
                        ArrayRecord(model.state_dict()), min_nodes=int(rc["min-nodes"]), rule_of=FedAvg())
    accuracies: dict[int, float] = {}
    started = time.time()

    def evaluate(server_round: int, arrays: ArrayRecord) -> MetricRecord:
        model.load_state_dict(arrays.to_torch_state_dict())
        accuracies[server_round] = test(model, data)
        return MetricRecord({"accuracy": accuracies[server_round]})

    strategy.start(grid=grid, initial_arrays=strategy.chain_arrays(), num_rounds=int(rc["num-server-rounds"]),
                   train_config=ConfigRecord({}), evaluate_fn=evaluate)
    Path(str(rc["results-file"])).write_text(json.dumps({
        "accuracy": accuracies, "rounds": strategy.rounds, "seconds": round(time.time() - started, 1)}, indent=2))
