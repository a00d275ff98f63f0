"""The blob plane's round on a local chain: execution gas, blob gas, blobs and blocks per
round, and what each dispute costs (``ape run bench --blob``).

A fresh task per size; round 1 runs to the end (posts, claim, window, finalize), round 2 is
the measured steady state, under 1-s interval mining with every phase's transactions sent at
once (so the node's blobs per block alone spread a phase over blocks): every client posts
its update as blobs, a keeper drafts and asserts the claim, the window passes, anyone
finalizes. Then, from a snapshot, two wrong
claims are asserted and refuted: a wrong lane (the element dispute opens one element of
the model and of every update) and a wrong chunk of a score tree kept consistent above it
(the costliest score dispute: 32 elements of the update and 32 of the old model).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from ml import blobs as B
from ml.blob_chain import BlobTaskClient, Dispute
from ml.chain import set_automine
from ml.settings import BlobSettings

#: Stated fees of the cost table: execution base fee (gwei) and ETH price are the user's;
#: blob base fee at its EIP-7918 reserve (execution base fee / 16 per blob gas... x 2^13 /
#: 2^17), so blob gas costs at least 1/16 of execution gas per unit.
RESERVE_DIVISOR = 16


@dataclass
class BlobResult:
    """One steady-state round of the blob plane and its disputes."""

    params: int
    clients: int
    aggregation: str
    blobs_per_update: int
    blobs_per_round: int
    execution_gas_per_round: int
    blob_gas_per_round: int
    transactions: int
    post_gas: int  # all clients' posts
    claim_gas: int  # drafts + assert
    finalize_gas: int
    element_dispute_gas: int
    score_dispute_gas: int
    blocks_per_round: int
    per_tx_blobs: int
    per_block_blobs: int
    binding_limit: str
    gas_per_param_per_client: float = 0.0
    phases: dict[str, int] = field(default_factory=dict)
    #: measured: blocks from a phase's first transaction to its last, 1-s interval mining
    phase_blocks: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["path"] = "blob"
        d["rule"] = "paper"
        return d


def _update(rng: np.random.Generator, base: np.ndarray, lay: B.BlobLayout) -> np.ndarray:
    return np.clip(base + rng.integers(-40, 41, base.size), lay.lo, lay.hi)


def measure_blob_round(owner: Any, clients: Sequence[Any], keeper: Any, watcher: Any, n: int,
                       aggregation: str = "mean", progress: Callable[[str], None] = lambda s: None,
                       chain: Any = None) -> BlobResult:
    """Deploys a task of ``n`` parameters and ``len(clients)`` seats and measures round 2."""
    k = len(clients)
    s = BlobSettings(param_count=n, max_participants=k, min_participants=1, aggregation=aggregation,
                     trim=1 if aggregation == "trimmed_mean" else 0, post_duration=600, dispute_window=3600,
                     assert_timeout=3600, access_price=0)
    rng = np.random.default_rng(n + k)
    t = BlobTaskClient.launch(owner, s, np.zeros(n, dtype=np.int64), funding=s.round_reserve * 4)
    lay = t.layout
    base = np.zeros(n, dtype=np.int64)
    phases: dict[str, int] = {}
    blocks: dict[str, int] = {}
    for round_ in (1, 2):
        progress(f"{n:,} params x {k}: round {round_}: posting {k} updates of {lay.blobs_per_update} blobs")
        if round_ == 2:
            # the measured round: interval mining (1-s blocks), every phase's transactions sent
            # at once, so the node's blob limits alone spread a phase over blocks
            set_automine(t.web3, False, 1)
            posts = t.post_many(round_, [(c, _update(rng, base, lay)) for c in clients])
        else:
            posts = [r for c in clients for r in t.post(c, round_, _update(rng, base, lay))]
        t.advance_time(s.post_duration + 1)
        claim = t.honest_claim(round_)
        if round_ == 2 and chain is not None:
            snapshot = chain.snapshot()
        progress(f"{n:,} params x {k}: round {round_}: asserting")
        if round_ == 2:
            drafted = t.draft_at_once(keeper, round_, claim.blobs)
            hashes = [bytes(h) for r in drafted for e in r.named("BlobsPosted") for h in e.hashes]
            asserted = t.send("assertModel", (round_, hashes, [int(x) for x in claim.scores]), keeper,
                              value=s.assert_bond)
            draft_txs = [r.tx_hash for r in drafted]
        else:
            asserted = t.assert_claim(keeper, round_, claim)
            draft_txs = [e.tx_hash for e in t.events("BlobsPosted", round=round_, account=str(keeper.address))]
        draft_gas = sum(int(t.web3.eth.get_transaction_receipt(tx)["gasUsed"]) for tx in set(draft_txs))
        t.advance_time(s.dispute_window + 1)
        fin = t.finalize(keeper, round_)
        base = claim.model
        if round_ == 1:
            t.start_round(owner)
        if round_ == 2:
            set_automine(t.web3, True)
            phases = {"post": sum(r.gas_used for r in posts), "claim": draft_gas + asserted.gas_used,
                      "finalize": fin.gas_used}
            tx_count = len(posts) + len(set(draft_txs)) + 2
            blob_gas = sum(int(t.web3.eth.get_transaction_receipt(r.tx_hash).get("blobGasUsed", 0)) for r in posts)
            blob_gas += sum(int(t.web3.eth.get_transaction_receipt(tx).get("blobGasUsed", 0)) for tx in set(draft_txs))
            post_blocks = {r.block_number for r in posts}
            claim_blocks = {int(t.web3.eth.get_transaction_receipt(tx)["blockNumber"]) for tx in draft_txs}
            blocks = {"post": max(post_blocks) - min(post_blocks) + 1,
                      "claim": asserted.block_number - min(claim_blocks) + 1, "finalize": 1}
    element_gas = score_gas = 0
    if chain is not None:
        chain.restore(snapshot)
        t._blobs.clear()
        honest = t.honest_claim(2)
        progress(f"{n:,} params x {k}: a wrong lane, disputed")
        bad = honest.model.copy()
        bad[0] = bad[0] + 1 if bad[0] < lay.hi else bad[0] - 1
        wrong = B.Claim(bad, B.encode_update(bad, lay), honest.scores, honest.trees, honest.sums, lay)
        t.assert_claim(keeper, 2, wrong)
        element_gas = t.dispute(watcher, 2, Dispute("element", (0,))).gas_used
        progress(f"{n:,} params x {k}: a wrong chunk sum, disputed")
        trees = [[list(lv) for lv in tree] for tree in honest.trees]
        scores = list(honest.scores)
        trees[0][0][0] += 1
        for level in range(1, lay.levels):
            trees[0][level][0] += 1
        scores[0] += 1
        wrong = B.Claim(honest.model, honest.model_blobs, scores, trees, B.sums_blobs(trees, lay), lay)
        t.assert_claim(keeper, 2, wrong)
        found = t.audit(2, honest)
        assert found == Dispute("score", (0, 0, 0)), found
        score_gas = t.dispute(watcher, 2, found).gas_used
    limits = t.limits
    blobs_round = k * lay.blobs_per_update + lay.blobs_per_update + lay.sums_blobs(k)
    total = sum(phases.values())
    return BlobResult(params=n, clients=k, aggregation=aggregation, blobs_per_update=lay.blobs_per_update,
                      blobs_per_round=blobs_round, execution_gas_per_round=total, blob_gas_per_round=blob_gas,
                      transactions=tx_count, post_gas=phases["post"], claim_gas=phases["claim"],
                      finalize_gas=phases["finalize"], element_dispute_gas=element_gas, score_dispute_gas=score_gas,
                      blocks_per_round=sum(blocks.values()), per_tx_blobs=limits.per_tx,
                      per_block_blobs=limits.per_block, binding_limit=f"blobs per block ({limits.per_block})",
                      gas_per_param_per_client=total / n / k, phases=phases, phase_blocks=blocks)
