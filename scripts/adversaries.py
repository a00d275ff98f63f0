"""Adversary study: honest clients next to free-riders, copiers, poisoners and no-shows,
under the PAPER and CONSENSUS reward rules, on IID and Dirichlet splits of MNIST."""

from __future__ import annotations

import json
from pathlib import Path

import click
import torch
from ape import accounts, chain, project
from ape.cli import ConnectedProviderCommand, network_option
from ape.logging import logger

from ml import data as datasets
from ml.adversaries import BEHAVIOURS, run_population, summarize
from ml.training import TrainConfig

MIXED = ["honest"] * 5 + ["free_rider", "noisy_free_rider", "copier", "poisoner", "no_show"]


@click.command(cls=ConnectedProviderCommand, short_help="Rewards of cheaters under PAPER vs CONSENSUS")
@network_option()
@click.option("--rounds", default=4, show_default=True, help="Rounds per run.")
@click.option("--splits", default="iid,dirichlet", show_default=True, help="Comma-separated: iid, dirichlet.")
@click.option("--alpha", default=0.5, show_default=True, help="Dirichlet concentration.")
@click.option("--seed", default=0, show_default=True)
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write one record per behaviour x rule x split, plus the accuracy runs.")
def cli(ecosystem, network, provider, rounds, splits, alpha, seed, json_path):
    torch.set_num_threads(1)
    logger.set_level("ERROR")
    data = datasets.load_dataset("mnist")
    accts = list(accounts.test_accounts)
    owner, clients = accts[0], accts[1:11]
    train = TrainConfig()

    def advance(seconds: int) -> None:
        chain.pending_timestamp += seconds

    records, runs = [], []
    click.echo(f"{'rule':<10} {'split':<9} {'behaviour':<17} {'wei/round':>12} {'x honest':>8} {'stake lost':>11} {'< honest':>8}")
    for split in splits.split(","):
        parts = datasets.partition(data.y_train, len(MIXED), split, seed, alpha)
        for rule in ("paper", "consensus"):
            run = run_population(project.FederatedTask, owner, clients, MIXED, data, parts, rule, rounds, train,
                                 seed, advance, split=split)
            runs.append(run.as_dict())
            for rec in summarize(run):
                records.append(rec)
                flag = {None: "-", True: "yes", False: "NO"}[rec["strictly_less_than_every_honest_every_round"]]
                click.echo(f"{rule:<10} {split:<9} {rec['behaviour']:<17} {rec['reward_wei_per_round']:>12.3e}"
                           f" {rec['share_of_honest']:>8.2f} {rec['stake_lost_wei']:>11.2e} {flag:>8}")
            click.echo(f"{rule:<10} {split:<9} accuracy per round: {[round(a, 4) for a in run.accuracy]}")

    parts = datasets.partition(data.y_train, 10, "iid", seed, alpha)
    acc = {}
    for name, pop in (("all_honest", ["honest"] * 10), ("poisoners_20pct", ["honest"] * 8 + ["poisoner"] * 2)):
        run = run_population(project.FederatedTask, owner, clients, pop, data, parts, "consensus", rounds, train,
                             seed, advance, split="iid")
        acc[name] = run.accuracy
        runs.append(run.as_dict())
    gap = 100 * (acc["all_honest"][-1] - acc["poisoners_20pct"][-1])
    click.echo(f"consensus iid: all-honest {acc['all_honest'][-1]:.4f}, 20% poisoners "
               f"{acc['poisoners_20pct'][-1]:.4f} (gap {gap:+.2f} pp)")
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps({"records": records, "accuracy": acc, "runs": runs,
                                         "behaviours": list(BEHAVIOURS)}, indent=2))
        click.echo(f"wrote {json_path}")
