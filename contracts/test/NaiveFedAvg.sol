// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @notice Benchmark baseline only: federated averaging as existing on-chain FL projects
///         write it: one int256 storage slot per parameter, per-element loops, sums cleared
///         at every finalize. Slices (`offset`) only so that large models can be measured at
///         all. Kept to measure FederatedTask against; never deploy it.
contract NaiveFedAvg {
    int256[] public globalModel;
    int256[] internal _sums;
    uint256 public submissions;
    mapping(address => uint256) public lastRound;
    uint256 public round = 1;

    constructor(uint256 n) {
        assembly {
            sstore(globalModel.slot, n)
            sstore(_sums.slot, n)
        }
    }

    /// @notice Adds weights [offset, offset + weights.length) of one participant.
    function submit(uint256 offset, int256[] calldata weights) external {
        require(offset + weights.length <= _sums.length, "length");
        if (offset == 0) {
            require(lastRound[msg.sender] != round, "twice");
            lastRound[msg.sender] = round;
            submissions += 1;
        }
        for (uint256 i; i < weights.length; ++i) {
            _sums[offset + i] += weights[i];
        }
    }

    /// @notice Writes the mean of parameters [from, to) and clears their sums; the round
    ///         ends with the slice that reaches the last parameter.
    function finalize(uint256 from, uint256 to) external {
        uint256 n = submissions;
        require(n > 0 && to <= _sums.length, "empty");
        for (uint256 i = from; i < to; ++i) {
            globalModel[i] = _sums[i] / int256(n);
            _sums[i] = 0;
        }
        if (to == _sums.length) {
            submissions = 0;
            round += 1;
        }
    }
}
