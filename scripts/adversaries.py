"""Adversary study: honest clients next to free-riders, copiers, poisoners and no-shows,
under the PAPER and CONSENSUS reward rules, on IID and Dirichlet splits of MNIST; then the
adaptive poisoner (20% of 10 clients) against each aggregation rule, and what each rule
costs all-honest runs."""

from __future__ import annotations

import json
from pathlib import Path

import click
import torch
from ape import accounts, chain
from ape.cli import ConnectedProviderCommand, network_option
from ape.logging import logger

from ml import data as datasets
from studies.adversaries import BEHAVIOURS, across_seeds, plot_round_ratios, run_population, summarize
from ml.training import TrainConfig

MIXED = ["honest"] * 5 + ["free_rider", "noisy_free_rider", "copier", "poisoner", "adaptive_poisoner", "no_show"]
AGGREGATIONS = (("mean", 0), ("median", 0), ("trimmed_mean", 2))


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
@click.option("--rounds", default=4, show_default=True, help="Rounds per run of the mixed population.")
@click.option("--accuracy-rounds", default=5, show_default=True,
              help="Rounds per run of the aggregation comparison (all honest vs 20% adaptive poisoners).")
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
def cli(ecosystem, network, provider, rounds, accuracy_rounds, splits, alpha, seeds, json_path, plot_path):
    torch.set_num_threads(1)
    logger.set_level("ERROR")
    data = datasets.load_dataset("mnist")
    accts = list(accounts.test_accounts)
    owner, clients = accts[0], accts[1 : 1 + len(MIXED)]
    containers = {"paper": "paper", "consensus": "consensus"}  # rule names (ml.rules)
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
                run = run_population(containers, owner, clients, MIXED, data, parts, rule, rounds, train,
                                     seed, advance, split=split)
                runs.append({"seed": seed, **run.as_dict()})
                for rec in summarize(run, seed):
                    records.append(rec)
                    flag = {None: "-", True: "yes", False: "NO"}[rec["strictly_less_than_every_honest_every_round"]]
                    worst = _fmt_ratio(rec["worst_round_ratio"])
                    click.echo(f"{rule:<10} {split:<9} {rec['behaviour']:<17} {rec['reward_wei_per_round']:>12.3e}"
                               f" {rec['share_of_honest']:>8.2f} {rec['stake_lost_wei']:>11.2e} {flag:>8} {worst:>6}")
                click.echo(f"{rule:<10} {split:<9} accuracy per round: {[round(a, 4) for a in run.accuracy]}")

        # The aggregation axis: CONSENSUS, 10 clients, all honest vs 2 adaptive poisoners
        # (IID), and all honest on each split (what robustness costs honest runs).
        acc = {}
        for split in splits.split(","):
            parts = datasets.partition(data.y_train, 10, split, seed, alpha)
            pops = [("all_honest", ["honest"] * 10)]
            if split == "iid":
                pops.append(("adaptive_20pct", ["honest"] * 8 + ["adaptive_poisoner"] * 2))
            for agg, trim in AGGREGATIONS:
                for name, pop in pops:
                    run = run_population(containers, owner, clients, pop, data, parts, "consensus", accuracy_rounds,
                                         train, seed, advance, split=split, aggregation=agg, trim=trim)
                    acc[f"{agg}/{split}/{name}"] = run.accuracy
                    runs.append({"seed": seed, **run.as_dict()})
                if split == "iid":
                    gap = 100 * (acc["mean/iid/all_honest"][-1] - acc[f"{agg}/iid/adaptive_20pct"][-1])
                    click.echo(f"consensus {agg:<12} iid: 20% adaptive poisoners {acc[f'{agg}/iid/adaptive_20pct'][-1]:.4f}"
                               f" vs all-honest mean {acc['mean/iid/all_honest'][-1]:.4f} (gap {gap:+.2f} pp)")
                cost = 100 * (acc[f"mean/{split}/all_honest"][-1] - acc[f"{agg}/{split}/all_honest"][-1])
                click.echo(f"consensus {agg:<12} {split}: all-honest {acc[f'{agg}/{split}/all_honest'][-1]:.4f} "
                           f"(cost vs mean {cost:+.2f} pp)")
        accuracy[seed] = acc

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
    click.echo("\naggregation rule vs 20% adaptive poisoners (consensus, iid, accuracy after the last round; "
               "gap to the all-honest mean run of the same seed) and cost on all-honest runs, per seed:")
    for agg, _ in AGGREGATIONS:
        gaps = [100 * (a["mean/iid/all_honest"][-1] - a[f"{agg}/iid/adaptive_20pct"][-1]) for a in accuracy.values()
                if f"{agg}/iid/adaptive_20pct" in a]
        costs = {s: [100 * (a[f"mean/{s}/all_honest"][-1] - a[f"{agg}/{s}/all_honest"][-1]) for a in accuracy.values()]
                 for s in splits.split(",")}
        click.echo(f"  {agg:<12} poisoned gap {', '.join(f'{g:+.2f}' for g in gaps)} pp; honest cost "
                   + "; ".join(f"{s} {', '.join(f'{x:+.2f}' for x in v)} pp" for s, v in costs.items()))
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps({"seeds": seeds, "records": records, "across_seeds": folded,
                                         "accuracy": {str(k): v for k, v in accuracy.items()}, "runs": runs,
                                         "behaviours": list(BEHAVIOURS)}, indent=2))
        click.echo(f"wrote {json_path}")
    if plot_path:
        plot_round_ratios(runs, plot_path)
        click.echo(f"wrote {plot_path}")
