// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {BlobEngine} from "../BlobEngine.sol";
import {RuleHooks} from "./RuleHooks.sol";

/// @title BlobRuleBase
/// @notice A rule of the blob plane: it creates its `BlobEngine` (one deployment; the
///         engine's `rule` is this contract from its first block). The blob engine calls
///         `settle` with the asserted distances to the starting model once a claim is final,
///         and `beforePost`, `roundStarted`, `roundEnded` when declared; it never relays.
abstract contract BlobRuleBase is RuleHooks {
    /// @notice The task's data plane: blob posts, claims, disputes, the model and the money.
    BlobEngine public immutable engine;

    /// @param s the engine's settings; `hooks` what this rule declares, `maxReward` the most
    ///        it pays one update; the attached wei funds the reward pool; the deployer
    ///        becomes the task's owner.
    constructor(BlobEngine.BlobSettings memory s, uint256 hooks, uint256 maxReward)
        payable
        RuleHooks(s.paramCount)
    {
        engine = new BlobEngine{value: msg.value}(s, msg.sender, hooks, maxReward);
    }

    /// @notice The blob plane carries no relayed update.
    function vouch(uint256, uint256, bytes32[] calldata, bytes[] calldata)
        external
        pure
        returns (address[] memory)
    {
        revert HookNotDeclared();
    }

    function _engineAddress() internal view override returns (address) {
        return address(engine);
    }
}
