"""The SDK: the only Python code that builds calls to the FederatedTask contract.

Every call is a value (``Call``: method, arguments, wei, gas limit) built in one place and
either sent alone or broadcast with others, so drivers (the node code, the studies, the
scripts) speak in protocol words (``task.submit(account, round, update)``) and never
restate an argument list. Needs a connected ape provider (inside ``ape run``/``ape test``,
or ``networks.parse_network_choice``). Every write goes through ``ml.codec``; every link
and commitment through ``ml.protocol``.
"""

from __future__ import annotations

import os
import time

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from . import codec, protocol
from .settings import (COMMIT_GAS, DEFAULT_TX_GAS_BUDGET, DRAW_GAS, FINALIZE_OVERHEAD, GAS_PER_TX_OVERHEAD,
                       GAS_PER_WORD_FINALIZE, GAS_PER_WORD_SEND, POST_GAS_OVERHEAD, POST_GAS_PER_WORD, RULES,
                       WARM_WORDS_PER_TX, BatchSettings, ConsensusSettings, Status, TaskSettings,
                       column_gas_bound)

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
class Submission:
    """What one (possibly chunked) submission did; gas over all its transactions."""

    round: int
    participant: str
    distance: int
    tier: int
    reward: int
    gas_used: int
    saturated: int
    param_count: int = field(repr=False, default=0)
    transactions: int = 1
    max_tx_gas: int = 0


@dataclass(frozen=True)
class Commitment:
    """What a CONSENSUS participant keeps from commit to claim (the client's state): the
    packed update, its salt, the declared move per chunk and the chunk link chain, exactly
    as committed, so nothing is re-quantized or re-hashed later."""

    round: int
    salt: bytes
    words: list[int]
    moves: list[int]
    links: list[bytes]
    saturated: int = 0

    @property
    def move(self) -> int:
        return sum(self.moves)

    def opening(self, chunk: int) -> tuple[bytes, int, int, bytes]:
        """The Opening struct sent with chunk ``chunk``."""
        nxt = self.links[chunk + 1] if chunk + 1 < len(self.links) else b"\0" * 32
        return (self.salt, self.move, self.moves[chunk], nxt)

    def as_json(self) -> dict[str, Any]:
        return {"round": self.round, "salt": self.salt.hex(), "words": [hex(w) for w in self.words],
                "moves": self.moves, "links": [x.hex() for x in self.links], "saturated": self.saturated}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Commitment":
        return cls(int(d["round"]), bytes.fromhex(d["salt"]), [int(w, 16) for w in d["words"]],
                   [int(m) for m in d["moves"]], [bytes.fromhex(x) for x in d["links"]], int(d["saturated"]))


@dataclass(frozen=True)
class Reveal:
    round: int
    participant: str
    move: int
    accepted: bool
    gas_used: int
    transactions: int = 1
    max_tx_gas: int = 0
    stake_returned: bool = False  # rejected by the ratio bound only: the stake came back


@dataclass(frozen=True)
class Claim:
    round: int
    participant: str
    distance: int
    tier: int
    reward: int
    stake: int
    gas_used: int
    transactions: int = 1
    max_tx_gas: int = 0


@dataclass(frozen=True)
class SeatDraw:
    """What FederatedTask.drawSeats decided for a round (CONSENSUS)."""

    round: int
    committers: int
    seats: int
    move_reference: int
    seed: bytes
    gas_used: int


@dataclass(frozen=True)
class Finalization:
    round: int
    participants: int
    completed: bool  # False when the round was abandoned for lack of quorum
    gas_used: int
    next_round_open: bool
    transactions: int = 1
    max_tx_gas: int = 0
    block_number: int = 0  # block of the last finalize transaction


def broadcast(provider: Any, calls: Sequence[tuple[Call, Any]]) -> list[Any]:
    """Signs and sends every ``(call, sender)`` without waiting for any, numbering each
    sender's transactions in order, then waits for all and returns their receipts in the
    same order. Clients are independent: none waits for another's transaction, so a phase
    takes as many blocks as the block gas limit forces. Explicit gas limits (not the
    block's) let a block pack as many transactions as fit."""
    nonces: dict[str, int] = {}
    hashes = []
    for call, sender in calls:
        key = str(sender.address)
        nonce = nonces.get(key, int(sender.nonce))
        nonces[key] = nonce + 1
        raw = call.method.as_transaction_bytes(*call.args, sender=sender, value=call.value, gas_limit=call.gas,
                                               nonce=nonce)
        hashes.append(provider.web3.eth.send_raw_transaction(raw))
    receipts = []
    for h in hashes:
        receipt = provider.get_receipt(h.hex() if isinstance(h, bytes) else h, timeout=600)
        if receipt.failed:
            raise RuntimeError(f"transaction {receipt.txn_hash} reverted")
        receipts.append(receipt)
    return receipts


def _interval_mining(provider: Any) -> bool:
    """Whether the node is an anvil that mines on an interval rather than per transaction."""
    try:
        return not bool(provider.make_request("anvil_getAutomine", []))
    except Exception:  # noqa: BLE001 - any other node: not an anvil, nothing to work around
        return False


def _event_args(receipt: Any, name: str) -> list[Any]:
    return [log for log in receipt.events if log.event_name == name]


@dataclass(frozen=True)
class RoundState:
    """One read of the task's round state: what a client or keeper decides its next step on."""

    round: int
    open: bool
    finalizing: bool
    now: int  # timestamp of the latest block
    commit_deadline: int
    round_deadline: int
    seats_drawn: bool  # CONSENSUS; always False under PAPER
    can_close: bool  # FederatedTask.canClose: finalize would close the round (or finish writing it)

    @property
    def commit_open(self) -> bool:
        return self.open and self.now < self.commit_deadline

    @property
    def reveal_open(self) -> bool:
        return self.open and not self.commit_open and self.now < self.round_deadline


class _TaskHandle:
    """What every task handle shares, whichever engine: the contract, its node, the model
    format, money and round views, and sending (raw on an interval-mining anvil)."""

    def __init__(self, contract: Any) -> None:
        self.contract = contract
        self.param_count = int(contract.paramCount())
        self.fmt = codec.FixedPoint(int(contract.fracBits()), int(contract.valueBits()))
        self.model_words = int(contract.modelWords())

    @classmethod
    def at(cls, container: Any, address: str) -> Any:
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


class FedTask(_TaskHandle):
    """Handle on one deployed FederatedTask."""

    def __init__(self, contract: Any, tx_gas_budget: int = DEFAULT_TX_GAS_BUDGET) -> None:
        super().__init__(contract)
        self.chunk_words = int(contract.chunkWords())
        self.chunks = protocol.chunk_ranges(self.model_words, self.chunk_words)
        self.rule = RULES[int(contract.rewardRule())]
        self.tx_gas_budget = tx_gas_budget

    # --- deployment -------------------------------------------------------------------

    @classmethod
    def deploy(cls, container: Any, sender: Any, settings: TaskSettings, funding: int = 0) -> "FedTask":
        """Deploys a task; ``funding`` wei go to the reward pool. Round 1 needs the initial
        model and warm storage first: ``launch`` does all of it."""
        return cls(container.deploy(settings.as_tuple(), sender=sender, value=funding))

    @classmethod
    def launch(cls, container: Any, owner: Any, settings: TaskSettings, initial: np.ndarray,
               funding: int) -> "FedTask":
        """Deploys, stores the initial model, pre-pays the accumulator's storage and opens
        round 1: a task ready for its first submissions."""
        task = cls.deploy(container, owner, settings, funding)
        task.set_initial_model(owner, initial)
        task.start_round(owner)
        return task

    # --- owner ------------------------------------------------------------------------

    def set_initial_model(self, owner: Any, weights: np.ndarray, warm: bool = True) -> int:
        """Quantizes and stores the starting model, chunk by chunk, then (``warm``) pre-pays
        the accumulator's fresh storage slots, which round 1 requires (the contract refuses
        to open it before). Returns the number of saturated values."""
        update = self.encode(weights)
        for c, (f, t) in enumerate(self.chunks):
            self._send(Call(self.contract.setInitialModel, (c, update.words[f:t])), owner)
        if warm:
            self.warm_storage(owner)
        return update.saturated

    def warm_storage(self, owner: Any) -> int:
        """Writes the accumulator words not warmed yet (round 1 needs all), a bounded number
        per transaction; returns the transactions sent."""
        sent = 0
        for f in range(int(self.contract.warmedWords()), self.model_words, WARM_WORDS_PER_TX):
            self._send(Call(self.contract.warmStorage, (f, min(f + WARM_WORDS_PER_TX, self.model_words))), owner)
            sent += 1
        return sent

    def set_access_price(self, owner: Any, price: int) -> None:
        self._send(Call(self.contract.setAccessPrice, (price,)), owner)

    def end_task(self, owner: Any) -> int:
        """Ends the task (no new round opens); returns the time from which ``sweep`` works."""
        (ev,) = _event_args(self._send(Call(self.contract.endTask, ()), owner), "TaskEnded")
        return int(ev.sweepableAt)

    def sweep(self, owner: Any) -> int:
        """After ``end_task`` and its delay: pays the owner what no participant is owed."""
        (ev,) = _event_args(self._send(Call(self.contract.sweep, ()), owner), "Swept")
        return int(ev.amount)

    # --- PAPER: submit ----------------------------------------------------------------

    def send_gas_limit(self, words: int) -> int:
        """Gas limit for one chunk of ``words`` words (an upper bound from measurements)."""
        return GAS_PER_TX_OVERHEAD + GAS_PER_WORD_SEND * words

    def submit_calls(self, round_: int, update: Update) -> list[Call]:
        """One submit per chunk, in order."""
        return [Call(self.contract.submit, (round_, c, update.words[f:t]), gas=self.send_gas_limit(t - f))
                for c, (f, t) in enumerate(self.chunks)]

    def submit(self, sender: Any, round_: int, update: Update | np.ndarray, chunks: int | None = None,
               start: int = 0) -> Submission | None:
        """Submits one participant's update (``Update`` or float weights) for ``round_``,
        one transaction per chunk, from chunk ``start`` (to resume). ``chunks`` stops after
        that many (a partial submission, for tests and failure studies); it then returns None."""
        u = update if isinstance(update, Update) else self.encode(update)
        receipts = self._send_chunks(self.submit_calls(round_, u), sender, "Submitted", chunks, start)
        return None if receipts is None else self._submission(receipts, u.saturated)

    def submit_many(self, round_: int, items: Sequence[tuple[Any, Update | np.ndarray]]) -> list[Submission]:
        """Submits every ``(sender, update)`` at once (all chunks of all senders broadcast
        without waiting; see ``broadcast``) and returns one Submission per sender."""
        updates = [u if isinstance(u, Update) else self.encode(u) for _, u in items]
        calls = [(call, sender) for (sender, _), u in zip(items, updates) for call in self.submit_calls(round_, u)]
        receipts = self.broadcast(calls)
        k = len(self.chunks)
        return [self._submission(receipts[i * k : (i + 1) * k], u.saturated) for i, u in enumerate(updates)]

    def _submission(self, receipts: Sequence[Any], saturated: int) -> Submission:
        (ev,) = _event_args(receipts[-1], "Submitted")
        gas = [int(r.gas_used) for r in receipts]
        return Submission(int(ev.round), str(ev.participant), int(ev.distance), int(ev.tier), int(ev.reward),
                          sum(gas), saturated, self.param_count, len(gas), max(gas))

    # --- CONSENSUS: commit, draw, reveal, claim ---------------------------------------

    def prepare(self, round_: int, weights: np.ndarray, salt: bytes | None = None,
                global_ints: np.ndarray | None = None) -> Commitment:
        """Quantizes and packs an update, measures its move per chunk against the current
        global model (read with view calls unless given), links the chunks and draws a
        fresh 32-byte salt. Call it while the round is open: the move is declared against
        the model the round started from. Keep the result (``Commitment.as_json``) until
        the claim: reveal and claim send exactly it."""
        q = codec.quantize(self._check(weights), self.fmt)
        words = codec.pack(q.ints)
        g = self.global_ints() if global_ints is None else global_ints
        moves = protocol.chunk_moves(q.ints, g, self.chunk_words)
        links = protocol.chunk_links(words, moves, self.chunk_words)
        return Commitment(round_, salt if salt is not None else os.urandom(32), words, moves, links, q.saturated)

    def commitment_hash(self, participant: Any, c: Commitment) -> bytes:
        return protocol.commitment_hash(self.address, c.round, str(participant), c.salt, c.move, c.links[0])

    def commit_call(self, c: Commitment, participant: Any) -> Call:
        """The commit of ``c`` as ``participant`` would send it (the hash binds the sender)."""
        return Call(self.contract.commit, (c.round, self.commitment_hash(participant, c), c.move),
                    value=self.stake, gas=COMMIT_GAS)

    def commit(self, sender: Any, c: Commitment, bound_to: Any = None) -> int:
        """Commits ``c`` with the stake attached; returns the gas used. ``bound_to`` binds
        the hash to another participant than the sender (only an attacker replaying someone
        else's commitment does that: it can never be opened)."""
        return int(self._send(self.commit_call(c, bound_to or sender), sender).gas_used)

    # The commit phase lasts its whole duration (seats are drawn after it, never first come).

    def seconds_to_commit_close(self) -> int:
        """Seconds until the open round's commit phase is over (0: it is)."""
        now = int(self.provider.get_block("pending").timestamp)
        return max(0, int(self.contract.commitDeadline()) - now)

    def seats_drawn(self, round_: int) -> bool:
        return int.from_bytes(bytes(self.contract.roundSeed(round_)), "big") != 0

    def draw_call(self, round_: int) -> Call:
        return Call(self.contract.drawSeats, (round_,), gas=DRAW_GAS)

    def draw_seats(self, sender: Any, wait: Callable[[int], None] | None = None) -> SeatDraw | None:
        """Waits out the commit phase (``wait(seconds)``: real time by default; development
        chains pass ``advance_time``), then draws the open round's seats unless someone
        did. Returns the draw, or None when it was already made."""
        left = self.seconds_to_commit_close()
        if left:
            (wait or time.sleep)(left + 1)
        round_ = self.current_round
        if self.seats_drawn(round_):
            return None
        receipt = self._send(self.draw_call(round_), sender)
        (ev,) = _event_args(receipt, "SeatsDrawn")
        return SeatDraw(int(ev.round), int(ev.committers), int(ev.seats), int(ev.moveReference), bytes(ev.seed),
                        int(receipt.gas_used))

    def seated(self, round_: int) -> list[str]:
        """The round's seated committers, in the contract's order."""
        return [str(self.contract.committer(round_, i)) for i in range(int(self.contract.roundSeats(round_)))]

    def release_stake(self, sender: Any, round_: int) -> int:
        """Takes back the stake of a commit that was not drawn for a seat."""
        (ev,) = _event_args(self._send(Call(self.contract.releaseStake, (round_,)), sender), "StakeReturned")
        return int(ev.amount)

    def reveal_calls(self, c: Commitment) -> list[Call]:
        """One reveal per chunk, in order."""
        return [Call(self.contract.reveal, (c.round, k, c.opening(k), c.words[f:t]), gas=self.send_gas_limit(t - f))
                for k, (f, t) in enumerate(self.chunks)]

    def reveal(self, sender: Any, c: Commitment, chunks: int | None = None, start: int = 0) -> Reveal | None:
        """Reveals every chunk in order from ``start`` (stops early if chunk 0 is rejected),
        drawing the round's seats first if the commit phase is over and nobody has.
        ``chunks`` stops after that many, leaving the reveal unfinished; it then returns None."""
        if start == 0 and not self.seats_drawn(c.round) and self.seconds_to_commit_close() == 0:
            self.draw_seats(sender)
        receipts = self._send_chunks(self.reveal_calls(c), sender, "Revealed", chunks, start)
        if receipts is None:
            return None
        (ev,) = _event_args(receipts[-1], "Revealed")
        gas = [int(r.gas_used) for r in receipts]
        returned = bool(_event_args(receipts[-1], "StakeReturned"))
        return Reveal(int(ev.round), str(ev.participant), int(ev.move), bool(ev.accepted), sum(gas),
                      len(gas), max(gas), returned)

    def claim(self, sender: Any, c: Commitment, start: int = 0) -> Claim:
        """Claims chunk by chunk from ``start`` (a single chunk settles an expired or
        abandoned round)."""
        calls = [Call(self.contract.claim, (c.round, k, c.opening(k), c.words[f:t]), gas=self.send_gas_limit(t - f))
                 for k, (f, t) in enumerate(self.chunks)]
        receipts = self._send_chunks(calls, sender, "Claimed", None, start)
        assert receipts is not None
        (ev,) = _event_args(receipts[-1], "Claimed")
        gas = [int(r.gas_used) for r in receipts]
        return Claim(int(ev.round), str(ev.participant), int(ev.distance), int(ev.tier), int(ev.reward),
                     int(ev.stake), sum(gas), len(gas), max(gas))

    def _send_chunks(self, calls: Sequence[Call], sender: Any, final_event: str, chunks: int | None,
                     start: int = 0) -> list[Any] | None:
        """Sends the chunk calls in order from ``start`` (at most ``chunks``) and returns the
        receipts once one carries ``final_event`` (the contract emits it when the
        participant's last chunk landed, or when chunk 0 was rejected), or None when the
        chunks ran out first."""
        receipts = []
        for call in list(calls[:chunks])[start:]:
            receipts.append(self._send(call, sender))
            if _event_args(receipts[-1], final_event):
                return receipts
        return None

    # --- closing rounds ---------------------------------------------------------------

    @property
    def chunks_per_finalize(self) -> int:
        """Chunks of the new model one finalize transaction writes within the gas budget."""
        per_chunk = GAS_PER_WORD_FINALIZE * self.chunk_words
        return max(1, (self.tx_gas_budget - FINALIZE_OVERHEAD) // per_chunk)

    def finalize_call(self, max_chunks: int | None = None) -> Call:
        """One finalizeChunks transaction writing at most ``max_chunks`` chunks (default:
        what fits the gas budget); an explicit gas limit, so a block can hold others too."""
        step = max_chunks or self.chunks_per_finalize
        gas = FINALIZE_OVERHEAD + GAS_PER_WORD_FINALIZE * self.chunk_words * min(step, len(self.chunks))
        return Call(self.contract.finalizeChunks, (step,), gas=gas)

    def finalize(self, sender: Any, max_chunks: int | None = None) -> Finalization:
        """Closes the round and writes the new model, as many transactions as it takes."""
        round_ = self.current_round
        gas: list[int] = []
        while True:
            receipt = self._send(self.finalize_call(max_chunks), sender)
            gas.append(int(receipt.gas_used))
            end = _event_args(receipt, "RoundFinalized") or _event_args(receipt, "RoundAbandoned")
            if end:
                break
        return Finalization(
            round=round_,
            participants=int(end[0].participants),
            completed=end[0].event_name == "RoundFinalized",
            gas_used=sum(gas),
            next_round_open=self.round_open,
            transactions=len(gas),
            max_tx_gas=max(gas),
            block_number=int(receipt.block_number),
        )

    # --- money --------------------------------------------------------------------------

    def withdraw(self, sender: Any) -> int:
        """Withdraws everything owed to ``sender``; returns the wei paid."""
        (ev,) = _event_args(self._send(Call(self.contract.withdraw, ()), sender), "Withdrawn")
        return int(ev.rewards) + int(ev.revenue)

    # --- views (free) -----------------------------------------------------------------

    def model_after(self, round_: int) -> np.ndarray:
        """The model a finished round produced, as floats (any past round, not just the last)."""
        return codec.dequantize(self.model_ints(self.round_version(round_)), self.fmt)

    def round_state(self) -> RoundState:
        c = self.contract
        round_ = int(c.currentRound())
        return RoundState(
            round=round_, open=bool(c.roundOpen()), finalizing=bool(c.finalizing()),
            now=int(self.provider.get_block("latest").timestamp), commit_deadline=int(c.commitDeadline()),
            round_deadline=int(c.roundDeadline()),
            seats_drawn=self.rule == "consensus" and self.seats_drawn(round_),
            can_close=bool(c.canClose()),
        )

    def status(self, round_: int, account: Any) -> tuple[Status, int]:
        """Where ``account`` stands in ``round_``: its status and the next chunk it must send."""
        status, next_chunk, _ = (int(x) for x in self.contract.statusOf(round_, account))
        return Status(status), next_chunk

    def settled(self, round_: int) -> bool:
        """Whether a closed ``round_`` is settled: its model written, or the round abandoned
        (version 0), so its accepted reveals can claim. Not meaningful for the open round."""
        return self.round_version(round_) <= self.completed_rounds

    def claims(self) -> list[Claim]:
        """Every Claimed event of the task, oldest first (gas fields 0: not from a receipt)."""
        return [Claim(int(e.round), str(e.participant), int(e.distance), int(e.tier), int(e.reward), int(e.stake), 0)
                for e in self.contract.Claimed.range(0, self.block_number + 1)]

    @property
    def stake(self) -> int:
        return int(self.contract.stake())

    @property
    def max_participants(self) -> int:
        return int(self.contract.maxParticipants())

    def has_access(self, account: Any) -> bool:
        return bool(self.contract.hasAccess(account))

    def tiers(self) -> list[tuple[int, int]]:
        return [tuple(int(v) for v in self.contract.tier(i)) for i in range(int(self.contract.tierCount()))]


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
class BatchCommitment:
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
    def from_json(cls, d: dict[str, Any]) -> "BatchCommitment":
        return cls(int(d["round"]), bytes.fromhex(d["salt"]), [int(w, 16) for w in d["words"]], int(d["move"]),
                   bytes.fromhex(d["head"]), int(d["saturated"]))


class BatchTask(_TaskHandle):
    """Handle on one deployed batch-engine task (PaperTask or ConsensusTask): updates are
    posted (PAPER) or committed, drawn and revealed (CONSENSUS) as calldata, then
    aggregated column by column by anyone."""

    def __init__(self, contract: Any) -> None:
        super().__init__(contract)
        self.consensus = any(m.name == "drawSeats" for m in contract.contract_type.mutable_methods)
        self.column_words = int(contract.columnWords())
        self.columns = protocol.chunk_ranges(self.model_words, self.column_words)
        self.post_words = int(contract.postWords())
        self.posts = protocol.chunk_ranges(self.model_words, self.post_words)
        self.sorts = int(contract.aggregation()) != 0
        self._updates: dict[tuple[int, str], list[int]] = {}  # posted here: (round, address) -> words

    # --- deployment -------------------------------------------------------------------

    @classmethod
    def deploy(cls, container: Any, sender: Any, settings: BatchSettings, funding: int = 0,
               consensus: ConsensusSettings | None = None) -> "BatchTask":
        """Deploys a PaperTask, or with ``consensus`` settings a ConsensusTask."""
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
                              gas=POST_GAS_OVERHEAD + POST_GAS_PER_WORD * (t - f)))
        return calls

    def submit(self, sender: Any, round_: int, update: Update | np.ndarray, start: int = 0) -> Posted:
        """Posts the whole update (from post ``start``, to resume)."""
        u = update if isinstance(update, Update) else self.encode(update)
        receipts = [call.send(sender) for call in self.post_calls(round_, u)[start:]]
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
                global_ints: np.ndarray | None = None) -> BatchCommitment:
        """Quantizes an update, measures its move against the current model (view calls
        unless given) and links it; keep the result until the reveal."""
        u = weights if isinstance(weights, Update) else self.encode(weights)
        g = self.global_ints() if global_ints is None else global_ints
        move = int(np.abs(codec.unpack(u.words, self.param_count) - np.asarray(g, dtype=np.int64)).sum())
        head = protocol.update_links(u.words, self.column_words)[0]
        return BatchCommitment(round_, salt if salt is not None else os.urandom(32), u.words, move, head,
                               u.saturated)

    def commit_call(self, c: BatchCommitment, participant: Any) -> Call:
        h = protocol.commitment_hash(self.address, c.round, str(participant), c.salt, c.move, c.head)
        return Call(self.contract.commit, (c.round, h, c.move), value=int(self.contract.stake()), gas=COMMIT_GAS)

    def commit(self, sender: Any, c: BatchCommitment, bound_to: Any = None) -> int:
        """Commits ``c`` with the stake; ``bound_to``: an attacker replaying another's
        commitment binds it to that participant (it can never be opened)."""
        return int(self.commit_call(c, bound_to or sender).send(sender).gas_used)

    def draw_seats(self, sender: Any, wait: Callable[[int], None] | None = None) -> SeatDraw | None:
        """Waits out the commit phase, then draws the seats unless someone did; returns the
        draw, or None when it was made already."""
        left = int(self.contract.commitDeadline()) - int(self.provider.get_block("pending").timestamp)
        if left > 0:
            (wait or time.sleep)(left)
        round_ = self.current_round
        if int.from_bytes(bytes(self.contract.drawSeed(round_)), "big"):
            return None
        receipt = Call(self.contract.drawSeats, (round_,), gas=DRAW_GAS).send(sender)
        (ev,) = _event_args(receipt, "SeatsDrawn")
        return SeatDraw(int(ev.round), int(ev.committers), int(ev.seats), int(ev.moveReference), bytes(ev.seed),
                        int(receipt.gas_used))

    def seated(self, round_: int, account: Any) -> bool:
        return int(self.contract.seatOf(round_, account)[0]) == 2

    def reveal_calls(self, c: BatchCommitment) -> list[Call]:
        links = protocol.update_links(c.words, self.column_words)
        calls = []
        for p, (f, t) in enumerate(self.posts):
            nxt = links[t // self.column_words] if t < self.model_words else b"\0" * 32
            calls.append(Call(self.contract.reveal, (c.round, p, c.words[f:t], nxt, c.salt, c.move),
                              gas=POST_GAS_OVERHEAD + POST_GAS_PER_WORD * (t - f)))
        return calls

    def reveal(self, sender: Any, c: BatchCommitment, start: int = 0) -> Posted | None:
        """Reveals every post from ``start``; returns None when the rule refused the update
        (a Rejected event: move out of bounds or not as declared)."""
        receipts = [call.send(sender) for call in self.reveal_calls(c)[start:]]
        self._updates[(c.round, str(sender.address))] = c.words
        if _event_args(receipts[-1], "Rejected"):
            return None
        return self._posted(c.round, receipts, c.saturated)

    def release_stake(self, sender: Any, round_: int) -> int:
        (ev,) = _event_args(Call(self.contract.releaseStake, (round_,)).send(sender), "StakeReturned")
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

    def column_call(self, round_: int, column: int, updates: Sequence[list[int]]) -> Call:
        """The aggregate transaction of ``column`` over the list's updates (in list order)."""
        f, t = self.columns[column]
        words = [w for u in updates for w in u[f:t]]
        nexts = [protocol.update_links(u, self.column_words)[column + 1] for u in updates]
        # The contract's own upper bound (the constructor keeps it under 12M): an explicit
        # limit, so columns can be broadcast together (the node cannot estimate column c+1
        # before column c is mined).
        return Call(self.contract.aggregate, (round_, column, words, nexts),
                    gas=column_gas_bound(len(updates), t - f, self.sorts))

    def aggregate(self, sender: Any, wait: Callable[[int], None] | None = None) -> BatchRound:
        """Waits for the posting phase to close (``wait(seconds)``, real time by default),
        then sends every remaining column (or abandons a round below quorum)."""
        round_ = self.current_round
        left = int(self.contract.postDeadline()) - int(self.provider.get_block("pending").timestamp)
        if not bool(self.contract.postingClosed()) and left > 0:
            (wait or time.sleep)(left + 1)
        names = self.entrants(round_)
        if len(names) < int(self.contract.minParticipants()):
            receipt = Call(self.contract.abandon, (round_,)).send(sender)
            return BatchRound(round_, len(names), False, {}, [], [], int(receipt.gas_used), 1,
                              int(receipt.gas_used), len(receipt.transaction.data), self.round_open,
                              int(receipt.block_number))
        updates = [self.posted_words(round_, a) for a in names]
        calls = [self.column_call(round_, c, updates) for c in range(int(self.contract.columnCursor()), len(self.columns))]
        receipts = broadcast(self.provider, [(call, sender) for call in calls])
        rewarded = _event_args(receipts[-1], "Rewarded")
        gas = [int(r.gas_used) for r in receipts]
        return BatchRound(
            round_, len(names), True, {str(e.participant): int(e.reward) for e in rewarded},
            [str(e.participant) for e in rewarded if e.duplicate], [str(e.participant) for e in rewarded if e.replay],
            sum(gas), len(gas), max(gas), max(len(r.transaction.data) for r in receipts), self.round_open,
            int(receipts[-1].block_number), {str(e.participant): int(e.score) for e in rewarded},
            {str(e.participant): int(e.tier) for e in rewarded})

    # --- money and views ------------------------------------------------------------------

    def withdraw(self, sender: Any) -> int:
        (ev,) = _event_args(Call(self.contract.withdraw, ()).send(sender), "Withdrawn")
        return int(ev.owed) + int(ev.revenue)


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

    task = FedTask.at(container, address)
    set_flat(model, task.global_model())
    return model
