from collections import Counter
from pathlib import Path
import click, numpy as np
from ape import accounts, chain, project
from ape.cli import ConnectedProviderCommand, network_option
from ape.logging import logger
from studies import bench, gasprofile
SOLC = Path(__file__).resolve().parents[1] / "tools" / "bin" / "solc-v0.8.37"

@click.command(cls=ConnectedProviderCommand)
@network_option()
@click.option("--fn", default="PaperTask.sol:_meanAndDistances")
def cli(ecosystem, network, provider, fn):
    logger.set_level("WARNING")
    accts = list(accounts.test_accounts); clients = 20
    rng = np.random.default_rng(0)
    owner, members = accts[0], accts[1:clients + 1]
    t, base = bench.bench_task(project.PaperTask, owner, members, 8192, "mean", rng, relay=True)
    start = chain.blocks.height
    bench.play_round(t, owner, members, base, 8192, rng, 2, relay=True)
    smap = gasprofile.SourceMap.compile(SOLC, "contracts/PaperTask.sol", "PaperTask")
    web3 = provider.web3
    tx_hash = web3.eth.get_block(start + 1)["transactions"][0]
    tx = web3.eth.get_transaction(tx_hash); receipt = web3.eth.get_transaction_receipt(tx_hash)
    call = {"from": tx["from"], "to": tx["to"], "data": "0x" + bytes(tx["input"]).hex(), "gas": hex(tx["gas"])}
    logs = provider.make_request("debug_traceCall", [call, hex(receipt["blockNumber"] - 1), {"disableStorage": True, "disableMemory": True, "disableStack": True}])["structLogs"]
    cnt = Counter(); gas = Counter(); ops = {}
    for op in logs:
        if op["depth"] == 1 and smap.functions.get(op["pc"]) == fn:
            cnt[op["pc"]] += 1; gas[op["pc"]] += op["gasCost"]; ops[op["pc"]] = op["op"]
    hot = max(cnt.values())
    tot = 0
    for pc in sorted(cnt):
        if cnt[pc] >= hot * 0.9:
            click.echo(f"{pc:6d} {ops[pc]:14s} {gas[pc]//cnt[pc]:3d} x{cnt[pc]}"); tot += gas[pc]//cnt[pc]
    click.echo(f"per iteration {tot} gas; iterations {hot}; fn total {sum(gas.values())}")
