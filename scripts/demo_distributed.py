"""A real multi-process deployment on this machine: one anvil (2-s blocks) on loopback, the
task deployed from a config file, N client processes and a keeper, each its own OS process
with its own key; the keeper draws seats and aggregates each round in column transactions.
Mid-way one client is killed (SIGKILL) right after it committed, then restarted; the table
at the end shows every round's accuracy and every client's rewards."""

from __future__ import annotations

import shutil
from contextlib import ExitStack
import sys
import time
from pathlib import Path

import click

from ml.node.localnet import ROOT, Anvil, ape_run, ape_run_many, client_proc, keeper_proc, wait_until
from ml.settings import Status


@click.command(short_help="Multi-process demo with a crash and restart")
@click.option("--clients", default=5, show_default=True, help="Client processes.")
@click.option("--rounds", default=6, show_default=True, help="Rounds to complete.")
@click.option("--kill-round", default=6, show_default=True, help="Round in which one client is killed and restarted.")
@click.option("--block-time", default=2, show_default=True, help="Seconds per block of the local node.")
@click.option("--config", "config_path", default=str(ROOT / "configs" / "demo.toml"), show_default=True,
              help="Task config to deploy.")
@click.option("--folder", type=click.Path(file_okay=False, path_type=Path), default=ROOT / "run" / "distributed",
              show_default=True, help="Logs, client state files, the deployment record (wiped first).")
def cli(clients, rounds, kill_round, block_time, config_path, folder):
    from ape import accounts, networks, project

    from ml import data as datasets
    from ml.chain import BatchTask
    from ml.models import build_model, set_flat
    from ml.training import accuracy

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    log = lambda msg: click.echo(f"{time.strftime('%H:%M:%S')} [demo] {msg}", err=True)  # noqa: E731
    anvil = Anvil(folder, block_time=block_time)
    anvil.start()
    log(f"anvil on {anvil.uri}, {block_time}s blocks")
    record = folder / "deployment.json"
    procs = []
    connected = ExitStack()
    try:
        t0 = time.perf_counter()
        res = ape_run(["deploy", "--config", config_path, "--account", "test:0", "--record", str(record),
                       "--network", anvil.uri])
        if res.returncode != 0:
            raise click.ClickException(f"deploy failed:\n{res.stdout}{res.stderr}")
        log(res.stdout.strip().splitlines()[-1])
        import json

        address = json.loads(record.read_text())["address"]
        # The demo watches the chain through the SDK like any other reader.
        connected.enter_context(networks.parse_network_choice(anvil.uri))
        task = BatchTask.at(address)
        keeper = keeper_proc(folder, anvil.uri, record, account=clients + 1).start()
        cprocs = [client_proc(folder, anvil.uri, record, i, clients, account=i + 1).start() for i in range(clients)]
        procs = [keeper, *cprocs]
        log(f"started a keeper and {clients} clients (logs in {folder})")

        victim_index = clients // 2
        victim = cprocs[victim_index]
        victim_addr = list(accounts.test_accounts)[victim_index + 1].address
        wait_until(lambda: task.current_round >= kill_round, 120 + 60 * kill_round, f"round {kill_round}")
        status = wait_until(lambda: task.status(kill_round, victim_addr)[0] == Status.COMMITTED and "committed",
                            120, f"client {victim_index} to commit in round {kill_round}", poll=0.05)
        victim.kill()
        log(f"round {kill_round}: KILLED client {victim_index} (SIGKILL) after it {status}, before it revealed")
        time.sleep(block_time)
        victim.start()
        log(f"round {kill_round}: restarted client {victim_index}")

        wait_until(lambda: task.completed_rounds >= rounds, 120 + 60 * rounds, f"{rounds} completed rounds")
        addrs = [list(accounts.test_accounts)[i + 1].address for i in range(clients)]
        wait_until(lambda: all(task.withdrawable(a) == 0 for a in addrs), 120,
                   f"every client to withdraw its round-{rounds} reward")
        codes = [p.stop() for p in procs]
        elapsed = time.perf_counter() - t0
        log(f"stopped every process with SIGTERM; exit codes {codes}")
        buyer = f"test:{clients + 2}"
        for res in ape_run_many([
            ["buy_access", "--record", str(record), "--account", buyer, "--network", anvil.uri],
            ["download_model", "--record", str(record), "--out", str(folder / "model.pt"), "--network", anvil.uri],
        ]):
            if res.returncode != 0:
                raise click.ClickException(f"{res.args[0]} failed:\n{res.stdout}{res.stderr}")
            log(res.stdout.strip().splitlines()[-1])

        data = datasets.load_dataset("mnist")
        model = build_model("logreg", data.n_features, data.n_classes)
        rewards = {r: task.rewards(r) for r in range(1, rounds + 1)}
        header = f"{'round':>5} {'accuracy':>9} {'accepted':>8} " + " ".join(
            f"{'client ' + str(i) + ('*' if i == victim_index else ''):>10}" for i in range(clients))
        click.echo(f"\n{header}\n{'-' * len(header)}")
        ok = True
        for r in range(1, rounds + 1):
            set_flat(model, task.model_after(r))
            row = [rewards[r].get(a, 0) for a in addrs]  # credited with the last column; revenue comes on top
            ok &= all(x > 0 for x in row)
            accepted = len(rewards[r])  # the round's Rewarded events: past rounds' records read as empty
            click.echo(f"{r:>5} {accuracy(model, data.x_test, data.y_test):>9.4f} {accepted:>8} "
                       + " ".join(f"{x / 1e18:>10.4f}" for x in row))
        click.echo(f"\nrewards in ETH per round (stake returned on top); * = killed with SIGKILL after committing "
                   f"in round {kill_round} and restarted. {rounds} rounds in {elapsed:.0f}s.")
        click.echo("every client was rewarded every round, including the restarted one" if ok
                   else "NOT every client was rewarded every round")
        if not ok or any(c != 0 for c in codes):
            sys.exit(1)
    finally:
        for p in procs:
            p.stop(timeout=20)
        connected.close()
        anvil.stop()
