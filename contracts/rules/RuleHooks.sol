// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IRule} from "../interfaces/IRule.sol";

/// @title RuleHooks
/// @notice What every rule shares, whichever data plane it drives (`RuleBase`: the column
///         engine; `BlobRuleBase`: the blob engine): it answers hooks only from its engine
///         and refuses any hook it did not declare.
abstract contract RuleHooks is IRule {
    /// @notice Parameters of the task's model (the rules' scores are per parameter).
    uint256 internal immutable paramCount;

    /// @notice A hook called by someone other than this rule's engine.
    error NotEngine(address caller);
    /// @notice The engine called a hook this rule did not declare (never, by construction).
    error HookNotDeclared();

    constructor(uint256 paramCount_) {
        paramCount = paramCount_;
    }

    /// @dev The engine this rule created.
    function _engineAddress() internal view virtual returns (address);

    modifier onlyEngine() {
        if (msg.sender != _engineAddress()) revert NotEngine(msg.sender);
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
