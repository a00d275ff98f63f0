// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {BatchEngine} from "../BatchEngine.sol";
import {IRule} from "../interfaces/IRule.sol";
import {RuleBase} from "./RuleBase.sol";
import {SignedRelay} from "./SignedRelay.sol";
import {TieredRule} from "./TieredRule.sol";

/// @title PaperRule
/// @notice The paper's reward rule: anyone takes part while seats last (a seat is a complete
///         update, posted by its owner or relayed with its signature), and each update earns
///         the tier of its mean distance per parameter to the model the round started from
///         (nothing for near duplicates and recent replays: the engine's flags).
/// @dev Declares no optional hook: the engine calls it only to vouch for relays and to settle.
contract PaperRule is SignedRelay, TieredRule {
    /// @inheritdoc IRule
    string public constant name = "paper";
    /// @dev Gas its hooks add to the last column: the settle call, per column and per seat.
    uint256 internal constant GAS_PER_COLUMN = 30_000;
    uint256 internal constant GAS_PER_SEAT = 5_000;

    /// @param s the task's settings; `thresholds`/`rewards` its tiers (mean distance per
    ///        parameter, wei); the attached wei funds the reward pool.
    constructor(BatchEngine.BatchSettings memory s, uint256[] memory thresholds, uint256[] memory rewards)
        payable
        RuleBase(s, BatchEngine.RuleSpec(0, 0, GAS_PER_COLUMN, GAS_PER_SEAT, _top(rewards)))
        TieredRule(thresholds, rewards)
    {}

    /// @notice Owners of signed relayed updates (`SignedRelay`).
    function vouch(uint256 round, uint256 first, bytes32[] calldata heads, bytes[] calldata proofs)
        external
        view
        onlyEngine
        returns (address[] memory)
    {
        return _signers(round, first, heads, proofs);
    }

    /// @notice Each update's score is its mean distance per parameter to the starting model;
    ///         its reward that score's tier's.
    function settle(uint256, address[] calldata, uint256[] calldata fromOld, uint256[] calldata)
        external
        view
        onlyEngine
        returns (uint256[] memory scores, uint256[] memory rewards, uint256 refundEach)
    {
        (scores, rewards) = _distanceTiers(fromOld);
    }
}
