// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @notice Benchmark baseline only: federated averaging as existing on-chain FL projects
///         write it: one int256 storage slot per parameter, per-element loops, sums cleared
///         at every finalize. Kept to measure FederatedTask against; never deploy it.
contract NaiveFedAvg {
    int256[] public globalModel;
    int256[] internal _sums;
    uint256 public submissions;
    mapping(address => uint256) public lastRound;
    uint256 public round = 1;

    constructor(uint256 n) {
        for (uint256 i; i < n; ++i) {
            globalModel.push(0);
            _sums.push(0);
        }
    }

    /// @notice Adds one participant's weights (one int256 per parameter).
    function submit(int256[] calldata weights) external {
        require(weights.length == _sums.length, "length");
        require(lastRound[msg.sender] != round, "twice");
        lastRound[msg.sender] = round;
        for (uint256 i; i < weights.length; ++i) {
            _sums[i] += weights[i];
        }
        submissions += 1;
    }

    /// @notice Writes the mean and clears the sums for the next round.
    function finalize() external {
        uint256 n = submissions;
        require(n > 0, "empty");
        for (uint256 i; i < _sums.length; ++i) {
            globalModel[i] = _sums[i] / int256(n);
            _sums[i] = 0;
        }
        submissions = 0;
        round += 1;
    }
}
