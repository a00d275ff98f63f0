"""Where a model of a given size belongs: the cost of a round on L1 (execution gas and blob
gas at stated base fees) and on an OP-Stack L2 (its Fjord L1 data fee over a FastLZ size
estimate, plus L2 execution), for the post, relay and blob paths.

Stated fees (``Fees``): what a reader can change. The blob base fee defaults to its EIP-7918
reserve, base fee x 2^13 / 2^17 = base fee / 16 per blob gas: blob space is never cheaper
than that relative to execution, however empty the blob market.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

#: OP-Stack Fjord L1 cost function (op-geth core/types/rollup_cost.go): estimated size in
#: bytes = max(100, (intercept + coefficient x FastLZ size) / 1e6).
FJORD_INTERCEPT = -42_585_600
FJORD_FASTLZ_COEF = 836_500
FJORD_MIN_TX_SIZE = 100
#: The OP Stack's default fee scalars (deploy config gasPriceOracleBaseFeeScalar /
#: gasPriceOracleBlobBaseFeeScalar); each chain's operator may set its own.
OP_BASE_FEE_SCALAR = 1368
OP_BLOB_BASE_FEE_SCALAR = 810_949
#: EIP-7918: blob base fee >= execution base fee x BLOB_BASE_COST / GAS_PER_BLOB.
RESERVE_DIVISOR = (1 << 17) // (1 << 13)


@dataclass(frozen=True)
class Fees:
    """The fees a cost is stated at (wei per gas, per blob gas)."""

    l1_base_fee: int = 10**9  # 1 gwei
    l1_blob_base_fee: int | None = None  # None: the EIP-7918 reserve, l1_base_fee / 16
    l2_base_fee: int = 10**7  # 0.01 gwei
    block_gas_limit: int = 60_000_000

    @property
    def blob_fee(self) -> int:
        return self.l1_blob_base_fee if self.l1_blob_base_fee is not None else self.l1_base_fee // RESERVE_DIVISOR

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["l1_blob_base_fee"] = self.blob_fee
        d["op_base_fee_scalar"] = OP_BASE_FEE_SCALAR
        d["op_blob_base_fee_scalar"] = OP_BLOB_BASE_FEE_SCALAR
        return d


def flz_compress_len(data: bytes) -> int:
    """The length FastLZ (level 1) compresses ``data`` to, as the OP-Stack's Fjord fee
    counts it (op-geth ``FlzCompressLen``): literal runs of up to 32 bytes cost 1 + n, a
    match 2 or 3 bytes (plus 3 per 262 of length), found through a 13-bit hash of 3-byte
    sequences within 8,192 bytes back."""
    n = len(data)
    limit = n - 13 if n >= 13 else 0
    table = [0] * 8192

    def seq(i: int) -> int:
        return data[i] | (data[i + 1] << 8) | (data[i + 2] << 16)

    def slot(v: int) -> int:
        return ((v * 2654435769) >> 19) & 0x1FFF

    def literals(count: int, size: int) -> int:
        size += 33 * (count // 32)
        rest = count % 32
        return size + rest + 1 if rest else size

    size, anchor, i = 0, 0, 2
    while i < limit:
        while True:
            v = seq(i)
            h = slot(v)
            ref = table[h]
            table[h] = i
            distance = i - ref
            if i >= limit:
                break
            i += 1
            if distance < 8192 and v == seq(ref):
                break
        if i >= limit:
            break
        i -= 1
        if i > anchor:
            size = literals(i - anchor, size)
        # match length: bytes equal from ref + 3 and i + 3 up to limit + 9
        p, q, stop = ref + 3, i + 3, limit + 9
        length = 0
        while q + length < stop:
            length += 1
            if data[p + length - 1] != data[q + length - 1]:
                break
        m = length - 1
        size += 3 * (m // 262) + (3 if m % 262 >= 6 else 2)
        i += length
        table[slot(seq(i))] = i
        i += 1
        table[slot(seq(i))] = i
        i += 1
        anchor = i
    return literals(n - anchor, size)


def fjord_l1_fee(fastlz_size: int, fees: Fees) -> int:
    """The L1 data fee (wei) of one L2 transaction whose FastLZ size is ``fastlz_size``."""
    estimated = max(FJORD_MIN_TX_SIZE * 10**6, FJORD_INTERCEPT + FJORD_FASTLZ_COEF * fastlz_size)
    scaled = OP_BASE_FEE_SCALAR * fees.l1_base_fee * 16 + OP_BLOB_BASE_FEE_SCALAR * fees.blob_fee
    return estimated * scaled // 10**12 // 10**6


def l1_cost_wei(execution_gas: int, blob_gas: int, fees: Fees) -> int:
    return execution_gas * fees.l1_base_fee + blob_gas * fees.blob_fee


def l2_cost_wei(execution_gas: int, tx_fastlz_sizes: list[int], fees: Fees) -> int:
    return execution_gas * fees.l2_base_fee + sum(fjord_l1_fee(s, fees) for s in tx_fastlz_sizes)


def eth(wei: int) -> float:
    return wei / 10**18


#: Calldata one L2 transaction carries at most here (the 128 KiB pool limit, less room).
TX_BYTES = 120 * 1024


def representative_ratio(sample: bytes) -> float:
    """FastLZ size / size of a representative stretch of update bytes."""
    return flz_compress_len(sample) / len(sample)


def path_costs(path: str, params: int, clients: int, execution_gas: int, blob_gas: int, blocks: int | None,
               fees: Fees, ratio: float, source: str) -> dict[str, Any]:
    """One row of the cost table: a path's round at ``params`` x ``clients`` on L1 and on an
    OP-Stack L2. Calldata per round: the post path carries every update twice (post, then
    column), the relay path once, 2 bytes per parameter; the blob path carries none (and
    runs on L1 only: OP-Stack L2s take no blob transactions)."""
    crossings = {"post": 2, "relay": 1, "blob": 0}[path]
    data = crossings * 2 * params * clients
    txs = -(-data // TX_BYTES) if data else 0
    sizes = [int(ratio * data / txs)] * txs if txs else []
    l1 = l1_cost_wei(execution_gas, blob_gas, fees)
    row = {"path": path, "params": params, "clients": clients, "execution_gas_per_round": execution_gas,
           "blob_gas_per_round": blob_gas, "blocks_per_round": blocks,
           "blocks_by_gas": -(-execution_gas // fees.block_gas_limit), "calldata_bytes_per_round": data,
           "l1_cost_eth": eth(l1), "l2_cost_eth": None if path == "blob" else eth(l2_cost_wei(execution_gas, sizes,
                                                                                             fees)),
           "source": source}
    return row


def cost_markdown(rows: list[dict[str, Any]], fees: Fees) -> str:
    """The cost table as Markdown (written beside the bench's JSON; the docs link it)."""
    gwei = fees.l1_base_fee / 1e9
    lines = [f"Cost of one round by path, at an L1 base fee of {gwei:g} gwei with blob gas at its EIP-7918 "
             f"reserve ({fees.blob_fee:,} wei), and on an OP-Stack L2 at {fees.l2_base_fee / 1e9:g} gwei with "
             f"the default scalars ({OP_BASE_FEE_SCALAR:,} / {OP_BLOB_BASE_FEE_SCALAR:,}; Fjord fee over "
             "FastLZ sizes). Blocks: measured for the column paths at 8,192 parameters; for the blob path, the "
             "blobs per block the node allows bound them; for the column paths at 1M, the gas alone at "
             f"{fees.block_gas_limit:,} per block (a lower bound). OP-Stack L2s take no blob transactions.",
             "",
             "| path | params | clients | execution gas | blob gas | blocks | L1 (ETH) | L2 (ETH) | source |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        blocks = r["blocks_per_round"] if r["blocks_per_round"] is not None else f"≥ {r['blocks_by_gas']}"
        l2 = "—" if r["l2_cost_eth"] is None else f"{r['l2_cost_eth']:.5f}"
        lines.append(f"| {r['path']} | {r['params']:,} | {r['clients']} | {r['execution_gas_per_round']:,} | "
                     f"{r['blob_gas_per_round']:,} | {blocks} | {r['l1_cost_eth']:.5f} | {l2} | {r['source']} |")
    return "\n".join(lines) + "\n"
