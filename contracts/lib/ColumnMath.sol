// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title ColumnMath
/// @notice One column of a round: the same w wire words of n updates in, the same w words of
///         the new model out, by the task's aggregation rule. Mirrored by
///         `ml/protocol.py::aggregate`.
/// @dev Every rule is "sort each coordinate's n values, drop t at each end, take the rounded
///      mean of the rest" (MEAN: t = 0 and no sort; MEDIAN: t = (n-1)/2; TRIMMED_MEAN(k):
///      t = min(k, (n-1)/2)). A wire word (16 int16 lanes) XORed with 0x8000 per lane holds
///      v + 2^15, whose unsigned order is the signed order; a compare-exchange of two such
///      words orders 16 coordinates at once (SWAR), and a sorting network (Batcher's
///      odd-even merge sort on the next power of two, comparators that touch the padding
///      dropped: padding sorts last, so they are no-ops) orders all n rows with a fixed
///      schedule computed once per column. Sums split each row into even and odd lanes in
///      32-bit slots.
library ColumnMath {
    /// @dev 1 in, bit 16 of, and the low 16 bits of every 32-bit slot (assembly reads only
    ///      literal constants).
    uint256 internal constant ONES32 = 0x0000000100000001000000010000000100000001000000010000000100000001;
    uint256 internal constant BIT16 = 0x0001000000010000000100000001000000010000000100000001000000010000;
    uint256 internal constant LOW16 = 0x0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff;

    /// @notice The even lanes (parameters 0, 2, .., 14) of a wire word, each biased by
    ///         2^(B-1) into its own 32-bit slot: one AND, one ADD, one AND (the lane order does not
    ///         matter to a sort or a sum).
    function evenLanes(uint256 x, uint256 biasLanes) internal pure returns (uint256 y) {
        assembly {
            y := and(add(and(x, LOW16), biasLanes), LOW16)
        }
    }

    /// @notice The odd lanes (parameters 1, 3, .., 15), biased, one per 32-bit slot.
    function oddLanes(uint256 x, uint256 biasLanes) internal pure returns (uint256 y) {
        assembly {
            y := and(add(and(shr(16, x), LOW16), biasLanes), LOW16)
        }
    }

    /// @notice |a - b| per 32-bit slot of two words of biased lanes (each < 2^16).
    function absLanes(uint256 a, uint256 b) internal pure returns (uint256 d) {
        assembly {
            let m := mul(and(shr(16, sub(or(a, BIT16), b)), ONES32), 0xffffffff)
            let hi := or(and(a, m), and(b, not(m)))
            d := sub(hi, xor(xor(a, b), hi))
        }
    }

    /// @notice sum |a - b| over the 16 lanes of two wire words (lanes biased by `biasLanes`).
    function wordDistance(uint256 a, uint256 b, uint256 biasLanes) internal pure returns (uint256) {
        return laneSum(
            absLanes(evenLanes(a, biasLanes), evenLanes(b, biasLanes))
                + absLanes(oddLanes(a, biasLanes), oddLanes(b, biasLanes))
        );
    }

    /// @notice Sum of the 8 slots of a word whose slot sums stay < 2^32 in total.
    function laneSum(uint256 x) internal pure returns (uint256 s) {
        assembly {
            s := shr(224, mul(x, ONES32))
        }
    }

    /// @notice The wire word of rounded means: slot k of `even` / `odd` holds the sum of
    ///         `m` biased values of parameter 2k / 2k+1; each becomes
    ///         floor((sum + floor(m/2)) / m) - 2^(B-1), stored as an int16 lane.
    /// @dev No DIV per lane: the sums (< 2^25 for m < 512) are spread into four 64-bit slots
    ///      per word and divided at once by a multiply with M = ceil(2^34 / m) and a shift,
    ///      exact for every dividend < 2^25 when m < 512 (the error x(Mm - 2^34) / (m 2^34)
    ///      stays below 2^-9 < 1/m: Granlund-Montgomery). Products stay < 2^59, inside
    ///      their slot. Subtracting the bias is adding 2^16 - bias and keeping 16 bits, which
    ///      never borrows across slots.
    function packMeans(uint256 even, uint256 odd, uint256 m, uint256 bias) internal pure returns (uint256 w) {
        assembly {
            // Each mask xor-ed with an opaque zero (a call has calldata), so it is loaded once:
            // the via-IR optimizer (few runs) would re-read a literal from code at every use.
            let z := iszero(calldatasize())
            let slots := xor(0x00000000ffffffff00000000ffffffff00000000ffffffff00000000ffffffff, z)
            let low := xor(0x000000000000ffff000000000000ffff000000000000ffff000000000000ffff, z)
            let ones := xor(0x0000000000000001000000000000000100000000000000010000000000000001, z)
            let half := mul(shr(1, m), ones)
            let magic := add(div(sub(shl(34, 1), 1), m), 1)
            let unbias := mul(sub(0x10000, bias), ones)
            // Slot j of the four quarters holds parameter 4j (even), 4j+1 (odd), 4j+2
            // (even >> 32) and 4j+3 (odd >> 32): lanes at bit offsets 0, 16, 32 and 48.
            w := and(add(and(shr(34, mul(add(and(even, slots), half), magic)), low), unbias), low)
            w := or(w, shl(16, and(add(and(shr(34, mul(add(and(odd, slots), half), magic)), low), unbias), low)))
            w := or(w, shl(32, and(add(and(shr(34, mul(add(and(shr(32, even), slots), half), magic)), low), unbias), low)))
            w := or(w, shl(48, and(add(and(shr(34, mul(add(and(shr(32, odd), slots), half), magic)), low), unbias), low)))
        }
    }

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

    /// @notice Sorts rows `base[0..n)` lane by lane: each row is a wire word whose 16
    ///         lanes were XORed with 0x8000, so unsigned lane order is the signed order.
    /// @dev A compare-exchange of two rows orders 16 coordinates at once with no spare bit
    ///      per lane: the lane-wise borrow of a - b (Hacker's Delight 2-18) marks the lanes
    ///      where a < b, and a multiply spreads each mark over its lane.
    /// @param pairs output of `schedule(n)`.
    function sortLanes(uint256 base, uint256[] memory pairs) internal pure {
        assembly {
            // An opaque zero keeps the mask on the stack (see packMeans).
            let h := xor(0x8000800080008000800080008000800080008000800080008000800080008000, iszero(calldatasize()))
            let l := not(h)
            let p := add(pairs, 0x20)
            let end := add(p, shl(5, mload(pairs)))
            for {} lt(p, end) { p := add(p, 0x40) } {
                let pa := add(base, mload(p))
                let pb := add(base, mload(add(p, 0x20)))
                let a := mload(pa)
                let b := mload(pb)
                let same := xor(a, not(b)) // 1 where the bits agree
                let d := xor(sub(or(a, h), and(b, l)), and(same, h))
                let m := mul(shr(15, and(or(and(not(a), b), and(same, d)), h)), 0xffff) // lanes a < b
                let lo := or(and(a, m), and(b, not(m)))
                mstore(pa, lo)
                mstore(pb, xor(xor(a, b), lo))
            }
        }
    }

    /// @notice Slot sums of rows `base[from..to)`: even lanes (parameters 2k) and odd lanes
    ///         (2k+1) of the (0x8000-biased) rows, each in a 32-bit slot (< 2^16 rows).
    function sumRows(uint256 base, uint256 from, uint256 to) internal pure returns (uint256 even, uint256 odd) {
        assembly {
            let low16 := xor(0x0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff, iszero(calldatasize()))
            let end := add(base, shl(5, to))
            for { let q := add(base, shl(5, from)) } lt(q, end) { q := add(q, 0x20) } {
                let x := mload(q)
                even := add(even, and(x, low16))
                odd := add(odd, and(shr(16, x), low16))
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
