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
from studies.adversaries import BEHAVIOURS, across_seeds, plot_round_ratios, run_population, summarize
from ml.training import TrainConfig

MIXED = ["honest"] * 5 + ["free_rider", "noisy_free_rider", "copier", "poisoner", "no_show"]


def _seeds(_ctx, _param, value: str) -> list[int]:
    try:
        seeds = [int(v) for v in value.split(",") if v.strip()]
    except ValueError as exc:
        raise click.BadParameter(f"expected comma-separated integers, got {value!r}") from exc
    if not seeds:
        raise click.BadParameter("at least one seed")
    return seeds


def _fmt_ratio(ratio: float | None) -> str:
    """A worst-round ratio for the table; "inf" when an honest client earned nothing while
    the cheater earned something (the JSON carries 1e9 there)."""
    if ratio is None:
        return ""
    return "inf" if ratio >= 1e9 else f"{ratio:.2f}"


@click.command(cls=ConnectedProviderCommand, short_help="Rewards of cheaters under PAPER vs CONSENSUS")
@network_option()
@click.option("--rounds", default=4, show_default=True, help="Rounds per run.")
@click.option("--splits", default="iid,dirichlet", show_default=True, help="Comma-separated: iid, dirichlet.")
@click.option("--alpha", default=0.5, show_default=True, help="Dirichlet concentration.")
@click.option("--seeds", default="0", show_default=True, callback=_seeds,
              help="Comma-separated seeds; each seed reshards the data, re-initialises the model and "
                   "redraws the noise. With several, a table across seeds follows.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write one record per behaviour x rule x split x seed, the across-seeds rows and the "
                   "accuracy runs.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write a PNG: every CONSENSUS client's reward per round over the lowest honest reward.")
def cli(ecosystem, network, provider, rounds, splits, alpha, seeds, json_path, plot_path):
    torch.set_num_threads(1)
    logger.set_level("ERROR")
    data = datasets.load_dataset("mnist")
    accts = list(accounts.test_accounts)
    owner, clients = accts[0], accts[1:11]
    train = TrainConfig()

    def advance(seconds: int) -> None:
        chain.pending_timestamp += seconds

    records, runs, accuracy = [], [], {}
    for seed in seeds:
        click.echo(f"seed {seed}")
        click.echo(f"{'rule':<10} {'split':<9} {'behaviour':<17} {'wei/round':>12} {'x honest':>8} "
                   f"{'stake lost':>11} {'< honest':>8} {'worst':>6}")
        for split in splits.split(","):
            parts = datasets.partition(data.y_train, len(MIXED), split, seed, alpha)
            for rule in ("paper", "consensus"):
                run = run_population(project.FederatedTask, owner, clients, MIXED, data, parts, rule, rounds, train,
                                     seed, advance, split=split)
                runs.append({"seed": seed, **run.as_dict()})
                for rec in summarize(run, seed):
                    records.append(rec)
                    flag = {None: "-", True: "yes", False: "NO"}[rec["strictly_less_than_every_honest_every_round"]]
                    worst = _fmt_ratio(rec["worst_round_ratio"])
                    click.echo(f"{rule:<10} {split:<9} {rec['behaviour']:<17} {rec['reward_wei_per_round']:>12.3e}"
                               f" {rec['share_of_honest']:>8.2f} {rec['stake_lost_wei']:>11.2e} {flag:>8} {worst:>6}")
                click.echo(f"{rule:<10} {split:<9} accuracy per round: {[round(a, 4) for a in run.accuracy]}")

        parts = datasets.partition(data.y_train, 10, "iid", seed, alpha)
        acc = {}
        for name, pop in (("all_honest", ["honest"] * 10), ("poisoners_20pct", ["honest"] * 8 + ["poisoner"] * 2)):
            run = run_population(project.FederatedTask, owner, clients, pop, data, parts, "consensus", rounds, train,
                                 seed, advance, split="iid")
            acc[name] = run.accuracy
            runs.append({"seed": seed, **run.as_dict()})
        accuracy[seed] = acc
        gap = 100 * (acc["all_honest"][-1] - acc["poisoners_20pct"][-1])
        click.echo(f"consensus iid: all-honest {acc['all_honest'][-1]:.4f}, 20% poisoners "
                   f"{acc['poisoners_20pct'][-1]:.4f} (gap {gap:+.2f} pp)")

    folded = across_seeds(records)
    if len(seeds) > 1:
        click.echo(f"across seeds {seeds}: seeds where the behaviour earned strictly less than every honest "
                   "client in every round; worst = max over rounds and seeds of its best reward / the lowest "
                   "honest reward")
        click.echo(f"{'rule':<10} {'split':<9} {'behaviour':<17} {'seeds <':>8} {'x honest':>8} {'worst':>6}")
        for row in folded:
            click.echo(f"{row['rule']:<10} {row['split']:<9} {row['behaviour']:<17} "
                       f"{len(row['seeds_strictly_less'])}/{len(row['seeds']):<6} {row['share_of_honest']:>8.2f} "
                       f"{_fmt_ratio(row['worst_round_ratio']):>6}")
        gaps = [100 * (a["all_honest"][-1] - a["poisoners_20pct"][-1]) for a in accuracy.values()]
        click.echo(f"20% poisoners vs all-honest (consensus, iid): gap {min(gaps):+.2f} .. {max(gaps):+.2f} pp")
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps({"seeds": seeds, "records": records, "across_seeds": folded,
                                         "accuracy": {str(k): v for k, v in accuracy.items()}, "runs": runs,
                                         "behaviours": list(BEHAVIOURS)}, indent=2))
        click.echo(f"wrote {json_path}")
    if plot_path:
        plot_round_ratios(runs, plot_path)
        click.echo(f"wrote {plot_path}")
