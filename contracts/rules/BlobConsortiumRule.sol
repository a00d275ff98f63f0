// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {BlobEngine} from "../BlobEngine.sol";
import {Hooks, IRule} from "../interfaces/IRule.sol";
import {Allowlist} from "./Allowlist.sol";
import {BlobRuleBase} from "./BlobRuleBase.sol";

/// @title BlobConsortiumRule
/// @notice The consortium's rule on the blob plane (`Allowlist`): only listed accounts
///         complete an update; every update of a final claim earns `reward`.
contract BlobConsortiumRule is BlobRuleBase, Allowlist {
    /// @inheritdoc IRule
    string public constant name = "consortium";

    /// @param s the task's settings; `reward_` wei per accepted update; the attached wei
    ///        funds the reward pool.
    constructor(BlobEngine.BlobSettings memory s, uint256 reward_)
        payable
        BlobRuleBase(s, Hooks.BEFORE_POST, reward_)
        Allowlist(reward_)
    {}

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
