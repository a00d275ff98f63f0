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
from ml.node.deployment import ConfigError, attach
from ml.node.participant import Keeper, run_loop


@click.command(cls=ConnectedProviderCommand, short_help="Aggregate rounds as their posting closes")
@network_option()
@click.option("--record", "record_path", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Deployment record written by `ape run deploy`.")
@click.option("--account", "account_spec", required=True, help="Pays the gas: an alias, or test:N locally.")
@click.option("--poll", default=1.0, show_default=True, help="Seconds between looks at the chain when idle.")
def cli(ecosystem, network, provider, record_path, account_spec, poll):
    """Anyone may aggregate (each column pays its sender the task's keeper fee): the keeper
    is a convenience, not an authority. Several keepers
    may run; killing and restarting one never breaks a round."""
    logger.set_level("WARNING")
    try:
        record, account = attach(record_path, int(chain.chain_id), account_spec)
    except ConfigError as err:
        raise click.ClickException(str(err)) from err
    keeper = Keeper(BatchTask.at(record.address), account)

    def log(msg: str) -> None:
        click.echo(f"{time.strftime('%H:%M:%S')} [keeper] {msg}", err=True)

    keeper.log = log
    stop = {"now": False}
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda s, f: stop.update(now=True))
    log(f"keeping task {record.address}")
    run_loop(keeper.step, lambda: stop["now"], log, poll)
    log("stopped")
