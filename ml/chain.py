"""The SDK: the only Python code that builds calls to the task contracts (PaperTask,
ConsensusTask).

Every call is a value (``Call``: method, arguments, wei, gas limit) built in one place and
either sent alone or broadcast with others, so drivers (the node code, the studies, the
scripts) speak in protocol words (``task.submit(account, round, update)``) and never
restate an argument list. Needs a connected ape provider (inside ``ape run``/``ape test``,
or ``networks.parse_network_choice``). Every write goes through ``ml.codec``; every link
and commitment through ``ml.protocol``.
"""

from __future__ import annotations

import dataclasses
import os
import time

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from . import codec, protocol
from .relay import lanes_ok, relay_plan, still_to_relay
from .signing import OpenedUpdate, Relayable, SignedUpdate, compact
from .settings import (COMMIT_GAS, DRAW_GAS, DROP_GAS_BASE, DROP_GAS_PER_SEAT, SEAL_GAS, BatchSettings,
                       ConsensusSettings, Status, TaskConfig, column_gas_bound, post_gas)

#: Words fetched per view call when reading a large model (keeps eth_call responses small).
VIEW_WORDS_PER_CALL = 2048


@dataclass(frozen=True)
class Call:
    """One contract call as a value: ``send`` it, or ``broadcast`` it with others."""

    method: Any  # an ape contract method handle
    args: tuple
    value: int = 0
    gas: int | None = None  # None: the node estimates

    def send(self, sender: Any) -> Any:
        kw: dict[str, Any] = {"sender": sender, "value": self.value}
        if self.gas is not None:
            kw["gas_limit"] = self.gas
        return self.method(*self.args, **kw)


@dataclass(frozen=True)
class Update:
    """A quantized update as it travels (PAPER): the packed words of every parameter."""

    words: list[int]
    saturated: int = 0  # values clipped to the fixed-point range when quantizing


@dataclass(frozen=True)
class SeatDraw:
    """What ConsensusTask.drawSeats decided for a round."""

    round: int
    committers: int
    seats: int
    move_reference: int
    seed: bytes
    gas_used: int


def broadcast(provider: Any, calls: Sequence[tuple[Call, Any]], timeout: float = 600.0) -> list[Any]:
    """Signs and sends every ``(call, sender)`` without waiting for any, numbering each
    sender's transactions in order, then waits for all and returns their receipts in the
    same order. Clients are independent: none waits for another's transaction, so a phase
    takes as many blocks as the block gas limit forces. Explicit gas limits (not the
    block's) let a block pack as many transactions as fit. A node may drop a sent
    transaction from its pool (anvil does, with several large ones from one sender): one
    that is neither mined nor known to the node is sent again, byte for byte."""
    web3 = provider.web3
    nonces: dict[str, int] = {}
    raws, hashes = [], []
    for call, sender in calls:
        key = str(sender.address)
        nonce = nonces.get(key, int(sender.nonce))
        nonces[key] = nonce + 1
        raw = call.method.as_transaction_bytes(*call.args, sender=sender, value=call.value, gas_limit=call.gas,
                                               nonce=nonce)
        raws.append(raw)
        hashes.append(web3.eth.send_raw_transaction(raw))
    receipts = []
    deadline = time.monotonic() + timeout
    for (call, _), raw, h in zip(calls, raws, hashes):
        receipt = _await_receipt(provider, raw, h, deadline)
        if receipt.failed:
            raise RuntimeError(f"{call.method.abis[0].name} transaction {receipt.txn_hash} reverted: "
                               f"{_revert_reason(provider, receipt, call)}")
        receipts.append(receipt)
    return receipts


def _await_receipt(provider: Any, raw: bytes, h: Any, deadline: float) -> Any:
    from web3.exceptions import TransactionNotFound

    web3 = provider.web3
    tx_hash = h.hex() if isinstance(h, bytes) else str(h)
    while True:
        try:
            web3.eth.get_transaction_receipt(tx_hash)
            return provider.get_receipt(tx_hash, timeout=60)
        except TransactionNotFound:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"transaction {tx_hash} not mined in time")
        try:
            web3.eth.get_transaction(tx_hash)
        except TransactionNotFound:
            web3.eth.send_raw_transaction(raw)  # dropped from the pool: send it again
        time.sleep(0.25)


def _revert_reason(provider: Any, receipt: Any, call: Call) -> str:
    """Why a mined transaction reverted: the custom error its replay raises, by name (or the
    gas it ran out of), for a message a person can act on."""
    web3 = provider.web3
    tx = web3.eth.get_transaction(receipt.txn_hash)
    if int(receipt.gas_used) >= int(tx["gas"]):
        return f"out of gas (limit {int(tx['gas']):,})"
    try:
        web3.eth.call({"from": tx["from"], "to": tx["to"], "data": tx["input"], "value": tx["value"],
                       "gas": tx["gas"]}, int(receipt.block_number) - 1)
    except Exception as err:  # noqa: BLE001 - any node error is the reason we report
        from eth_utils import keccak

        text = str(err)
        for e in call.method.contract.contract_type.errors:
            if keccak(text=e.selector)[:4].hex() in text:
                return f"{e.name} ({text.splitlines()[0][:200]})"
        return text.splitlines()[0][:300]
    return "unknown (the replay did not revert)"


def _interval_mining(provider: Any) -> bool:
    """Whether the node is an anvil that mines on an interval rather than per transaction."""
    try:
        return not bool(provider.make_request("anvil_getAutomine", []))
    except Exception:  # noqa: BLE001 - any other node: not an anvil, nothing to work around
        return False


def _automine(provider: Any) -> bool:
    """Whether the node is an anvil that mines a block per transaction (a dev chain)."""
    try:
        return bool(provider.make_request("anvil_getAutomine", []))
    except Exception:  # noqa: BLE001 - any other node mines on its own schedule
        return False


def await_block(provider: Any, number: int, poll: float = 0.5) -> None:
    """Returns once the next block to be mined is ``number`` (or later): a seed armed for a
    block is taken by a call in that block. An automining anvil mines empty blocks to get
    there; any other node is waited for."""
    web3 = provider.web3
    automine = _automine(provider)
    while web3.eth.block_number + 1 < number:
        if automine:
            provider.make_request("evm_mine", [])
        else:
            time.sleep(poll)


def _event_args(receipt: Any, name: str) -> list[Any]:
    return [log for log in receipt.events if log.event_name == name]


@dataclass(frozen=True)
class Posted:
    """One complete post (all its transactions) of an update to a batch task."""

    round: int
    participant: str
    index: int  # place on the round's list
    gas_used: int
    transactions: int
    max_tx_gas: int
    max_tx_bytes: int
    saturated: int = 0


@dataclass(frozen=True)
class BatchRound:
    """What aggregating one batch round did (every column transaction)."""

    round: int
    participants: int
    completed: bool
    rewards: dict[str, int]  # participant -> wei credited with the last column
    duplicates: list[str]
    replays: list[str]
    gas_used: int
    transactions: int
    max_tx_gas: int
    max_tx_bytes: int
    next_round_open: bool
    block_number: int = 0
    scores: dict[str, int] = field(default_factory=dict)  # participant -> the rule's score
    tiers: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Commitment:
    """What a CONSENSUS participant keeps from commit to reveal on the batch engine: the
    packed update, its salt, its declared move (sum |v - g|) and its head link."""

    round: int
    salt: bytes
    words: list[int]
    move: int
    head: bytes
    saturated: int = 0

    def as_json(self) -> dict[str, Any]:
        return {"round": self.round, "salt": self.salt.hex(), "words": [hex(w) for w in self.words],
                "move": self.move, "head": self.head.hex(), "saturated": self.saturated}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Commitment":
        return cls(int(d["round"]), bytes.fromhex(d["salt"]), [int(w, 16) for w in d["words"]], int(d["move"]),
                   bytes.fromhex(d["head"]), int(d["saturated"]))


@dataclass(frozen=True)
class RoundState:
    """One read of the task's round state: what a client or keeper decides its next step on."""

    round: int
    open: bool
    now: int  # timestamp of the pending block (what the next transaction will see)
    commit_deadline: int  # CONSENSUS; 0 under PAPER
    post_deadline: int
    posting_closed: bool  # BatchEngine.postingClosed: columns may be sent
    seats_drawn: bool  # CONSENSUS; always False under PAPER
    entrants: int  # complete updates on the round's list
    min_participants: int
    columns_done: int  # columnCursor
    abandonable_at: int = 0  # BatchEngine.abandonableAt: anyone may abandon the round from then

    @property
    def commit_open(self) -> bool:
        return self.open and self.now < self.commit_deadline

    @property
    def posting_open(self) -> bool:
        """Updates may be posted (PAPER) or seats drawn and revealed (CONSENSUS)."""
        return self.open and not self.commit_open and not self.posting_closed and self.now < self.post_deadline

    @property
    def can_abandon(self) -> bool:
        return self.posting_closed and (self.entrants < self.min_participants or self.now >= self.abandonable_at)

    @property
    def can_aggregate(self) -> bool:
        return self.posting_closed and self.entrants >= self.min_participants

class BatchTask:
    """Handle on one deployed task (PaperTask or ConsensusTask): updates are posted (PAPER)
    or committed, drawn and revealed (CONSENSUS) as calldata, then aggregated column by
    column by anyone; the model, money and round views are free calls."""

    def __init__(self, contract: Any) -> None:
        self.contract = contract
        self.config = cfg = TaskConfig.from_words(contract.settings())
        self.param_count = cfg.param_count
        self.fmt = cfg.fmt
        self.model_words = cfg.model_words
        self.consensus = any(m.name == "drawSeats" for m in contract.contract_type.mutable_methods)
        self.rule = "consensus" if self.consensus else "paper"
        self.column_words = cfg.column_words
        self.columns = protocol.chunk_ranges(self.model_words, self.column_words)
        self.post_words = cfg.post_words
        self.posts = protocol.chunk_ranges(self.model_words, self.post_words)
        self.aggregation = cfg.aggregation
        self.sorts = self.aggregation != "mean"
        self._updates: dict[tuple[int, str], list[int]] = {}  # posted here: (round, address) -> words

    @classmethod
    def at(cls, container: Any, address: str) -> "BatchTask":
        return cls(container.at(address))

    @property
    def address(self) -> str:
        return str(self.contract.address)

    @property
    def provider(self) -> Any:
        """The node connection the task's calls go through."""
        return self.contract.provider

    def broadcast(self, calls: Sequence[tuple[Call, Any]]) -> list[Any]:
        """``broadcast`` on this task's node: every ``(call, sender)`` at once."""
        return broadcast(self.provider, calls)

    def encode(self, weights: np.ndarray) -> Update:
        """Quantizes and packs float weights for this task."""
        words, saturated = codec.encode(self._check(weights), self.fmt)
        return Update(words, saturated)

    def fund(self, sender: Any, amount: int) -> None:
        self._send(Call(self.contract.fund, (), value=amount), sender)

    def start_round(self, sender: Any) -> int:
        self._send(Call(self.contract.startRound, ()), sender)
        return self.current_round

    def advance_time(self, seconds: int) -> None:
        """Development chains only: the next block's timestamp moves ``seconds`` ahead."""
        self.contract.chain_manager.pending_timestamp += seconds

    def withdrawable(self, account: Any) -> int:
        return int(self.contract.withdrawable(account))

    def buy_access(self, sender: Any) -> None:
        self._send(Call(self.contract.buyAccess, (), value=self.access_price), sender)

    # --- views (free) -----------------------------------------------------------------

    def model_ints(self, version: int | None) -> np.ndarray:
        """Integers of model ``version`` (0: the initial model; None: the current one)."""
        words: list[int] = []
        for start in range(0, self.model_words, VIEW_WORDS_PER_CALL):
            end = min(start + VIEW_WORDS_PER_CALL, self.model_words)
            chunk = (self.contract.globalModelSlice(start, end) if version is None
                     else self.contract.modelSlice(version, start, end))
            words.extend(int(w) for w in chunk)
        return codec.unpack(words, self.param_count)

    def global_ints(self) -> np.ndarray:
        """The global model's integers, read with view calls only."""
        return self.model_ints(None)

    def global_model(self) -> np.ndarray:
        """The global model as floats, ready for ``models.set_flat``."""
        return codec.dequantize(self.global_ints(), self.fmt)

    @property
    def block_number(self) -> int:
        """Number of the chain's latest block."""
        return int(self.provider.get_block("latest").number)

    @property
    def current_round(self) -> int:
        return int(self.contract.currentRound())

    @property
    def completed_rounds(self) -> int:
        """Rounds that produced a model (the current model's version)."""
        return int(self.contract.completedRounds())

    def round_version(self, round_: int) -> int:
        """Model version ``round_`` produced (0: none, or not yet)."""
        return int(self.contract.roundVersion(round_))

    @property
    def round_open(self) -> bool:
        return bool(self.contract.roundOpen())

    @property
    def access_price(self) -> int:
        return int(self.contract.accessPrice())

    @property
    def reward_pool(self) -> int:
        return int(self.contract.rewardPool())

    @property
    def round_reserve(self) -> int:
        """Wei the next round locks from the pool when it opens (roundReserveNeeded)."""
        return int(self.contract.roundReserveNeeded())

    # --- plumbing -------------------------------------------------------------------

    def _send(self, call: Call, sender: Any) -> Any:
        if _interval_mining(self.provider):
            # ape's own send re-imports a transaction on an anvil switched to interval
            # mining ("transaction already imported"); send it raw there.
            return self.broadcast([(call, sender)])[0]
        return call.send(sender)

    def _check(self, weights: np.ndarray) -> np.ndarray:
        w = np.asarray(weights, dtype=np.float64).ravel()
        if w.size != self.param_count:
            raise ValueError(f"weights have {w.size} values; the task expects {self.param_count}")
        return w


    # --- deployment -------------------------------------------------------------------

    @classmethod
    def deploy(cls, container: Any, sender: Any, settings: BatchSettings, funding: int = 0,
               consensus: ConsensusSettings | None = None) -> "BatchTask":
        """Deploys a PaperTask, or with ``consensus`` settings a ConsensusTask (default
        columns then sized for its extra column work)."""
        if consensus is not None and not settings.consensus:
            settings = dataclasses.replace(settings, consensus=True)
        args = (settings.as_tuple(),) + ((consensus.as_tuple(),) if consensus else ())
        return cls(container.deploy(*args, sender=sender, value=funding))

    @classmethod
    def launch(cls, container: Any, owner: Any, settings: BatchSettings, initial: np.ndarray,
               funding: int, consensus: ConsensusSettings | None = None) -> "BatchTask":
        """Deploys, writes the initial model column by column and opens round 1."""
        task = cls.deploy(container, owner, settings, funding, consensus)
        task.set_initial_model(owner, initial)
        task.start_round(owner)
        return task

    def set_initial_model(self, owner: Any, weights: np.ndarray) -> int:
        update = self.encode(weights)
        for c, (f, t) in enumerate(self.columns):
            if c >= int(self.contract.initialColumns()):
                self._send(Call(self.contract.setInitialColumn, (c, update.words[f:t])), owner)
        return update.saturated

    # --- posting ------------------------------------------------------------------------

    def post_calls(self, round_: int, update: Update) -> list[Call]:
        """One submit per post, in order, each with the link of the post after it."""
        links = protocol.update_links(update.words, self.column_words)
        calls = []
        for p, (f, t) in enumerate(self.posts):
            nxt = links[t // self.column_words] if t < self.model_words else b"\0" * 32
            calls.append(Call(self.contract.submit, (round_, p, update.words[f:t], nxt),
                              gas=post_gas(t - f, self.column_words)))
        return calls

    def submit(self, sender: Any, round_: int, update: Update | np.ndarray, start: int = 0) -> Posted:
        """Posts the whole update (from post ``start``, to resume)."""
        u = update if isinstance(update, Update) else self.encode(update)
        receipts = [self._send(call, sender) for call in self.post_calls(round_, u)[start:]]
        self._updates[(round_, str(sender.address))] = u.words
        return self._posted(round_, receipts, u.saturated)

    def submit_many(self, round_: int, items: Sequence[tuple[Any, Update | np.ndarray]]) -> list[Posted]:
        """Posts every ``(sender, update)`` at once (see ``broadcast``)."""
        updates = [u if isinstance(u, Update) else self.encode(u) for _, u in items]
        calls = [(call, sender) for (sender, _), u in zip(items, updates) for call in self.post_calls(round_, u)]
        receipts = broadcast(self.provider, calls)
        k = len(self.posts)
        for (sender, _), u in zip(items, updates):
            self._updates[(round_, str(sender.address))] = u.words
        return [self._posted(round_, receipts[i * k : (i + 1) * k], u.saturated) for i, u in enumerate(updates)]

    def _posted(self, round_: int, receipts: Sequence[Any], saturated: int) -> Posted:
        (ev,) = _event_args(receipts[-1], "Posted")
        gas = [int(r.gas_used) for r in receipts]
        size = [len(r.transaction.data) for r in receipts]
        return Posted(round_, str(ev.participant), int(ev.index), sum(gas), len(gas), max(gas), max(size), saturated)

    # --- CONSENSUS: commit, draw, reveal ------------------------------------------------

    def prepare(self, round_: int, weights: np.ndarray | Update, salt: bytes | None = None,
                global_ints: np.ndarray | None = None) -> Commitment:
        """Quantizes an update, measures its move against the current model (view calls
        unless given) and links it; keep the result until the reveal."""
        u = weights if isinstance(weights, Update) else self.encode(weights)
        g = self.global_ints() if global_ints is None else global_ints
        move = self._move(u.words, g)
        head = protocol.update_links(u.words, self.column_words)[0]
        return Commitment(round_, salt if salt is not None else os.urandom(32), u.words, move, head,
                               u.saturated)

    def _move(self, words: list[int], global_ints: np.ndarray) -> int:
        """An update's move, sum |v - g| over all parameters: what a reveal or relay measures."""
        return int(np.abs(codec.unpack(words, self.param_count) - np.asarray(global_ints, dtype=np.int64)).sum())

    def commit_call(self, c: Commitment, participant: Any) -> Call:
        h = protocol.commitment_hash(self.address, c.round, str(participant), c.salt, c.move, c.head)
        return Call(self.contract.commit, (c.round, h, c.move), value=int(self.contract.stake()), gas=COMMIT_GAS)

    def commit(self, sender: Any, c: Commitment, bound_to: Any = None) -> int:
        """Commits ``c`` with the stake; ``bound_to``: an attacker replaying another's
        commitment binds it to that participant (it can never be opened)."""
        return int(self._send(self.commit_call(c, bound_to or sender), sender).gas_used)

    def commit_many(self, items: Sequence[tuple[Any, Commitment]]) -> list[int]:
        """Commits every ``(sender, commitment)`` at once (see ``broadcast``); gas of each."""
        receipts = broadcast(self.provider, [(self.commit_call(c, sender), sender) for sender, c in items])
        return [int(r.gas_used) for r in receipts]

    def draw_call(self, round_: int) -> Call:
        return Call(self.contract.drawSeats, (round_,), gas=DRAW_GAS)

    def draw_seats(self, sender: Any, wait: Callable[[int], None] | None = None) -> SeatDraw | None:
        """Waits out the commit phase, then draws the seats unless someone did; returns the
        draw, or None when it was made already."""
        left = int(self.contract.commitDeadline()) - int(self.provider.get_block("pending").timestamp)
        if left > 0:
            (wait or time.sleep)(left)
        round_ = self.current_round
        gas = 0
        # The first call arms a block two ahead; a call in that block draws with its
        # randomness (one that lands later arms again).
        for _ in range(8):
            if int.from_bytes(bytes(self.contract.drawSeed(round_)), "big"):
                return None
            armed = [e for e in self.contract.DrawArmed.range(0, self.block_number + 1, search_topics={"round": round_})]
            if armed and int(armed[-1].drawBlock) > self.block_number:
                await_block(self.provider, int(armed[-1].drawBlock))
            receipt = self._send(self.draw_call(round_), sender)
            gas += int(receipt.gas_used)
            drawn = _event_args(receipt, "SeatsDrawn")
            if drawn:
                ev = drawn[0]
                return SeatDraw(int(ev.round), int(ev.committers), int(ev.seats), int(ev.moveReference),
                                bytes(ev.seed), gas)
        raise RuntimeError(f"round {round_}: no seat draw landed in its armed block after 8 tries")

    def seated(self, round_: int, account: Any) -> bool:
        return int(self.contract.seatOf(round_, account)[0]) == 2

    def reveal_calls(self, c: Commitment) -> list[Call]:
        links = protocol.update_links(c.words, self.column_words)
        calls = []
        for p, (f, t) in enumerate(self.posts):
            nxt = links[t // self.column_words] if t < self.model_words else b"\0" * 32
            calls.append(Call(self.contract.reveal, (c.round, p, c.words[f:t], nxt, c.salt, c.move),
                              gas=post_gas(t - f, self.column_words)))
        return calls

    def reveal(self, sender: Any, c: Commitment, start: int = 0) -> Posted | None:
        """Reveals every post from ``start``; returns None when the rule refused the update
        (a Rejected event: move out of bounds or not as declared)."""
        receipts = [self._send(call, sender) for call in self.reveal_calls(c)[start:]]
        self._updates[(c.round, str(sender.address))] = c.words
        if _event_args(receipts[-1], "Rejected"):
            return None
        return self._posted(c.round, receipts, c.saturated)

    def reveal_many(self, items: Sequence[tuple[Any, Commitment]]) -> list[Posted | None]:
        """Reveals every ``(sender, commitment)`` at once (see ``broadcast``); None where the
        rule refused the update."""
        calls = [(call, sender) for sender, c in items for call in self.reveal_calls(c)]
        receipts = broadcast(self.provider, calls)
        k, out = len(self.posts), []
        for i, (sender, c) in enumerate(items):
            mine = receipts[i * k : (i + 1) * k]
            self._updates[(c.round, str(sender.address))] = c.words
            out.append(None if _event_args(mine[-1], "Rejected") else self._posted(c.round, mine, c.saturated))
        return out

    def release_stake(self, sender: Any, round_: int) -> int:
        (ev,) = _event_args(self._send(Call(self.contract.releaseStake, (round_,)), sender), "StakeReturned")
        return int(ev.amount)

    # --- aggregation ---------------------------------------------------------------------

    def entrants(self, round_: int) -> list[str]:
        """The current round's list of complete updates, in list (column) order."""
        if round_ != self.current_round:
            raise ValueError(f"entrants() reads the current round's list, not round {round_}'s")
        return [str(self.contract.entrant(round_, i)) for i in range(int(self.contract.roundEntrants()))]

    def posted_words(self, round_: int, participant: str) -> list[int]:
        """An update's words: from this handle's own posts, else from the chain (its post
        transactions' calldata, found through its Posted events)."""
        key = (round_, str(participant))
        if key not in self._updates:
            logs = [e for e in self.contract.Posted.range(0, self.block_number + 1, search_topics={
                "round": round_, "participant": participant})]
            words: list[int] = []
            for e in sorted(logs, key=lambda e: int(e.post)):
                tx = self.provider.web3.eth.get_transaction(e.transaction_hash)
                _, args = self.contract.decode_input(bytes(tx["input"]))
                words.extend(int(w) for w in args["words"])
            self._updates[key] = words
        return self._updates[key]

    # --- relay -----------------------------------------------------------------------------

    @property
    def chain_id(self) -> int:
        return int(self.provider.web3.eth.chain_id)

    def sign(self, account: Any, round_: int, update: Update | np.ndarray) -> SignedUpdate:
        """``account`` signs its update for ``round_`` so that anyone may relay it (ape
        accounts; ``ml.signing.sign_update`` does the same with a bare key)."""
        from eth_account.messages import encode_typed_data

        u = update if isinstance(update, Update) else self.encode(update)
        head = protocol.update_links(u.words, self.column_words)[0]
        sig = account.sign_message(encode_typed_data(full_message=protocol.relay_typed_data(
            self.chain_id, self.address, round_, head)))
        r, vs = compact(int(sig.v), int.from_bytes(bytes(sig.r), "big"), int.from_bytes(bytes(sig.s), "big"))
        return SignedUpdate(str(account.address), round_, list(u.words), r, vs, u.saturated)

    def opening(self, account: Any, c: Commitment) -> OpenedUpdate:
        """What a seated CONSENSUS committer hands to a relayer instead of revealing: its
        update and the opening of the commitment ``account`` sent (no signature needed)."""
        if not self.consensus:
            raise ValueError("openings are for a ConsensusTask; a PaperTask relays signed updates (sign)")
        return OpenedUpdate(str(getattr(account, "address", account)), c.round, list(c.words), c.salt, c.move,
                            c.saturated)

    def admissible(self, round_: int, opened: Sequence[OpenedUpdate]) -> list[OpenedUpdate]:
        """The openings ``ConsensusTask.relay`` will admit, by the reveal's own rules (ml.protocol):
        the measured move is the declared one, within [minMove, maxMove] and the ratio bound
        against the draw's reference (read once drawn; before the draw, with every committer
        seated, the lower median of all declared moves). A relay carrying a refused opening
        reverts whole, so a relayer leaves those out; their owners can still reveal."""
        g = self.global_ints()
        if int.from_bytes(bytes(self.contract.drawSeed(round_)), "big"):
            reference = int(self.contract.moveReference(round_))
        else:
            declared = [int(e.move) for e in self.contract.Committed.range(
                0, self.block_number + 1, search_topics={"round": round_})]
            reference = protocol.move_reference([m // self.param_count for m in declared])
        bounds = (int(self.contract.minMove()), int(self.contract.maxMove()), int(self.contract.maxMoveRatio()))
        out = []
        for o in opened:
            measured = self._move(o.words, g)
            if measured == o.move and protocol.move_accepted(measured // self.param_count, *bounds, reference):
                out.append(o)
        return out

    def relay(self, sender: Any, relayed: Sequence[Relayable],
              wait: Callable[[int], None] | None = None) -> BatchRound:
        """Carries ``relayed`` (signed updates, or CONSENSUS openings, of the current round)
        to the chain beside whatever was posted: at once when they fill every seat (CONSENSUS:
        every drawn seat), else after the posting deadline (``wait(seconds)``), when a
        left-out owner has had its chance to post or reveal; then sends every column."""
        round_ = self.current_round
        seats = self.max_participants
        if self.consensus:
            # The seats decide who may be relayed: the draw (arm, then draw) comes first.
            draw = self.draw_seats(sender, wait)
            extra_gas = draw.gas_used if draw else 0
            seats = min(seats, int(self.contract.roundCommitters(round_)))
            relayed = [s for s in relayed if self.seated(round_, s.owner)]
            relayed = self.admissible(round_, [s for s in relayed if isinstance(s, OpenedUpdate)])
            # Refused reveals are done too (not on the list): they count towards closing.
            seats -= len(list(self.contract.Rejected.range(0, self.block_number + 1, search_topics={"round": round_})))
        else:
            extra_gas = 0
        names = self.entrants(round_)
        cap = self.max_relayed
        if len(names) + len(still_to_relay(relayed, names, self.max_participants, cap)) < seats:
            # Not a full house: the contract accepts it only after the deadline (posts may
            # arrive until then, so the list is read again after).
            left = int(self.contract.postDeadline()) - int(self.provider.get_block("pending").timestamp)
            if left > 0:
                (wait or time.sleep)(left + 1)
            names = self.entrants(round_)
        relayed = still_to_relay(relayed, names, self.max_participants, cap)
        if not relayed:
            return self.aggregate(sender, wait)
        plan = relay_plan(round_, [self.posted_words(round_, a) for a in names], relayed, self.column_words,
                          self.sorts, self.consensus, cap, self.replay_heads)
        for s in relayed:
            self._updates[(round_, s.owner)] = list(s.words)
        if self.consensus:
            receipts = broadcast(self.provider, [(self._planned(p), sender) for p in plan.columns])
            return self._columns_sent(round_, len(names) + len(relayed), receipts, extra_gas=extra_gas)
        extra = broadcast(self.provider, [(self._planned(p), sender) for p in plan.listing])
        return self.aggregate(sender, wait, extra_gas=sum(int(r.gas_used) for r in extra))

    def relay_calls(self, round_: int, posted: Sequence[list[int]], relayed: Sequence[Relayable]) -> list[Call]:
        """Every transaction of a relay of ``relayed`` after the ``posted`` updates (the list so
        far, in order): PAPER's listing (``relay``: heads and signatures) then every column
        (which need the seed sealed first: ``seal_seed``); CONSENSUS's column 0 (``relay``)."""
        plan = relay_plan(round_, posted, relayed, self.column_words, self.sorts, self.consensus, self.max_relayed,
                          self.replay_heads)
        return [self._planned(p) for p in plan.listing + plan.columns]

    def _planned(self, p: Any) -> Call:
        return Call(getattr(self.contract, p.method), p.args, gas=p.gas)

    # --- seeds, drops and the way out ------------------------------------------------------

    def seal_seed(self, sender: Any, tries: int = 8, column_next: bool = False) -> int:
        """PAPER: seals the round's seed once posting is closed (``sealSeed``: a call in the
        armed block takes its randomness; one that lands later arms the next block and is
        sent again); returns the gas spent (0 when it was sealed already). ``column_next``:
        column 0 goes out next, so if the next block is the armed one (the post or relay
        that filled the round armed it) column 0 takes the seed itself, one block sooner."""
        round_, gas = self.current_round, 0
        for _ in range(tries):
            if int.from_bytes(bytes(self.contract.roundSeed(round_)), "big"):
                return gas
            at = protocol.of_round(int(self.contract.seedArm()), round_)
            if at > self.block_number:
                await_block(self.provider, at)
                if column_next:
                    return gas
            gas += int(self._send(Call(self.contract.sealSeed, (round_,), gas=SEAL_GAS), sender).gas_used)
        raise RuntimeError(f"round {round_}: the seed was not sealed after {tries} tries")

    def relayed_heads(self, round_: int) -> dict[str, bytes]:
        """Owner -> head link of every update relayed into ``round_`` (Relayed events)."""
        logs = self.contract.Relayed.range(0, self.block_number + 1, search_topics={"round": round_})
        return {str(e.participant): bytes(e.head) for e in logs}

    def stalled(self, round_: int) -> list[int]:
        """List indices of ``round_``'s relayed updates that no column can carry from here:
        words not known to this handle (withheld by their relayer) or out of the task's lanes."""
        relayed = self.relayed_heads(round_)
        out = []
        for i, a in enumerate(self.entrants(round_)):
            if a not in relayed:
                continue
            words = self._updates.get((round_, a))
            if (words is None or protocol.update_links(words, self.column_words)[0] != relayed[a]
                    or not lanes_ok(words, self.param_count, self.fmt.value_bits)):
                out.append(i)
        return out

    def drop(self, sender: Any, indices: Sequence[int]) -> int:
        """PAPER: drops the relayed updates at list ``indices`` of the current round (allowed
        from postDeadline + aggregationTimeout); columns start again from 0. Gas used."""
        round_ = self.current_round
        names = self.entrants(round_)
        relayed = self.relayed_heads(round_)
        first = int(self.contract.relayedFrom(round_)) - 1
        heads = [relayed[a] if a in relayed else protocol.update_links(self.posted_words(round_, a),
                                                                       self.column_words)[0] for a in names]
        bits = 0
        for i in indices:
            if i < first:
                raise ValueError(f"list index {i} is a posted update: only relayed ones can be dropped")
            bits |= 1 << (i - first)
        gas = DROP_GAS_BASE + DROP_GAS_PER_SEAT * len(names)
        return int(self._send(Call(self.contract.drop, (round_, heads, bits), gas=gas), sender).gas_used)

    def abandon(self, sender: Any) -> int:
        """Ends the current round without a new model (below quorum, or from abandonableAt
        whatever its state); gas used."""
        return int(self._send(Call(self.contract.abandon, (self.current_round,)), sender).gas_used)

    def column_call(self, round_: int, column: int, updates: Sequence[list[int]]) -> Call:
        """The aggregate transaction of ``column`` over the list's updates (in list order)."""
        f, t = self.columns[column]
        words = [w for u in updates for w in u[f:t]]
        nexts = [protocol.update_links(u, self.column_words)[column + 1] for u in updates]
        # The contract's own upper bound (the constructor keeps it under 12M): an explicit
        # limit, so columns can be broadcast together (the node cannot estimate column c+1
        # before column c is mined).
        return Call(self.contract.aggregate, (round_, column, words, nexts),
                    gas=column_gas_bound(len(updates), t - f, self.sorts, self.consensus,
                                         min(self.max_relayed, len(updates)), self.replay_heads))

    def aggregate(self, sender: Any, wait: Callable[[int], None] | None = None, extra_gas: int = 0) -> BatchRound:
        """Waits for the posting phase to close (``wait(seconds)``, real time by default),
        then sends every remaining column (or abandons a round below quorum). Relayed updates
        this handle cannot carry (``stalled``) are dropped once the contract allows it
        (waiting for that too); under PAPER the round's seed is sealed first."""
        round_ = self.current_round
        state = self.round_state()
        if not state.posting_closed and state.post_deadline > state.now:
            (wait or time.sleep)(state.post_deadline - state.now + 1)
            state = self.round_state()
        if state.entrants < state.min_participants:
            gas = self.abandon(sender)
            return BatchRound(round_, state.entrants, False, {}, [], [], gas, 1, gas, 0, self.round_open,
                              self.block_number)
        if not self.consensus:
            stuck = self.stalled(round_)
            if stuck:
                at = state.post_deadline + self.config.aggregation_timeout
                if at > state.now:
                    (wait or time.sleep)(at - state.now + 1)
                extra_gas += self.drop(sender, stuck)
                return self.aggregate(sender, wait, extra_gas)
            if int(self.contract.columnCursor()) == 0:
                extra_gas += self.seal_seed(sender, column_next=True)
        names = self.entrants(round_)
        updates = [self.posted_words(round_, a) for a in names]
        calls = [self.column_call(round_, c, updates) for c in range(int(self.contract.columnCursor()), len(self.columns))]
        return self._columns_sent(round_, len(names), broadcast(self.provider, [(call, sender) for call in calls]),
                                  extra_gas=extra_gas)

    def _columns_sent(self, round_: int, participants: int, receipts: Sequence[Any], extra_gas: int = 0) -> BatchRound:
        """What the column transactions ``receipts`` did; ``extra_gas`` (a draw sent with
        them) counts in the round's gas, not in its column figures."""
        rewarded = _event_args(receipts[-1], "Rewarded")
        gas = [int(r.gas_used) for r in receipts]
        return BatchRound(
            round_, participants, True, {str(e.participant): int(e.reward) for e in rewarded},
            [str(e.participant) for e in rewarded if e.duplicate], [str(e.participant) for e in rewarded if e.replay],
            sum(gas) + extra_gas, len(gas), max(gas), max(len(r.transaction.data) for r in receipts), self.round_open,
            int(receipts[-1].block_number), {str(e.participant): int(e.score) for e in rewarded},
            {str(e.participant): int(e.tier) for e in rewarded})

    # --- money and views ------------------------------------------------------------------

    def withdraw(self, sender: Any) -> int:
        (ev,) = _event_args(self._send(Call(self.contract.withdraw, ()), sender), "Withdrawn")
        return int(ev.owed) + int(ev.revenue)

    def end_task(self, owner: Any) -> int:
        """Ends the task (no round opens after the current one); returns when the owner may
        sweep the pool."""
        (ev,) = _event_args(self._send(Call(self.contract.endTask, ()), owner), "TaskEnded")
        return int(ev.sweepableAt)

    def sweep(self, owner: Any) -> int:
        """Pays the owner the reward pool of an ended task (after EXIT_DELAY)."""
        (ev,) = _event_args(self._send(Call(self.contract.sweep, ()), owner), "Swept")
        return int(ev.amount)

    # --- round state and views ------------------------------------------------------------

    def round_state(self) -> RoundState:
        """One consistent read of what a client or keeper decides its next step on."""
        c = self.contract
        round_ = int(c.currentRound())
        return RoundState(
            round_, bool(c.roundOpen()), int(self.provider.get_block("pending").timestamp),
            int(c.commitDeadline()) if self.consensus else 0, int(c.postDeadline()), bool(c.postingClosed()),
            self.consensus and int.from_bytes(bytes(c.drawSeed(round_)), "big") != 0,
            int(c.roundEntrants()), self.config.min_participants, int(c.columnCursor()),
            int(c.postDeadline()) + 2 * self.config.aggregation_timeout)

    def status(self, round_: int, account: Any) -> tuple[Status, int]:
        """Where ``account`` stands in ``round_`` and its next post number."""
        posted, next_post, _ = (int(x) for x in self.contract.statusOf(round_, account))
        if posted == 2:
            return Status.LISTED, next_post
        if posted == 3:
            return Status.REFUSED, next_post
        if posted == 1:
            return Status.POSTING, next_post
        if self.consensus:
            seat = int(self.contract.seatOf(round_, account)[0])
            return {1: Status.COMMITTED, 2: Status.SEATED, 3: Status.RELEASED, 4: Status.REFUSED}.get(
                seat, Status.NONE), next_post
        return Status.NONE, next_post

    def model_after(self, round_: int) -> np.ndarray:
        """The model (floats) that round ``round_`` produced."""
        version = self.round_version(round_)
        if version == 0:
            raise ValueError(f"round {round_} produced no model (not aggregated yet, or abandoned)")
        return codec.dequantize(self.model_ints(version), self.fmt)

    def rewards(self, round_: int) -> dict[str, int]:
        """Wei credited to each listed participant when ``round_`` was aggregated."""
        logs = self.contract.Rewarded.range(0, self.block_number + 1, search_topics={"round": round_})
        return {str(e.participant): int(e.reward) for e in logs}

    @property
    def stake(self) -> int:
        """Wei a CONSENSUS commit locks (0 under PAPER)."""
        return int(self.contract.stake()) if self.consensus else 0

    @property
    def max_participants(self) -> int:
        return self.config.max_participants

    @property
    def max_relayed(self) -> int:
        """Updates a round's relay may carry (BatchEngine.maxRelayed)."""
        return self.config.max_relayed

    @property
    def replay_heads(self) -> int:
        """Heads of earlier rounds column 0 may look up (replayRounds x maxParticipants)."""
        return self.config.replay_heads

    def has_access(self, account: Any) -> bool:
        return bool(self.contract.hasAccess(account))

    def tiers(self) -> list[tuple[int, int]]:
        return [tuple(int(v) for v in self.contract.tier(i)) for i in range(int(self.contract.tierCount()))]


class NaiveBaseline:
    """The bench's comparison contract (contracts/test/NaiveFedAvg.sol: one int256 slot per
    parameter), not part of the protocol; here only so that every contract call the
    project's Python makes is built in this module."""

    def __init__(self, container: Any, sender: Any, param_count: int) -> None:
        self.contract = container.deploy(param_count, sender=sender)

    def submit(self, sender: Any, from_: int, values: Sequence[int]) -> int:
        return int(self.contract.submit(from_, list(values), sender=sender).gas_used)

    def finalize(self, sender: Any, from_: int, to: int) -> int:
        return int(self.contract.finalize(from_, to, sender=sender).gas_used)


def download_model(container: Any, address: str, model: Any) -> Any:
    """Loads the current global model of the task at ``address`` into a torch model,
    using view calls only (no transaction, no account needed)."""
    from .models import set_flat

    task = BatchTask.at(container, address)
    set_flat(model, task.global_model())
    return model
