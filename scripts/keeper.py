"""Advances a task's rounds: draws seats, aggregates closed rounds column by column, reopens."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import click
from ape import chain
from ape.cli import ConnectedProviderCommand, network_option
from ape.logging import logger

from ml.chain import BatchTask
from ml.blob_chain import BlobTaskClient, is_blob_task
from ml.node.blob_roles import BlobKeeper
from ml.node.deployment import ConfigError, attach, resolve_account
from ml.node.participant import Keeper, run_loop


@click.command(cls=ConnectedProviderCommand, short_help="Aggregate rounds as their posting closes")
@network_option()
@click.option("--record", "record_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Deployment record written by `ape run deploy` (or --task).")
@click.option("--task", "address", default=None, help="A task's engine address instead of a record (blob tasks).")
@click.option("--wrong-lane", type=click.IntRange(min=0), default=None,
              help="Blob tasks, adversary for demonstrations and tests: assert every claim with this parameter "
                   "off by one (a watcher refutes it and takes half the bond).")
@click.option("--account", "account_spec", required=True, help="Pays the gas: an alias, or test:N locally.")
@click.option("--poll", default=1.0, show_default=True, help="Seconds between looks at the chain when idle.")
def cli(ecosystem, network, provider, record_path, address, wrong_lane, account_spec, poll):
    """Anyone may aggregate (each column pays its sender the task's keeper fee): the keeper
    is a convenience, not an authority. Several keepers
    may run; killing and restarting one never breaks a round. On a blob task the keeper
    asserts each round's claim (bonded), finalizes it after the dispute window, and opens
    the next round."""
    logger.set_level("WARNING")
    if (record_path is None) == (address is None):
        raise click.UsageError("give exactly one of --record and --task")
    try:
        if record_path is not None:
            record, account = attach(record_path, int(chain.chain_id), account_spec)
            address = record.address
        else:
            account = resolve_account(account_spec)
    except ConfigError as err:
        raise click.ClickException(str(err)) from err
    if is_blob_task(chain.provider.web3, address):
        keeper = BlobKeeper(BlobTaskClient.at(address), account, wrong_lane)
    elif wrong_lane is not None:
        raise click.BadParameter("only blob tasks take claims", param_hint="--wrong-lane")
    else:
        keeper = Keeper(BatchTask.at(address), account)

    def log(msg: str) -> None:
        click.echo(f"{time.strftime('%H:%M:%S')} [keeper] {msg}", err=True)

    keeper.log = log
    stop = {"now": False}
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda s, f: stop.update(now=True))
    log(f"keeping task {address}")
    run_loop(keeper.step, lambda: stop["now"], log, poll)
    log("stopped")
