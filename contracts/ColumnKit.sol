// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ColumnMath} from "./lib/ColumnMath.sol";
import {MedianLib} from "./lib/MedianLib.sol";

/// @title ColumnKit
/// @notice Stateless column math a task calls instead of carrying it: the sorting-network
///         column of MEDIAN and TRIMMED_MEAN, the near-duplicate pair test and the seat
///         draw's lower median. Every task creates its own kit in its constructor (no
///         library linking, nothing to trust but the task's own creation code), which keeps
///         the tasks under the EIP-170 code limit. Pure functions of their arguments.
/// @dev Mirrored by `ml/protocol.py` like the rest of the engine's arithmetic.
contract ColumnKit {
    uint256 internal constant SIGN_BIAS = 0x8000;

    /// @notice Column of the new model by a sorted rule: for each of the `w` words, the n
    ///         updates' lanes sorted, `t` dropped at each end, the rest's rounded mean.
    /// @param words n x w words: update i's column at [i*w, (i+1)*w).
    function sortedMeans(uint256[] calldata words, uint256 n, uint256 w, uint256 t)
        external
        pure
        returns (uint256[] memory means)
    {
        means = new uint256[](w);
        uint256[] memory pairs = ColumnMath.schedule(n);
        uint256 rows;
        assembly {
            rows := mload(0x40)
            mstore(0x40, add(rows, shl(5, n)))
        }
        for (uint256 j; j < w; ++j) {
            assembly {
                // Word j of each update, lanes biased by 2^15 (XOR 0x8000): unsigned order.
                let sign := 0x8000800080008000800080008000800080008000800080008000800080008000
                let stride := shl(5, w)
                let p := add(words.offset, shl(5, j))
                for { let q := rows } lt(q, add(rows, shl(5, n))) { q := add(q, 0x20) } {
                    mstore(q, xor(calldataload(p), sign))
                    p := add(p, stride)
                }
            }
            ColumnMath.sortLanes(rows, pairs);
            (uint256 even, uint256 odd) = ColumnMath.sumRows(rows, t, n - t);
            means[j] = ColumnMath.packMeans(even, odd, n - 2 * t, SIGN_BIAS);
        }
    }

    /// @notice Comparators of the sorting network `sortedMeans` uses for n rows.
    function comparators(uint256 n) external pure returns (uint256) {
        return n < 2 ? 0 : ColumnMath.schedule(n).length / 2;
    }

    /// @notice The refuted and confirmed bits (pair a < b at bit a*n+b) of one column's
    ///         samples: refuted when farther apart than `limit`, confirmed when within it
    ///         and less than a quarter as far apart as the farther-moved of the two.
    /// @param s update i's sample k at i*samples+k.
    /// @param moved how far each update moved from the old model on its samples.
    /// @param biasLanes the task's lane bias (2^(B-1) in every 32-bit slot).
    function pairBitmaps(
        uint256[] calldata s,
        uint256[] calldata moved,
        uint256 n,
        uint256 samples,
        uint256 limit,
        uint256 biasLanes
    ) external pure returns (uint256[] memory refuted, uint256[] memory confirmed) {
        refuted = new uint256[]((n * n + 255) >> 8);
        confirmed = new uint256[](refuted.length);
        unchecked {
            for (uint256 a; a < n; ++a) {
                for (uint256 b = a + 1; b < n; ++b) {
                    uint256 d = 0;
                    for (uint256 k; k < samples; ++k) {
                        d += ColumnMath.wordDistance(s[a * samples + k], s[b * samples + k], biasLanes);
                    }
                    uint256 p = a * n + b;
                    if (d > limit) {
                        refuted[p >> 8] |= 1 << (p & 255);
                    } else if (4 * d < (moved[a] > moved[b] ? moved[a] : moved[b])) {
                        confirmed[p >> 8] |= 1 << (p & 255);
                    }
                }
            }
        }
    }

    /// @notice Bit i set iff list entry i is half of a pair whose bit is set in `live`
    ///         (confirmed near on some column and never refuted).
    function duplicateFlags(uint256[] calldata live, uint256 n) external pure returns (uint256[] memory flags) {
        flags = new uint256[]((n + 255) >> 8);
        unchecked {
            for (uint256 a; a < n; ++a) {
                for (uint256 b = a + 1; b < n; ++b) {
                    uint256 p = a * n + b;
                    if ((live[p >> 8] >> (p & 255)) & 1 != 0) {
                        flags[a >> 8] |= 1 << (a & 255);
                        flags[b >> 8] |= 1 << (b & 255);
                    }
                }
            }
        }
    }

    /// @notice See MedianLib.lowerMedian.
    function lowerMedian(uint256[] memory values) external pure returns (uint256) {
        return MedianLib.lowerMedian(values);
    }
}
