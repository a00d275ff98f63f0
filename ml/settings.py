"""What a task is deployed with, and the protocol's constants: each stated once, here.

``BatchSettings`` mirrors the contract's ``BatchEngine.BatchSettings`` struct field for field
(raw integers, wei) and ``ConsensusSettings`` the CONSENSUS rule's own; the config-file
schema a person writes (ETH, defaults, validation) is ``ml.node.deployment.DeployConfig``,
which produces them. A test pins every constant here to the contract's.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Sequence

from . import codec


#: BatchEngine.MAX_SEATS: seats a round can hold (a list index is 16 bits; the seat lottery
#: and the column's n^2 duplicate pairs keep practical rounds far below).
MAX_SEATS = 256
#: TieredRule.MAX_TIERS: tiers a rule may set.
MAX_TIERS = 8
#: Gas limit of a commit and of a seat draw (measured: ~142k and ~370k for 20 seats).
COMMIT_GAS = 200_000
DRAW_GAS = 3_000_000
#: BatchEngine.EXIT_DELAY / MAX_DURATION / MAX_DUPLICATE_DISTANCE: seconds from endTask to
#: sweep; the longest phase or timeout; the largest near-duplicate bound.
EXIT_DELAY = 7 * 24 * 3600
MAX_DURATION = 30 * 24 * 3600
MAX_DUPLICATE_DISTANCE = 1 << 16
#: Gas limits of PaperRule.relay (a signature and two seat records per relayed update),
#: sealSeed, and drop (a head, and a moved seat, per listed update).
RELAY_GAS_BASE, RELAY_GAS_PER_SEAT = 250_000, 70_000
SEAL_GAS = 80_000
DROP_GAS_BASE, DROP_GAS_PER_SEAT = 150_000, 40_000


class Status(IntEnum):
    """Where a participant stands in a round (BatchTask.status: BatchEngine.statusOf, and
    ConsensusRule.seatOf under CONSENSUS)."""

    NONE = 0
    COMMITTED = 1  # CONSENSUS: committed, seats not drawn yet (or drawn without it)
    SEATED = 2  # CONSENSUS: drawn for a seat, nothing revealed yet
    RELEASED = 3  # CONSENSUS: not seated, stake returned
    POSTING = 4  # some posts in, not all
    LISTED = 5  # complete and on the round's list: aggregated and rewarded with the last column
    REFUSED = 6  # CONSENSUS: revealed, but the move was not as declared or out of bounds


AGGREGATIONS = ("mean", "median", "trimmed_mean")  # index = BatchEngine.MEAN / MEDIAN / TRIMMED_MEAN
#: BatchEngine.MAX_COLUMN_WORDS / MAX_COLUMN_BYTES: a column is one data contract (EIP-170),
#: and a column transaction stays under public pools' 128 KiB with room for its envelope.
MAX_COLUMN_WORDS = 767
MAX_COLUMN_BYTES = 126 * 1024
#: Calldata of a column transaction besides the words: selector, 4 head words, 2 lengths.
COLUMN_OVERHEAD_BYTES = 4 + 32 * 6
#: ...and per seat besides its words: its next link.
COLUMN_SEAT_BYTES = 32
#: Largest post transaction: words of one update per submit (calldata under 128 KiB): the
#: selector, five head words, two lengths and a two-word proof (a CONSENSUS opening).
MAX_POST_WORDS = (MAX_COLUMN_BYTES - 4 - 32 * 9) // 32
#: Gas limit of a post: the EIP-7623 floor is 40 gas per nonzero calldata byte (1,280 per
#: word), and the lane checks, hashing and distance stay under it (measured ~1,430 per word
#: with the first round's storage writes). Column transactions are estimated by the node:
#: their gas depends on the rule and the seats (measured by `ape run bench --batch`).
POST_GAS_OVERHEAD = 250_000
POST_GAS_PER_WORD = 2_000
#: ...and per column the post covers: the column's model address (a cold SLOAD), its code
#: (a cold EXTCODECOPY) and its link (found by the gas property test: 29 one-word columns
#: cost 328k against a 308k limit).
POST_GAS_PER_COLUMN = 8_000


def post_gas(words: int, column_words: int) -> int:
    """Gas limit of a post (or reveal) of ``words`` words starting on a column boundary."""
    return POST_GAS_OVERHEAD + POST_GAS_PER_WORD * words + POST_GAS_PER_COLUMN * -(-words // column_words)


#: BatchEngine's column gas model (upper bounds, measured with margin): see columnGasBound.
MAX_COLUMN_GAS = 12_000_000
GAS_COLUMN_BASE, GAS_PER_SEAT, GAS_PER_PAIR = 300_000, 100_000, 1_000
GAS_PER_UPDATE_WORD, GAS_PER_COMPARATOR_WORD, GAS_PER_MODEL_WORD = 1_000, 320, 8_000
#: BatchEngine.GAS_PER_NEW_WORD: per seat and word, when the rule asks for distances to the
#: new model (Hooks.DISTANCE_TO_NEW).
GAS_PER_NEW_WORD = 600


@dataclass(frozen=True)
class RuleCost:
    """What a rule adds to a column's gas bound (its ``RuleSpec``): the last column's hook
    calls, per column and per seat, and whether the engine measures every update's distance
    to the new model for it."""

    per_column: int = 30_000
    per_seat: int = 5_000
    distance_to_new: bool = False


#: BatchEngine.GAS_PER_RELAYED_SEAT / GAS_PER_RELAYED_WORD: what a relayed update may add to
#: a column (its distance slot and lanes; ~300 per relayed word for lanes and distance),
#: counted for the task's maxRelayed seats.
GAS_PER_RELAYED_SEAT, GAS_PER_RELAYED_WORD = 90_000, 500
#: BatchEngine.GAS_REPLAY_LIST / GAS_PER_REPLAY_HEAD / MAX_REPLAY_ROUNDS: column 0 keeps the
#: round's head list and looks each head of the last replayRounds rounds' lists up (counted
#: for replayRounds x maxParticipants heads).
GAS_REPLAY_LIST, GAS_PER_REPLAY_HEAD, MAX_REPLAY_ROUNDS = 80_000, 550, 16


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


def column_gas_bound(n: int, w: int, sorts: bool, cost: RuleCost | None = None, relayed: int | None = None,
                     replay_heads: int = 0) -> int:
    """BatchEngine._columnGasBound: an upper bound of a column transaction's gas with n seats,
    ``relayed`` of them relayed (default: all), in a task whose rule adds ``cost`` and whose
    column 0 looks up ``replay_heads`` (replayRounds x maxParticipants) heads."""
    cost = cost or RuleCost()
    r = n if relayed is None else relayed
    c = comparators(n) if sorts and n >= 2 else 0
    rule = cost.per_column + n * cost.per_seat + (n * w * GAS_PER_NEW_WORD if cost.distance_to_new else 0)
    replays = GAS_REPLAY_LIST + replay_heads * GAS_PER_REPLAY_HEAD if replay_heads else 0
    return (GAS_COLUMN_BASE + n * GAS_PER_SEAT + replays + n * n * GAS_PER_PAIR
            + w * (n * GAS_PER_UPDATE_WORD + c * GAS_PER_COMPARATOR_WORD + GAS_PER_MODEL_WORD)
            + r * (GAS_PER_RELAYED_SEAT + w * GAS_PER_RELAYED_WORD) + rule)


def column_fit(max_participants: int, aggregation: str = "mean", cost: RuleCost | None = None,
               relayed: int | None = None, replay_rounds: int = 0) -> int:
    """Words per update of the widest column whose transaction carries every seat's words
    under MAX_COLUMN_BYTES and whose gas bound (``relayed`` relayable seats, default all)
    stays under MAX_COLUMN_GAS; below 1 when not even one word fits."""
    n = max_participants
    r = n if relayed is None else relayed
    fit = (MAX_COLUMN_BYTES - COLUMN_OVERHEAD_BYTES - COLUMN_SEAT_BYTES * n) // (32 * n)
    sorts = aggregation != "mean"
    base = column_gas_bound(n, 0, sorts, cost, r, replay_rounds * n)
    per_word = column_gas_bound(n, 1, sorts, cost, r, replay_rounds * n) - base
    return min(fit, (MAX_COLUMN_GAS - base) // per_word)


def default_max_relayed(param_count: int, max_participants: int, aggregation: str = "mean",
                        cost: RuleCost | None = None, column_words: int = 0, replay_rounds: int = 0) -> int:
    """Every seat relayable when a fully relayed column is at least half as wide as a
    posts-only one (or as wide as the ``column_words`` asked for); otherwise none. The
    relay's per-seat gas narrows the column: with many seats a relayable round would need
    several times the column transactions (48 seats of 8,192 parameters: 3 words, not 82)."""
    words = codec.word_count(param_count)
    fit = min(column_fit(max_participants, aggregation, cost, max_participants, replay_rounds),
              MAX_COLUMN_WORDS, words)
    if column_words:
        ok = fit >= column_words
    else:
        ok = fit >= 1 and 2 * fit >= min(column_fit(max_participants, aggregation, cost, 0, replay_rounds),
                                         MAX_COLUMN_WORDS, words)
    return max_participants if ok else 0


def default_column_words(param_count: int, max_participants: int, aggregation: str = "mean",
                         cost: RuleCost | None = None, relayed: int | None = None, replay_rounds: int = 0) -> int:
    """The widest column (``column_fit``, at most MAX_COLUMN_WORDS and the model) for
    ``relayed`` relayable seats (default: ``default_max_relayed``)."""
    n = max_participants
    if relayed is None:
        relayed = default_max_relayed(param_count, n, aggregation, cost, replay_rounds=replay_rounds)
    fit = column_fit(n, aggregation, cost, relayed, replay_rounds)
    if fit < 1:
        raise ValueError(f"{n} seats ({relayed} relayable) cannot fit one word each in a column under "
                         f"{MAX_COLUMN_BYTES} bytes and {MAX_COLUMN_GAS:,} gas ({aggregation})")
    return max(1, min(codec.word_count(param_count), fit, MAX_COLUMN_WORDS))


def _check_common(s: Any, durations: Sequence[str]) -> None:
    """What both planes' settings share: the fixed-point format, the tiers, the aggregation
    rule, the replay look-back, and phases within (0, MAX_DURATION]."""
    codec.FixedPoint(s.frac_bits, s.value_bits)
    if len(s.tier_thresholds) != len(s.tier_rewards):
        raise ValueError("tier_thresholds and tier_rewards must have the same length")
    if s.aggregation not in AGGREGATIONS:
        raise ValueError(f"aggregation must be one of {', '.join(AGGREGATIONS)}, got {s.aggregation!r}")
    if not 0 <= s.replay_rounds <= MAX_REPLAY_ROUNDS:
        raise ValueError(f"replay_rounds must be in [0, {MAX_REPLAY_ROUNDS}], got {s.replay_rounds}")
    for name in durations:
        if not 0 < getattr(s, name) <= MAX_DURATION:
            raise ValueError(f"{name} must be in (0, {MAX_DURATION}] seconds, got {getattr(s, name)}")


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
    #: Updates a round's relay may carry; None: ``default_max_relayed``.
    max_relayed: int | None = None
    #: Seconds after the posting deadline from which relayed updates that stall a round may
    #: be dropped; after twice this anyone may abandon the round (BatchEngine.abandonableAt).
    aggregation_timeout: int = 3600
    #: Not a struct field: the reward rule (``ml.rules``), whose hooks' gas sizes default
    #: columns; its tiers are the two tier fields above.
    rule: str = "paper"

    def __post_init__(self) -> None:
        _check_common(self, ("post_duration", "aggregation_timeout"))
        if not 0 <= self.duplicate_distance <= MAX_DUPLICATE_DISTANCE:
            raise ValueError(f"duplicate_distance must be in [0, {MAX_DUPLICATE_DISTANCE}], "
                             f"got {self.duplicate_distance}")
        if self.max_relayed is not None and not 0 <= self.max_relayed <= self.max_participants:
            raise ValueError(f"max_relayed must be in [0, max_participants = {self.max_participants}], "
                             f"got {self.max_relayed}")

    @property
    def fmt(self) -> codec.FixedPoint:
        return codec.FixedPoint(self.frac_bits, self.value_bits)

    @property
    def cost(self) -> RuleCost:
        from .rules import adapter_for

        return adapter_for(self.rule).cost

    @property
    def resolved_max_relayed(self) -> int:
        if self.max_relayed is not None:
            return self.max_relayed
        return default_max_relayed(self.param_count, self.max_participants, self.aggregation, self.cost,
                                   self.column_words, self.replay_rounds)

    @property
    def resolved_column_words(self) -> int:
        return self.column_words or default_column_words(self.param_count, self.max_participants, self.aggregation,
                                                         self.cost, self.resolved_max_relayed,
                                                         self.replay_rounds)

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
        """The engine's settings struct, in its field order (the tiers go to the rule)."""
        return (
            self.param_count, self.value_bits, self.frac_bits, self.post_duration, self.min_participants,
            self.max_participants, self.access_price, AGGREGATIONS.index(self.aggregation), self.trim, self.resolved_post_words, self.resolved_column_words,
            self.duplicate_distance, self.replay_rounds, self.keeper_fee, self.resolved_max_relayed,
            self.aggregation_timeout,
        )


@dataclass(frozen=True)
class TaskConfig:
    """A deployed task's settings as ``BatchEngine.settings()`` returns them (one read)."""

    param_count: int
    value_bits: int
    frac_bits: int
    model_words: int
    column_words: int
    column_count: int
    post_words: int
    post_count: int
    post_duration: int
    min_participants: int
    max_participants: int
    max_relayed: int
    aggregation: str
    trim: int
    duplicate_distance: int
    replay_rounds: int
    keeper_fee: int
    aggregation_timeout: int

    @classmethod
    def from_words(cls, words: Sequence[int]) -> "TaskConfig":
        v = [int(x) for x in words]
        return cls(*v[:12], AGGREGATIONS[v[12]], *v[13:])

    @property
    def fmt(self) -> codec.FixedPoint:
        return codec.FixedPoint(self.frac_bits, self.value_bits)

    @property
    def replay_heads(self) -> int:
        """Heads of earlier rounds column 0 may look up (replayRounds x maxParticipants)."""
        return self.replay_rounds * self.max_participants


@dataclass(frozen=True)
class ConsensusSettings:
    """The CONSENSUS rule's own settings (ConsensusRule.ConsensusSettings); moves are mean
    |v - g| per parameter in fixed-point units, the ratio in per-mille."""

    commit_duration: int = 3600
    stake: int = 10**16
    min_move: int = 0
    max_move: int = 2**16
    max_move_ratio: int = 0

    def as_tuple(self) -> tuple[int, ...]:
        return (self.commit_duration, self.stake, self.min_move, self.max_move, self.max_move_ratio)


#: BlobEngine limits (contracts/lib/Limits.sol): seats per round, blobs per update, and the
#: longest posting + assert timeout + dispute window (blobs stay on nodes ~18.2 days).
MAX_BLOB_SEATS = 64
MAX_BLOBS_PER_UPDATE = 256
BLOB_SAFE_SPAN = 14 * 24 * 3600
#: Shortest dispute window and assert timeout (BlobEngine: MIN_BLOB_PHASE).
MIN_BLOB_PHASE = 3600


@dataclass(frozen=True)
class BlobSettings:
    """Deployment settings of a blob-plane task (BlobEngine.BlobSettings) and its tiers."""

    param_count: int
    frac_bits: int = 12
    value_bits: int = 16
    post_duration: int = 3600
    min_participants: int = 1
    max_participants: int = 10
    access_price: int = 10**16
    tier_thresholds: Sequence[int] = (64, 256, 1024)
    tier_rewards: Sequence[int] = (3 * 10**15, 2 * 10**15, 10**15)
    aggregation: str = "mean"
    trim: int = 0
    replay_rounds: int = 0
    keeper_fee: int = 10**15
    #: Wei a claim bonds: at least the costliest dispute's gas (~4M) at the gas price a
    #: watcher must be able to pay when it matters (0.1 ETH: 25 gwei).
    assert_bond: int = 10**17
    dispute_window: int = 3600
    assert_timeout: int = 3600

    def __post_init__(self) -> None:
        _check_common(self, ("post_duration", "dispute_window", "assert_timeout"))
        if not 0 < self.max_participants <= MAX_BLOB_SEATS:
            raise ValueError(f"max_participants must be in [1, {MAX_BLOB_SEATS}], got {self.max_participants}")
        for name in ("dispute_window", "assert_timeout"):
            if getattr(self, name) < MIN_BLOB_PHASE:
                raise ValueError(f"{name} must be at least {MIN_BLOB_PHASE} s (a watcher's time to fetch, "
                                 f"recompute and dispute), got {getattr(self, name)}")
        span = self.post_duration + self.assert_timeout + self.dispute_window
        if span > BLOB_SAFE_SPAN:
            raise ValueError(f"post_duration + assert_timeout + dispute_window = {span} s outlasts the blobs a "
                             f"dispute needs on the nodes (at most {BLOB_SAFE_SPAN} s: 14 days)")

    @property
    def round_reserve(self) -> int:
        """Wei a round locks when it opens (BlobEngine.roundReserveNeeded)."""
        return max(self.tier_rewards) * self.max_participants + self.keeper_fee

    def as_tuple(self) -> tuple[Any, ...]:
        """The engine's settings struct, in its field order (the tiers go to the rule)."""
        return (self.param_count, self.value_bits, self.frac_bits, self.post_duration, self.min_participants,
                self.max_participants, self.access_price, AGGREGATIONS.index(self.aggregation), self.trim,
                self.replay_rounds, self.keeper_fee, self.assert_bond, self.dispute_window, self.assert_timeout)


@dataclass(frozen=True)
class BlobConfig:
    """A deployed blob task's settings as ``BlobEngine.settings()`` returns them."""

    param_count: int
    value_bits: int
    frac_bits: int
    post_duration: int
    min_participants: int
    max_participants: int
    aggregation: str
    trim: int
    replay_rounds: int
    keeper_fee: int
    assert_bond: int
    dispute_window: int
    assert_timeout: int
    elements: int
    blobs_per_update: int
    slots_per_update: int

    @classmethod
    def from_words(cls, words: Sequence[int]) -> "BlobConfig":
        v = [int(x) for x in words]
        return cls(*v[:6], AGGREGATIONS[v[6]], *v[7:])

    @property
    def fmt(self) -> codec.FixedPoint:
        return codec.FixedPoint(self.frac_bits, self.value_bits)
