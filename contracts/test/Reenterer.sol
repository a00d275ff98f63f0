// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

interface ITask {
    function submit(uint256 round, uint256 chunk, uint256[] calldata words) external returns (uint256);
    function withdraw() external;
}

/// @notice Test-only participant whose receive() tries to withdraw again, or refuses ETH.
contract Reenterer {
    ITask public immutable task;
    bool public refuse;

    constructor(ITask t) {
        task = t;
    }

    /// @notice Submits through this contract so it earns a reward.
    function submit(uint256 round, uint256[] calldata words) external {
        task.submit(round, 0, words);
    }

    /// @notice Withdraws; receive() re-enters unless `refuse` is set.
    function withdraw(bool refuse_) external {
        refuse = refuse_;
        task.withdraw();
    }

    receive() external payable {
        if (refuse) revert("no thanks");
        task.withdraw();
    }
}
