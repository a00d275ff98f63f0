"""A plain Flower ClientApp; the one fedchain line is `mods=[fedchain_mod]`."""

from __future__ import annotations

from flwr.app import ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from fedchain_quickstart.task import load_data, net, train as train_fn
from ml.flower import ROUND, fedchain_mod

# The mod signs the training reply with this SuperNode's participant key
# (node config "fedchain-key-file"); the app itself knows nothing of the chain.
app = ClientApp(mods=[fedchain_mod])


@app.train()
def train(msg: Message, context: Context):
    rc, nc = context.run_config, context.node_config
    data, x, y = load_data(str(rc["dataset"]), int(nc["partition-id"]), int(nc["num-partitions"]), int(rc["seed"]))
    model = net(str(rc["model"]), data, int(rc["seed"]))
    model.load_state_dict(msg.content["arrays"].to_torch_state_dict())
    config = msg.content["config"]
    train_fn(model, x, y, int(rc["local-epochs"]), float(rc["learning-rate"]), int(rc["batch-size"]),
             int(rc["seed"]), int(config[ROUND]), int(nc["partition-id"]))
    content = RecordDict({"arrays": ArrayRecord(model.state_dict()),
                          "metrics": MetricRecord({"num-examples": len(y)})})
    return Message(content=content, reply_to=msg)
