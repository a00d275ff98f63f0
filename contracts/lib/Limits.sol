// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

// The protocol's limits, stated once: the engine enforces them, every rule reports them
// (`RuleBase.limits`), `ml.settings` mirrors them (a test holds it to `limits()`).

/// @dev Seats per round: one column bitmap word per 256 x 256 / 256 pairs at most.
uint256 constant MAX_SEATS = 256;
/// @dev Largest column: a data contract under the 24,576-byte code limit (EIP-170).
uint256 constant MAX_COLUMN_WORDS = 767;
/// @dev Calldata bound of a column transaction (128 KiB pool limit, less room for the
///      selector, offsets and the transaction envelope).
uint256 constant MAX_COLUMN_BYTES = 126 * 1024;
/// @dev Largest post: its calldata stays under MAX_COLUMN_BYTES too (selector, five
///      head words, two lengths, a two-word proof and the words), and its SWAR distance
///      sums cannot overflow a 32-bit slot.
uint256 constant MAX_POST_WORDS = 4022;
/// @dev Seconds between `endTask` and the first `sweep`.
uint256 constant EXIT_DELAY = 7 days;
/// @dev Longest phase or timeout a task may set: every round ends within bounded time.
uint256 constant MAX_DURATION = 30 days;
/// @dev Largest near-duplicate bound: a mean distance per parameter never exceeds
///      2^16, and the sample limit (x 16 x samples) stays far from overflow.
uint256 constant MAX_DUPLICATE_DISTANCE = 1 << 16;
/// @dev Gas budget of a column transaction (the EIP-7825 cap is 16,777,216).
uint256 constant MAX_COLUMN_GAS = 12_000_000;
/// @dev Most rounds a task may look back for replays (bounds column 0's lookups).
uint256 constant MAX_REPLAY_ROUNDS = 16;
/// @dev Seats per round of the blob plane: an element dispute opens one element of every
///      update (the constructor also bounds its gas and calldata for the model's size).
uint256 constant MAX_BLOB_SEATS = 64;
/// @dev Blobs per update of the blob plane (15.7M parameters).
uint256 constant MAX_BLOBS_PER_UPDATE = 256;
/// @dev Longest a blob a dispute needs may have been posted before the dispute: posting,
///      asserting and the window together, within the ~18.2 days (4096 epochs) consensus
///      nodes keep blobs, with 4 days to spare.
uint256 constant BLOB_SAFE_SPAN = 14 days;
/// @dev Shortest dispute window and assert timeout of the blob plane: a watcher needs time
///      to fetch the round's blobs, recompute it and land one transaction, and an asserter
///      to post a model's blobs a few per transaction.
uint256 constant MIN_BLOB_PHASE = 1 hours;
