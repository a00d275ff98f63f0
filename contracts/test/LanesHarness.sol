// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {PackedLanes} from "../lib/PackedLanes.sol";

/// @notice Test-only: exposes the PackedLanes library so tests can hold it to ml/reference.py.
contract LanesHarness {
    /// @notice See PackedLanes.spread.
    function spread(uint256 x) external pure returns (uint256) {
        return PackedLanes.spread(x);
    }

    /// @notice See PackedLanes.toBiased.
    function toBiased(uint256 s, uint256 biasLanes) external pure returns (uint256) {
        return PackedLanes.toBiased(s, biasLanes);
    }

    /// @notice See PackedLanes.absDiffSum.
    function absDiffSum(uint256 a, uint256 b) external pure returns (uint256) {
        return PackedLanes.absDiffSum(a, b);
    }

    /// @notice See PackedLanes.meanWord.
    function meanWord(uint256 lo, uint256 hi, uint256 n, uint256 bias) external pure returns (uint256) {
        return PackedLanes.meanWord(lo, hi, n, bias);
    }
}
