// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {BlobEngine} from "../BlobEngine.sol";
import {IRule} from "../interfaces/IRule.sol";
import {BlobRuleBase} from "./BlobRuleBase.sol";
import {TieredRule} from "./TieredRule.sol";

/// @title BlobPaperRule
/// @notice The paper's reward rule on the blob plane: anyone posts while seats last, and
///         each update earns the tier of its mean distance per parameter to the model the
///         round started from (the claim's distances, final once undisputed).
contract BlobPaperRule is BlobRuleBase, TieredRule {
    /// @inheritdoc IRule
    string public constant name = "paper";

    /// @param s the task's settings; `thresholds`/`rewards` its tiers (mean distance per
    ///        parameter, wei); the attached wei funds the reward pool.
    constructor(BlobEngine.BlobSettings memory s, uint256[] memory thresholds, uint256[] memory rewards)
        payable
        BlobRuleBase(s, 0, _top(rewards))
        TieredRule(thresholds, rewards)
    {}

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
