"""The relay path's transactions, once, for both SDK backends.

``relay_plan`` says what a relayer sends for a round: under PAPER the signed updates' heads
and signatures through ``relay``, then (once the round's seed is sealed in the next block)
every column through ``aggregate``; under CONSENSUS column 0 through ``relay`` with the
openings. Columns carry an explicit gas limit (the contract's column bound, which counts
what relayed updates add), so that all of them can be sent at once and land in one block.
``ml.chain.BatchTask`` sends the plan with ape; ``Web3Task`` here sends it with bare web3.py
for processes that cannot import ape (a Flower ServerApp: flwr and eth-ape pin incompatible
versions of ``rich`` and ``packaging``, so they live in separate environments).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from . import codec, protocol
from .settings import RELAY_GAS_BASE, RELAY_GAS_PER_SEAT, SEAL_GAS, TaskConfig, column_gas_bound
from .signing import Relayable, SignedUpdate


@dataclass(frozen=True)
class PlannedCall:
    """One transaction of a relay: a contract method by name, its arguments, its gas limit."""

    method: str
    args: tuple
    gas: int


@dataclass(frozen=True)
class RelayPlan:
    """A relay's transactions: ``listing`` puts the relayed updates on the list (PAPER: their
    heads and signatures; none under CONSENSUS, whose relay is column 0), then, once the
    round's seed is sealed (PAPER: ``sealSeed`` in the block after the listing), ``columns``."""

    listing: list[PlannedCall]
    columns: list[PlannedCall]


def lanes_ok(words: Sequence[int], param_count: int, value_bits: int) -> bool:
    """Whether packed words are what the contract accepts: every lane a ``value_bits``-bit
    signed value, the last word's unused lanes zero (BatchEngine._checkWords)."""
    used = param_count % 16
    if used and words[-1] >> (16 * used):
        return False
    if value_bits == 16:
        return True
    lo, hi = -(1 << (value_bits - 1)), (1 << (value_bits - 1))
    ints = codec.unpack(list(words), len(words) * 16)
    return bool(((ints >= lo) & (ints < hi)).all())


def relay_plan(round_: int, posted: Sequence[list[int]], relayed: Sequence[Relayable], column_words: int,
               sorts: bool, consensus: bool = False, max_relayed: int | None = None,
               replay_heads: int = 0) -> RelayPlan:
    """The transactions of ``round_`` with ``relayed`` after the ``posted`` updates (the list
    so far, in order): signed updates for a PaperTask (listed by their heads, then every
    column through ``aggregate``), opened commitments for a ConsensusTask (whose relay is
    column 0 and needs the whole model in one column); at most the task's ``max_relayed``.
    Column gas limits are the contract's column bound (``replay_heads``: the task's
    replayRounds x maxParticipants)."""
    if not relayed:
        raise ValueError("nothing to relay")
    for s in relayed:
        if s.round != round_:
            raise ValueError(f"{s.owner}'s update is for round {s.round}, not round {round_}")
    updates = [list(u) for u in posted] + [s.words for s in relayed]
    model_words = len(updates[0])
    if any(len(u) != model_words for u in updates):
        raise ValueError("updates of different lengths")
    if consensus and model_words > column_words:
        raise ValueError(f"a CONSENSUS relay needs the whole model ({model_words} words) in one column "
                         f"({column_words}): its moves are admitted before anything is aggregated; reveal instead")
    if max_relayed is not None and len(relayed) > max_relayed:
        raise ValueError(f"{len(relayed)} updates to relay, but the task's relay carries at most {max_relayed} "
                         f"(maxRelayed): the others post (or reveal) themselves")
    links = [protocol.update_links(u, column_words) for u in updates]
    listing = []
    if not consensus:
        heads = [lk[0] for lk in links[len(posted):]]
        listing.append(PlannedCall("relay", (round_, heads, [s.proof() for s in relayed]),
                                   RELAY_GAS_BASE + RELAY_GAS_PER_SEAT * len(relayed)))
    calls = []
    for c, (f, t) in enumerate(protocol.chunk_ranges(model_words, column_words)):
        words = [w for u in updates for w in u[f:t]]
        nexts = [lk[c + 1] for lk in links]
        gas = column_gas_bound(len(updates), t - f, sorts, consensus, len(relayed), replay_heads)
        if c == 0 and consensus:
            calls.append(PlannedCall("relay", (round_, words, nexts, [s.proof() for s in relayed]), gas))
        else:
            calls.append(PlannedCall("aggregate", (round_, c, words, nexts), gas))
    return RelayPlan(listing, calls)


def still_to_relay(relayed: Sequence[Relayable], listed: Sequence[str], seats: int,
                   max_relayed: int | None = None) -> list[Relayable]:
    """What a relay still carries, in order: not the owners already on the list (they posted
    or revealed themselves), no more than the seats left (others may have taken some), and
    no more than the task relays (``max_relayed``; the rest must post themselves)."""
    on_list = set(listed)
    room = max(0, seats - len(listed))
    if max_relayed is not None:
        room = min(room, max_relayed)
    return [s for s in relayed if s.owner not in on_list][:room]


def contract_abi(build_manifest: Path | str, contract: str = "PaperTask") -> list[dict]:
    """A contract's ABI from ape's compiled manifest (``.build/__local__.json``)."""
    manifest = json.loads(Path(build_manifest).read_text())
    return manifest["contractTypes"][contract]["abi"]


class Web3Task:
    """A PaperTask through bare web3.py: the views a relayer and its clients need, and the
    relay itself. ``ml.chain.BatchTask`` is the full SDK; this is its relay path without ape."""

    def __init__(self, rpc_url: str, address: str, abi: list[dict]) -> None:
        from web3 import Web3

        self.web3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 120}))
        self.address = Web3.to_checksum_address(address)
        self.contract = self.web3.eth.contract(address=self.address, abi=abi)
        c = self.contract.functions
        try:  # only a PaperTask verifies signatures; a ConsensusTask relays openings (BatchTask.relay)
            c.relayDigest(0, b"\0" * 32).call()
        except Exception as err:
            raise ValueError(f"{self.address} is not a PaperTask: this relay carries signed updates (PAPER); "
                             "a ConsensusTask's relay carries commitment openings (ml.chain.BatchTask.relay)") from err
        self.config = cfg = TaskConfig.from_words(c.settings().call())
        self.param_count = cfg.param_count
        self.fmt = cfg.fmt
        self.model_words = cfg.model_words
        self.column_words = cfg.column_words
        self.aggregation = cfg.aggregation
        self.trim = cfg.trim
        self.max_participants = cfg.max_participants
        self.max_relayed = cfg.max_relayed
        self.replay_heads = cfg.replay_heads
        self.chain_id = int(self.web3.eth.chain_id)

    @property
    def current_round(self) -> int:
        return int(self.contract.functions.currentRound().call())

    @property
    def round_open(self) -> bool:
        return bool(self.contract.functions.roundOpen().call())

    def global_ints(self) -> np.ndarray:
        words = [int(w) for w in self.contract.functions.globalModelSlice(0, self.model_words).call()]
        return codec.unpack(words, self.param_count)

    def global_model(self) -> np.ndarray:
        return codec.dequantize(self.global_ints(), self.fmt)

    def encode(self, weights: np.ndarray) -> tuple[list[int], int]:
        w = np.asarray(weights, dtype=np.float64).ravel()
        if w.size != self.param_count:
            raise ValueError(f"weights have {w.size} values; the task expects {self.param_count}")
        return codec.encode(w, self.fmt)

    def _entrants(self, round_: int) -> list[str]:
        c = self.contract.functions
        return [c.entrant(round_, i).call() for i in range(int(c.roundEntrants().call()))]

    def _posted_words(self, round_: int, participant: str) -> list[int]:
        logs = self.contract.events.Posted().get_logs(from_block=0, argument_filters={
            "round": round_, "participant": participant})
        words: list[int] = []
        for e in sorted(logs, key=lambda e: int(e["args"]["post"])):
            tx = self.web3.eth.get_transaction(e["transactionHash"])
            _, args = self.contract.decode_function_input(tx["input"])
            words.extend(int(w) for w in args["words"])
        return words

    def _send(self, acct: Any, plan: Sequence[PlannedCall], timeout: float = 600) -> list[Any]:
        """Sends every planned call at once (consecutive nonces) and waits for all."""
        c = self.contract.functions
        nonce = self.web3.eth.get_transaction_count(acct.address, "pending")
        gas_price = int(self.web3.eth.gas_price) * 2
        hashes = []
        for i, call in enumerate(plan):
            tx = getattr(c, call.method)(*call.args).build_transaction({
                "from": acct.address, "nonce": nonce + i, "gas": call.gas, "maxFeePerGas": gas_price,
                "maxPriorityFeePerGas": 0, "chainId": self.chain_id})
            hashes.append(self.web3.eth.send_raw_transaction(acct.sign_transaction(tx).raw_transaction))
        receipts = [self.web3.eth.wait_for_transaction_receipt(h, timeout=timeout) for h in hashes]
        for call, r in zip(plan, receipts):
            if r["status"] != 1:
                raise RuntimeError(f"{call.method} transaction {r['transactionHash'].hex()} reverted")
        return receipts

    def _seal(self, acct: Any, round_: int, tries: int = 8, column_next: bool = False) -> list[Any]:
        """Seals the round's seed (PaperTask.sealSeed): a call in the armed block takes its
        randomness; one that lands later arms again, so it is sent again. ``column_next``:
        once the armed block is next, column 0 (sent next) takes the seed itself."""
        receipts = []
        for _ in range(tries):
            if int.from_bytes(bytes(self.contract.functions.roundSeed(round_).call()), "big"):
                return receipts
            at = protocol.of_round(int(self.contract.functions.seedArm().call()), round_)
            if at > self.web3.eth.block_number:
                while self.web3.eth.block_number + 1 < at:  # the node mines on its schedule
                    time.sleep(0.2)
                if column_next:
                    return receipts
            receipts += self._send(acct, [PlannedCall("sealSeed", (round_,), SEAL_GAS)])
        raise RuntimeError(f"round {round_}: the seed was not sealed after {tries} tries")

    def relay(self, relayer_key: str, relayed: Sequence[SignedUpdate], timeout: float = 600) -> dict[str, Any]:
        """Carries ``relayed`` beside whatever was posted (after the posting deadline unless
        they fill every seat) and waits for every column; returns what the round did."""
        from eth_account import Account

        acct = Account.from_key(relayer_key)
        c = self.contract.functions
        round_ = self.current_round
        names = self._entrants(round_)
        seats, cap = self.max_participants, self.max_relayed
        if len(names) + len(still_to_relay(relayed, names, seats, cap)) < seats:
            # Not a full house: the contract accepts it only after the deadline (posts may
            # arrive until then, so the list is read again after).
            left = int(c.postDeadline().call()) - int(self.web3.eth.get_block("latest")["timestamp"])
            if left >= 0:
                time.sleep(left + 1)
            names = self._entrants(round_)
        relayed = still_to_relay(relayed, names, seats, cap)
        if not relayed:
            raise RuntimeError(f"round {round_}: nothing left to relay (every seat posted); aggregate instead")
        plan = relay_plan(round_, [self._posted_words(round_, a) for a in names], relayed, self.column_words,
                          self.aggregation != "mean", max_relayed=cap, replay_heads=self.replay_heads)
        receipts = self._send(acct, plan.listing)
        receipts += self._seal(acct, round_, column_next=True)
        receipts += self._send(acct, plan.columns)
        rewarded = self.contract.events.Rewarded().process_receipt(receipts[-1])
        return {
            "round": round_, "participants": len(names) + len(relayed), "relayed": len(relayed),
            "gas": sum(int(r["gasUsed"]) for r in receipts), "transactions": len(receipts),
            "max_tx_gas": max(int(r["gasUsed"]) for r in receipts),
            "blocks": sorted({int(r["blockNumber"]) for r in receipts}),
            "rewards": {e["args"]["participant"]: int(e["args"]["reward"]) for e in rewarded},
        }
