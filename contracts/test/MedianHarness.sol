// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {MedianLib} from "../lib/MedianLib.sol";

/// @notice Test-only: exposes MedianLib so tests can hold it to ml/protocol.py and bound its gas.
contract MedianHarness {
    /// @notice See MedianLib.lowerMedian.
    function lowerMedian(uint256[] memory values) external pure returns (uint256) {
        return MedianLib.lowerMedian(values);
    }
}
