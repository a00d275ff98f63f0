"""Measures gas per parameter of submit and finalize on a fresh local task, first round
(fresh storage) and steady state (second round), for several model sizes."""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np
from ape import accounts, project
from ape.cli import ConnectedProviderCommand, network_option
from ape.logging import logger

from ml.chain import FedTask, TaskSettings


@click.command(cls=ConnectedProviderCommand, short_help="Gas per parameter of submit and finalize")
@network_option()
@click.option("--sizes", default="256,1024,4096,8192", show_default=True,
              help="Comma-separated parameter counts to measure.")
@click.option("--participants", default=2, show_default=True, help="Submissions per round.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the measurements as JSON.")
def cli(ecosystem, network, provider, sizes, participants, json_path):
    logger.set_level("WARNING")
    acct = list(accounts.test_accounts)
    rng = np.random.default_rng(0)
    rows = []
    click.echo(f"{'params':>7} {'submit r1':>10} {'submit':>10} {'/param':>7} {'finalize':>10} {'/param':>7}")
    for n in (int(s) for s in sizes.split(",")):
        s = TaskSettings(param_count=n, max_participants=participants, min_participants=1,
                         tier_thresholds=(10**9,), tier_rewards=(1,))
        t = FedTask.deploy(project.FederatedTask, acct[0], s, funding=10**18)
        t.set_initial_model(acct[0], rng.normal(0, 0.5, n))  # pre-warms every slot
        t.start_round(acct[0])
        first = [t.submit(acct[k + 1], 1, rng.normal(0, 0.5, n)).gas_used for k in range(participants)]
        t.finalize(acct[0])
        steady = [t.submit(acct[k + 1], 2, rng.normal(0, 0.5, n)).gas_used for k in range(participants)]
        fin = t.finalize(acct[0]).gas_used
        row = dict(params=n, submit_first_round=max(first), submit=max(steady), finalize=fin,
                   submit_per_param=max(steady) / n, finalize_per_param=fin / n)
        rows.append(row)
        click.echo(f"{n:>7} {row['submit_first_round']:>10,} {row['submit']:>10,} {row['submit_per_param']:>7.0f}"
                   f" {fin:>10,} {row['finalize_per_param']:>7.0f}")
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(rows, indent=2))
        click.echo(f"wrote {json_path}")
