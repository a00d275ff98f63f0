"""Flower on fedchain, end to end on this machine: anvil (12-s blocks, the paper's setting),
a Flower SuperLink and N SuperNodes (each with its own participant key), the task deployed
from configs/flower.toml under the chosen rule, and `flwr run examples/flower-quickstart`.
The Flower server relays every update to the task (signed; under CONSENSUS committed by the
SuperNode first, then opened); the task aggregates. Prints per round the on-chain model's
accuracy, float FedAvg's of the same clients and seeds, gas, blocks and rewards."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import click

from ml.node.localnet import MNEMONIC, ROOT, Anvil, ape_run


def _keys(n: int) -> list[str]:
    """Private keys of the node's mnemonic accounts 0..n-1 (anvil's test accounts)."""
    from eth_account import Account

    Account.enable_unaudited_hdwallet_features()
    return [Account.from_mnemonic(MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}").key.hex() for i in range(n)]


def _write_secret(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o600)
    return path


@click.command(short_help="Flower SuperLink + SuperNodes relaying to the task")
@click.option("--clients", default=5, show_default=True, help="SuperNodes (seats of the task).")
@click.option("--rounds", default=10, show_default=True, help="Flower rounds (= task rounds).")
@click.option("--dataset", type=click.Choice(["mnist", "digits"]), default="mnist", show_default=True)
@click.option("--block-time", default=12, show_default=True, help="Seconds per block of the local anvil.")
@click.option("--config", "config_path", default=str(ROOT / "configs" / "flower.toml"), show_default=True,
              help="Task config to deploy (mean; its rule unless --rule).")
@click.option("--rule", type=click.Choice(["paper", "consensus", "consortium"]), default=None,
              help="Reward rule (default: the config's). consensus: each SuperNode commits and stakes "
                   "from its own account; consortium: the sponsor lists the SuperNodes first.")
@click.option("--commit-duration", type=click.IntRange(min=1), default=None,
              help="CONSENSUS commit phase in seconds (each round waits it out); default 30 s + 3 blocks.")
@click.option("--folder", type=click.Path(file_okay=False, path_type=Path), default=ROOT / "run" / "flower",
              show_default=True, help="Logs, keys, Flower home, results (wiped first).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the per-round table as JSON.")
def cli(clients, rounds, dataset, block_time, config_path, rule, commit_duration, folder, json_path):
    from ml.data import load_dataset, partition
    from ml.node.deployment import load_config
    from ml.node.flower_net import FlowerNet
    from ml.chain import TaskClient, task_abis
    from ml.training import TrainConfig, fedavg_baseline, initial_weights

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    say = lambda msg: click.echo(f"{time.strftime('%H:%M:%S')} [flower-demo] {msg}", err=True)  # noqa: E731
    from dataclasses import replace

    cfg = load_config(config_path)
    cfg = replace(cfg, max_participants=clients, reward_rule=rule or cfg.reward_rule,
                  commit_duration=commit_duration or 30 + 3 * block_time)
    cfg_path = folder / "task.toml"
    cfg_path.write_text("\n".join(f"{k} = {json.dumps(list(v) if isinstance(v, tuple) else v)}"
                                  for k, v in {**cfg.__dict__, "dataset": dataset}.items()) + "\n")
    anvil = Anvil(folder, block_time=block_time)
    anvil.start()
    net = None
    try:
        say(f"anvil on {anvil.uri}, {block_time}-s blocks")
        keys = _keys(clients + 2)
        relayer = _write_secret(folder / "relayer.key", keys[clients + 1])
        task_file = folder / "task.json"  # written once deployed; each node reads it per message
        nodes = [{"partition-id": i, "num-partitions": clients,
                  "fedchain-key-file": str(_write_secret(folder / f"node{i}.key", keys[i + 1])),
                  "fedchain-task-file": str(task_file), "fedchain-rpc-url": anvil.uri}
                 for i in range(clients)]
        net = FlowerNet(folder, nodes)
        net.start()
        say(f"SuperLink on 127.0.0.1:{net.port} and {clients} SuperNodes up")
        # Deployed last: a round's clock (a CONSENSUS commit phase) starts with the task.
        record = folder / "deployment.json"
        res = ape_run(["deploy", "--config", str(cfg_path), "--account", "test:0", "--record", str(record),
                       "--network", anvil.uri])
        if res.returncode != 0:
            raise click.ClickException(f"deploy failed:\n{res.stdout}{res.stderr}")
        say(res.stdout.strip().splitlines()[-1])
        address = json.loads(record.read_text())["address"]
        task_file.write_text(json.dumps({"address": address, "abis": task_abis()}))
        if cfg.reward_rule == "consortium":
            from eth_account import Account

            sponsor = TaskClient.over_web3(anvil.uri, address, task_abis())
            members = [Account.from_key(k).address for k in keys[1 : clients + 1]]
            sponsor.add_members(Account.from_key(keys[0]), members)
            say(f"the sponsor listed the {clients} SuperNodes' accounts")
        results = folder / "flower-results.json"
        t0 = time.perf_counter()
        done = net.run(ROOT / "examples" / "flower-quickstart", {
            "num-server-rounds": rounds, "dataset": dataset, "model": cfg.model, "seed": cfg.seed,
            "rpc-url": anvil.uri, "task-file": str(task_file), "relayer-key-file": str(relayer),
            "min-nodes": clients, "results-file": str(results)})
        elapsed = time.perf_counter() - t0
        (folder / "flwr-run.log").write_text(done.stdout + done.stderr)
        if done.returncode != 0 or not results.exists():
            raise click.ClickException(f"flwr run failed ({done.returncode}); see {folder}/flwr-run.log and "
                                       f"{folder}/superlink.log\n{(done.stdout + done.stderr)[-3000:]}")
    finally:
        if net is not None:
            net.stop()
        anvil.stop()
    out = json.loads(results.read_text())
    data = load_dataset(dataset)
    parts = partition(data.y_train, clients, "iid", cfg.seed)
    fmt = cfg.settings(1).fmt
    baseline = fedavg_baseline(cfg.model, data, parts, rounds, TrainConfig(), cfg.seed,
                               initial_weights(cfg.model, data, cfg.seed, fmt))
    rows = []
    prev_block = None
    for r, rec in enumerate(out["rounds"], start=1):
        blocks = rec["blocks"]
        rows.append({"round": r, "chain_accuracy": out["accuracy"][str(r)], "fedavg_accuracy": baseline[r - 1],
                     "participants": rec["participants"], "gas": rec["gas"], "transactions": rec["transactions"],
                     "blocks_in_round": len(blocks), "block": blocks[-1],
                     "blocks_since_previous": None if prev_block is None else blocks[-1] - prev_block,
                     "rewards_wei": sum(rec["rewards"].values()), "rewarded": sorted(rec["rewards"])})
        prev_block = blocks[-1]
    click.echo(f"\nFlower on fedchain: {clients} SuperNodes, {cfg.reward_rule}, {dataset}, {block_time}-s blocks, "
               f"{rounds} rounds in {elapsed:.0f} s (Flower run, training included)")
    click.echo(f"{'round':>5} {'chain acc':>9} {'FedAvg acc':>10} {'gap pp':>7} {'gas':>10} {'txs':>4} "
               f"{'blocks':>6} {'block':>6} {'since prev':>10} {'rewards ETH':>11}")
    for row in rows:
        since = "-" if row["blocks_since_previous"] is None else str(row["blocks_since_previous"])
        click.echo(f"{row['round']:>5} {row['chain_accuracy']:>9.4f} {row['fedavg_accuracy']:>10.4f} "
                   f"{100 * (row['chain_accuracy'] - row['fedavg_accuracy']):>+7.2f} {row['gas']:>10,} "
                   f"{row['transactions']:>4} {row['blocks_in_round']:>6} {row['block']:>6} {since:>10} "
                   f"{row['rewards_wei'] / 1e18:>11.4f}")
    final_gap = 100 * (rows[-1]["chain_accuracy"] - rows[-1]["fedavg_accuracy"])
    # A relay, then the column in the block the relay armed; under CONSENSUS the seat draw
    # first (its arming call, then the draw in the armed block).
    expected, steps = ((4, "draw armed, draw, relay, column") if cfg.reward_rule == "consensus"
                       else (2, "relay, column"))
    click.echo(f"final accuracy {rows[-1]['chain_accuracy']:.4f} vs float FedAvg {rows[-1]['fedavg_accuracy']:.4f} "
               f"({final_gap:+.2f} pp); every round in {expected} blocks ({steps}): "
               f"{all(r['blocks_in_round'] == expected for r in rows)}")
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps({"clients": clients, "rule": cfg.reward_rule, "dataset": dataset,
                                         "block_time": block_time, "seconds": round(elapsed, 1), "rounds": rows},
                                        indent=2))
