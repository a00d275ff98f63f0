// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title MedianLib
/// @notice Order statistics of small in-memory arrays (mirrored by `ml/reference.py`).
library MedianLib {
    /// @notice The lower median of `values` (element (n-1)/2 in ascending order), 0 for an
    ///         empty array. Sorts `values` in place.
    /// @dev Insertion sort: the arrays here hold at most MAX_SEATS values, so n^2/2 compares
    ///      cost well under a million gas and need no extra memory.
    function lowerMedian(uint256[] memory values) internal pure returns (uint256) {
        uint256 n = values.length;
        if (n == 0) return 0;
        for (uint256 i = 1; i < n; ++i) {
            uint256 v = values[i];
            uint256 j = i;
            while (j != 0 && values[j - 1] > v) {
                values[j] = values[j - 1];
                --j;
            }
            values[j] = v;
        }
        return values[(n - 1) / 2];
    }
}
