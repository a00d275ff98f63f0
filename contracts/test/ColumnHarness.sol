// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ColumnMath} from "../lib/ColumnMath.sol";

/// @notice Test/bench only: ColumnMath on memory rows, for differential tests and gas.
contract ColumnHarness {
    /// @notice Sorts `rows` (biased 32-bit lanes) lane by lane with the network for their
    ///         count, `times` times (gas measurement), and returns them.
    function sort(uint256[] memory rows, uint256 times) external pure returns (uint256[] memory) {
        uint256[] memory pairs = ColumnMath.schedule(rows.length);
        uint256 base;
        assembly {
            base := add(rows, 0x20)
        }
        for (uint256 k; k < times; ++k) {
            ColumnMath.sortLanes(base, pairs);
        }
        return rows;
    }

    /// @notice Comparators of the network for n rows.
    function comparators(uint256 n) external pure returns (uint256) {
        return ColumnMath.schedule(n).length / 2;
    }

    /// @notice packMeans of two slot-sum words.
    function packMeans(uint256 even, uint256 odd, uint256 m, uint256 bias) external pure returns (uint256) {
        return ColumnMath.packMeans(even, odd, m, bias);
    }
}
