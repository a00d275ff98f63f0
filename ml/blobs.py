"""The blob plane in Python: how an update becomes EIP-4844 blobs, what a claim asserts,
and how a dispute opens it. Bit-exact with ``contracts/BlobEngine.sol`` and
``contracts/lib/BlobMath.sol`` (each function names what it mirrors); tests hold the EVM to
it, and the task client builds its blobs, claims and disputes with these very functions.

Layout. A blob is 4096 field elements of 32 bytes (big-endian, each below the BLS12-381
scalar modulus). An element holds 15 parameters as int16 lanes, lane l in bits
[16 l, 16 l + 16) (the column plane's wire format, one lane short of a word), so a blob
holds 61,440 parameters and a 1,048,576-parameter update takes 18 blobs. Any blob decodes:
a lane saturates to the task's B-bit range, lanes past N and bits past 240 are ignored.

Score trees. An update's score (sum |v - g| against the round's starting model) is the
root of a tree: level 0 sums chunks of 32 elements, level t+1 sums 48 nodes of level t,
up to the first level of at most 48 nodes. The nodes of every listed update, in seat
order, level by level, are 64-bit slots, 3 per element, of the claim's "sums" blobs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np

from . import protocol

FIELD_ELEMENTS = 4096
BLOB_BYTES = 32 * FIELD_ELEMENTS
BLS_MODULUS = 0x73EDA753299D7D483339D80809A1D80553BDA402FFFE5BFEFFFFFFFF00000001
#: The primitive 4096-th root of unity, 7^((r - 1) / 4096) (BlobMath.ROOT_OF_UNITY).
ROOT_OF_UNITY = pow(7, (BLS_MODULUS - 1) // FIELD_ELEMENTS, BLS_MODULUS)
LANES = 15
CHUNK_ELEMENTS = 32
FANOUT = 48
SLOTS_PER_ELEMENT = 3
OPENING_BYTES = 128
#: Blob gas of one blob (EIP-4844 GAS_PER_BLOB).
GAS_PER_BLOB = 1 << 17
#: Blobs one transaction may carry from Osaka on (EIP-7594), whatever the block's maximum.
OSAKA_BLOBS_PER_TX = 6
#: Blobs whose raw transaction fits one JSON-RPC request of 2 MiB (anvil's body limit; the
#: hex doubles the ~131.2 kB per blob with its commitment and proof): 8 blobs are refused
#: with "Invalid request" (measured). geth accepts 5 MiB.
RPC_BODY_BLOBS = 7


# --- BlobMath.sol ---------------------------------------------------------------------


def bit_reverse(index: int, bits: int = 12) -> int:
    return int(format(index, f"0{bits}b")[::-1], 2)


def evaluation_point(index: int) -> int:
    """BlobMath.evaluationPoint: the point at which the blob polynomial equals element
    ``index``: w^brp(index)."""
    if not 0 <= index < FIELD_ELEMENTS:
        raise ValueError(f"element index {index} outside a blob")
    return pow(ROOT_OF_UNITY, bit_reverse(index), BLS_MODULUS)


def link(prev: int, versioned_hash: bytes) -> int:
    """BlobMath.link: the top 192 bits of keccak256(prev, hash)."""
    from eth_utils import keccak

    return int.from_bytes(keccak(prev.to_bytes(32, "big") + bytes(versioned_hash)), "big") >> 64


def chain_of(hashes: list[bytes], prev: int = 0) -> int:
    """BlobMath.chainOf: the chain word that binds a list of versioned hashes."""
    c = prev
    for h in hashes:
        c = link(c, h)
    return c


def versioned_hash(commitment: bytes) -> bytes:
    """EIP-4844 kzg_to_versioned_hash: 0x01 ++ sha256(commitment)[1:]."""
    return b"\x01" + hashlib.sha256(bytes(commitment)).digest()[1:]


# --- layout ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BlobLayout:
    """Where an update's parameters and its score tree live (BlobEngine's immutables)."""

    param_count: int
    value_bits: int = 16

    def __post_init__(self) -> None:
        if self.param_count <= 0:
            raise ValueError("param_count must be > 0")
        if not 2 <= self.value_bits <= 16:
            raise ValueError(f"value_bits must be in [2, 16], got {self.value_bits}")

    @property
    def elements(self) -> int:
        return -(-self.param_count // LANES)

    @property
    def blobs_per_update(self) -> int:
        return -(-self.elements // FIELD_ELEMENTS)

    @property
    def lo(self) -> int:
        return -(1 << (self.value_bits - 1))

    @property
    def hi(self) -> int:
        return (1 << (self.value_bits - 1)) - 1

    @cached_property
    def level_counts(self) -> list[int]:
        """Nodes per stored level of a score tree (BlobEngine._node); the score is level
        ``len(level_counts)``."""
        counts = [-(-self.elements // CHUNK_ELEMENTS)]
        while counts[-1] > FANOUT:
            counts.append(-(-counts[-1] // FANOUT))
        return counts

    @property
    def levels(self) -> int:
        return len(self.level_counts)

    def level_offset(self, level: int) -> int:
        return sum(self.level_counts[:level])

    @property
    def slots_per_update(self) -> int:
        return sum(self.level_counts)

    def sums_blobs(self, n: int) -> int:
        """BlobEngine.sumsBlobs."""
        elems = -(-n * self.slots_per_update // SLOTS_PER_ELEMENT)
        return -(-elems // FIELD_ELEMENTS)

    def params_per_blob(self) -> int:
        return LANES * FIELD_ELEMENTS


# --- codec: parameters <-> elements <-> blobs -------------------------------------------


def encode_update(ints: np.ndarray, layout: BlobLayout) -> list[bytes]:
    """Signed integers (each in the task's range) -> the update's blobs."""
    a = np.asarray(ints, dtype=np.int64).ravel()
    if a.size != layout.param_count:
        raise ValueError(f"an update has {layout.param_count} parameters, got {a.size}")
    if a.size and (a.min() < layout.lo or a.max() > layout.hi):
        raise ValueError(f"every value must be in [{layout.lo}, {layout.hi}] ({layout.value_bits} bits)")
    lanes = np.zeros(layout.blobs_per_update * FIELD_ELEMENTS * LANES, dtype=np.int64)
    lanes[: a.size] = a
    return _lanes_to_blobs(lanes.reshape(-1, LANES))


def _lanes_to_blobs(lanes: np.ndarray) -> list[bytes]:
    """(elements, 15) int16 lanes -> blobs: each element big-endian, lane 0 lowest."""
    words = np.zeros((lanes.shape[0], 16), dtype=">u2")
    words[:, 1:] = (lanes[:, ::-1] & 0xFFFF).astype(np.uint16)
    raw = words.tobytes()
    return [raw[i : i + BLOB_BYTES] for i in range(0, len(raw), BLOB_BYTES)]


def decode_update(blobs: list[bytes], layout: BlobLayout) -> np.ndarray:
    """An update's blobs -> its N signed integers, saturated to the task's range
    (BlobMath.lane over every element)."""
    if len(blobs) != layout.blobs_per_update:
        raise ValueError(f"an update is {layout.blobs_per_update} blobs, got {len(blobs)}")
    return element_lanes(b"".join(bytes(b) for b in blobs), layout)[: layout.param_count]


def element_lanes(raw: bytes, layout: BlobLayout) -> np.ndarray:
    """Every element's 15 lanes, in parameter order, saturated."""
    words = np.frombuffer(raw, dtype=">u2").reshape(-1, 16)
    lanes = words[:, 1:][:, ::-1].astype(np.uint16).view(np.int16).astype(np.int64).ravel()
    return np.clip(lanes, layout.lo, layout.hi)


def blob_element(blob: bytes, index: int) -> int:
    return int.from_bytes(bytes(blob)[32 * index : 32 * index + 32], "big")


def element_of_update(blobs: list[bytes], element: int) -> int:
    return blob_element(blobs[element // FIELD_ELEMENTS], element % FIELD_ELEMENTS)


# --- claims ---------------------------------------------------------------------------


def element_distances(update: np.ndarray, old: np.ndarray, layout: BlobLayout) -> np.ndarray:
    """sum |v - g| over each element's parameters (a level-0 leaf)."""
    d = np.zeros(layout.elements * LANES, dtype=np.int64)
    d[: layout.param_count] = np.abs(np.asarray(update, np.int64) - np.asarray(old, np.int64))
    return d.reshape(-1, LANES).sum(axis=1)


def score_tree(update: np.ndarray, old: np.ndarray, layout: BlobLayout) -> list[list[int]]:
    """An update's score tree, level 0 first; the score is the sum of the last level."""
    leaves = element_distances(update, old, layout)
    levels = []
    values = leaves
    width = CHUNK_ELEMENTS
    for count in layout.level_counts:
        padded = np.zeros(count * width, dtype=np.int64)
        padded[: values.size] = values
        values = padded.reshape(count, width).sum(axis=1)
        levels.append([int(v) for v in values])
        width = FANOUT
    return levels


def sums_blobs(trees: list[list[list[int]]], layout: BlobLayout) -> list[bytes]:
    """The score trees of the seats, in order, as 64-bit slots, 3 per element."""
    slots = [v for tree in trees for level in tree for v in level]
    n_blobs = layout.sums_blobs(len(trees))
    padded = np.zeros(n_blobs * FIELD_ELEMENTS * SLOTS_PER_ELEMENT, dtype=np.uint64)
    padded[: len(slots)] = np.asarray(slots, dtype=np.uint64)
    s = padded.reshape(-1, SLOTS_PER_ELEMENT)
    words = np.zeros((s.shape[0], 4), dtype=">u8")
    words[:, 1:] = s[:, ::-1]
    raw = words.tobytes()
    return [raw[i : i + BLOB_BYTES] for i in range(0, len(raw), BLOB_BYTES)]


def slot_of(seat: int, level: int, index: int, layout: BlobLayout) -> int:
    return seat * layout.slots_per_update + layout.level_offset(level) + index


def read_slot(sums: list[bytes], slot: int) -> int:
    e = slot // SLOTS_PER_ELEMENT
    y = element_of_update(sums, e)
    return (y >> (64 * (slot % SLOTS_PER_ELEMENT))) & ((1 << 64) - 1)


@dataclass
class Claim:
    """What an asserter posts for a round: the new model (its integers and blobs), the
    seats' scores (distances to the starting model) and their trees (in the sums blobs)."""

    model: np.ndarray
    model_blobs: list[bytes]
    scores: list[int]
    trees: list[list[list[int]]]
    sums: list[bytes]
    layout: BlobLayout = field(repr=False)

    @property
    def blobs(self) -> list[bytes]:
        """Every blob of the claim in draft order: the model's, then the sums."""
        return self.model_blobs + self.sums


def make_claim(updates: list[np.ndarray], old: np.ndarray, layout: BlobLayout, aggregation: str = "mean",
               trim: int = 0) -> Claim:
    """The honest claim of a round whose seats posted ``updates`` (decoded, in seat order),
    starting from ``old``: the aggregate (``ml.protocol.aggregate``, the column plane's
    arithmetic), each seat's score and tree."""
    if not updates:
        raise ValueError("a claim needs at least one update")
    model = protocol.aggregate([np.asarray(u, np.int64) for u in updates], aggregation, trim)
    trees = [score_tree(u, old, layout) for u in updates]
    return Claim(model=model, model_blobs=encode_update(model, layout), scores=[sum(t[-1]) for t in trees],
                 trees=trees, sums=sums_blobs(trees, layout), layout=layout)


# --- KZG: commitments and openings ------------------------------------------------------


@lru_cache(maxsize=1)
def trusted_setup() -> object:
    """The KZG trusted setup eth-account ships (the mainnet ceremony's)."""
    import ckzg
    import eth_account

    path = Path(eth_account.__file__).parent / "typed_transactions" / "blob_transactions" / "kzg_trusted_setup.txt"
    return ckzg.load_trusted_setup(str(path), 0)


def commitment(blob: bytes) -> bytes:
    import ckzg

    return bytes(ckzg.blob_to_kzg_commitment(bytes(blob), trusted_setup()))


def blob_hash(blob: bytes) -> bytes:
    """A blob's versioned hash (what BLOBHASH returns for it)."""
    return versioned_hash(commitment(blob))


def opening(blob: bytes, index: int, commit: bytes | None = None) -> bytes:
    """One calldata opening (BlobMath.OPENING_BYTES) of element ``index``: commitment,
    proof, value."""
    import ckzg

    proof, y = ckzg.compute_kzg_proof(bytes(blob), evaluation_point(index).to_bytes(32, "big"), trusted_setup())
    c = commit if commit is not None else commitment(blob)
    return bytes(c) + bytes(proof) + bytes(y)


def sidecar(blobs: list[bytes]) -> tuple[list[bytes], list[bytes], list[bytes]]:
    """A blob transaction's versioned hashes, commitments and blob proofs."""
    import ckzg

    commitments = [commitment(b) for b in blobs]
    proofs = [bytes(ckzg.compute_blob_kzg_proof(bytes(b), c, trusted_setup())) for b, c in zip(blobs, commitments)]
    return [versioned_hash(c) for c in commitments], commitments, proofs


@dataclass(frozen=True)
class BlobLimits:
    """Blobs per transaction and per block on a node, and the blob fee's target."""

    per_tx: int
    per_block: int
    target: int


def blob_limits(web3: object) -> BlobLimits:
    """The node's blob limits (EIP-7910 ``eth_config``): the block maximum and target of
    its current fork, and per transaction that maximum, capped at 6 from Osaka on
    (EIP-7594; Osaka is the fork that adds the P256VERIFY precompile) and at what one
    JSON-RPC request carries (``RPC_BODY_BLOBS``)."""
    reply = web3.provider.make_request("eth_config", [])  # type: ignore[attr-defined]
    if "result" not in reply:
        raise RuntimeError(f"the node does not answer eth_config (EIP-7910): {reply.get('error')}")
    current = reply["result"]["current"]
    schedule = current["blobSchedule"]
    per_block = int(schedule["max"])
    osaka = "P256VERIFY" in current.get("precompiles", {})
    per_tx = min(per_block, OSAKA_BLOBS_PER_TX) if osaka else per_block
    return BlobLimits(per_tx=min(per_tx, RPC_BODY_BLOBS), per_block=per_block, target=int(schedule["target"]))


# --- disputes -------------------------------------------------------------------------


def wrong_element(claimed: list[bytes], honest: list[bytes]) -> int | None:
    """The first element at which a claimed model's blobs differ from the honest ones."""
    for b, (c, h) in enumerate(zip(claimed, honest)):
        if c != h:
            a = np.frombuffer(bytes(c), dtype=">u8").reshape(-1, 4)
            o = np.frombuffer(bytes(h), dtype=">u8").reshape(-1, 4)
            j = int(np.flatnonzero((a != o).any(axis=1))[0])
            return b * FIELD_ELEMENTS + j
    return None


def sums_slots(sums: list[bytes]) -> np.ndarray:
    """Every 64-bit slot of sums blobs, in slot order."""
    words = np.frombuffer(b"".join(bytes(b) for b in sums), dtype=">u8").reshape(-1, 4)
    return words[:, 1:][:, ::-1].astype(np.uint64).ravel()


def inconsistent_node(claim_scores: list[int], claim_sums: list[bytes], honest: Claim) -> tuple[int, int, int] | None:
    """The first node (seat, level, index) of a claim's score trees that is not the sum of
    its children (at level 0: of its chunk's true distances, from ``honest``), top down
    (the cheaper disputes first); None if every node is. A wrong score always has one."""
    layout = honest.layout
    slots = sums_slots(claim_sums)
    top = layout.levels
    for seat, score in enumerate(claim_scores):
        base = seat * layout.slots_per_update
        tree = [[int(v) for v in slots[base + layout.level_offset(t) : base + layout.level_offset(t) + c]]
                for t, c in enumerate(layout.level_counts)]
        if int(score) != sum(tree[-1]):
            return seat, top, 0
        for t in range(top - 1, 0, -1):
            for j, v in enumerate(tree[t]):
                if v != sum(tree[t - 1][j * FANOUT : j * FANOUT + FANOUT]):
                    return seat, t, j
        for j, v in enumerate(tree[0]):
            if v != honest.trees[seat][0][j]:
                return seat, 0, j
    return None
