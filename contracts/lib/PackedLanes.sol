// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title PackedLanes
/// @notice SWAR (SIMD-within-a-register) arithmetic on packed fixed-point weight vectors.
/// @dev Two packings are used, and every function here is mirrored bit-for-bit by
///      `ml/reference.py`:
///
///      * wire/global words: 16 lanes x 16 bits, each lane an int16 in two's complement
///        (parameter p lives in word p/16, bits 16*(p%16) .. +16). This is exactly
///        `numpy.int16` memory viewed as little-endian lanes, so the codec is a reshape.
///      * accumulator words: 8 lanes x 32 bits, each lane a *biased* unsigned value
///        u = v + 2^(B-1) in [0, 2^B) (parameter p lives in word p/8, lane p%8).
///
///      Biased lanes never go negative, so one 256-bit ADD adds 8 parameters at once, and
///      a lane cannot carry into its neighbour while fewer than 2^(32-B) values are summed.
library PackedLanes {
    /// @dev Low 16 bits of every 32-bit lane.
    uint256 internal constant LOW16 = 0x0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff;
    /// @dev The value 1 in every 32-bit lane: multiplying by it sums all lanes into the top lane.
    uint256 internal constant ONES32 = 0x0000000100000001000000010000000100000001000000010000000100000001;
    /// @dev Bit 16 of every 32-bit lane.
    uint256 internal constant BIT16 = 0x0001000000010000000100000001000000010000000100000001000000010000;

    /// @notice Spreads the low 128 bits of `x` (8 lanes of 16 bits) into 8 lanes of 32 bits.
    /// @dev Three shift-or-mask steps move lane k from bit 16k to bit 32k.
    function spread(uint256 x) internal pure returns (uint256 y) {
        assembly {
            y := and(x, 0xffffffffffffffffffffffffffffffff)
            y := and(or(y, shl(64, y)), 0x0000000000000000ffffffffffffffff0000000000000000ffffffffffffffff)
            y := and(or(y, shl(32, y)), 0x00000000ffffffff00000000ffffffff00000000ffffffff00000000ffffffff)
            y := and(or(y, shl(16, y)), LOW16)
        }
    }

    /// @notice Converts 8 spread int16 lanes to biased lanes u = v + 2^(B-1) (mod 2^16).
    /// @param spreadWord output of `spread`.
    /// @param biasLanes 2^(B-1) in every 32-bit lane.
    /// @return biased lanes; a lane is a valid B-bit value iff it is < 2^B.
    function toBiased(uint256 spreadWord, uint256 biasLanes) internal pure returns (uint256 biased) {
        // No lane can carry: each holds < 2^16 + 2^15 < 2^32 before the mask.
        assembly {
            biased := and(add(spreadWord, biasLanes), LOW16)
        }
    }

    /// @notice Sum over 8 lanes of |a_k - b_k| for two words of biased lanes (each < 2^16).
    /// @dev d_k = a_k + 2^16 - b_k lies in (0, 2^17): no borrow between lanes, and bit 16 of
    ///      d_k says whether a_k >= b_k. Then |a_k - b_k| = d_k - 2^16 on those lanes and
    ///      2^16 - d_k on the others; both partial sums are taken with one MUL each.
    function absDiffSum(uint256 a, uint256 b) internal pure returns (uint256 total) {
        assembly {
            let d := sub(add(a, BIT16), b)
            let s := and(shr(16, d), ONES32) // 1 in lanes where a >= b
            let geLanes := and(d, mul(s, 0xffffffff)) // d on those lanes, 0 elsewhere
            let ltLanes := xor(d, geLanes)
            let geCount := shr(224, mul(s, ONES32))
            // Lane sums stay < 8 * 2^17 < 2^32, so the top lane of each product is exact.
            let geSum := shr(224, mul(geLanes, ONES32))
            let ltSum := shr(224, mul(ltLanes, ONES32))
            // sum(ge) - 2^16*geCount + 2^16*(8-geCount) - sum(lt), reordered to stay >= 0.
            total := sub(add(geSum, shl(16, sub(8, geCount))), add(shl(16, geCount), ltSum))
        }
    }

    /// @notice Rounded per-lane mean of two accumulator words, packed back to 16 int16 lanes.
    /// @dev mean = floor((sum + floor(n/2)) / n), i.e. round half up in the biased domain
    ///      (round half towards +infinity for the signed value). The signed result
    ///      mean - 2^(B-1) is stored mod 2^16 (two's complement).
    /// @param lo accumulator word holding parameters 16i .. 16i+7.
    /// @param hi accumulator word holding parameters 16i+8 .. 16i+15.
    /// @param n number of values summed in each lane (> 0).
    /// @param bias 2^(B-1).
    function meanWord(uint256 lo, uint256 hi, uint256 n, uint256 bias) internal pure returns (uint256 w) {
        assembly {
            let half := shr(1, n)
            for { let k := 0 } lt(k, 8) { k := add(k, 1) } {
                let m := div(add(and(shr(shl(5, k), lo), 0xffffffff), half), n)
                w := or(w, shl(shl(4, k), and(sub(m, bias), 0xffff)))
                m := div(add(and(shr(shl(5, k), hi), 0xffffffff), half), n)
                w := or(w, shl(add(128, shl(4, k)), and(sub(m, bias), 0xffff)))
            }
        }
    }
}
