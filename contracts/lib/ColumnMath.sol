// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title ColumnMath
/// @notice One column of a round: the same w wire words of n updates in, the same w words of
///         the new model out, by the task's aggregation rule. Mirrored by
///         `ml/protocol.py::aggregate`.
/// @dev Every rule is "sort each coordinate's n values, drop t at each end, take the rounded
///      mean of the rest" (MEAN: t = 0 and no sort; MEDIAN: t = (n-1)/2; TRIMMED_MEAN(k):
///      t = min(k, (n-1)/2)). A wire word (16 int16 lanes) is spread into two words of 8
///      biased 32-bit lanes, whose unsigned order is the signed order; a compare-exchange of
///      two such words orders 8 coordinates at once (SWAR), and a sorting network (Batcher's
///      odd-even merge sort on the next power of two, comparators that touch the padding
///      dropped: padding sorts last, so they are no-ops) orders all n rows with a fixed
///      schedule computed once per column.
library ColumnMath {
    /// @dev PackedLanes.ONES32 and .BIT16 (assembly reads only literal constants).
    uint256 internal constant ONES32 = 0x0000000100000001000000010000000100000001000000010000000100000001;
    uint256 internal constant BIT16 = 0x0001000000010000000100000001000000010000000100000001000000010000;

    /// @notice Sorting-network schedule for n rows: comparator k compares rows
    ///         schedule[2k] < schedule[2k+1] (memory word offsets, i.e. row x 32).
    function schedule(uint256 n) internal pure returns (uint256[] memory pairs) {
        uint256 size = 1;
        while (size < n) size <<= 1;
        // Batcher's network on 2^q inputs has (q^2 - q + 4) 2^(q-2) - 1 comparators; size^2
        // bounds it for every size used here and keeps the allocation simple.
        pairs = new uint256[](2 * (size < 4 ? 4 : size * (_log2(size) * _log2(size) + 4) / 4));
        uint256 count;
        for (uint256 p = 1; p < size; p <<= 1) {
            for (uint256 k = p; k > 0; k >>= 1) {
                for (uint256 j = k % p; j + k < size; j += 2 * k) {
                    uint256 stop = k < size - j - k ? k : size - j - k;
                    for (uint256 i; i < stop; ++i) {
                        uint256 a = i + j;
                        uint256 b = a + k;
                        if (b < n && a / (2 * p) == b / (2 * p)) {
                            pairs[2 * count] = a << 5;
                            pairs[2 * count + 1] = b << 5;
                            ++count;
                        }
                    }
                }
            }
        }
        assembly {
            mstore(pairs, shl(1, count))
        }
    }

    /// @notice Sorts rows `base[0..n)` (memory words of 8 biased lanes each) lane by lane.
    /// @param pairs output of `schedule(n)`.
    function sortLanes(uint256 base, uint256[] memory pairs) internal pure {
        assembly {
            let p := add(pairs, 0x20)
            let end := add(p, shl(5, mload(pairs)))
            for {} lt(p, end) { p := add(p, 0x40) } {
                let pa := add(base, mload(p))
                let pb := add(base, mload(add(p, 0x20)))
                let a := mload(pa)
                let b := mload(pb)
                // a + 2^16 - b per lane lies in (0, 2^17): bit 16 says a >= b, no borrow.
                let ge := and(shr(16, sub(or(a, BIT16), b)), ONES32)
                let m := mul(ge, 0xffffffff)
                let hi := or(and(a, m), and(b, not(m)))
                mstore(pa, xor(xor(a, b), hi))
                mstore(pb, hi)
            }
        }
    }

    /// @notice Lane-wise sum of rows `base[from..to)` (each lane < 2^16, so < 2^32 for up
    ///         to 2^16 rows).
    function sumRows(uint256 base, uint256 from, uint256 to) internal pure returns (uint256 s) {
        assembly {
            for { let q := add(base, shl(5, from)) } lt(q, add(base, shl(5, to))) { q := add(q, 0x20) } {
                s := add(s, mload(q))
            }
        }
    }

    function _log2(uint256 x) private pure returns (uint256 r) {
        while (x > 1) {
            x >>= 1;
            ++r;
        }
    }
}
