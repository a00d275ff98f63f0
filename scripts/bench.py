"""Gas per parameter by phase and model size (ours, the floor, a naive contract) and
round latency in blocks as clients grow. Prints tables; --json writes everything."""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np
from ape import accounts, chain, project
from ape.cli import ConnectedProviderCommand, network_option
from ape.logging import logger

from studies import bench
from ml.settings import DEFAULT_TX_GAS_BUDGET, ConsensusSettings


def _batch(provider, accts, specs, streaming, consensus, rng) -> list[dict]:
    """Every (params, clients) spec under each aggregation rule, plus the streaming engine."""
    most = max(c for _, c in specs)
    clients_all = bench.latency_clients(accounts, accts[0], most)
    advance = lambda seconds: setattr(chain, "pending_timestamp", chain.pending_timestamp + seconds)  # noqa: E731
    rows = []
    for n, k in specs:
        stream = None
        if streaming and k <= 50 and n <= 262144:
            click.echo(f"streaming engine: {n:,} params x {k} clients ...", err=True)
            stream = bench.measure_streaming(project.FederatedTask, accts[0], clients_all[:k], n, rng)
        for agg in ("mean", "median", "trimmed_mean"):
            click.echo(f"batch engine: {agg}, {n:,} params x {k} clients ...", err=True)
            r = bench.measure_batch(project.PaperTask, accts[0], clients_all[:k], n, agg, rng, advance=advance)
            r.streaming_gas_per_param_per_client = stream
            rows.append(r.as_dict())
        if consensus and k <= 20:
            click.echo(f"batch engine: consensus, mean, {n:,} params x {k} clients ...", err=True)
            r = bench.measure_batch(project.ConsensusTask, accts[0], clients_all[:k], n, "mean", rng,
                                    advance=advance, consensus=ConsensusSettings(stake=10**15, max_move=2**16))
            rows.append(r.as_dict())
    return rows


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


@click.command(cls=ConnectedProviderCommand, short_help="Gas and latency benchmark")
@network_option()
@click.option("--sizes", default="1024,8192,65536,262144", show_default=True,
              help="Parameter counts at which to measure every phase (PAPER and CONSENSUS).")
@click.option("--naive-sizes", default="1024,8192", show_default=True,
              help="Sizes for the naive one-slot-per-parameter contract (~23k gas per parameter: "
                   "large sizes take hundreds of transactions). Empty to skip.")
@click.option("--participants", default=5, show_default=True, help="Participants per measured round (each sends every chunk).")
@click.option("--tx-gas-budget", default=DEFAULT_TX_GAS_BUDGET, show_default=True,
              help="Gas budget per transaction (chunk and finalize-step sizing); the EIP-7825 cap is 16,777,216.")
@click.option("--clients", "client_counts", default="5,10,20,50", show_default=True,
              help="Client counts for the latency study. Empty to skip it.")
@click.option("--block-time", default=2, show_default=True,
              help="Seconds per block during the latency study (anvil interval mining, as --block-time).")
@click.option("--latency-params", default=7850, show_default=True,
              help="Model size of the latency study (default: the paper's MNIST logistic regression).")
@click.option("--batch", "batch_specs", default="8192x5,8192x10,8192x50,262144x20", show_default=True,
              help="Batch-engine rounds to measure, PARAMSxCLIENTS, each under MEAN, MEDIAN and TRIMMED_MEAN(1). "
                   "Empty to skip.")
@click.option("--streaming/--no-streaming", default=True, show_default=True,
              help="The streaming engine's streaming figure beside each batch size (PAPER, same clients).")
@click.option("--consensus/--no-consensus", default=True, show_default=True,
              help="Also a CONSENSUS round (commit, draw, reveal, columns; MEAN) at each batch size up to 20 clients.")
@click.option("--batch-latency", "batch_latency", default="5,10,20", show_default=True,
              help="Client counts for blocks per round of the batch engine (PAPER, MEAN, --latency-params, "
                   "--block-time). Empty to skip.")
@click.option("--only-batch", is_flag=True, help="Measure the batch engine only (skip sizes, naive, latency).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write all measurements as JSON.")
def cli(ecosystem, network, provider, sizes, naive_sizes, participants, tx_gas_budget, client_counts, block_time,
        latency_params, batch_specs, streaming, consensus, batch_latency, only_batch, json_path):
    """Deploys fresh tasks on the connected (local) chain and measures, in one run:
    gas per parameter of submit / commit / reveal / finalize / claim at each size, in the
    steady state (round 2); the 657 gas/param floor of a 16-bit update and our ratio to it;
    the naive contract and its ratio to us; and blocks per round as clients grow, with
    every client's transactions sent at once under interval mining."""
    logger.set_level("WARNING")
    if network.name != "local":
        raise click.UsageError("the benchmark deploys dozens of tasks and needs test accounts: use a local network")
    accts = list(accounts.test_accounts)
    if len(accts) < participants + 1:
        raise click.UsageError(f"need {participants + 1} test accounts, have {len(accts)}")
    rng = np.random.default_rng(0)
    out: dict = {"tx_gas_budget": tx_gas_budget, "floor_per_param": bench.FLOOR_GAS_PER_PARAM,
                 "block_gas_limit": int(chain.blocks.head.gas_limit), "sizes": [], "latency": []}

    specs = [tuple(int(x) for x in spec.split("x")) for spec in batch_specs.split(",") if spec.strip()]
    if specs:
        out["batch"] = _batch(provider, accts, specs, streaming, consensus, rng)
    lat_counts = _ints(batch_latency)
    if lat_counts:
        clients_all = bench.latency_clients(accounts, accts[0], max(lat_counts))
        out["batch_latency"] = []
        for k in lat_counts:
            click.echo(f"batch latency: {k} clients, {block_time}s blocks ...", err=True)
            out["batch_latency"].append(bench.measure_batch_latency(
                project.PaperTask, provider, accts[0], clients_all[:k], latency_params, block_time, rng))
        click.echo(f"\nBatch engine, blocks per round ({block_time}s blocks, {latency_params:,} parameters): every post "
                   "broadcast at once, then every column")
        click.echo(bench.table(out["batch_latency"], [
            ("clients", "", lambda r: r["clients"]), ("columns", "", lambda r: r["columns"]),
            ("blocks/round", "", lambda r: r["blocks_per_round"]), ("seconds", ".1f", lambda r: r["seconds"]),
            ("max tx gas", ",", lambda r: r["max_tx_gas"]),
        ]))
    if only_batch:
        sizes = naive_sizes = client_counts = ""
    naive = set(_ints(naive_sizes))
    rows = []
    for n in _ints(sizes):
        click.echo(f"measuring {n:,} parameters ...", err=True)
        res = bench.measure_size(project.FederatedTask, accts, n, participants, rng, tx_gas_budget)
        if n in naive:
            res.naive_submit_first, res.naive_submit_later, res.naive_finalize = bench.measure_naive(
                project.NaiveFedAvg, accts, n, participants, rng, tx_gas_budget)
        rows.append(res.row())
    out["sizes"] = rows
    pp = lambda k: (lambda r: None if r[k] is None else r[k]["per_param"])  # noqa: E731
    if rows:
        click.echo("\nGas per parameter, steady state (round 2), 16-bit values; floor = "
                   f"{bench.FLOOR_GAS_PER_PARAM:.0f} (2 calldata bytes + 1/8 of a 5,000-gas SSTORE)")
    click.echo("" if not rows else bench.table(rows, [
        ("params", ",", lambda r: r["params"]), ("chunks", "", lambda r: r["chunks"]),
        ("submit", ".0f", pp("paper_submit")), ("/floor", ".2f", lambda r: r["submit_over_floor"]),
        ("reveal", ".0f", pp("reveal")), ("/floor", ".2f", lambda r: r["reveal_over_floor"]),
        ("finalize", ".0f", pp("paper_finalize")), ("claim", ".0f", pp("claim")),
        ("commit/tx", ",", lambda r: r["commit"]["total"]),
        ("max tx gas", ",", lambda r: r["max_tx_gas"]),
    ]))
    if naive:
        click.echo("\nNaive contract (one int256 slot per parameter), gas per parameter and ratio to our submit")
        click.echo(bench.table([r for r in rows if r["naive_submit_first"]], [
            ("params", ",", lambda r: r["params"]),
            ("1st submit", ".0f", pp("naive_submit_first")), ("x ours", ".1f", lambda r: r["naive_first_over_ours"]),
            ("later submit", ".0f", pp("naive_submit_later")), ("x ours", ".1f", lambda r: r["naive_later_over_ours"]),
            ("finalize", ".0f", pp("naive_finalize")),
        ]))

    counts = _ints(client_counts)
    if counts:
        clients_all = bench.latency_clients(accounts, accts[0], max(counts))
        lat = []
        for rule in ("paper", "consensus"):
            for k in counts:
                click.echo(f"latency: {rule}, {k} clients, {block_time}s blocks ...", err=True)
                r = bench.measure_latency(project.FederatedTask, provider, accts[0], clients_all[:k], rule,
                                          latency_params, block_time, rng)
                lat.append(r.as_dict())
        out["latency"] = lat
        click.echo(f"\nRound latency in blocks ({block_time}s blocks, {latency_params:,} parameters, block gas limit "
                   f"{out['block_gas_limit']:,}); every client's transactions of a phase sent at once")
        click.echo(bench.table(lat, [
            ("rule", "", lambda r: r["rule"]), ("clients", "", lambda r: r["clients"]),
            ("tx gas", ",", lambda r: r["tx_gas"]),
            ("blocks/round", "", lambda r: r["blocks_per_round"]), ("minimum", "", lambda r: r["min_blocks"]),
            ("seconds", ".1f", lambda r: r["seconds"]),
            ("phase blocks", "", lambda r: " ".join(f"{p}:{len(set(b))}" for p, b in r["phase_blocks"].items())),
        ]))
    if specs:
        click.echo("\nBatch engine (PaperTask), steady state (round 2): every client posts its update as calldata, "
                   "a keeper aggregates column by column; all-in = every post + every column / (params x clients)")
        click.echo(bench.table(out["batch"], [
            ("rule", "", lambda r: r["rule"]), ("aggregation", "", lambda r: r["aggregation"]),
            ("params", ",", lambda r: r["params"]),
            ("clients", "", lambda r: r["clients"]), ("columns", "", lambda r: r["columns"]),
            ("post g/p", ".1f", lambda r: r["post_gas_per_param"]),
            ("all-in g/p/client", ".1f", lambda r: r["gas_per_param_per_client"]),
            ("streaming", ".1f", lambda r: r["streaming_gas_per_param_per_client"]),
            ("max tx gas", ",", lambda r: r["max_tx_gas"]), ("max tx bytes", ",", lambda r: r["max_tx_bytes"]),
        ]))
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(out, indent=2))
        click.echo(f"wrote {json_path}")
