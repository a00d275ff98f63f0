// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title MedianLib
/// @notice Order statistics of small in-memory arrays (mirrored by `ml/protocol.py`).
library MedianLib {
    /// @notice The lower median of `values` (element (n-1)/2 in ascending order), 0 for an
    ///         empty array. Reorders `values` in place.
    /// @dev Partial heapsort: build a max-heap, then pop the n-1-m largest values; the root
    ///      is then the m-th smallest. O(n log n) in the worst case, whatever the order of
    ///      the input: the values are declarations chosen by committers, so an O(n^2) sort
    ///      (insertion sort: 14.5M gas for 256 values in descending order) would let them
    ///      push the seat draw past the transaction gas cap.
    function lowerMedian(uint256[] memory values) internal pure returns (uint256) {
        uint256 n = values.length;
        if (n == 0) return 0;
        unchecked {
            for (uint256 i = n / 2; i != 0; --i) {
                _siftDown(values, i - 1, n);
            }
            // Pop the n - 1 - m largest, m = (n - 1) / 2; `end` is the heap's size.
            uint256 stop = (n - 1) / 2 + 1;
            for (uint256 end = n - 1; end >= stop; --end) {
                (values[0], values[end]) = (values[end], values[0]);
                _siftDown(values, 0, end);
            }
        }
        return values[0];
    }

    /// @dev Restores the max-heap property below `root` in `a[0 .. end)`.
    function _siftDown(uint256[] memory a, uint256 root, uint256 end) private pure {
        unchecked {
            uint256 v = a[root];
            while (true) {
                uint256 child = 2 * root + 1;
                if (child >= end) break;
                if (child + 1 < end && a[child + 1] > a[child]) ++child;
                if (a[child] <= v) break;
                a[root] = a[child];
                root = child;
            }
            a[root] = v;
        }
    }
}
