"""Reads a task's current global model with free view calls and saves it."""

from __future__ import annotations

from pathlib import Path

import click
import torch
from ape import chain
from ape.cli import ConnectedProviderCommand, network_option
from ape.logging import logger

from ml import data as datasets
from ml.chain import download_model
from ml.node.deployment import ConfigError, attach
from ml.models import build_model
from ml.training import accuracy


@click.command(cls=ConnectedProviderCommand, short_help="Download the global model (view calls only)")
@network_option()
@click.option("--record", "record_path", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Deployment record written by `ape run deploy`.")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Where to save the torch state_dict (.pt).")
@click.option("--evaluate/--no-evaluate", default=True, show_default=True,
              help="Also print the model's accuracy on the task's test set.")
def cli(ecosystem, network, provider, record_path, out_path, evaluate):
    """No account and no transaction: anyone can read the model."""
    logger.set_level("WARNING")
    try:
        record, _ = attach(record_path, int(chain.chain_id))
    except ConfigError as err:
        raise click.ClickException(str(err)) from err
    cfg = record.deploy_config
    data = datasets.load_dataset(cfg.dataset)
    model = download_model(record.address, build_model(cfg.model, data.n_features, data.n_classes))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), out_path)
    msg = f"saved the global model of {record.address} to {out_path}"
    if evaluate:
        msg += f"; test accuracy {accuracy(model, data.x_test, data.y_test):.4f}"
    click.echo(msg)
