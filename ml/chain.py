"""A typed SDK over the FederatedTask contract, so scripts and tests speak in protocol
words (``task.submit(account, round, weights)``) instead of raw ABI calls.

Needs a connected ape provider (inside ``ape run``/``ape test``, or ``networks.parse_network_choice``).
Every write goes through the codec in ``ml.codec``: there is no second encoder.
"""

from __future__ import annotations

import os

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from . import codec, reference

#: Words fetched per view call when reading a large model (keeps eth_call responses small).
VIEW_WORDS_PER_CALL = 2048
RULES = ("paper", "consensus")
UNBOUNDED = 2**256 - 1

#: Words per setInitialModel transaction: 3 fresh 22,100-gas slots each, ~10M gas per slice,
#: under the 16,777,216 per-transaction cap (EIP-7825).
INITIAL_WORDS_PER_TX = 150


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
        )


@dataclass(frozen=True)
class Submission:
    """What one submit transaction did."""

    round: int
    participant: str
    distance: int
    tier: int
    reward: int
    gas_used: int
    saturated: int
    param_count: int = field(repr=False, default=0)


@dataclass(frozen=True)
class Commitment:
    """What a participant must keep between commit and claim (the SDK's client state)."""

    round: int
    salt: bytes
    words: list[int]
    saturated: int = 0


@dataclass(frozen=True)
class Reveal:
    round: int
    participant: str
    move: int
    accepted: bool
    gas_used: int


@dataclass(frozen=True)
class Claim:
    round: int
    participant: str
    distance: int
    tier: int
    reward: int
    stake: int
    gas_used: int


@dataclass(frozen=True)
class Finalization:
    round: int
    participants: int
    completed: bool  # False when the round was abandoned for lack of quorum
    gas_used: int
    next_round_open: bool


def _event_args(receipt: Any, name: str) -> list[Any]:
    return [log for log in receipt.events if log.event_name == name]


class FedTask:
    """Handle on one deployed FederatedTask."""

    def __init__(self, contract: Any) -> None:
        self.contract = contract
        self.param_count = int(contract.paramCount())
        self.fmt = codec.FixedPoint(int(contract.fracBits()), int(contract.valueBits()))
        self.model_words = int(contract.modelWords())

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

    def set_initial_model(self, owner: Any, weights: np.ndarray) -> int:
        """Quantizes and stores the starting model; returns the number of saturated values."""
        words, saturated = codec.encode(self._check(weights), self.fmt)
        for offset in range(0, len(words), INITIAL_WORDS_PER_TX):
            self.contract.setInitialModel(offset, words[offset : offset + INITIAL_WORDS_PER_TX], sender=owner)
        return saturated

    def fund(self, sender: Any, amount: int) -> None:
        self.contract.fund(sender=sender, value=amount)

    def start_round(self, sender: Any) -> int:
        self.contract.startRound(sender=sender)
        return self.current_round

    # --- participants -----------------------------------------------------------------

    def submit(self, sender: Any, round_: int, weights: np.ndarray) -> Submission:
        """Quantizes, packs and submits one participant's weights for ``round_``."""
        words, saturated = codec.encode(self._check(weights), self.fmt)
        receipt = self.contract.submit(round_, words, sender=sender)
        (ev,) = _event_args(receipt, "Submitted")
        return Submission(
            round=int(ev.round),
            participant=str(ev.participant),
            distance=int(ev.distance),
            tier=int(ev.tier),
            reward=int(ev.reward),
            gas_used=int(receipt.gas_used),
            saturated=saturated,
            param_count=self.param_count,
        )

    # --- commit / reveal / claim (CONSENSUS rule) -------------------------------------

    def prepare(self, round_: int, weights: np.ndarray, salt: bytes | None = None) -> Commitment:
        """Quantizes and packs an update and draws a fresh 32-byte salt."""
        words, saturated = codec.encode(self._check(weights), self.fmt)
        return Commitment(round_, salt if salt is not None else os.urandom(32), words, saturated)

    def commitment_hash(self, participant: Any, c: Commitment) -> bytes:
        return reference.commitment_hash(self.address, c.round, str(participant), c.salt, c.words)

    def commit(self, sender: Any, c: Commitment) -> int:
        receipt = self.contract.commit(c.round, self.commitment_hash(sender, c), sender=sender, value=self.stake)
        return int(receipt.gas_used)

    def reveal(self, sender: Any, c: Commitment) -> Reveal:
        receipt = self.contract.reveal(c.round, c.salt, c.words, sender=sender)
        (ev,) = _event_args(receipt, "Revealed")
        return Reveal(int(ev.round), str(ev.participant), int(ev.move), bool(ev.accepted), int(receipt.gas_used))

    def claim(self, sender: Any, c: Commitment) -> Claim:
        receipt = self.contract.claim(c.round, c.salt, c.words, sender=sender)
        (ev,) = _event_args(receipt, "Claimed")
        return Claim(int(ev.round), str(ev.participant), int(ev.distance), int(ev.tier), int(ev.reward),
                     int(ev.stake), int(receipt.gas_used))

    @property
    def stake(self) -> int:
        return int(self.contract.stake())

    @property
    def rule(self) -> str:
        return RULES[int(self.contract.rewardRule())]

    def finalize(self, sender: Any) -> Finalization:
        round_ = self.current_round
        receipt = self.contract.finalize(sender=sender)
        done = _event_args(receipt, "RoundFinalized")
        abandoned = _event_args(receipt, "RoundAbandoned")
        participants = int((done or abandoned)[0].participants)
        return Finalization(
            round=round_,
            participants=participants,
            completed=bool(done),
            gas_used=int(receipt.gas_used),
            next_round_open=bool(self.contract.roundOpen()),
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
