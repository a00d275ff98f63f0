// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {BatchEngine} from "../BatchEngine.sol";
import {IRule} from "../interfaces/IRule.sol";
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
/// @notice What every rule shares: it creates its engine (so the pair is one deployment and
///         the engine's `rule` is this contract from its first block), answers hooks only
///         from that engine, and refuses any hook it did not declare.
abstract contract RuleBase is IRule {
    /// @notice The task's data plane: posts, relays, columns, the model and the money.
    BatchEngine public immutable engine;
    /// @notice Parameters of the task's model (the rules' scores are per parameter).
    uint256 internal immutable paramCount;

    /// @notice A hook called by someone other than this rule's engine.
    error NotEngine(address caller);
    /// @notice The engine called a hook this rule did not declare (never, by construction).
    error HookNotDeclared();

    /// @param s the engine's settings; `spec` what this rule declares; the attached wei
    ///        funds the reward pool; the deployer becomes the task's owner.
    constructor(BatchEngine.BatchSettings memory s, BatchEngine.RuleSpec memory spec) payable {
        engine = new BatchEngine{value: msg.value}(s, msg.sender, spec);
        paramCount = s.paramCount;
    }

    /// @notice The protocol's limits the engine enforces (one read): seats per round, words
    ///         per column, calldata bytes per column, words per post, gas per column, replay
    ///         rounds, seconds from `endTask` to `sweep`, longest phase or timeout, largest
    ///         `duplicateDistance`.
    function limits() external pure returns (uint256[9] memory) {
        return [MAX_SEATS, MAX_COLUMN_WORDS, MAX_COLUMN_BYTES, MAX_POST_WORDS, MAX_COLUMN_GAS, MAX_REPLAY_ROUNDS,
            EXIT_DELAY, MAX_DURATION, MAX_DUPLICATE_DISTANCE];
    }

    modifier onlyEngine() {
        if (msg.sender != address(engine)) revert NotEngine(msg.sender);
        _;
    }

    function beforePost(uint256, address, uint256, bytes32, bytes calldata) external virtual {
        revert HookNotDeclared();
    }

    function admit(uint256, address, uint256) external virtual returns (bool) {
        revert HookNotDeclared();
    }

    function admitRelayed(uint256, address[] calldata, uint256[] calldata) external virtual {
        revert HookNotDeclared();
    }

    function postingOver(uint256) external view virtual returns (bool) {
        revert HookNotDeclared();
    }

    function columnSeed(uint256) external view virtual returns (bytes32) {
        revert HookNotDeclared();
    }

    function roundStarted(uint256, uint256) external virtual {
        revert HookNotDeclared();
    }

    function dropped(uint256, address) external virtual {
        revert HookNotDeclared();
    }

    function roundEnded(uint256, bool, address[] calldata) external virtual {
        revert HookNotDeclared();
    }
}
