"""Where a round's gas goes: one bench round (same settings as `ape run bench`) re-executed
opcode by opcode and charged to the Solidity functions that spent it."""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np
from ape import accounts, chain
from ape.cli import ConnectedProviderCommand, network_option
from ape.logging import logger

from ml.settings import ConsensusSettings
from studies import bench, gasprofile

SOLC = Path(__file__).resolve().parents[1] / "tools" / "bin" / "solc-v0.8.37"


@click.command(cls=ConnectedProviderCommand, short_help="Gas of a round, by Solidity function")
@network_option()
@click.option("--params", default=8192, show_default=True, help="Model parameters.")
@click.option("--clients", default=10, show_default=True, help="Updates in the round (every seat taken).")
@click.option("--aggregation", type=click.Choice(["mean", "median", "trimmed_mean"]), default="mean",
              show_default=True, help="The task's aggregation rule (TRIMMED_MEAN trims 1 at each end).")
@click.option("--rule", type=click.Choice(["paper", "consensus"]), default="paper", show_default=True,
              help="The reward rule (its engine's transactions are profiled).")
@click.option("--path", "path_", type=click.Choice(["relay", "post"]), default="relay", show_default=True,
              help="relay: the keeper carries every signed update (or opening) in the columns; post: the "
                   "owners post (or reveal), then the columns.")
@click.option("--top", default=14, show_default=True, help="Functions listed by name; the rest are summed.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the table and every transaction's profile as JSON.")
def cli(ecosystem, network, provider, params, clients, aggregation, rule, path_, top, json_path):
    """Deploys a task as `ape run bench` does, plays round 1, then round 2 with instant mining
    (each transaction alone in its block) and re-executes every transaction of round 2 sent
    to the task (``debug_traceCall``): gas per parameter per client by function, with calls
    (ColumnKit, ecrecover) and the model's code deposit charged to their caller; base,
    calldata, storage refunds and the EIP-7623 floor's top-ups apart."""
    logger.set_level("WARNING")
    if network.name != "local":
        raise click.UsageError("the profile deploys a task and needs test accounts and debug tracing: use a local "
                               "network")
    accts = list(accounts.test_accounts)
    if clients + 1 > len(accts):
        raise click.BadParameter(f"at most {len(accts) - 1} clients (test accounts)", param_hint="--clients")
    consensus = ConsensusSettings(stake=10**15, max_move=2**16) if rule == "consensus" else None
    container = rule
    rng = np.random.default_rng(0)
    owner, members = accts[0], accts[1 : clients + 1]
    try:
        t, base = bench.bench_task(container, owner, members, params, aggregation, rng, consensus=consensus,
                                   relay=path_ == "relay")
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--clients/--params") from err
    start = chain.blocks.height
    bench.play_round(t, owner, members, base, params, rng, 2, relay=path_ == "relay")
    name = "BatchEngine"
    smap = gasprofile.SourceMap.compile(SOLC, f"contracts/{name}.sol", name)
    profiles = []
    web3 = provider.web3
    for height in range(start + 1, chain.blocks.height + 1):
        for tx_hash in web3.eth.get_block(height)["transactions"]:
            if web3.eth.get_transaction(tx_hash)["to"] == t.address:
                profiles.append(gasprofile.profile_transaction(provider, "0x" + bytes(tx_hash).hex(), smap))
    rows = gasprofile.round_table(profiles, params, clients, top)
    click.echo(f"{rule}: {name}, {path_}, {aggregation}, {params:,} params x {clients} clients: round 2, "
               f"{len(profiles)} transactions, {len(t.columns)} columns of {t.column_words} words")
    click.echo(f"{'gas':>12} {'g/p/client':>10}  where")
    for r in rows:
        click.echo(f"{r['gas']:>12,} {r['per_param_client']:>10.2f}  {r['what']}")
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps({
            "rule": rule, "path": path_, "aggregation": aggregation, "params": params, "clients": clients,
            "columns": len(t.columns), "column_words": t.column_words, "rows": rows,
            "transactions": [{"gas_used": p.gas_used, "calldata_bytes": p.calldata_bytes,
                              "calldata_gas": p.calldata_gas, "adjustment": p.adjustment,
                              "by_function": dict(p.by_function.most_common())}
                             for p in profiles]}, indent=2))
        click.echo(f"wrote {json_path}")
