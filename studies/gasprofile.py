"""Where a transaction's gas goes, by Solidity function: what `ape run gasprofile` prints.

The node re-executes the transaction (``debug_traceCall`` against the state before its
block, so it must have been mined alone in its block: automine), and every opcode's gas is
charged to the innermost function of the contract source it maps to (solc's runtime source
map and AST, compiled here with the project's settings). A call or a contract creation is
charged whole, everything it ran inside included, to the function that made it: a
ColumnKit call, an ecrecover, the model column's code deposit (200 gas per byte). What no
opcode pays is the 21,000 base and the calldata (16 gas per nonzero byte, 4 per zero byte);
what is left between that sum and the receipt is the refund (negative: storage cleared) or
the EIP-7623 floor's top-up (positive: 10 gas per calldata token, for a transaction whose
execution is too cheap, such as a post).
"""

from __future__ import annotations

import bisect
import json
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_CALLS = {"CALL", "STATICCALL", "DELEGATECALL", "CALLCODE", "CREATE", "CREATE2"}


@dataclass
class SourceMap:
    """Runtime bytecode offset -> (source file, innermost function) for one contract."""

    functions: dict[int, str]  # program counter -> "File.sol:function"

    @classmethod
    def compile(cls, solc: Path, contract_path: str, name: str, runs: int = 20, evm: str = "prague",
                via_ir: bool = True) -> "SourceMap":
        # The project's compiler settings (ape-config.yaml): the same bytecode, so the same pcs.
        out = subprocess.run([str(solc), "--combined-json", "bin-runtime,srcmap-runtime,ast,generated-sources-runtime",
                              "--optimize",
                              "--optimize-runs", str(runs), "--evm-version", evm, *(["--via-ir"] if via_ir else []),
                              contract_path],
                             capture_output=True, text=True, check=True).stdout
        j = json.loads(out[: out.rindex("}") + 1])  # the wasm solc appends its warnings
        ids = {src: v["id"] for src, v in j["sources"].items()}
        # Every function's [start, end) in each source file, innermost last after sorting.
        spans: dict[int, list[tuple[int, int, str]]] = {}
        for src, v in j["sources"].items():
            stem = Path(src).name

            def walk(node: Any) -> None:
                if isinstance(node, dict):
                    if node.get("nodeType") in ("FunctionDefinition", "ModifierDefinition"):
                        start, length, _ = (int(x) for x in node["src"].split(":"))
                        label = node.get("name") or node.get("kind", "function")
                        spans.setdefault(ids[src], []).append((start, start + length, f"{stem}:{label}"))
                    for child in node.values():
                        walk(child)
                elif isinstance(node, list):
                    for child in node:
                        walk(child)

            walk(v["AST"])
        key = next(k for k in j["contracts"] if k.endswith(":" + name))
        c = j["contracts"][key]
        # The compiler's own helpers (checked arithmetic, ABI coding, memory) by their Yul name.
        for gen in c.get("generated-sources-runtime") or []:
            def walk_yul(node: Any, source: int = int(gen["id"])) -> None:
                if isinstance(node, dict):
                    if node.get("nodeType") == "YulFunctionDefinition":
                        start, length, _ = (int(x) for x in node["src"].split(":"))
                        spans.setdefault(source, []).append((start, start + length, f"(compiler) {node['name']}"))
                    for child in node.values():
                        walk_yul(child)
                elif isinstance(node, list):
                    for child in node:
                        walk_yul(child)

            walk_yul(gen.get("ast"))
        for s in spans.values():
            s.sort()
        code = bytes.fromhex(c["bin-runtime"])
        pcs, i = [], 0
        while i < len(code):
            pcs.append(i)
            op = code[i]
            i += 1 + (op - 0x5F if 0x60 <= op <= 0x7F else 0)
        functions: dict[int, str] = {}
        s = ln = f = 0
        for k, entry in enumerate(c["srcmap-runtime"].split(";")):
            parts = entry.split(":")
            if parts[0]:
                s = int(parts[0])
            if len(parts) > 1 and parts[1]:
                ln = int(parts[1])
            if len(parts) > 2 and parts[2]:
                f = int(parts[2])
            if k >= len(pcs):
                break
            functions[pcs[k]] = _innermost(spans.get(f, []), s, s + ln) if f >= 0 else "(compiler)"
        return cls(functions)


def _innermost(spans: list[tuple[int, int, str]], start: int, end: int) -> str:
    best = "(outside functions)"
    for a, b, label in spans[: bisect.bisect_right(spans, (start, float("inf"), ""))]:
        if a <= start and end <= b:
            best = label  # later starts are nested deeper
    return best


BASE_GAS = 21_000


def calldata_gas(data: bytes) -> int:
    """Standard calldata gas: 16 per nonzero byte, 4 per zero byte."""
    return sum(16 if b else 4 for b in data)


@dataclass
class TxProfile:
    """One transaction: its gas used, its calldata's standard gas, what the opcodes paid by
    function, and the adjustment that reconciles them with the receipt."""

    gas_used: int
    calldata_bytes: int
    calldata_gas: int
    by_function: Counter = field(default_factory=Counter)

    @property
    def adjustment(self) -> int:
        """Receipt minus base, calldata and execution: a refund (< 0) or the EIP-7623 floor's
        top-up (> 0)."""
        return self.gas_used - BASE_GAS - self.calldata_gas - sum(self.by_function.values())


def profile_transaction(provider: Any, tx_hash: str, smap: SourceMap) -> TxProfile:
    """Re-executes a mined transaction (alone in its block) and charges its gas by function."""
    web3 = provider.web3
    tx = web3.eth.get_transaction(tx_hash)
    receipt = web3.eth.get_transaction_receipt(tx_hash)
    call = {"from": tx["from"], "to": tx["to"], "data": "0x" + bytes(tx["input"]).hex(), "gas": hex(tx["gas"])}
    # In its own block's context: column 0 takes the RANDAO value of the block armed for it.
    block = web3.eth.get_block(receipt["blockNumber"])
    trace = provider.make_request("debug_traceCall", [call, hex(receipt["blockNumber"] - 1), {
        "disableStorage": True, "disableMemory": True, "disableStack": True, "blockOverrides": {
            "number": hex(block["number"]), "time": hex(block["timestamp"]),
            "random": "0x" + bytes(block["mixHash"]).hex()}}])
    logs = trace["structLogs"]
    data = bytes(tx["input"])
    prof = TxProfile(int(receipt["gasUsed"]), len(data), calldata_gas(data))
    k = 0
    while k < len(logs):
        op = logs[k]
        if op["depth"] != 1:
            k += 1
            continue
        where = smap.functions.get(op["pc"], "(unmapped)")
        if op["op"] in _CALLS:
            j = k + 1
            while j < len(logs) and logs[j]["depth"] > 1:
                j += 1
            cost = op["gas"] - logs[j]["gas"] if j < len(logs) else op["gasCost"]
            label = "code deposit (CREATE)" if op["op"].startswith("CREATE") else f"{where} -> {op['op']}"
            prof.by_function[label] += cost
            k = j
            continue
        prof.by_function[where] += op["gasCost"]
        k += 1
    return prof


def round_table(profiles: list[TxProfile], params: int, clients: int, top: int = 14) -> list[dict[str, Any]]:
    """Rows (what, gas, gas/param/client) over a round's transactions: base and calldata
    first, then the most expensive functions, the rest together, refunds and floor top-ups,
    and the total (the sum of the rows above it)."""
    per = params * clients
    total = Counter()
    for p in profiles:
        total.update(p.by_function)
    rows = [{"what": f"base ({BASE_GAS:,} per transaction)", "gas": BASE_GAS * len(profiles)},
            {"what": "calldata (16 gas per nonzero byte, 4 per zero byte)", "gas": sum(p.calldata_gas for p in profiles)}]
    ranked = total.most_common()
    rows += [{"what": name, "gas": g} for name, g in ranked[:top]]
    rest = sum(g for _, g in ranked[top:])
    if rest:
        rows.append({"what": f"{len(ranked) - top} other functions", "gas": rest})
    refunds = sum(min(p.adjustment, 0) for p in profiles)
    topups = sum(max(p.adjustment, 0) for p in profiles)
    if refunds:
        rows.append({"what": "storage refunds", "gas": refunds})
    if topups:
        rows.append({"what": "EIP-7623 floor top-up (transactions whose execution is cheaper than the floor)",
                     "gas": topups})
    rows.append({"what": "round total", "gas": sum(p.gas_used for p in profiles)})
    for r in rows:
        r["per_param_client"] = round(r["gas"] / per, 2)
    return rows
