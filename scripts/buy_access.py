"""Buys an access licence to a task's model; the payment goes to its contributors."""

from __future__ import annotations

from pathlib import Path

import click
from ape import chain
from ape.cli import ConnectedProviderCommand, network_option
from ape.logging import logger

from ml.chain import BatchTask
from ml.node.deployment import ConfigError, attach


@click.command(cls=ConnectedProviderCommand, short_help="Buy an access licence")
@network_option()
@click.option("--record", "record_path", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Deployment record written by `ape run deploy`.")
@click.option("--account", "account_spec", required=True, help="Buyer: an alias, or test:N locally.")
def cli(ecosystem, network, provider, record_path, account_spec):
    logger.set_level("WARNING")
    try:
        record, buyer = attach(record_path, int(chain.chain_id), account_spec)
    except ConfigError as err:
        raise click.ClickException(str(err)) from err
    task = BatchTask.at(record.address)
    if task.has_access(buyer):
        raise click.ClickException(f"{buyer.address} already holds a licence; nothing was sent")
    if int(buyer.balance) < task.access_price:
        raise click.ClickException(f"insufficient funds: the licence costs {task.access_price} wei")
    task.buy_access(buyer)
    click.echo(f"{buyer.address} bought access to {record.address} for {task.access_price} wei")
