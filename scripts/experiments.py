"""The paper's figures 6-9, reproduced on this machine with real gas: accuracy, time per
round (instant mining and mainnet-like blocks), running cost. Writes docs/RESULTS.md, plots
under docs/img/ and CSV/JSON under docs/results/."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click
import torch
from ape import accounts
from ape.cli import ConnectedProviderCommand, network_option
from ape.logging import logger

from ml import data as datasets
from studies import experiments as ex
from ml.models import build_model, param_count
from studies.results_page import Measurements, render


def _progress(run_label: str, total: int):
    def on_round(rec) -> None:
        extra = f" float {rec.baseline_accuracy:.4f}" if rec.baseline_accuracy is not None else ""
        click.echo(f"  [{run_label}] round {rec.round}/{total}: acc {rec.accuracy:.4f}{extra}, "
                   f"train {rec.train_seconds:.1f}s chain {rec.chain_seconds:.1f}s, {rec.blocks} blocks", err=True)
    return on_round


@click.command(cls=ConnectedProviderCommand, short_help="Reproduce the paper's figures 6-9")
@network_option()
@click.option("--quick/--full", default=True, show_default=True,
              help="--quick shortens only the block-time runs (to --quick-rounds rounds each); --full runs "
                   "rounds 10/20/30 and clients 5/10/20 at --block-time too (~25 more minutes at 12-s blocks).")
@click.option("--quick-rounds", default=3, show_default=True, help="Rounds of each block-time run with --quick.")
@click.option("--block-time", default=12, show_default=True, help="Seconds per block of the mainnet-like runs.")
@click.option("--gas-price-gwei", default=ex.Prices.gas_price_gwei, show_default=True,
              help="Gas price for the cost figure (assumed default; pass today's).")
@click.option("--eth-usd", default=ex.Prices.eth_usd, show_default=True, help="ETH price in USD (assumed default).")
@click.option("--server-usd", default=ex.Prices.server_usd, show_default=True,
              help="Fixed server budget to compare with (default: the paper's 5,000,000 KRW).")
@click.option("--accuracy-clients", default="5,10", show_default=True, help="Client counts of the accuracy study.")
@click.option("--accuracy-rounds", default="10,30", show_default=True,
              help="Checkpoints of the accuracy study (one run of the longest per configuration).")
@click.option("--time-rounds", default="10,20,30", show_default=True, help="Rounds of the time-vs-rounds study.")
@click.option("--time-clients", default="5,10,20", show_default=True, help="Clients of the time-vs-clients study.")
@click.option("--cost-models", default="logreg,mlp,cnn", show_default=True, help="Models of the gas-vs-model figure.")
@click.option("--seed", default=0, show_default=True, help="Seed of model init, partitions and batch order.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("docs"),
              show_default=True, help="Where RESULTS.md, img/ and results/ go.")
def cli(ecosystem, network, provider, quick, quick_rounds, block_time, gas_price_gwei, eth_usd, server_usd,
        accuracy_clients, accuracy_rounds, time_rounds, time_clients, cost_models, seed, out_dir):
    """Runs every experiment of the paper's evaluation in one go, with progress on stderr:
    fig. 6 accuracy ({5, 10} clients x {10, 30} rounds, IID and Dirichlet(0.5), on chain vs
    plain FedAvg); figs. 7-8 time per round vs rounds and vs clients, with instant mining and
    with --block-time blocks; fig. 9 cost from measured gas at the given prices, with the
    break-even against a server and gas per round for logreg, MLP and CNN."""
    torch.set_num_threads(1)
    logger.set_level("WARNING")
    if provider.network.name != "local":
        raise click.UsageError("experiments drive every client from the node's test accounts: use a local network")
    t_start = time.perf_counter()
    ints = lambda text: tuple(int(x) for x in text.split(","))  # noqa: E731
    plan = ex.Plan(accuracy_clients=ints(accuracy_clients), accuracy_rounds=ints(accuracy_rounds),
                   time_rounds=ints(time_rounds), time_clients=ints(time_clients),
                   cost_models=tuple(cost_models.split(",")), block_time=block_time, quick=quick,
                   quick_rounds=quick_rounds, seed=seed)
    prices = ex.Prices(gas_price_gwei, eth_usd, server_usd)
    accts = list(accounts.test_accounts)
    need = max(plan.time_clients) + 1
    if len(accts) < need:
        raise click.UsageError(f"need {need} test accounts (ape-config.yaml test.number_of_accounts), have {len(accts)}")
    data = datasets.load_dataset("mnist")
    container = "paper"

    def run(clients, rounds, split, baseline=True, block=None, model="logreg", path="post"):
        label = f"{model} {clients}c {split} {f'{block}s' if block else 'instant'} {path}"
        click.echo(f"run: {label}, {rounds} rounds", err=True)
        return ex.run_federation(container, provider, accts, data, model, clients, rounds, split, seed, baseline,
                                 block, on_round=_progress(label, rounds), path=path)

    # Fig. 6 (and the instant-mining time figures from the same runs)
    longest = max(plan.accuracy_rounds)
    acc_runs = [run(k, longest, s) for k in plan.accuracy_clients for s in plan.splits]
    iid = {r.clients: r for r in acc_runs if r.split == "iid"}
    for k in plan.time_clients:
        if k not in iid:
            iid[k] = run(k, min(plan.time_rounds), "iid")
    time_instant_rounds = [ex.time_row(iid[plan.time_clients[0]], r) for r in plan.time_rounds if r <= longest]
    time_instant_clients = [ex.time_row(iid[k], min(plan.time_rounds)) for k in plan.time_clients]

    # Figs. 7-8 at mainnet-like block times
    block_runs = {k: run(k, r, "iid", baseline=False, block=block_time) for k, r in plan.block_runs()}
    first = block_runs[plan.time_clients[0]]
    time_blocks_rounds = [ex.time_row(first, r) for r in sorted({min(r, first.rounds) for r in plan.time_rounds})]
    time_blocks_clients = [ex.time_row(block_runs[k], min(min(plan.time_rounds), block_runs[k].rounds))
                           for k in plan.time_clients]
    for row in time_blocks_rounds + time_blocks_clients:
        match = [r for r in time_instant_rounds + time_instant_clients if r["clients"] == row["clients"]]
        row["baseline_s"] = match[0]["baseline_s"] if match else None

    # The relay path (signed updates carried in the columns): the same time studies, vs clients
    relay_rounds = min(plan.time_rounds)
    relay_instant = {k: run(k, relay_rounds, "iid", baseline=False, path="relay") for k in plan.time_clients}
    # (the first client count at least 10 rounds even with --quick: the one-block claim is per round)
    relay_blocks = {k: run(k, max(r, relay_rounds) if k == plan.time_clients[0] else r, "iid", baseline=False,
                           block=block_time, path="relay") for k, r in plan.block_runs()}
    relay_instant_clients = [ex.time_row(relay_instant[k], relay_rounds) for k in plan.time_clients]
    relay_blocks_clients = [ex.time_row(relay_blocks[k], min(relay_rounds, relay_blocks[k].rounds))
                            for k in plan.time_clients]
    relay_first = relay_blocks[plan.time_clients[0]]
    relay_blocks_rounds = [ex.time_row(relay_first, r)
                           for r in sorted({min(r, relay_first.rounds) for r in plan.time_rounds})]

    # Fig. 9: measured gas -> money; gas per round vs model
    five = iid[plan.time_clients[0]]
    gas_per_round = sum(r.gas_total for r in five.records) / len(five.records)
    cost = ex.cost_rows(gas_per_round, prices)
    relay_five = relay_instant[plan.time_clients[0]]
    relay_gas_per_round = sum(r.gas_total for r in relay_five.records) / len(relay_five.records)
    relay_cost = ex.cost_rows(relay_gas_per_round, prices)
    model_gas, model_params = {}, {}
    for name in plan.cost_models:
        r = run(5, 1, "iid", baseline=False, model=name)
        model_gas[name] = r.records[0].gas_total
        model_params[name] = param_count(build_model(name, data.n_features, data.n_classes))

    acc_rows = ex.accuracy_rows(acc_runs, plan.accuracy_rounds)
    res_dir, img_dir = out_dir / "results", out_dir / "img"
    ex.write_csv(res_dir / "fig6_accuracy.csv", acc_rows)
    ex.write_csv(res_dir / "fig7_8_time.csv", [
        {**r, "study": s} for s, rows in (("instant_rounds", time_instant_rounds),
                                           ("instant_clients", time_instant_clients),
                                           ("blocks_rounds", time_blocks_rounds),
                                           ("blocks_clients", time_blocks_clients),
                                           ("relay_instant_clients", relay_instant_clients),
                                           ("relay_blocks_rounds", relay_blocks_rounds),
                                           ("relay_blocks_clients", relay_blocks_clients)) for r in rows])
    ex.write_csv(res_dir / "fig9_cost.csv", [{**r, "path": "post"} for r in cost]
                 + [{**r, "path": "relay"} for r in relay_cost])
    ex.write_json(res_dir / "experiments.json", {
        "plan": plan.__dict__, "prices": prices.__dict__, "machine": ex.machine(), "gas_per_round": gas_per_round,
        "relay_gas_per_round": relay_gas_per_round, "model_gas": model_gas,
        "runs": [r.as_dict() for r in acc_runs + list(block_runs.values()) + list(relay_instant.values())
                 + list(relay_blocks.values())],
    })
    ex.plot_accuracy(acc_runs, img_dir / "fig6_accuracy.png")
    ex.plot_time(time_instant_rounds + time_blocks_rounds + relay_blocks_rounds, "rounds",
                 img_dir / "fig7_time_rounds.png", "Fig. 7 — seconds per round vs rounds run (5 clients)")
    ex.plot_time(time_instant_clients + time_blocks_clients + relay_instant_clients + relay_blocks_clients,
                 "clients", img_dir / "fig8_time_clients.png", "Fig. 8 — seconds per round vs clients (10 rounds)")
    ex.plot_cost(gas_per_round, prices, model_gas, img_dir / "fig9_cost.png", relay_gas_per_round)

    minutes = (time.perf_counter() - t_start) / 60
    command = "ape run experiments " + " ".join(sys.argv[3:]) if len(sys.argv) > 3 else "ape run experiments"
    page = render(Measurements(
        command=command.strip(), plan=plan, machine=ex.machine(), prices=prices, accuracy=acc_rows,
        time_instant_rounds=time_instant_rounds, time_instant_clients=time_instant_clients,
        time_blocks_rounds=time_blocks_rounds, time_blocks_clients=time_blocks_clients,
        gas_per_round=gas_per_round, cost=cost, model_gas=model_gas, model_params=model_params, minutes=minutes,
        relay_instant_clients=relay_instant_clients, relay_blocks_rounds=relay_blocks_rounds,
        relay_blocks_clients=relay_blocks_clients, relay_gas_per_round=relay_gas_per_round, relay_cost=relay_cost))
    (out_dir / "RESULTS.md").write_text(page)
    click.echo(page)
    click.echo(f"\nwrote {out_dir / 'RESULTS.md'}, {img_dir}/*.png, {res_dir}/*.csv|json ({minutes:.1f} min)", err=True)
