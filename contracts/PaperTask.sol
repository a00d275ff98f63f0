// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {BatchEngine} from "./BatchEngine.sol";

/// @title PaperTask
/// @notice The paper's reward rule on the batch engine: anyone posts an update while seats
///         last (a seat is a complete post), and each update earns the tier of its mean
///         distance to the model the round started from, paid when the round's last column
///         is aggregated (nothing for near duplicates and recent replays).
/// @dev The distance is measured while posting, where it costs nothing extra: a post pays
///      the EIP-7623 calldata floor, and this computation stays under it.
contract PaperTask is BatchEngine {
    constructor(BatchSettings memory s) payable BatchEngine(s) {}

    /// @notice Posts words [post*postWords, ...) of the caller's update for `round`; posts
    ///         go in order, and the last one puts the update on the round's list.
    /// @param round the current round.
    /// @param post the caller's next post (0 first).
    /// @param words the post's packed words (16 int16 lanes each, unused lanes 0).
    /// @param nextLink the link of the update's next post (0 for the last): the reverse
    ///        hash chain over columns that binds the update for the column transactions.
    function submit(uint256 round, uint256 post, uint256[] calldata words, bytes32 nextLink) external {
        uint256 distance = _distanceToModel(words, post * postWords, completedRounds);
        _post(round, post, words, nextLink, distance);
    }

    /// @dev PAPER: the mean distance per parameter to the round's starting model.
    function _score(uint256, uint256, uint256 entry) internal view override returns (uint256) {
        return (entry >> 128) / paramCount;
    }

    function _afterColumn(uint256, uint256, uint256[] calldata, address, uint256, uint256) internal override {}
}
