"""The task client of the blob plane: the only code that builds BlobEngine calls.

``BlobTaskClient`` posts updates as EIP-4844 blob transactions, asserts claims, audits them
(the watcher's work: recompute the round with ``ml.blobs`` and find what is wrong),
disputes, finalizes and reads the model back, verified against the chain's commitments.

Where blobs come from. The chain keeps only each blob list's chain word; consensus nodes
keep blobs ~18 days. A client finds a blob through the ``BlobsPosted`` event of the
transaction that carried it, then takes it from, in order: its own memory, an archive
folder (``archive``: one file per versioned hash, written for every blob it sees), and the
node (``anvil_getBlobsByTransactionHash`` on anvil). Every blob is checked against its
versioned hash before use, so a source can be anyone.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from . import blobs as B
from .settings import BlobConfig, BlobSettings
from .transport import (ApeTransport, Call, Event, EventDecoder, Receipt, TaskError, Transport, Web3Transport,
                        abi_of, broadcast_blob_transactions, error_name,
                        send_blob_transaction)

log = logging.getLogger("fedchain.blobs")

#: Rule name -> its blob-plane contract.
BLOB_RULES = {"paper": "BlobPaperRule", "consortium": "BlobConsortiumRule"}


def _rule_args(rule: str, settings: BlobSettings) -> tuple:
    """The rule's constructor arguments: PAPER its tiers, the consortium its one reward."""
    if rule == "consortium":
        return (settings.as_tuple(), int(settings.tier_rewards[0]))
    return (settings.as_tuple(), list(settings.tier_thresholds), list(settings.tier_rewards))
ENGINE = "BlobEngine"
#: Kinds of BlobsPosted.
UPDATE, DRAFT = 0, 1
#: Gas limits of a post or draft transaction sent in a batch (the node cannot estimate a
#: sender's later transactions before its earlier ones are mined): a completing post writes
#: the seat, the replay record and the chain word and calls the rule (~150k measured).
BATCH_POST_GAS, BATCH_DRAFT_GAS = 400_000, 200_000


@dataclass(frozen=True)
class BlobView:
    """BlobEngine.roundView()."""

    round: int
    open: bool
    posting_closed: bool
    post_deadline: int
    entrants: int
    version: int
    claimant: str
    claim_deadline: int
    reward_pool: int
    round_reserve: int
    total_owed: int
    bonds: int
    ended_at: int
    model_set: bool


@dataclass(frozen=True)
class LiveClaim:
    """The claim standing in a round: who, until when, its blobs and scores."""

    claimant: str
    deadline: int
    model: list[bytes]  # versioned hashes of the model's blobs
    sums: list[bytes]  # ... and of the score trees'
    scores: list[int]


@dataclass(frozen=True)
class Dispute:
    """What is wrong with a claim: ``kind`` "element" (``at`` = (element,)) or "score"
    (``at`` = (seat, level, index))."""

    kind: str
    at: tuple[int, ...]


class BlobTaskClient:
    """Handle on one blob-plane task (its engine and rule) over a transport."""

    def __init__(self, transport: Transport, address: str, abis: dict[str, list[dict]] | None = None,
                 archive: str | Path | None = None) -> None:
        self.transport = transport
        self.web3 = w3 = transport.web3
        self.address = w3.to_checksum_address(address)
        abi = (lambda name: abis[name]) if abis else abi_of
        self._engine = w3.eth.contract(address=self.address, abi=abi(ENGINE))
        self.rule_address = self._engine.functions.rule().call()
        probe = w3.eth.contract(address=self.rule_address, abi=[{
            "type": "function", "name": "name", "stateMutability": "view", "inputs": [],
            "outputs": [{"name": "", "type": "string"}]}])
        self.rule = probe.functions.name().call()
        if self.rule not in BLOB_RULES:
            raise ValueError(f"no blob-plane client for rule {self.rule!r}")
        self.rule_contract_name = BLOB_RULES[self.rule]
        self._rule = w3.eth.contract(address=self.rule_address, abi=abi(self.rule_contract_name))
        self._abis = [self._engine.abi, self._rule.abi]
        self._decoder = EventDecoder(w3, {self.address: self._engine.abi, self.rule_address: self._rule.abi})
        self.config = BlobConfig.from_words(self._engine.functions.settings().call())
        self.layout = B.BlobLayout(self.config.param_count, self.config.value_bits)
        self.fmt = self.config.fmt
        self.archive = Path(archive) if archive else None
        self._blobs: dict[bytes, bytes] = {}  # versioned hash -> blob (verified)
        self._commitments: dict[bytes, bytes] = {}
        self._ape_targets: dict[str, Any] = {}
        self._limits: B.BlobLimits | None = None

    # --- construction ------------------------------------------------------------------

    @classmethod
    def at(cls, address: str, transport: Transport | None = None, archive: str | Path | None = None
           ) -> "BlobTaskClient":
        if transport is None:
            from ape import chain

            transport = ApeTransport(chain.provider)
        return cls(transport, address, archive=archive)

    @classmethod
    def over_web3(cls, rpc_url: str, address: str, abis: dict[str, list[dict]] | None = None,
                  archive: str | Path | None = None) -> "BlobTaskClient":
        from web3 import Web3

        return cls(Web3Transport(Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 120}))), address, abis,
                   archive)

    @classmethod
    def deploy(cls, sender: Any, settings: BlobSettings, funding: int = 0, rule: str = "paper",
               archive: str | Path | None = None) -> "BlobTaskClient":
        """Deploys a blob task with ape: the rule's contract, which creates its engine."""
        from ape import chain, project

        if rule not in BLOB_RULES:
            raise ValueError(f"rule must be one of {', '.join(BLOB_RULES)} on the blob plane, got {rule!r}")
        container = getattr(project, BLOB_RULES[rule])
        deployed = container.deploy(*_rule_args(rule, settings), sender=sender, value=funding)
        return cls(ApeTransport(chain.provider), str(deployed.engine()), archive=archive)

    @classmethod
    def deploy_over_web3(cls, rpc_url: str, sender: Any, settings: BlobSettings, funding: int = 0,
                         rule: str = "paper", archive: str | Path | None = None) -> "BlobTaskClient":
        """Deploys a blob task through bare web3.py (``sender``: an eth-account key), with the
        project's compiled contracts."""
        import json

        from web3 import Web3

        from .transport import MANIFEST

        w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 120}))
        kind = json.loads(MANIFEST.read_text())["contractTypes"][BLOB_RULES[rule]]
        container = w3.eth.contract(abi=kind["abi"], bytecode=kind["deploymentBytecode"]["bytecode"])
        tx = container.constructor(*_rule_args(rule, settings)).build_transaction({
            "from": sender.address, "value": funding, "chainId": int(w3.eth.chain_id),
            "nonce": w3.eth.get_transaction_count(sender.address, "pending")})
        receipt = w3.eth.wait_for_transaction_receipt(
            w3.eth.send_raw_transaction(sender.sign_transaction(tx).raw_transaction), timeout=120)
        if int(receipt["status"]) != 1:
            raise TaskError(f"deploying {BLOB_RULES[rule]} reverted")
        rule_contract = w3.eth.contract(address=receipt["contractAddress"], abi=kind["abi"])
        return cls(Web3Transport(w3), rule_contract.functions.engine().call(), archive=archive)

    @classmethod
    def launch(cls, owner: Any, settings: BlobSettings, initial: np.ndarray, funding: int, rule: str = "paper",
               archive: str | Path | None = None) -> "BlobTaskClient":
        """Deploys, posts the initial model and opens round 1."""
        task = cls.deploy(owner, settings, funding, rule, archive)
        task.set_initial_model(owner, initial)
        task.start_round(owner)
        return task

    # --- sending -------------------------------------------------------------------------

    def _target(self, target: str) -> Any:
        if not isinstance(self.transport, ApeTransport):
            return self._engine if target == "engine" else self._rule
        if target not in self._ape_targets:
            from ape import project

            name, address = (ENGINE, self.address) if target == "engine" else (self.rule_contract_name,
                                                                              self.rule_address)
            self._ape_targets[target] = getattr(project, name).at(address)
        return self._ape_targets[target]

    def send(self, method: str, args: tuple, sender: Any, value: int = 0, gas: int | None = None) -> Receipt:
        """One engine call (no blobs), estimated against the pending block first: a call
        that would revert raises ``TaskError`` naming the contract's error before anything
        is signed (a watcher never pays for a dispute that cannot win)."""
        fn = getattr(self._engine.functions, method)(*args)
        try:
            estimate = int(fn.estimate_gas({"from": _addr(sender), "value": value}, "pending"))
        except Exception as err:  # noqa: BLE001 - the node's revert, named from the ABIs
            raise TaskError(f"{method} would revert: {error_name(str(err), self._abis)}") from err
        gas = gas if gas is not None else estimate * 6 // 5 + 20_000
        raw = self.transport.send(Call("engine", method, args, value, gas), self._target("engine"), sender)
        return self._receipt(raw)

    def send_rule(self, method: str, args: tuple, sender: Any) -> Receipt:
        """One call of the task's rule (the consortium's allowlist)."""
        return self._receipt(self.transport.send(Call("rule", method, args), self._target("rule"), sender))

    def add_members(self, sponsor: Any, accounts: Sequence[Any]) -> None:
        """Consortium: the sponsor lists ``accounts`` (those not listed yet)."""
        new = [_addr(a) for a in accounts if not self.is_member(a)]
        if new:
            self.send_rule("addMembers", (new,), sponsor)

    def remove_members(self, sponsor: Any, accounts: Sequence[Any]) -> None:
        self.send_rule("removeMembers", ([_addr(a) for a in accounts],), sponsor)

    def is_member(self, account: Any) -> bool:
        return bool(self._rule.functions.isMember(_addr(account)).call())

    def send_blobs(self, method: str, args: tuple, sender: Any, blobs: Sequence[bytes]) -> Receipt:
        """One engine call in a blob transaction carrying ``blobs``."""
        raw = send_blob_transaction(self.web3, self._engine, Call("engine", method, args),
                                    self.transport.key_of(sender), blobs, self._abis)
        receipt = self._receipt(raw)
        for event in receipt.named("BlobsPosted"):
            for h, blob in zip(event.hashes, blobs):
                self._keep(bytes(h), bytes(blob))
        return receipt

    def _receipt(self, raw: Any) -> Receipt:
        tx_hash = _hex(raw["transactionHash"])
        data = self.web3.eth.get_transaction(tx_hash)["input"]
        events = [e for e in (self._decoder.decode(log) for log in raw["logs"]) if e is not None]
        return Receipt(tx_hash, int(raw["gasUsed"]), int(raw["blockNumber"]), len(bytes(data)), events)

    def broadcast_blobs(self, method: str, items: Sequence[tuple[tuple, Any, Sequence[bytes]]], gas: int
                        ) -> list[Receipt]:
        """Sends every ``(args, sender, blobs)`` call at once (each sender's in order) and
        waits for all: a phase then takes the blocks the node's blobs per block force. The
        blob fee cap leaves room for the fee's rise over a burst of full blocks."""
        fee = max(10**9, 100 * int(self.web3.eth.blob_base_fee))
        calls = [(self._engine, Call("engine", method, args, gas=gas), self.transport.key_of(sender), blobs)
                 for args, sender, blobs in items]
        receipts = [self._receipt(r) for r in broadcast_blob_transactions(self.web3, calls, self._abis,
                                                                          blob_fee=fee)]
        for receipt, (_, _, blobs) in zip(receipts, items):
            for event in receipt.named("BlobsPosted"):
                for h, blob in zip(event.hashes, blobs):
                    self._keep(bytes(h), bytes(blob))
        return receipts

    def post_many(self, round_: int, items: Sequence[tuple[Any, np.ndarray]], proof: bytes = b"") -> list[Receipt]:
        """Every ``(sender, update)`` posted at once, as independent clients would."""
        per_tx = self.limits.per_tx
        calls = []
        for sender, ints in items:
            blobs = B.encode_update(ints, self.layout)
            calls += [((round_, proof), sender, blobs[i : i + per_tx]) for i in range(0, len(blobs), per_tx)]
        return self.broadcast_blobs("post", calls, BATCH_POST_GAS)

    def draft_at_once(self, sender: Any, round_: int, blobs: Sequence[bytes]) -> list[Receipt]:
        """A claim's blobs drafted in transactions sent at once."""
        per_tx = self.limits.per_tx
        return self.broadcast_blobs("draft", [((round_,), sender, blobs[i : i + per_tx])
                                              for i in range(0, len(blobs), per_tx)], BATCH_DRAFT_GAS)

    def _in_groups(self, method: str, args: tuple, sender: Any, blobs: Sequence[bytes]) -> list[Receipt]:
        per_tx = self.limits.per_tx
        return [self.send_blobs(method, args, sender, blobs[i : i + per_tx]) for i in range(0, len(blobs), per_tx)]

    @property
    def limits(self) -> B.BlobLimits:
        """The node's blob limits (read once)."""
        if self._limits is None:
            self._limits = B.blob_limits(self.web3)
        return self._limits

    def events(self, name: str, **filters: Any) -> list[Event]:
        """Every ``name`` event of the engine so far whose indexed ``filters`` match."""
        logs = getattr(self._engine.events, name)().get_logs(from_block=0, argument_filters=filters or None)
        return [Event(e["event"], dict(e["args"]), str(e["address"]), _hex(e["transactionHash"]),
                      int(e["blockNumber"])) for e in logs]

    # --- reads ---------------------------------------------------------------------------

    def view(self) -> BlobView:
        v = self._engine.functions.roundView().call()
        return BlobView(*[int(x) if isinstance(x, int) and not isinstance(x, bool) else x for x in v])

    @property
    def current_round(self) -> int:
        return int(self._engine.functions.currentRound().call())

    @property
    def version(self) -> int:
        return int(self._engine.functions.version().call())

    def withdrawable(self, account: Any) -> int:
        return int(self._engine.functions.withdrawable(_addr(account)).call())

    def model_chain(self, version: int) -> int:
        return int.from_bytes(self._engine.functions.modelChain(version).call(), "big")

    def seats(self, round_: int) -> list[str]:
        """The round's complete updates' owners, in seat order."""
        posted = sorted(self.events("Posted", round=round_), key=lambda e: e.index)
        return [str(e.participant) for e in posted]

    def update_hashes(self, round_: int, who: str) -> list[tuple[bytes, str]]:
        """``who``'s update blobs of ``round_``: (versioned hash, carrying transaction), in order."""
        events = sorted(self.events("BlobsPosted", round=round_, account=_addr(who)), key=lambda e: e.first)
        return [(bytes(h), e.tx_hash) for e in events if e.kind == UPDATE for h in e.hashes]

    def live_claim(self, round_: int) -> LiveClaim | None:
        """The claim standing in ``round_`` (None if none)."""
        claimant, deadline, _, _ = self._engine.functions.claimOf().call()
        if int(deadline) == 0 or self.current_round != round_:
            return None
        return self._claim_event(round_, claimant, int(deadline))

    def _claim_event(self, round_: int, claimant: str, deadline: int | None = None) -> LiveClaim:
        events = [e for e in self.events("Asserted", round=round_, claimant=claimant)
                  if deadline is None or int(e.deadline) == deadline]
        e = events[-1]
        hashes = [bytes(h) for h in e.blobs]
        m = self.config.blobs_per_update
        return LiveClaim(str(claimant), int(e.deadline), hashes[:m], hashes[m:], [int(s) for s in e.scores])

    def model_hashes(self, version: int) -> list[tuple[bytes, str]]:
        """Model ``version``'s blobs: (versioned hash, carrying transaction)."""
        if version == 0:
            # the owner's round-0 drafts, in order: the initial model is the run of
            # blobsPerUpdate of them whose chain is the one the engine keeps (drafts may have
            # been discarded and started again, even within one block)
            owner = self._engine.functions.owner().call()
            carriers = self._carriers(0, owner)
            m, want = self.config.blobs_per_update, self.model_chain(0)
            runs = [carriers[i : i + m] for i in range(len(carriers) - m, -1, -1)]
            found = next((run for run in runs if B.chain_of([h for h, _ in run]) == want), None)
            if found is None:
                raise TaskError("the initial model's blobs are not among the owner's round-0 drafts")
            hashes = [h for h, _ in found]
        else:
            done = self.events("RoundFinalized")
            finalized = next(e for e in done if int(e.version) == version)
            round_ = int(finalized.round)
            asserted = [e for e in self.events("Asserted", round=round_) if e.block_number <= finalized.block_number]
            claim = asserted[-1]
            hashes = [bytes(h) for h in claim.blobs[: self.config.blobs_per_update]]
            carriers = self._carriers(round_, claim.claimant)
        where = dict(carriers)
        return [(h, where[h]) for h in hashes]

    def _carriers(self, round_: int, who: str) -> list[tuple[bytes, str]]:
        """``who``'s draft blobs of ``round_`` in chain order: (versioned hash, carrying tx)."""
        events = self.events("BlobsPosted", round=round_, account=_addr(who))
        return [(bytes(h), e.tx_hash) for e in events if e.kind == DRAFT for h in e.hashes]

    # --- blobs ---------------------------------------------------------------------------

    def _keep(self, vh: bytes, blob: bytes) -> None:
        self._blobs[vh] = blob
        if self.archive is not None:
            self.archive.mkdir(parents=True, exist_ok=True)
            path = self.archive / f"{vh.hex()}.blob"
            if not path.exists():
                path.write_bytes(blob)

    def blob(self, vh: bytes, tx_hash: str | None = None) -> bytes:
        """The blob whose versioned hash is ``vh``: from memory, the archive, or the node
        (by the transaction that carried it), checked against ``vh``."""
        vh = bytes(vh)
        if vh in self._blobs:
            return self._blobs[vh]
        candidates: list[bytes] = []
        if self.archive is not None and (self.archive / f"{vh.hex()}.blob").exists():
            candidates.append((self.archive / f"{vh.hex()}.blob").read_bytes())
        if tx_hash is not None:
            candidates.extend(self._node_blobs(tx_hash))
        for blob in candidates:
            try:
                c = B.commitment(blob)
            except Exception:  # noqa: BLE001 - not a blob at all (wrong size, an element past the modulus)
                continue
            if B.versioned_hash(c) == vh:
                self._commitments[vh] = c
                self._keep(vh, blob)
                return blob
        raise TaskError(f"blob {vh.hex()} is neither archived nor served by the node "
                        f"(nodes keep blobs ~18 days; ask the task's keeper for its archive)")

    def _node_blobs(self, tx_hash: str) -> list[bytes]:
        try:
            reply = self.web3.provider.make_request("anvil_getBlobsByTransactionHash", [tx_hash])
        except Exception:  # noqa: BLE001 - a node without the method: the archive is the source
            return []
        return [bytes.fromhex(str(b)[2:]) for b in (reply.get("result") or [])]

    def blobs(self, located: Sequence[tuple[bytes, str]]) -> list[bytes]:
        return [self.blob(h, tx) for h, tx in located]

    def commitment_of(self, vh: bytes) -> bytes:
        vh = bytes(vh)
        if vh not in self._commitments:
            self._commitments[vh] = B.commitment(self._blobs[vh])
        return self._commitments[vh]

    def _opening(self, vh: bytes, index: int) -> bytes:
        return B.opening(self._blobs[bytes(vh)], index, self.commitment_of(vh))

    # --- the model -------------------------------------------------------------------------

    def model_ints(self, version: int | None = None) -> np.ndarray:
        """Model ``version`` (default: the latest) as integers, from its blobs, verified
        against the chain word the engine keeps."""
        v = self.version if version is None else version
        located = self.model_hashes(v)
        if B.chain_of([h for h, _ in located]) != self.model_chain(v):
            raise TaskError(f"model {v}: the blobs found are not the ones the chain binds")
        return B.decode_update(self.blobs(located), self.layout)

    def global_model(self) -> np.ndarray:
        return self.model_ints() / self.fmt.scale

    def encode(self, weights: np.ndarray) -> np.ndarray:
        """Float weights -> the task's integers."""
        from . import codec

        return codec.quantize(np.asarray(weights, np.float64).ravel(), self.fmt).ints

    # --- the round -------------------------------------------------------------------------

    def fund(self, sender: Any, amount: int) -> Receipt:
        return self.send("fund", (), sender, value=amount)

    def set_initial_model(self, owner: Any, ints: np.ndarray) -> list[Receipt]:
        receipts = self._in_groups("draft", (0,), owner, B.encode_update(ints, self.layout))
        receipts.append(self.send("setInitialModel", (), owner))
        return receipts

    def start_round(self, sender: Any) -> int:
        self.send("startRound", (), sender)
        return self.current_round

    def post(self, sender: Any, round_: int, ints: np.ndarray, proof: bytes = b"") -> list[Receipt]:
        """Posts an update (integers in the task's range) as blobs, as many transactions as
        the node's per-transaction limit needs; the last one takes the seat."""
        return self.post_blobs(sender, round_, B.encode_update(ints, self.layout), proof)

    def post_blobs(self, sender: Any, round_: int, blobs: Sequence[bytes], proof: bytes = b"") -> list[Receipt]:
        return self._in_groups("post", (round_, proof), sender, blobs)

    def round_updates(self, round_: int) -> list[np.ndarray]:
        """The seats' updates of ``round_``, decoded from their blobs."""
        return [B.decode_update(self.blobs(self.update_hashes(round_, who)), self.layout)
                for who in self.seats(round_)]

    def honest_claim(self, round_: int) -> B.Claim:
        """The claim an honest asserter makes for the current round."""
        updates = self.round_updates(round_)
        return B.make_claim(updates, self.model_ints(), self.layout, self.config.aggregation, self.config.trim)

    def assert_claim(self, sender: Any, round_: int, claim: B.Claim | None = None) -> Receipt:
        """Drafts ``claim``'s blobs (default: the honest claim) and asserts it, bonded."""
        claim = claim if claim is not None else self.honest_claim(round_)
        if int(self._engine.functions.draftOf(round_, _addr(sender)).call()[1]):
            self.send("discardDraft", (round_,), sender)
        drafted = self._in_groups("draft", (round_,), sender, claim.blobs)
        hashes = [bytes(h) for r in drafted for e in r.named("BlobsPosted") for h in e.hashes]
        return self.send("assertModel", (round_, hashes, [int(s) for s in claim.scores]), sender,
                         value=self.config.assert_bond)

    def audit(self, round_: int, honest: B.Claim | None = None) -> Dispute | None:
        """What is wrong with the live claim of ``round_`` (None if nothing, or no claim):
        recomputes the round from the posted blobs and compares."""
        live = self.live_claim(round_)
        if live is None:
            return None
        honest = honest if honest is not None else self.honest_claim(round_)
        model = [self.blob(h, self._carrier_of(round_, live.claimant, h)) for h in live.model]
        element = B.wrong_element(model, honest.model_blobs)
        if element is not None:
            return Dispute("element", (element,))
        sums = [self.blob(h, self._carrier_of(round_, live.claimant, h)) for h in live.sums]
        node = B.inconsistent_node(live.scores, sums, honest)
        return Dispute("score", node) if node is not None else None

    def _carrier_of(self, round_: int, who: str, vh: bytes) -> str | None:
        return dict(self._carriers(round_, who)).get(bytes(vh))

    def dispute(self, sender: Any, round_: int, dispute: Dispute) -> Receipt:
        if dispute.kind == "element":
            return self.dispute_element(sender, round_, dispute.at[0])
        return self.dispute_score(sender, round_, *dispute.at)

    def dispute_element(self, sender: Any, round_: int, element: int) -> Receipt:
        """Disputes the live claim's model at ``element`` (opens it in the model and in
        every seat's update)."""
        live = self._require_claim(round_)
        for h in live.model:
            self.blob(h, self._carrier_of(round_, live.claimant, h))
        b, at = divmod(element, B.FIELD_ELEMENTS)
        openings = [self._opening(live.model[b], at)] if b < len(live.model) else [b"\0" * B.OPENING_BYTES]
        update_lists: list[list[bytes]] = []
        if element < self.layout.elements:
            for who in self.seats(round_):
                located = self.update_hashes(round_, who)
                self.blobs(located)
                update_lists.append([h for h, _ in located])
                openings.append(self._opening(located[b][0], at))
        return self.send("disputeElement", (round_, element, live.model, update_lists, b"".join(openings)), sender)

    def dispute_score(self, sender: Any, round_: int, seat: int, level: int, index: int) -> Receipt:
        """Disputes node (``level``, ``index``) of seat ``seat``'s score tree."""
        live = self._require_claim(round_)
        lay = self.layout
        for h in live.sums:
            self.blob(h, self._carrier_of(round_, live.claimant, h))
        who = self.seats(round_)[seat]
        update = self.update_hashes(round_, who)
        old = self.model_hashes(self.version)
        self.blobs(update)
        self.blobs(old)
        openings: list[bytes] = []
        base = seat * lay.slots_per_update

        def slot_opening(slot: int) -> bytes:
            e = slot // B.SLOTS_PER_ELEMENT
            return self._opening(live.sums[e // B.FIELD_ELEMENTS], e % B.FIELD_ELEMENTS)

        if level < lay.levels:
            openings.append(slot_opening(base + lay.level_offset(level) + index))
        if level == 0:
            first = index * B.CHUNK_ELEMENTS
            last = min(first + B.CHUNK_ELEMENTS, lay.elements)
            b = first // B.FIELD_ELEMENTS
            for src in (update, old):
                openings.extend(self._opening(src[b][0], e % B.FIELD_ELEMENTS) for e in range(first, last))
        else:
            count = lay.level_counts[level - 1]
            lo, hi = index * B.FANOUT, min(index * B.FANOUT + B.FANOUT, count)
            start = base + lay.level_offset(level - 1)
            elements = sorted({(start + j) // B.SLOTS_PER_ELEMENT for j in range(lo, hi)})
            for e in elements:
                openings.append(self._opening(live.sums[e // B.FIELD_ELEMENTS], e % B.FIELD_ELEMENTS))
        return self.send("disputeScore", (round_, seat, level, index, live.sums, live.scores, [h for h, _ in update],
                                          [h for h, _ in old], b"".join(openings)), sender)

    def _require_claim(self, round_: int) -> LiveClaim:
        live = self.live_claim(round_)
        if live is None:
            raise TaskError(f"round {round_} has no live claim to dispute")
        return live

    def finalize(self, sender: Any, round_: int) -> Receipt:
        live = self._require_claim(round_)
        return self.send("finalize", (round_, live.sums, live.scores), sender)

    def abandon(self, sender: Any, round_: int) -> Receipt:
        return self.send("abandon", (round_,), sender)

    def withdraw(self, sender: Any) -> int:
        before = self.withdrawable(sender)
        self.send("withdraw", (), sender)
        return before

    def advance_time(self, seconds: int) -> None:
        self.transport.advance_time(seconds)


def is_blob_task(web3: Any, address: str) -> bool:
    """Whether ``address`` is a blob-plane engine (it answers ``blobsPerUpdate``)."""
    probe = web3.eth.contract(address=web3.to_checksum_address(address), abi=[{
        "type": "function", "name": "blobsPerUpdate", "stateMutability": "view", "inputs": [],
        "outputs": [{"name": "", "type": "uint256"}]}])
    try:
        return int(probe.functions.blobsPerUpdate().call()) > 0
    except Exception:  # noqa: BLE001 - no such function, or no contract: not a blob task
        return False


def _addr(account: Any) -> str:
    return str(getattr(account, "address", account))


def _hex(h: Any) -> str:
    if isinstance(h, (bytes, bytearray)):
        return "0x" + bytes(h).hex()
    s = str(h)
    return s if s.startswith("0x") else "0x" + s
