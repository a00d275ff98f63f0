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

from ml.chain import UNBOUNDED, FedTask, TaskSettings


@click.command(cls=ConnectedProviderCommand, short_help="Gas per parameter of submit and finalize")
@network_option()
@click.option("--sizes", default="256,1024,4096,8192", show_default=True,
              help="Comma-separated parameter counts to measure.")
@click.option("--participants", default=2, show_default=True, help="Submissions per round.")
@click.option("--rule", type=click.Choice(["paper", "consensus", "naive"]), default="paper", show_default=True,
              help="paper: submit + finalize; consensus: commit + reveal + finalize + claim; "
                   "naive: the one-slot-per-parameter baseline contract (contracts/test/NaiveFedAvg.sol).")
@click.option("--move-checks/--no-move-checks", default=True, show_default=True,
              help="consensus: bound each reveal's move (reads the global model) or not.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the measurements as JSON.")
def cli(ecosystem, network, provider, sizes, participants, rule, move_checks, json_path):
    logger.set_level("WARNING")
    acct = list(accounts.test_accounts)
    rng = np.random.default_rng(0)
    rows = []
    if rule == "naive":
        return _naive(acct, rng, [int(x) for x in sizes.split(",")], participants, json_path)
    if rule == "consensus":
        return _consensus(acct, rng, [int(x) for x in sizes.split(",")], participants, move_checks, json_path)
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
    _write_json(rows, json_path)


def _consensus(acct, rng, sizes, participants, move_checks, json_path):
    click.echo(f"{'params':>7} {'commit':>8} {'reveal':>10} {'/param':>7} {'finalize':>10} {'/param':>7}"
               f" {'claim':>10} {'/param':>7}")
    rows = []
    for n in sizes:
        s = TaskSettings(param_count=n, max_participants=participants, min_participants=1,
                         tier_thresholds=(10**9,), tier_rewards=(1,), reward_rule="consensus",
                         stake=10**15, min_move=1 if move_checks else 0,
                         max_move=10**9 if move_checks else UNBOUNDED, max_move_ratio=0)
        t = FedTask.deploy(project.FederatedTask, acct[0], s, funding=10**18)
        base = rng.normal(0, 0.5, n)
        t.set_initial_model(acct[0], base)
        t.start_round(acct[0])
        for r in (1, 2):  # round 2 is the steady state
            cs = [t.prepare(r, base + rng.normal(0, 0.05, n)) for _ in range(participants)]
            commit = [t.commit(acct[k + 1], c) for k, c in enumerate(cs)]
            reveal = [t.reveal(acct[k + 1], c).gas_used for k, c in enumerate(cs)]
            fin = t.finalize(acct[0]).gas_used
            claim = [t.claim(acct[k + 1], c).gas_used for k, c in enumerate(cs)]
        row = dict(params=n, commit=max(commit), reveal=max(reveal), finalize=fin, claim=max(claim),
                   reveal_per_param=max(reveal) / n, finalize_per_param=fin / n, claim_per_param=max(claim) / n)
        rows.append(row)
        click.echo(f"{n:>7} {row['commit']:>8,} {row['reveal']:>10,} {row['reveal_per_param']:>7.0f}"
                   f" {fin:>10,} {row['finalize_per_param']:>7.0f} {row['claim']:>10,} {row['claim_per_param']:>7.0f}")
    _write_json(rows, json_path)


def _naive(acct, rng, sizes, participants, json_path):
    click.echo(f"{'params':>7} {'submit 1st':>11} {'/param':>7} {'submit 2nd':>11} {'/param':>7}"
               f" {'finalize':>11} {'/param':>7}")
    rows = []
    for n in sizes:
        c = project.NaiveFedAvg.deploy(n, sender=acct[0])
        for _ in (1, 2):  # round 2: the naive contract cleared its sums, so it pays fresh writes again
            subs = [c.submit([int(v) for v in rng.integers(-2**15, 2**15, n)], sender=acct[k + 1]).gas_used
                    for k in range(participants)]
            fin = c.finalize(sender=acct[0]).gas_used
        row = dict(params=n, submit_first=max(subs), submit_later=min(subs), finalize=fin,
                   submit_first_per_param=max(subs) / n, submit_later_per_param=min(subs) / n,
                   finalize_per_param=fin / n)
        rows.append(row)
        click.echo(f"{n:>7} {max(subs):>11,} {max(subs) / n:>7.0f} {min(subs):>11,} {min(subs) / n:>7.0f}"
                   f" {fin:>11,} {fin / n:>7.0f}")
    _write_json(rows, json_path)


def _write_json(rows: list[dict], json_path: Path | None) -> None:
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(rows, indent=2))
        click.echo(f"wrote {json_path}")
