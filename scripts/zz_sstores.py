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
@click.option("--clients", default=20)
def cli(ecosystem, network, provider, clients):
    logger.set_level("WARNING")
    accts = list(accounts.test_accounts)
    rng = np.random.default_rng(0)
    owner, members = accts[0], accts[1:clients + 1]
    t, base = bench.bench_task(project.PaperTask, owner, members, 8192, "mean", rng, relay=True)
    start = chain.blocks.height
    bench.play_round(t, owner, members, base, 8192, rng, 2, relay=True)
    smap = gasprofile.SourceMap.compile(SOLC, "contracts/PaperTask.sol", "PaperTask")
    web3 = provider.web3
    c = Counter(); g = Counter()
    for height in range(start + 1, chain.blocks.height + 1):
        for tx_hash in web3.eth.get_block(height)["transactions"]:
            tx = web3.eth.get_transaction(tx_hash)
            if tx["to"] != t.address: continue
            receipt = web3.eth.get_transaction_receipt(tx_hash)
            call = {"from": tx["from"], "to": tx["to"], "data": "0x" + bytes(tx["input"]).hex(), "gas": hex(tx["gas"])}
            logs = provider.make_request("debug_traceCall", [call, hex(receipt["blockNumber"] - 1), {"disableStorage": True, "disableMemory": True}])["structLogs"]
            for op in logs:
                if op["depth"] == 1 and op["op"] in ("SSTORE", "SLOAD", "LOG1", "LOG2", "LOG3", "LOG4"):
                    k = (smap.functions.get(op["pc"]), op["op"], op["gasCost"])
                    c[k] += 1; g[k] += op["gasCost"]
    for k, v in sorted(g.items(), key=lambda kv: -kv[1])[:30]:
        click.echo(f"{v:>10,} {c[k]:>5} {k}")
