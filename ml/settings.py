"""What a task is deployed with, and the protocol's constants: each stated once, here.

``TaskSettings`` mirrors the contract's ``FederatedTask.TaskSettings`` struct field for
field (raw integers, wei); the config-file schema a person writes (ETH, defaults,
validation) is ``ml.node.deployment.DeployConfig``, which produces one of these.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Sequence

from . import codec

RULES = ("paper", "consensus")  # index = FederatedTask.PAPER / CONSENSUS
UNBOUNDED = 2**256 - 1

#: FederatedTask.MAX_CHUNK_WORDS: a chunk of the global model is one data contract, which
#: must stay under the 24,576-byte code size limit (EIP-170).
MAX_CHUNK_WORDS = 767
#: FederatedTask.MAX_SEATS: seats a CONSENSUS round can draw.
MAX_SEATS = 256

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
#: Gas limit of a commit and of a seat draw (measured: ~142k and ~370k for 20 seats).
COMMIT_GAS = 200_000
DRAW_GAS = 3_000_000
#: Accumulator words warmed per warmStorage transaction (2 fresh 22,100-gas slots per word).
WARM_WORDS_PER_TX = 240


class Status(IntEnum):
    """FederatedTask.statusOf: where a participant stands in a round."""

    NONE = 0
    COMMITTED = 1  # CONSENSUS: committed, seats not drawn yet (or not drawn for one)
    ACCEPTED = 2  # every chunk in (CONSENSUS: the move accepted)
    REJECTED = 3  # CONSENSUS: declared move out of bounds
    CLAIMED = 4  # CONSENSUS: reward and stake credited
    SENDING = 5  # some chunks in, not all
    SEATED = 6  # CONSENSUS: drawn for a seat, no chunk revealed yet
    RELEASED = 7  # CONSENSUS: not drawn, stake returned


def default_chunk_words(param_count: int, tx_gas_budget: int = DEFAULT_TX_GAS_BUDGET) -> int:
    """The largest chunk whose submission or reveal stays under ``tx_gas_budget``."""
    fit = (tx_gas_budget - GAS_PER_TX_OVERHEAD) // GAS_PER_WORD_SEND
    if fit < 1:
        raise ValueError(f"a gas budget of {tx_gas_budget} cannot carry even one word per transaction")
    return max(1, min(codec.word_count(param_count), fit, MAX_CHUNK_WORDS))


@dataclass(frozen=True)
class TaskSettings:
    """Deployment settings of one learning task (FederatedTask.TaskSettings)."""

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
        """Wei a round locks from the pool when it opens (FederatedTask.roundReserveNeeded)."""
        return max(self.tier_rewards) * self.max_participants

    def as_tuple(self) -> tuple[Any, ...]:
        """The constructor argument, in the struct's field order."""
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


# --- the batch engine (BatchEngine.sol) ---------------------------------------------------

AGGREGATIONS = ("mean", "median", "trimmed_mean")  # index = BatchEngine.MEAN / MEDIAN / TRIMMED_MEAN
#: BatchEngine.MAX_COLUMN_WORDS / MAX_COLUMN_BYTES: a column is one data contract (EIP-170),
#: and a column transaction stays under public pools' 128 KiB with room for its envelope.
MAX_COLUMN_WORDS = 767
MAX_COLUMN_BYTES = 126 * 1024
#: Calldata of a column transaction besides the words: selector, 4 head words, 2 lengths.
COLUMN_OVERHEAD_BYTES = 4 + 32 * 6
#: Largest post transaction: words of one update per submit (calldata under 128 KiB).
MAX_POST_WORDS = (MAX_COLUMN_BYTES - 4 - 32 * 6) // 32
#: Gas limit of a post: the EIP-7623 floor is 40 gas per nonzero calldata byte (1,280 per
#: word), and the lane checks, hashing and distance stay under it (measured ~1,430 per word
#: with the first round's storage writes). Column transactions are estimated by the node:
#: their gas depends on the rule and the seats (measured by `ape run bench --batch`).
POST_GAS_OVERHEAD = 250_000
POST_GAS_PER_WORD = 2_000


#: BatchEngine's column gas model (upper bounds, measured with margin): see columnGasBound.
MAX_COLUMN_GAS = 12_000_000
GAS_COLUMN_BASE, GAS_PER_SEAT, GAS_PER_PAIR = 300_000, 100_000, 1_000
GAS_PER_UPDATE_WORD, GAS_PER_COMPARATOR_WORD, GAS_PER_MODEL_WORD = 1_000, 320, 8_000


def comparators(n: int) -> int:
    """Comparators of Batcher's odd-even merge network for n rows (ColumnMath.schedule):
    the network of the next power of two, without those touching the padding."""
    size = 1
    while size < n:
        size <<= 1
    count, p = 0, 1
    while p < size:
        k = p
        while k > 0:
            j = k % p
            while j + k < size:
                for i in range(min(k, size - j - k)):
                    a = i + j
                    if a + k < n and a // (2 * p) == (a + k) // (2 * p):
                        count += 1
                j += 2 * k
            k >>= 1
        p <<= 1
    return count


def column_gas_bound(n: int, w: int, sorts: bool) -> int:
    """BatchEngine.columnGasBound: an upper bound of a column transaction's gas."""
    c = comparators(n) if sorts and n >= 2 else 0
    return (GAS_COLUMN_BASE + n * GAS_PER_SEAT + n * n * GAS_PER_PAIR
            + w * (n * GAS_PER_UPDATE_WORD + c * GAS_PER_COMPARATOR_WORD + GAS_PER_MODEL_WORD))


def default_column_words(param_count: int, max_participants: int, aggregation: str = "mean") -> int:
    """The widest column whose transaction carries every seat's words under
    MAX_COLUMN_BYTES and whose gas bound stays under MAX_COLUMN_GAS (and at most
    MAX_COLUMN_WORDS, and the model)."""
    n = max_participants
    fit = (MAX_COLUMN_BYTES - COLUMN_OVERHEAD_BYTES) // (32 * n) - 1
    sorts = aggregation != "mean"
    per_word = column_gas_bound(n, 1, sorts) - column_gas_bound(n, 0, sorts)
    fit = min(fit, (MAX_COLUMN_GAS - column_gas_bound(n, 0, sorts)) // per_word)
    if fit < 1:
        raise ValueError(f"{n} seats cannot fit one word each in a column under {MAX_COLUMN_BYTES} bytes "
                         f"and {MAX_COLUMN_GAS:,} gas ({aggregation})")
    return max(1, min(codec.word_count(param_count), fit, MAX_COLUMN_WORDS))


@dataclass(frozen=True)
class BatchSettings:
    """Deployment settings of a batch-engine task (BatchEngine.BatchSettings)."""

    param_count: int
    frac_bits: int = 12
    value_bits: int = 16
    post_duration: int = 3600
    min_participants: int = 1
    max_participants: int = 5
    access_price: int = 10**16
    tier_thresholds: Sequence[int] = (64, 256, 1024)
    tier_rewards: Sequence[int] = (3 * 10**15, 2 * 10**15, 10**15)
    aggregation: str = "mean"
    trim: int = 0
    post_words: int = 0  # 0: the largest multiple of the column under MAX_POST_WORDS
    column_words: int = 0  # 0: default_column_words
    duplicate_distance: int = 0
    replay_rounds: int = 0
    keeper_fee: int = 0

    def __post_init__(self) -> None:
        codec.FixedPoint(self.frac_bits, self.value_bits)
        if len(self.tier_thresholds) != len(self.tier_rewards):
            raise ValueError("tier_thresholds and tier_rewards must have the same length")
        if self.aggregation not in AGGREGATIONS:
            raise ValueError(f"aggregation must be one of {', '.join(AGGREGATIONS)}, got {self.aggregation!r}")

    @property
    def fmt(self) -> codec.FixedPoint:
        return codec.FixedPoint(self.frac_bits, self.value_bits)

    @property
    def resolved_column_words(self) -> int:
        return self.column_words or default_column_words(self.param_count, self.max_participants, self.aggregation)

    @property
    def resolved_post_words(self) -> int:
        if self.post_words:
            return self.post_words
        w = self.resolved_column_words
        return max(w, MAX_POST_WORDS // w * w)  # the contract caps it at the model

    @property
    def column_count(self) -> int:
        w = self.resolved_column_words
        return (codec.word_count(self.param_count) + w - 1) // w

    @property
    def round_reserve(self) -> int:
        """Wei a round locks when it opens (BatchEngine.roundReserveNeeded)."""
        return max(self.tier_rewards) * self.max_participants + self.keeper_fee * self.column_count

    def as_tuple(self) -> tuple[Any, ...]:
        """The constructor argument, in the struct's field order."""
        return (
            self.param_count, self.value_bits, self.frac_bits, self.post_duration, self.min_participants,
            self.max_participants, self.access_price, list(self.tier_thresholds), list(self.tier_rewards),
            AGGREGATIONS.index(self.aggregation), self.trim, self.resolved_post_words, self.resolved_column_words,
            self.duplicate_distance, self.replay_rounds, self.keeper_fee,
        )


@dataclass(frozen=True)
class ConsensusSettings:
    """The CONSENSUS rule's own settings (ConsensusTask.ConsensusSettings); moves are mean
    |v - g| per parameter in fixed-point units, the ratio in per-mille."""

    commit_duration: int = 3600
    stake: int = 10**16
    min_move: int = 0
    max_move: int = 2**16
    max_move_ratio: int = 0

    def as_tuple(self) -> tuple[int, ...]:
        return (self.commit_duration, self.stake, self.min_move, self.max_move, self.max_move_ratio)
