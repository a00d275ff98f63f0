// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {BatchEngine} from "../BatchEngine.sol";
import {Hooks, IRule} from "../interfaces/IRule.sol";
import {RuleBase} from "./RuleBase.sol";
import {SignedRelay} from "./SignedRelay.sol";
import {Allowlist} from "./Allowlist.sol";

/// @title ConsortiumRule
/// @notice The consortium's rule on the column plane (`Allowlist`): only listed accounts
///         post or are relayed (with their signature); every accepted update earns `reward`.
contract ConsortiumRule is SignedRelay, Allowlist {
    /// @inheritdoc IRule
    string public constant name = "consortium";

    uint256 internal constant GAS_PER_COLUMN = 30_000;
    uint256 internal constant GAS_PER_SEAT = 5_000;

    /// @param s the task's settings; `reward_` wei per accepted update; the attached wei
    ///        funds the reward pool.
    constructor(BatchEngine.BatchSettings memory s, uint256 reward_)
        payable
        RuleBase(s, BatchEngine.RuleSpec(Hooks.BEFORE_POST, 0, GAS_PER_COLUMN, GAS_PER_SEAT, reward_))
        Allowlist(reward_)
    {}

    /// @notice Signed updates of members only.
    function vouch(uint256 round, uint256 first, bytes32[] calldata heads, bytes[] calldata proofs)
        external
        view
        onlyEngine
        returns (address[] memory owners)
    {
        owners = _signers(round, first, heads, proofs);
        for (uint256 j; j < owners.length; ++j) {
            _checkMember(owners[j]);
        }
    }

    /// @notice Only members post.
    function beforePost(uint256, address who, uint256, bytes32, bytes calldata) external view override onlyEngine {
        _checkMember(who);
    }

    /// @notice Every listed update scores 0 and earns `reward`.
    function settle(uint256, address[] calldata who, uint256[] calldata, uint256[] calldata)
        external
        view
        onlyEngine
        returns (uint256[] memory scores, uint256[] memory rewards, uint256 refundEach)
    {
        (scores, rewards) = _equalRewards(who.length);
    }
}
