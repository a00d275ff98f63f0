"""Reads a task's current global model and saves it: from view calls on a column-plane
task, from its blobs (verified against the chain's hashes) on a blob-plane task."""

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
from ml.models import MODELS, build_model, set_flat
from ml.training import accuracy


@click.command(cls=ConnectedProviderCommand, short_help="Download the global model (view calls only)")
@network_option()
@click.option("--record", "record_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Deployment record written by `ape run deploy` (or --task).")
@click.option("--task", "address", default=None,
              help="A blob-plane task's engine address (with --model and --dataset) instead of a record.")
@click.option("--model", "model_name", type=click.Choice(MODELS), default=None, help="With --task: the model.")
@click.option("--dataset", type=click.Choice(["mnist", "digits"]), default="mnist", show_default=True,
              help="With --task: the dataset (its shape, and the test set for --evaluate).")
@click.option("--archive", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Blob tasks: a folder of archived blobs (one file per versioned hash) to read before the "
                   "node; every blob is checked against its versioned hash whatever its source.")
@click.option("--version", "version", type=click.IntRange(min=0), default=None,
              help="Blob tasks: the model version (default: the latest).")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Where to save the torch state_dict (.pt).")
@click.option("--evaluate/--no-evaluate", default=True, show_default=True,
              help="Also print the model's accuracy on the task's test set.")
def cli(ecosystem, network, provider, record_path, address, model_name, dataset, archive, version, out_path,
        evaluate):
    """No account and no transaction: anyone can read the model."""
    logger.set_level("WARNING")
    if (record_path is None) == (address is None):
        raise click.UsageError("give exactly one of --record and --task")
    if address is not None:
        _download_blob_model(address, model_name, dataset, archive, version, out_path, evaluate)
        return
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


def _download_blob_model(address, model_name, dataset, archive, version, out_path, evaluate):
    from ml.blob_chain import BlobTaskClient, is_blob_task
    from ml.codec import dequantize
    from ml.transport import TaskError

    if model_name is None:
        raise click.UsageError("--task needs --model")
    if not is_blob_task(chain.provider.web3, address):
        raise click.BadParameter(f"{address} is not a blob-plane task engine", param_hint="--task")
    task = BlobTaskClient.at(address, archive=archive)
    data = datasets.load_dataset(dataset)
    model = build_model(model_name, data.n_features, data.n_classes)
    try:
        ints = task.model_ints(version)
        set_flat(model, dequantize(ints, task.fmt))
    except (TaskError, ValueError) as err:
        raise click.ClickException(str(err)) from err
    out_path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), out_path)
    v = task.version if version is None else version
    msg = f"saved model version {v} of {address} ({task.layout.blobs_per_update} blobs, each checked) to {out_path}"
    if evaluate:
        msg += f"; test accuracy {accuracy(model, data.x_test, data.y_test):.4f}"
    click.echo(msg)
