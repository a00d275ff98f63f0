"""The protocol in Python: every rule and every piece of arithmetic of the contracts,
bit-exact, in one place.

Two roles, one statement: the SDK (``ml.chain``) builds the links and commitments it sends
with these very functions (``update_links``, ``commitment_hash``), and the tests hold the
EVM to every function here (aggregation, distances, tiers, scores, seat draw, duplicate
check, revenue shares). Each function names the Solidity it mirrors. Written
for clarity (plain integers, one parameter at a time), not speed, except where a
vectorised numpy form is provably identical (`aggregate`, `distance`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .settings import AGGREGATIONS

# --- BatchEngine.sol: aggregation, scores, tiers --------------------------------------


def trimmed_count(n: int, rule: str, trim: int = 0) -> int:
    """Values dropped at *each* end of a coordinate's sorted column: 0 for the mean, all but
    the middle one or two for the median, ``trim`` for the trimmed mean (capped so that at
    least one value remains: with n <= 2·trim it is the median)."""
    if rule == "mean":
        return 0
    if rule == "median":
        return (n - 1) // 2
    if rule == "trimmed_mean":
        return min(trim, (n - 1) // 2)
    raise ValueError(f"unknown aggregation {rule!r}; one of {', '.join(AGGREGATIONS)}")


def aggregate(values: list[np.ndarray] | np.ndarray, rule: str = "mean", trim: int = 0) -> np.ndarray:
    """The new model of a round under ``rule``, per parameter over the n updates (signed
    integers): sort the n values, drop ``trimmed_count`` at each end, take the rounded mean
    of the rest with the MEAN rounding (floor((sum + floor(m/2)) / m), half towards +inf:
    in the biased domain u = v + 2^(B-1) the contract's floor((sum u + m//2) / m) is the
    bias plus this, the bias being an integer). So MEDIAN is the middle value (n odd) or the
    rounded mean of the two middle values (n even)."""
    stacked = np.stack([np.asarray(v, dtype=np.int64) for v in values]) if len(values) else None
    if stacked is None:
        raise ValueError("aggregate of no updates")
    n = stacked.shape[0]
    t = trimmed_count(n, rule, trim)
    kept = np.sort(stacked, axis=0)[t : n - t] if t else stacked
    m = n - 2 * t
    return np.floor_divide(kept.sum(axis=0) + m // 2, m)


def distance(local: np.ndarray, global_: np.ndarray) -> int:
    """floor(sum |v_p - g_p| / N) in fixed-point units: PaperRule's score (distance to the
    round's old model), ConsensusRule's mean move and distance to the new model."""
    a = np.asarray(local, dtype=np.int64)
    b = np.asarray(global_, dtype=np.int64)
    if a.shape != b.shape:
        raise ValueError("distance: shapes differ")
    return int(np.abs(a - b).sum()) // a.size


def reward_tier(dist: int, thresholds: list[int]) -> int:
    """TieredRule.rewardTier: first i with dist <= thresholds[i], else len(thresholds)."""
    for i, t in enumerate(thresholds):
        if dist <= t:
            return i
    return len(thresholds)


def reward_for(dist: int, thresholds: list[int], rewards: list[int]) -> int:
    tier = reward_tier(dist, thresholds)
    return rewards[tier] if tier < len(rewards) else 0


def chunk_ranges(model_words: int, chunk_words: int) -> list[tuple[int, int]]:
    """Word range [from, to) of every chunk (post or column: BatchEngine._columnRange), in order."""
    if chunk_words <= 0:
        raise ValueError("chunk_words must be > 0")
    return [(f, min(f + chunk_words, model_words)) for f in range(0, model_words, chunk_words)]


def commitment_hash(task: str, round_: int, participant: str, salt: bytes, move: int, first_link: bytes) -> bytes:
    """ConsensusRule.commitmentHash: keccak256(abi.encode(task, round, participant, salt,
    move, head link))."""
    from eth_utils import keccak, to_bytes

    if len(salt) != 32:
        raise ValueError("salt must be 32 bytes")
    addr = lambda a: to_bytes(hexstr=a).rjust(32, b"\0")  # noqa: E731
    return keccak(addr(task) + round_.to_bytes(32, "big") + addr(participant) + salt + move.to_bytes(32, "big")
                  + first_link)


def claim_score(dist: int, move: int, mean_move: int) -> int:
    """ConsensusRule.claimScore: (distance + mean_move - move) in per-mille of mean_move,
    saturating at 0; lower is better."""
    m = mean_move if mean_move else 1
    return 0 if dist + m < move else (dist + m - move) * 1000 // m


def move_accepted(move: int, min_move: int, max_move: int, max_move_ratio: int = 0, reference_mean: int = 0) -> bool:
    """ConsensusRule.admit on a reveal whose measured move is the declared one (means per
    parameter): min_move <= move <= max_move and, when the ratio is set and the reference
    (move_reference) is not 0, move <= max_move_ratio/1000 x it."""
    if not min_move <= move <= max_move:
        return False
    return reference_mean == 0 or within_ratio(move, reference_mean, max_move_ratio)


def within_ratio(move: int, mean_move: int, max_move_ratio: int) -> bool:
    """move <= max_move_ratio/1000 x mean_move, or the ratio is off (0): the outlier test
    shared by reveals (against move_reference) and scores (against the round's mean)."""
    return max_move_ratio == 0 or move * 1000 <= max_move_ratio * mean_move


def move_reference(seated_means: list[int]) -> int:
    """ConsensusRule.moveReference (set by drawSeats): the lower median of the mean moves
    (each floor(move / N)) declared by the round's seated committers; 0 with no seat."""
    if not seated_means:
        return 0
    return sorted(seated_means)[(len(seated_means) - 1) // 2]


def _word_hash(*values: int | bytes) -> int:
    from eth_utils import keccak

    return int.from_bytes(keccak(b"".join(v if isinstance(v, bytes) else v.to_bytes(32, "big") for v in values)),
                          "big")


def of_round(word: int, round_: int) -> int:
    """BatchEngine._ofRound: the value of a round-tagged word (round << 128 | value) for
    ``round_``, 0 if it is another round's (a seed's armed block, the relay start)."""
    return word & ((1 << 128) - 1) if word >> 128 == round_ else 0


def draw_seats(seed: bytes, committers: list[str], max_participants: int) -> list[str]:
    """ConsensusRule.drawSeats: the committers in the contract's order after the draw; the
    first min(n, max_participants) hold the seats (a partial Fisher-Yates shuffle whose
    i-th step swaps position i with i + keccak(seed, i) mod (n - i))."""
    order = list(committers)
    n = len(order)
    k = min(n, max_participants)
    if n > k:
        for i in range(k):
            j = i + _word_hash(seed, i) % (n - i)
            order[i], order[j] = order[j], order[i]
    return order


# --- BatchEngine.sol: links, duplicates ----------------------------------------------


def update_links(words: list[int], column_words: int) -> list[bytes]:
    """BatchEngine's reverse hash chain over an update's columns: link_c =
    keccak256(words_c ++ link_{c+1}) with link_C = 0; returns [link_0 .. link_C] (the head
    first, the terminating 0 last)."""
    from eth_utils import keccak

    ranges = chunk_ranges(len(words), column_words)
    links = [b"\0" * 32] * (len(ranges) + 1)
    for c in range(len(ranges) - 1, -1, -1):
        f, t = ranges[c]
        links[c] = keccak(b"".join(int(w).to_bytes(32, "big") for w in words[f:t]) + links[c + 1])
    return links


#: BatchEngine.relayDigest's EIP-712 domain name and version.
RELAY_DOMAIN = {"name": "fedchain", "version": "1"}
UPDATE_TYPE = [{"name": "round", "type": "uint256"}, {"name": "head", "type": "bytes32"}]


def relay_typed_data(chain_id: int, task: str, round_: int, head: bytes) -> dict:
    """The EIP-712 message (eth_signTypedData_v4) an owner signs so that anyone may relay its
    update for ``round_`` whose head link is ``head``."""
    return {
        "types": {
            "EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                             {"name": "chainId", "type": "uint256"}, {"name": "verifyingContract", "type": "address"}],
            "Update": UPDATE_TYPE,
        },
        "primaryType": "Update",
        "domain": {**RELAY_DOMAIN, "chainId": chain_id, "verifyingContract": task},
        "message": {"round": round_, "head": head},
    }


def relay_digest(chain_id: int, task: str, round_: int, head: bytes) -> bytes:
    """BatchEngine.relayDigest: keccak256(0x1901 ++ domain separator ++ keccak256(
    abi.encode(UPDATE_TYPEHASH, round, head))), written out (not through a typed-data
    library) so that the tests hold the contract and the signing library to the same bytes."""
    from eth_utils import keccak, to_bytes

    word = lambda v: v.to_bytes(32, "big")  # noqa: E731
    domain_type = keccak(b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")
    domain = keccak(domain_type + keccak(b"fedchain") + keccak(b"1") + word(chain_id)
                    + to_bytes(hexstr=task).rjust(32, b"\0"))
    struct = keccak(keccak(b"Update(uint256 round,bytes32 head)") + word(round_) + head)
    return keccak(b"\x19\x01" + domain + struct)


def word_distance(a: int, b: int) -> int:
    """BatchEngine._wordDistance: sum |a - b| over the 16 int16 lanes of two wire words."""
    la = [((a >> (16 * k)) & 0xFFFF) ^ 0x8000 for k in range(16)]
    lb = [((b >> (16 * k)) & 0xFFFF) ^ 0x8000 for k in range(16)]
    return sum(abs(x - y) for x, y in zip(la, lb))


def sample_offset(seed: bytes, column: int, j: int, width: int) -> int:
    """BatchEngine._sampleOffset: offset in the column of duplicate sample j."""
    return _word_hash(seed, column, j) % width


def pair_tests(samples: list[list[int]], moved: list[int], limit: int,
               skip: frozenset[tuple[int, int]] | set[tuple[int, int]] = frozenset(),
               ) -> tuple[set[tuple[int, int]], set[tuple[int, int]]]:
    """ColumnKit.pairBitmaps on one column: the pairs (a, b), a < b, refuted (their samples
    farther apart than ``limit``) and confirmed (within it, and less than a quarter as far
    apart as the farther-moved of the two). ``samples[i]`` is update i's sampled words.
    Pairs in ``skip`` (refuted on an earlier column) are not measured and come back
    refuted."""
    refuted: set[tuple[int, int]] = set(skip)
    confirmed: set[tuple[int, int]] = set()
    for a in range(len(samples)):
        for b in range(a + 1, len(samples)):
            if (a, b) in skip:
                continue
            d = sum(word_distance(x, y) for x, y in zip(samples[a], samples[b]))
            if d > limit:
                refuted.add((a, b))
            elif 4 * d < max(moved[a], moved[b]):
                confirmed.add((a, b))
    return refuted, confirmed


def near_duplicates(columns: list[list[list[int]]], old_columns: list[list[int]], seed: bytes,
                    duplicate_distance: int, samples: int = 2) -> set[int]:
    """BatchEngine._checkDuplicates over every column, then _isDuplicate: list indices of
    updates that are half of a pair confirmed near (within duplicate_distance per parameter
    and 4x closer than the farther-moved of the two moved, on some column's samples) and
    never refuted (farther than the limit on any column's samples). ``columns[c][i]`` is
    update i's words of column c, ``old_columns[c]`` the old model's."""
    if not columns or duplicate_distance == 0:
        return set()
    n = len(columns[0])
    refuted: set[tuple[int, int]] = set()
    confirmed: set[tuple[int, int]] = set()
    for c, col in enumerate(columns):
        w = len(old_columns[c])
        offsets = [sample_offset(seed, c, k, w) for k in range(min(w, samples))]
        limit = duplicate_distance * 16 * len(offsets)
        moved = [sum(word_distance(col[i][o], old_columns[c][o]) for o in offsets) for i in range(n)]
        refuted, near = pair_tests([[col[i][o] for o in offsets] for i in range(n)], moved, limit, refuted)
        confirmed |= near
    flagged = confirmed - refuted
    return {i for pair in flagged for i in pair}


def replays(heads: list[bytes], history: dict[int, list[bytes]], round_: int, window: int) -> set[int]:
    """BatchEngine._noteReplays with ColumnKit.replays: list indices of ``round_`` whose head
    link (its first 16 bytes: what the head lists keep) was on the list of a round in
    [round_ - window, round_) (``history``: round -> its heads), or earlier on this round's
    own list (the first copy is not a replay of itself)."""
    seen = {h[:16] for r, hs in history.items() if 0 < round_ - r <= window for h in hs}
    out: set[int] = set()
    mine: set[bytes] = set()
    for i, h in enumerate(heads):
        if h[:16] in seen or h[:16] in mine:
            out.add(i)
        mine.add(h[:16])
    return out


# --- RevenueShare.sol ----------------------------------------------------------------

MAGNITUDE = 1 << 64


@dataclass
class RevenueLedger:
    """RevenueShare's magnified-revenue-per-share accounting, integer for integer."""

    shares: dict[str, int] = field(default_factory=dict)
    correction: dict[str, int] = field(default_factory=dict)
    paid: dict[str, int] = field(default_factory=dict)
    total_shares: int = 0
    per_share: int = 0
    carry: int = 0
    received: int = 0
    withdrawn: int = 0
    unattributed: int = 0

    def add_shares(self, account: str, amount: int) -> None:
        self.shares[account] = self.shares.get(account, 0) + amount
        self.total_shares += amount
        self.correction[account] = self.correction.get(account, 0) - amount * self.per_share

    def buy(self, value: int) -> None:
        if self.total_shares == 0:
            self.unattributed += value
            return
        if value == 0:
            return
        magnified = value * MAGNITUDE + self.carry
        self.per_share += magnified // self.total_shares
        self.carry = magnified % self.total_shares
        self.received += value

    def revenue_of(self, account: str) -> int:
        accrued = self.shares.get(account, 0) * self.per_share + self.correction.get(account, 0)
        return accrued // MAGNITUDE - self.paid.get(account, 0)

    def take(self, account: str) -> int:
        amount = self.revenue_of(account)
        self.paid[account] = self.paid.get(account, 0) + amount
        self.withdrawn += amount
        return amount
