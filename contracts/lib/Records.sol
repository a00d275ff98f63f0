// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @notice A participant's record in a round, in one storage word: status (8 bits) | next
///         post (32) << 8 | list index (16) << 40 | round (64) << 56 | score accumulator
///         (the distance measured while posting, 128) << 128. Keyed without the round and
///         carrying it, so a returning participant rewrites a live slot (5,000 gas) instead of
///         filling a fresh one (22,100) every round; another round's record reads as empty.
type Entry is uint256;

/// @notice A word tagged with the round it belongs to: round << 128 | value (128 bits).
type Tagged is uint256;

using Records for Entry global;
using Records for Tagged global;

/// @title Records
/// @notice Typed accessors over the engine's packed words (no hand-written shifts elsewhere).
library Records {
    // Participant status in a round (0: none).
    uint8 internal constant POSTING = 1; // some posts in, not all
    uint8 internal constant POSTED = 2; // complete: on the round's list
    uint8 internal constant REFUSED = 3; // complete but refused (the rule's `admit`), or dropped

    function entry(uint256 status_, uint256 nextPost_, uint256 index_, uint256 round_, uint256 score_)
        internal
        pure
        returns (Entry)
    {
        return Entry.wrap(status_ | (nextPost_ << 8) | (index_ << 40) | (round_ << 56) | (score_ << 128));
    }

    function status(Entry e) internal pure returns (uint8) {
        return uint8(Entry.unwrap(e));
    }

    function nextPost(Entry e) internal pure returns (uint256) {
        return uint32(Entry.unwrap(e) >> 8);
    }

    function index(Entry e) internal pure returns (uint256) {
        return uint16(Entry.unwrap(e) >> 40);
    }

    function round(Entry e) internal pure returns (uint256) {
        return uint64(Entry.unwrap(e) >> 56);
    }

    function score(Entry e) internal pure returns (uint256) {
        return Entry.unwrap(e) >> 128;
    }

    /// @notice The same record at list index `i`.
    function withIndex(Entry e, uint256 i) internal pure returns (Entry) {
        return Entry.wrap((Entry.unwrap(e) & ~(uint256(0xffff) << 40)) | (i << 40));
    }

    function tag(uint256 round_, uint256 value) internal pure returns (Tagged) {
        return Tagged.wrap((round_ << 128) | value);
    }

    /// @notice The value of a tagged word for `round_`; 0 if it belongs to another round.
    function forRound(Tagged t, uint256 round_) internal pure returns (uint256) {
        uint256 w = Tagged.unwrap(t);
        return w >> 128 == round_ ? uint128(w) : 0;
    }

    function isOf(Tagged t, uint256 round_) internal pure returns (bool) {
        return Tagged.unwrap(t) >> 128 == round_;
    }
}
