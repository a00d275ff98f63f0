"""Watches a blob-plane task: recomputes every claim from the posted blobs and disputes the
first wrong field element or score-tree node, earning half the claim's bond."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import click
from ape import chain
from ape.cli import ConnectedProviderCommand, network_option
from ape.logging import logger

from ml.blob_chain import BlobTaskClient, is_blob_task
from ml.node.blob_roles import Watcher
from ml.node.deployment import ConfigError, resolve_account
from ml.node.participant import run_loop


@click.command(cls=ConnectedProviderCommand, short_help="Dispute wrong claims of a blob task")
@network_option()
@click.option("--task", "address", required=True, help="The task's engine address (a BlobEngine).")
@click.option("--account", "account_spec", required=True, help="Pays the disputes' gas: an alias, or test:N locally.")
@click.option("--archive", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder to keep every blob seen (one file per versioned hash) and read blobs from: the copy "
                   "that outlives the node's ~18-day retention.")
@click.option("--poll", default=1.0, show_default=True, type=click.FloatRange(min=0.05),
              help="Seconds between looks at the chain when idle.")
def cli(ecosystem, network, provider, address, account_spec, archive, poll):
    """One honest watcher within each claim's window is the blob plane's whole trust
    assumption: it sees every claim, recomputes the round with ml.blobs, and refutes a
    wrong one with a single transaction (an element of the model, or one node of a score
    tree). Several may run; the first dispute wins the bond's half, the rest revert."""
    logger.set_level("WARNING")
    try:
        account = resolve_account(account_spec)
    except ConfigError as err:
        raise click.ClickException(str(err)) from err
    if not is_blob_task(chain.provider.web3, address):
        raise click.BadParameter(f"{address} is not a blob-plane task engine", param_hint="--task")
    watcher = Watcher(BlobTaskClient.at(address, archive=archive), account)

    def log(msg: str) -> None:
        click.echo(f"{time.strftime('%H:%M:%S')} [watcher] {msg}", err=True)

    watcher.log = log
    stop = {"now": False}
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda s, f: stop.update(now=True))
    log(f"watching task {address}")
    run_loop(watcher.step, lambda: stop["now"], log, poll)
    log(f"stopped ({watcher.refuted} claims refuted)")
