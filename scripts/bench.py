"""Gas per parameter per client and blocks per round of the batch engine, by reward rule,
aggregation rule, model size and clients, against the floor, the streaming engine it
replaced and a naive contract; the blob plane's rounds and disputes; and a cost table of
the post, relay and blob paths on L1 and on an OP-Stack L2. Prints tables; --json writes
every record."""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np
from ape import accounts, chain, project
from ape.cli import ConnectedProviderCommand, network_option
from ape.logging import logger

from ml.rules import adapter_for
from ml.settings import ConsensusSettings, column_fit, default_column_words, default_max_relayed
from studies import bench, blob_bench, costs

AGGREGATIONS = ("mean", "median", "trimmed_mean")


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def _specs(text: str) -> list[tuple[int, int]]:
    try:
        return [(int(p), int(c)) for p, c in (s.split("x") for s in text.split(",") if s.strip())]
    except ValueError as err:
        raise click.BadParameter(f"{text!r}: expected PARAMSxCLIENTS,... e.g. 8192x10", param_hint="--batch") from err


@click.command(cls=ConnectedProviderCommand, short_help="Gas and latency benchmark")
@network_option()
@click.option("--batch", "batch_specs", default="8192x5,8192x10,8192x20,8192x40,262144x20", show_default=True,
              help="Rounds to measure, PARAMSxCLIENTS, each under MEAN, MEDIAN and TRIMMED_MEAN(1) (PAPER rule). "
                   "Post rounds deploy tasks with no relayable seat (the widest columns: up to 68 seats), relay "
                   "rounds with every seat relayable (up to 48 seats; wider rounds skip the relay).")
@click.option("--consensus-up-to", default=20, show_default=True,
              help="Also a CONSENSUS round (commit, draw, reveal, columns; MEAN) at each size with at most this "
                   "many clients (0: none).")
@click.option("--relay/--no-relay", default=True, show_default=True,
              help="Also each PAPER round on the relay path: clients sign, the keeper carries every update in the "
                   "column transactions (nothing posted); and each CONSENSUS round whose model fits one column "
                   "(clients commit, then hand their openings to the keeper, which draws and relays in one block).")
@click.option("--block-time", default=2, show_default=True,
              help="Seconds per block of the measured round (anvil interval mining).")
@click.option("--naive-sizes", default="1024,8192", show_default=True,
              help="Sizes for the naive one-slot-per-parameter contract (~23k gas per parameter). Empty to skip.")
@click.option("--naive-participants", default=5, show_default=True, help="Submitters per naive round.")
@click.option("--blob", "blob_specs", default="1048576x10,8192x10", show_default=True,
              help="Blob-plane rounds to measure, PARAMSxCLIENTS (MEAN; a wrong lane and a wrong score chunk are "
                   "disputed from a snapshot). Empty to skip.")
@click.option("--base-fee-gwei", default=1.0, show_default=True, type=click.FloatRange(min=0),
              help="L1 execution base fee of the cost table; the blob base fee is its EIP-7918 reserve (1/16).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write all measurements as JSON: one record per (rule, aggregation, params, clients).")
def cli(ecosystem, network, provider, batch_specs, consensus_up_to, relay, block_time, naive_sizes,
        naive_participants, blob_specs, base_fee_gwei, json_path):
    """Deploys fresh tasks on the connected (local) chain and measures round 2 of each: gas
    per parameter per client all-in (posts or commits + draw + reveals, and every column),
    the largest transaction's gas and bytes, and blocks per round with every client's
    transactions of a phase sent at once under interval mining."""
    logger.set_level("WARNING")
    if network.name != "local":
        raise click.UsageError("the benchmark deploys dozens of tasks and needs test accounts: use a local network")
    accts = list(accounts.test_accounts)
    rng = np.random.default_rng(0)
    specs = _specs(batch_specs)
    blob_runs = _specs(blob_specs)
    out: dict = {"floor_per_param": bench.FLOOR_GAS_PER_PARAM, "block_gas_limit": int(chain.blocks.head.gas_limit),
                 "streaming_recorded": {f"{n}x{k}": v for (n, k), v in bench.STREAMING_RECORDED.items()},
                 "batch": [], "naive": []}
    for n, k in specs:  # refuse what no task can seat before spending minutes on the rest
        try:
            default_column_words(n, k, "mean", relayed=0, replay_rounds=bench.REPLAY_ROUNDS)
        except ValueError as err:
            raise click.BadParameter(str(err), param_hint="--batch") from err
    if specs:
        clients_all = bench.latency_clients(accounts, accts[0], max(k for _, k in specs))
        for n, k in specs:
            for agg in AGGREGATIONS:
                for path in ("post", "relay") if relay else ("post",):
                    if path == "relay" and column_fit(k, agg, relayed=k, replay_rounds=bench.REPLAY_ROUNDS) < 1:
                        click.echo(f"paper, {agg}, relay, {n:,} params x {k} clients: skipped, {k} relayable seats "
                                   "leave no word for a column under the gas budget", err=True)
                        continue
                    click.echo(f"paper, {agg}, {path}, {n:,} params x {k} clients ...", err=True)
                    out["batch"].append(bench.measure_batch(
                        "paper", provider, accts[0], clients_all[:k], n, agg, rng, block_time=block_time,
                        relay=path == "relay").as_dict())
            if k <= consensus_up_to:
                # A relay whose column gas would leave too narrow a column is not offered.
                relayable = default_max_relayed(n, k, "mean", adapter_for("consensus").cost,
                                                replay_rounds=bench.REPLAY_ROUNDS) == k
                for path in ("post", "relay") if relay and relayable else ("post",):
                    click.echo(f"consensus, mean, {path}, {n:,} params x {k} clients ...", err=True)
                    out["batch"].append(bench.measure_batch(
                        "consensus", provider, accts[0], clients_all[:k], n, "mean", rng,
                        block_time=block_time, consensus=ConsensusSettings(stake=10**15, max_move=2**16),
                        relay=path == "relay").as_dict())
        click.echo(f"\nSteady state (round 2), {block_time}-s blocks, block gas limit {out['block_gas_limit']:,}: "
                   "all-in = posts (CONSENSUS: commits, draw, reveals) + every column / (params x clients); "
                   f"floor {bench.FLOOR_GAS_PER_PARAM} (each update's bytes twice at the EIP-7623 floor)")
        click.echo(bench.table(out["batch"], [
            ("rule", "", lambda r: r["rule"]), ("path", "", lambda r: r["path"]),
            ("aggregation", "", lambda r: r["aggregation"]),
            ("params", ",", lambda r: r["params"]), ("clients", "", lambda r: r["clients"]),
            ("columns", "", lambda r: r["columns"]), ("post g/p", ".1f", lambda r: r["post_gas_per_param"]),
            ("all-in g/p/client", ".1f", lambda r: r["gas_per_param_per_client"]),
            ("streaming", ".1f", lambda r: r["streaming_gas_per_param_per_client"]),
            ("max tx gas", ",", lambda r: r["max_tx_gas"]), ("max tx bytes", ",", lambda r: r["max_tx_bytes"]),
            ("blocks/round", "", lambda r: r["blocks_per_round"]),
            ("phase blocks", "", lambda r: " ".join(f"{p}:{b}" for p, b in r["phase_blocks"].items())),
        ]))
    for n in _ints(naive_sizes):
        click.echo(f"naive contract, {n:,} params ...", err=True)
        first, later, fin = bench.measure_naive(project.NaiveFedAvg, accts, n, naive_participants, rng, 12_000_000)
        out["naive"].append({"params": n, "submit_first_per_param": round(first.per_param(n), 1),
                             "submit_later_per_param": round(later.per_param(n), 1),
                             "finalize_per_param": round(fin.per_param(n), 1)})
    if out["naive"]:
        click.echo("\nNaive contract (one int256 slot per parameter), gas per parameter of one submission "
                   "(the round's first pays fresh slots) and of the finalize")
        click.echo(bench.table(out["naive"], [
            ("params", ",", lambda r: r["params"]), ("1st submit", ".0f", lambda r: r["submit_first_per_param"]),
            ("later submit", ".0f", lambda r: r["submit_later_per_param"]),
            ("finalize", ".0f", lambda r: r["finalize_per_param"]),
        ]))
    if blob_runs:
        out["blob"] = [blob_bench.measure_blob_round(accts[0], accts[1 : k + 1], accts[k + 1], accts[k + 2], n,
                                                     progress=lambda m: click.echo(m, err=True),
                                                     chain=chain).as_dict() for n, k in blob_runs]
        click.echo("\nBlob plane (PAPER, MEAN), steady state: 131,072 blob gas per blob; blocks measured under 1-s interval mining "
                   "with every phase's transactions sent at once, bound by the node's blobs per block")
        click.echo(bench.table(out["blob"], [
            ("params", ",", lambda r: r["params"]), ("clients", "", lambda r: r["clients"]),
            ("blobs/round", "", lambda r: r["blobs_per_round"]),
            ("exec gas/round", ",", lambda r: r["execution_gas_per_round"]),
            ("g/p/client", ".3f", lambda r: r["gas_per_param_per_client"]),
            ("blob gas/round", ",", lambda r: r["blob_gas_per_round"]),
            ("blocks/round", "", lambda r: r["blocks_per_round"]),
            ("element dispute", ",", lambda r: r["element_dispute_gas"]),
            ("score dispute", ",", lambda r: r["score_dispute_gas"]),
            ("binding limit", "", lambda r: r["binding_limit"]),
        ]))
        fees = costs.Fees(l1_base_fee=int(base_fee_gwei * 10**9))
        out["fees"] = fees.as_dict()
        out["costs"] = cost_table(out, fees)
        for b in out["blob"]:  # each blob record carries its own cost at the stated fees
            b["l1_cost_eth"] = costs.eth(costs.l1_cost_wei(b["execution_gas_per_round"], b["blob_gas_per_round"],
                                                           fees))
            b["fees"] = out["fees"]
        click.echo(f"\nCost per round at an L1 base fee of {base_fee_gwei:g} gwei (blob gas at its reserve, "
                   f"{fees.blob_fee:,} wei), an OP-Stack L2 at {fees.l2_base_fee / 1e9:g} gwei with the default "
                   f"scalars; 'measured' or 'extrapolated' from 8,192 x clients")
        click.echo(bench.table(out["costs"], [
            ("path", "", lambda r: r["path"]), ("params", ",", lambda r: r["params"]),
            ("clients", "", lambda r: r["clients"]), ("exec gas", ",", lambda r: r["execution_gas_per_round"]),
            ("blob gas", ",", lambda r: r["blob_gas_per_round"]),
            ("blocks", "", lambda r: r["blocks_per_round"] or r["blocks_by_gas"]),
            ("L1 ETH", ".5f", lambda r: r["l1_cost_eth"]), ("L2 ETH", ".5f", lambda r: r["l2_cost_eth"]),
            ("source", "", lambda r: r["source"]),
        ]))
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(out, indent=2))
        click.echo(f"wrote {json_path}")
        if out.get("costs"):
            md = json_path.with_suffix(".md")
            md.write_text(costs.cost_markdown(out["costs"], costs.Fees(**{k: out["fees"][k] for k in (
                "l1_base_fee", "l1_blob_base_fee", "l2_base_fee", "block_gas_limit")})))
            click.echo(f"wrote {md}")


def cost_table(out: dict, fees: costs.Fees) -> list[dict]:
    """Post, relay and blob paths at each blob run's size: the blob path as measured; the
    column paths from this run's PAPER MEAN rounds of the same clients at 8,192 parameters
    (else the committed docs/results/bench-split.json), scaled linearly to larger models."""
    batch = {(r["path"], r["clients"]): r for r in out["batch"]
             if r["rule"] == "paper" and r["aggregation"] == "mean" and r["params"] == 8192}
    source = "this run"
    recorded = Path(__file__).parents[1] / "docs" / "results" / "bench-split.json"
    if not batch and recorded.exists():
        batch = {(r["path"], r["clients"]): r for r in json.loads(recorded.read_text())["batch"]
                 if r["rule"] == "paper" and r["aggregation"] == "mean" and r["params"] == 8192}
        source = "bench-split.json"
    rng = np.random.default_rng(0)
    ratio = costs.representative_ratio(rng.integers(-40, 41, 60_000).astype("<i2").tobytes())
    rows = []
    for b in out["blob"]:
        n, k = b["params"], b["clients"]
        for path in ("post", "relay"):
            r = batch.get((path, k))
            if r is None:
                continue
            measured = n == r["params"]
            gas = int(round(r["gas_per_param_per_client"] * n * k))
            rows.append(costs.path_costs(path, n, k, gas, 0, r["blocks_per_round"] if measured else None, fees,
                                         ratio, f"measured ({source})" if measured else f"extrapolated ({source})"))
        rows.append(costs.path_costs("blob", n, k, b["execution_gas_per_round"], b["blob_gas_per_round"],
                                     b["blocks_per_round"], fees, ratio, "measured (this run)"))
    return rows
