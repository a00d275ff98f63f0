// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {BatchEngine} from "./BatchEngine.sol";
import {CodeStore} from "./lib/CodeStore.sol";

/// @title PaperTask
/// @notice The paper's reward rule on the batch engine: anyone takes part while seats last
///         (a seat is a complete update, posted by its owner or relayed with its signature),
///         and each update earns the tier of its mean distance to the model the round started
///         from, paid when the round's last column is aggregated (nothing for near duplicates
///         and recent replays).
/// @dev A posted update's distance is measured while posting, where it costs nothing extra
///      (a post pays the EIP-7623 calldata floor and this computation stays under it); a
///      relayed update's in each column transaction, under that transaction's floor.
contract PaperTask is BatchEngine {
    /// @dev Column gas a relay adds per relayed update (signature, seat; column 0) and per
    ///      relayed word (lanes, distance), for `columnGasBound`: every seat may be relayed.
    uint256 internal constant GAS_PER_RELAYED_SEAT = 90_000;
    uint256 internal constant GAS_PER_RELAYED_WORD = 500;

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

    /// @notice Aggregates column 0 of `round` with signed updates carried for their owners
    ///         appended after the posted ones (anyone may relay; the relayer earns the keeper
    ///         fee like any column sender). Before the posting deadline only a relay that
    ///         takes every seat is accepted. Later columns go through `aggregate`.
    /// @param round the current round.
    /// @param words (posted + relayed) x w words of column 0, in list order.
    /// @param nextLinks each update's link after column 0.
    /// @param signatures each relayed update's owner and its signature of the EIP-712
    ///        `relayDigest(round, head)`, in order.
    function relay(
        uint256 round,
        uint256[] calldata words,
        bytes32[] calldata nextLinks,
        Signature[] calldata signatures
    ) external {
        _relay(round, words, nextLinks, signatures);
    }

    function _ruleColumnGas(uint256 n, uint256 w) internal pure override returns (uint256) {
        return n * (GAS_PER_RELAYED_SEAT + w * GAS_PER_RELAYED_WORD);
    }

    /// @dev PAPER: the mean distance per parameter to the round's starting model.
    function _score(uint256, uint256, uint256 entry) internal view override returns (uint256) {
        return (entry >> 128) / paramCount;
    }

    /// @dev Relayed updates were never posted: their lanes are checked (column 0 did so while
    ///      relaying) and their distance to the starting model is added up column by column.
    function _afterColumn(uint256 round, uint256 column, uint256[] calldata words, address, uint256 n, uint256 w)
        internal
        override
    {
        uint256 first = relayedFrom[round];
        if (first == 0) return;
        uint256 g; // the starting model's column, loaded once for every relayed update
        assembly {
            g := mload(0x40)
            mstore(0x40, add(g, shl(5, w)))
        }
        CodeStore.load(_modelColumn[completedRounds][column], 0, w, g);
        for (uint256 i = first - 1; i < n; ++i) {
            _scoreRelayed(round, column, i, words[i * w:(i + 1) * w], g);
        }
    }

    function _scoreRelayed(uint256 round, uint256 column, uint256 i, uint256[] calldata mine, uint256 g) internal {
        if (column != 0) {
            (uint256 from, uint256 to) = _columnRange(column);
            _checkWords(mine, from, to);
        }
        _entry[round][entrant[round][i]] += _sliceDistance(mine, g) << 128;
    }
}
