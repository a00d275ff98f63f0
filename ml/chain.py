"""A typed SDK over the FederatedTask contract, so scripts and tests speak in protocol
words (``task.submit(account, round, weights)``) instead of raw ABI calls.

Needs a connected ape provider (inside ``ape run``/``ape test``, or ``networks.parse_network_choice``).
Every write goes through the codec in ``ml.codec``: there is no second encoder.
"""

from __future__ import annotations

import os
import time

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from . import codec, reference

#: Words fetched per view call when reading a large model (keeps eth_call responses small).
VIEW_WORDS_PER_CALL = 2048
RULES = ("paper", "consensus")
UNBOUNDED = 2**256 - 1

#: Largest chunk (FederatedTask.MAX_CHUNK_WORDS): a chunk of the global model is one data
#: contract, which must stay under the 24,576-byte code size limit (EIP-170).
MAX_CHUNK_WORDS = 767
#: Default gas budget per transaction, well under the 16,777,216 cap (EIP-7825).
DEFAULT_TX_GAS_BUDGET = 12_000_000
#: Upper bounds per chunk word (16 parameters), used to size transactions and as explicit
#: gas limits when clients broadcast at once: a submit or a reveal with move checks costs at
#: most ~740 gas/param at the margin (all calldata bytes nonzero, warm accumulator), a
#: finalize ~800; the overhead covers per-transaction bookkeeping.
GAS_PER_WORD_SEND = 12_400
GAS_PER_WORD_FINALIZE = 14_000
GAS_PER_TX_OVERHEAD = 250_000
#: Closing a round (money settled, next round opened) and creating a chunk's data contract.
FINALIZE_OVERHEAD = 600_000
#: Accumulator words warmed per warmStorage transaction (2 fresh 22,100-gas slots per word).
WARM_WORDS_PER_TX = 240


def default_chunk_words(param_count: int, tx_gas_budget: int = DEFAULT_TX_GAS_BUDGET) -> int:
    """The largest chunk whose submission or reveal stays under ``tx_gas_budget``."""
    words = (param_count + 15) // 16
    fit = (tx_gas_budget - GAS_PER_TX_OVERHEAD) // GAS_PER_WORD_SEND
    if fit < 1:
        raise ValueError(f"a gas budget of {tx_gas_budget} cannot carry even one word per transaction")
    return max(1, min(words, fit, MAX_CHUNK_WORDS))


@dataclass(frozen=True)
class TaskSettings:
    """Deployment settings of one learning task; mirrors FederatedTask.TaskConfig."""

    param_count: int
    frac_bits: int = 12
    value_bits: int = 16
    round_duration: int = 3600
    min_participants: int = 1
    max_participants: int = 5
    access_price: int = 10**16
    tier_thresholds: Sequence[int] = (64, 256, 1024)
    tier_rewards: Sequence[int] = (3 * 10**15, 2 * 10**15, 10**15)
    reward_rule: str = "paper"  # "paper" or "consensus"
    reveal_duration: int = 3600
    stake: int = 0
    min_move: int = 0
    max_move: int = UNBOUNDED
    max_move_ratio: int = 0
    chunk_words: int = 0  # 0: the largest chunk under DEFAULT_TX_GAS_BUDGET
    duplicate_distance: int = 0  # CONSENSUS: same-round updates this close (mean per param) earn nothing

    def __post_init__(self) -> None:
        codec.FixedPoint(self.frac_bits, self.value_bits)  # validates the format
        if len(self.tier_thresholds) != len(self.tier_rewards):
            raise ValueError("tier_thresholds and tier_rewards must have the same length")
        if self.reward_rule not in RULES:
            raise ValueError(f"reward_rule must be one of {', '.join(RULES)}, got {self.reward_rule!r}")

    @property
    def fmt(self) -> codec.FixedPoint:
        return codec.FixedPoint(self.frac_bits, self.value_bits)

    @property
    def resolved_chunk_words(self) -> int:
        return self.chunk_words or default_chunk_words(self.param_count)

    @property
    def round_reserve(self) -> int:
        return max(self.tier_rewards) * self.max_participants

    def as_tuple(self) -> tuple[Any, ...]:
        return (
            self.param_count,
            self.value_bits,
            self.frac_bits,
            self.round_duration,
            self.min_participants,
            self.max_participants,
            self.access_price,
            list(self.tier_thresholds),
            list(self.tier_rewards),
            RULES.index(self.reward_rule),
            self.reveal_duration,
            self.stake,
            self.min_move,
            self.max_move,
            self.max_move_ratio,
            self.resolved_chunk_words,
            self.duplicate_distance,
        )


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
    """What a participant must keep between commit and claim (the SDK's client state):
    the update, its salt, the declared move per chunk and the chunk link chain."""

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


def broadcast(provider: Any, calls: Sequence[tuple[Any, tuple, Any, int, int]]) -> list[Any]:
    """Signs and sends every ``(method, args, sender, value, gas_limit)`` without waiting
    for any, numbering each sender's transactions in order, then waits for all and returns
    their receipts in the same order. Clients are independent: none waits for another's
    transaction, so a phase takes as many blocks as the block gas limit forces. Explicit
    gas limits (not the block's) let a block pack as many transactions as fit."""
    nonces: dict[str, int] = {}
    hashes = []
    for method, args, sender, value, gas_limit in calls:
        key = str(sender.address)
        nonce = nonces.get(key, int(sender.nonce))
        nonces[key] = nonce + 1
        raw = method.as_transaction_bytes(*args, sender=sender, value=value, gas_limit=gas_limit, nonce=nonce)
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


class FedTask:
    """Handle on one deployed FederatedTask."""

    def __init__(self, contract: Any, tx_gas_budget: int = DEFAULT_TX_GAS_BUDGET) -> None:
        self.contract = contract
        self.param_count = int(contract.paramCount())
        self.fmt = codec.FixedPoint(int(contract.fracBits()), int(contract.valueBits()))
        self.model_words = int(contract.modelWords())
        self.chunk_words = int(contract.chunkWords())
        self.chunks = reference.chunk_ranges(self.model_words, self.chunk_words)
        self.tx_gas_budget = tx_gas_budget

    # --- deployment -------------------------------------------------------------------

    @classmethod
    def deploy(cls, container: Any, sender: Any, settings: TaskSettings, funding: int = 0) -> "FedTask":
        """Deploys a task; ``funding`` wei go to the reward pool."""
        contract = container.deploy(settings.as_tuple(), sender=sender, value=funding)
        return cls(contract)

    @classmethod
    def at(cls, container: Any, address: str) -> "FedTask":
        return cls(container.at(address))

    @property
    def address(self) -> str:
        return str(self.contract.address)

    # --- owner ------------------------------------------------------------------------

    def set_initial_model(self, owner: Any, weights: np.ndarray, warm: bool = True) -> int:
        """Quantizes and stores the starting model, chunk by chunk, then (``warm``) pre-pays
        the accumulator's fresh storage slots, which round 1 requires (the contract refuses
        to open it before). Returns the number of saturated values."""
        words, saturated = codec.encode(self._check(weights), self.fmt)
        for c, (f, t) in enumerate(self.chunks):
            self.contract.setInitialModel(c, words[f:t], sender=owner)
        if warm:
            self.warm_storage(owner)
        return saturated

    def warm_storage(self, owner: Any) -> int:
        """Writes the accumulator words not warmed yet (round 1 needs all), a bounded number
        per transaction; returns the transactions sent."""
        sent = 0
        for f in range(int(self.contract.warmedWords()), self.model_words, WARM_WORDS_PER_TX):
            self.contract.warmStorage(f, min(f + WARM_WORDS_PER_TX, self.model_words), sender=owner)
            sent += 1
        return sent

    def fund(self, sender: Any, amount: int) -> None:
        self.contract.fund(sender=sender, value=amount)

    def start_round(self, sender: Any) -> int:
        self.contract.startRound(sender=sender)
        return self.current_round

    def end_task(self, owner: Any) -> int:
        """Ends the task (no new round opens); returns the time from which ``sweep`` works."""
        receipt = self.contract.endTask(sender=owner)
        (ev,) = _event_args(receipt, "TaskEnded")
        return int(ev.sweepableAt)

    def sweep(self, owner: Any) -> int:
        """After ``end_task`` and its delay: pays the owner what no participant is owed."""
        receipt = self.contract.sweep(sender=owner)
        (ev,) = _event_args(receipt, "Swept")
        return int(ev.amount)

    # --- participants -----------------------------------------------------------------

    def submit(self, sender: Any, round_: int, weights: np.ndarray, chunks: int | None = None,
               start: int = 0) -> Submission | None:
        """Quantizes, packs and submits one participant's weights for ``round_``, one
        transaction per chunk, from chunk ``start`` (to resume). ``chunks`` stops after that
        many (a partial submission, for tests and failure studies); it then returns None."""
        words, saturated = codec.encode(self._check(weights), self.fmt)
        receipts = self._send_chunks(
            lambda k, f, t: self.contract.submit(round_, k, words[f:t], sender=sender), "Submitted", chunks, start)
        if receipts is None:
            return None
        (ev,) = _event_args(receipts[-1], "Submitted")
        gas = [int(r.gas_used) for r in receipts]
        return Submission(int(ev.round), str(ev.participant), int(ev.distance), int(ev.tier), int(ev.reward),
                          sum(gas), saturated, self.param_count, len(gas), max(gas))

    def send_gas_limit(self, words: int) -> int:
        """Gas limit for one chunk of ``words`` words (an upper bound from measurements)."""
        return GAS_PER_TX_OVERHEAD + GAS_PER_WORD_SEND * words

    def submit_many(self, round_: int, items: Sequence[tuple[Any, np.ndarray]]) -> list[Submission]:
        """Submits every ``(sender, weights)`` at once (all chunks of all senders broadcast
        without waiting; see ``broadcast``) and returns one Submission per sender."""
        encoded = [codec.encode(self._check(w), self.fmt) for _, w in items]
        calls = [
            (self.contract.submit, (round_, c, words[f:t]), sender, 0, self.send_gas_limit(t - f))
            for (sender, _), (words, _) in zip(items, encoded)
            for c, (f, t) in enumerate(self.chunks)
        ]
        receipts = broadcast(self.contract.provider, calls)
        k = len(self.chunks)
        out = []
        for i, (words, saturated) in enumerate(encoded):
            mine = receipts[i * k : (i + 1) * k]
            (ev,) = _event_args(mine[-1], "Submitted")
            gas = [int(r.gas_used) for r in mine]
            out.append(Submission(int(ev.round), str(ev.participant), int(ev.distance), int(ev.tier), int(ev.reward),
                                  sum(gas), saturated, self.param_count, len(gas), max(gas)))
        return out

    # --- commit / reveal / claim (CONSENSUS rule) -------------------------------------

    def prepare(self, round_: int, weights: np.ndarray, salt: bytes | None = None,
                global_ints: np.ndarray | None = None, moves: Sequence[int] | None = None) -> Commitment:
        """Quantizes and packs an update, measures its move per chunk against the current
        global model (read with view calls unless given), links the chunks and draws a
        fresh 32-byte salt. Call it while the round is open: the move is declared against
        the model the round started from. To rebuild a commitment later (the global has
        moved on), pass the ``salt`` and the ``moves`` declared then."""
        q = codec.quantize(self._check(weights), self.fmt)
        words = codec.pack(q.ints)
        if moves is None:
            g = self.global_ints() if global_ints is None else global_ints
            moves = reference.chunk_moves(q.ints, g, self.chunk_words)
        if len(moves) != len(self.chunks):
            raise ValueError(f"{len(moves)} chunk moves for a task of {len(self.chunks)} chunks")
        moves = [int(m) for m in moves]
        links = reference.chunk_links(words, moves, self.chunk_words)
        return Commitment(round_, salt if salt is not None else os.urandom(32), words, moves, links, q.saturated)

    def commitment_hash(self, participant: Any, c: Commitment) -> bytes:
        return reference.commitment_hash(self.address, c.round, str(participant), c.salt, c.move, c.links[0])

    def commit(self, sender: Any, c: Commitment) -> int:
        receipt = self.contract.commit(c.round, self.commitment_hash(sender, c), c.move, sender=sender,
                                       value=self.stake)
        return int(receipt.gas_used)

    # The commit phase lasts its whole duration (seats are drawn after it, never first come).

    def advance_time(self, seconds: int) -> None:
        """Development chains only: the next block's timestamp moves ``seconds`` ahead."""
        self.contract.chain_manager.pending_timestamp += seconds

    def seconds_to_commit_close(self) -> int:
        """Seconds until the open round's commit phase is over (0: it is)."""
        now = int(self.contract.provider.get_block("pending").timestamp)
        return max(0, int(self.contract.commitDeadline()) - now)

    def seats_drawn(self, round_: int) -> bool:
        return int.from_bytes(bytes(self.contract.roundSeed(round_)), "big") != 0

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
        receipt = self.contract.drawSeats(round_, sender=sender)
        (ev,) = _event_args(receipt, "SeatsDrawn")
        return SeatDraw(int(ev.round), int(ev.committers), int(ev.seats), int(ev.moveReference), bytes(ev.seed),
                        int(receipt.gas_used))

    def seated(self, round_: int) -> list[str]:
        """The round's seated committers, in the contract's order."""
        return [str(self.contract.committer(round_, i)) for i in range(int(self.contract.roundSeats(round_)))]

    def release_stake(self, sender: Any, round_: int) -> int:
        """Takes back the stake of a commit that was not drawn for a seat."""
        receipt = self.contract.releaseStake(round_, sender=sender)
        (ev,) = _event_args(receipt, "StakeReturned")
        return int(ev.amount)

    def reveal(self, sender: Any, c: Commitment, chunks: int | None = None, start: int = 0) -> Reveal | None:
        """Reveals every chunk in order from ``start`` (stops early if chunk 0 is rejected),
        drawing the round's seats first if the commit phase is over and nobody has.
        ``chunks`` stops after that many, leaving the reveal unfinished; it then returns None."""
        if start == 0 and not self.seats_drawn(c.round) and self.seconds_to_commit_close() == 0:
            self.draw_seats(sender)
        receipts = self._send_chunks(self._opening_sender(self.contract.reveal, sender, c), "Revealed", chunks, start)
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
        receipts = self._send_chunks(self._opening_sender(self.contract.claim, sender, c), "Claimed", None, start)
        assert receipts is not None
        (ev,) = _event_args(receipts[-1], "Claimed")
        gas = [int(r.gas_used) for r in receipts]
        return Claim(int(ev.round), str(ev.participant), int(ev.distance), int(ev.tier), int(ev.reward),
                     int(ev.stake), sum(gas), len(gas), max(gas))

    @staticmethod
    def _opening_sender(method: Any, sender: Any, c: Commitment) -> Callable[[int, int, int], Any]:
        return lambda k, f, t: method(c.round, k, c.opening(k), c.words[f:t], sender=sender)

    def _send_chunks(self, send: Callable[[int, int, int], Any], final_event: str, chunks: int | None,
                     start: int = 0) -> list[Any] | None:
        """Calls ``send(chunk, from_word, to_word)`` for each chunk in order from ``start``
        (at most ``chunks``) and returns the receipts once one carries ``final_event``
        (the contract emits it when the participant's last chunk landed, or when chunk 0
        was rejected), or None when the chunks ran out first."""
        receipts = []
        for k, (f, t) in list(enumerate(self.chunks[:chunks]))[start:]:
            receipts.append(send(k, f, t))
            if _event_args(receipts[-1], final_event):
                return receipts
        return None

    @property
    def stake(self) -> int:
        return int(self.contract.stake())

    @property
    def rule(self) -> str:
        return RULES[int(self.contract.rewardRule())]

    @property
    def chunks_per_finalize(self) -> int:
        """Chunks of the new model one finalize transaction writes within the gas budget."""
        per_chunk = GAS_PER_WORD_FINALIZE * self.chunk_words
        return max(1, (self.tx_gas_budget - FINALIZE_OVERHEAD) // per_chunk)

    def finalize(self, sender: Any, max_chunks: int | None = None) -> Finalization:
        """Closes the round and writes the new model, as many transactions as it takes
        (``max_chunks`` chunks each; default: what fits the gas budget)."""
        round_ = self.current_round
        step = max_chunks or self.chunks_per_finalize
        gas: list[int] = []
        # An explicit gas limit (not the block's), so a block can still hold other transactions.
        gas_limit = FINALIZE_OVERHEAD + GAS_PER_WORD_FINALIZE * self.chunk_words * min(step, len(self.chunks))
        interval = _interval_mining(self.contract.provider)
        while True:
            if interval:
                # ape's own send re-imports the transaction on an anvil switched to interval
                # mining ("transaction already imported"); send it raw there.
                (receipt,) = broadcast(self.contract.provider, [(self.contract.finalizeChunks, (step,), sender, 0,
                                                                 gas_limit)])
            else:
                receipt = self.contract.finalizeChunks(step, sender=sender, gas_limit=gas_limit)
            gas.append(int(receipt.gas_used))
            end = _event_args(receipt, "RoundFinalized") or _event_args(receipt, "RoundAbandoned")
            if end:
                break
        return Finalization(
            round=round_,
            participants=int(end[0].participants),
            completed=end[0].event_name == "RoundFinalized",
            gas_used=sum(gas),
            next_round_open=bool(self.contract.roundOpen()),
            transactions=len(gas),
            max_tx_gas=max(gas),
            block_number=int(receipt.block_number),
        )

    def withdraw(self, sender: Any) -> int:
        """Withdraws everything owed to ``sender``; returns the wei paid."""
        receipt = self.contract.withdraw(sender=sender)
        (ev,) = _event_args(receipt, "Withdrawn")
        return int(ev.rewards) + int(ev.revenue)

    def buy_access(self, sender: Any) -> None:
        self.contract.buyAccess(sender=sender, value=self.access_price)

    # --- views (free) -----------------------------------------------------------------

    def global_ints(self) -> np.ndarray:
        """The global model's integers, read with view calls only."""
        words: list[int] = []
        for start in range(0, self.model_words, VIEW_WORDS_PER_CALL):
            end = min(start + VIEW_WORDS_PER_CALL, self.model_words)
            words.extend(int(w) for w in self.contract.globalModelSlice(start, end))
        return codec.unpack(words, self.param_count)

    def global_model(self) -> np.ndarray:
        """The global model as floats, ready for ``models.set_flat``."""
        return codec.dequantize(self.global_ints(), self.fmt)

    @property
    def block_number(self) -> int:
        """Number of the chain's latest block."""
        return int(self.contract.provider.get_block("latest").number)

    @property
    def current_round(self) -> int:
        return int(self.contract.currentRound())

    @property
    def round_open(self) -> bool:
        return bool(self.contract.roundOpen())

    @property
    def access_price(self) -> int:
        return int(self.contract.accessPrice())

    def withdrawable(self, account: Any) -> int:
        return int(self.contract.withdrawable(account))

    def reward_balance(self, account: Any) -> int:
        return int(self.contract.rewardBalance(account))

    def has_access(self, account: Any) -> bool:
        return bool(self.contract.hasAccess(account))

    def tiers(self) -> list[tuple[int, int]]:
        return [tuple(int(v) for v in self.contract.tier(i)) for i in range(int(self.contract.tierCount()))]

    def _check(self, weights: np.ndarray) -> np.ndarray:
        w = np.asarray(weights, dtype=np.float64).ravel()
        if w.size != self.param_count:
            raise ValueError(f"weights have {w.size} values; the task expects {self.param_count}")
        return w


def download_model(container: Any, address: str, model: Any) -> Any:
    """Loads the current global model of the task at ``address`` into a torch model,
    using view calls only (no transaction, no account needed)."""
    from .models import set_flat

    task = FedTask.at(container, address)
    set_flat(model, task.global_model())
    return model
