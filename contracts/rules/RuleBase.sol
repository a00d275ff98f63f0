// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {BatchEngine} from "../BatchEngine.sol";
import {RuleHooks} from "./RuleHooks.sol";
import {
    EXIT_DELAY,
    MAX_COLUMN_BYTES,
    MAX_COLUMN_GAS,
    MAX_COLUMN_WORDS,
    MAX_DUPLICATE_DISTANCE,
    MAX_DURATION,
    MAX_POST_WORDS,
    MAX_REPLAY_ROUNDS,
    MAX_SEATS
} from "../lib/Limits.sol";

/// @title RuleBase
/// @notice A rule of the column plane: it creates its `BatchEngine` (so the pair is one
///         deployment and the engine's `rule` is this contract from its first block).
abstract contract RuleBase is RuleHooks {
    /// @notice The task's data plane: posts, relays, columns, the model and the money.
    BatchEngine public immutable engine;

    /// @param s the engine's settings; `spec` what this rule declares; the attached wei
    ///        funds the reward pool; the deployer becomes the task's owner.
    constructor(BatchEngine.BatchSettings memory s, BatchEngine.RuleSpec memory spec)
        payable
        RuleHooks(s.paramCount)
    {
        engine = new BatchEngine{value: msg.value}(s, msg.sender, spec);
    }

    /// @notice The protocol's limits the engine enforces (one read): seats per round, words
    ///         per column, calldata bytes per column, words per post, gas per column, replay
    ///         rounds, seconds from `endTask` to `sweep`, longest phase or timeout, largest
    ///         `duplicateDistance`.
    function limits() external pure returns (uint256[9] memory) {
        return [MAX_SEATS, MAX_COLUMN_WORDS, MAX_COLUMN_BYTES, MAX_POST_WORDS, MAX_COLUMN_GAS, MAX_REPLAY_ROUNDS,
            EXIT_DELAY, MAX_DURATION, MAX_DUPLICATE_DISTANCE];
    }

    function _engineAddress() internal view override returns (address) {
        return address(engine);
    }
}
