// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

interface ITask {
    function aggregate(uint256 round, uint256 column, uint256[] calldata words, bytes32[] calldata nextLinks)
        external;
    function withdraw() external;
}

/// @notice Test-only keeper: earns a keeper fee by sending a column, then withdraws with a
///         receive() that accepts, re-enters withdraw(), or refuses the ETH.
contract Reenterer {
    uint8 public constant ACCEPT = 0;
    uint8 public constant REENTER = 1;
    uint8 public constant REFUSE = 2;

    ITask public immutable task;
    uint8 public mode;

    constructor(ITask t) {
        task = t;
    }

    /// @notice Sends a column through this contract, so the keeper fee is credited to it.
    function aggregate(uint256 round, uint256 column, uint256[] calldata words, bytes32[] calldata nextLinks)
        external
    {
        task.aggregate(round, column, words, nextLinks);
    }

    /// @notice Withdraws; receive() then behaves as `mode_` says.
    function withdraw(uint8 mode_) external {
        mode = mode_;
        task.withdraw();
    }

    receive() external payable {
        if (mode == REFUSE) revert("no thanks");
        if (mode == REENTER) task.withdraw();
    }
}
