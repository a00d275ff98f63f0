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

    /// @notice `pairBitmaps` got samples or distances that do not match n.
    error BadShape(uint256 samples, uint256 moved, uint256 n);

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
        if (s.length != n * samples || moved.length != n) revert BadShape(s.length, moved.length, n);
        refuted = new uint256[]((n * n + 255) >> 8);
        confirmed = new uint256[](refuted.length);
        // n^2/2 pairs is the engine's only quadratic loop: each sample is split into its
        // biased even and odd lanes once (update i's at rows + 64(i*samples + k)), and a pair
        // costs one SWAR |a - b| per half-sample plus one slot sum (< 2^32: 32 lanes < 2^16
        // per sample), not a checked call per sample.
        uint256 rows;
        assembly {
            let low16 := 0x0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff
            rows := mload(0x40)
            let end := add(rows, shl(6, s.length))
            mstore(0x40, end)
            let p := s.offset
            for { let q := rows } lt(q, end) { q := add(q, 0x40) } {
                let x := calldataload(p)
                mstore(q, and(add(and(x, low16), biasLanes), low16))
                mstore(add(q, 0x20), and(add(and(shr(16, x), low16), biasLanes), low16))
                p := add(p, 0x20)
            }
        }
        _pairs(rows, moved, n, samples << 6, limit, refuted, confirmed);
    }

    /// @dev The pair loop of `pairBitmaps` over split rows of `row` bytes each, bits set in
    ///      the memory bitmaps (dead parameters reused as locals: stack depth).
    function _pairs(
        uint256 rows,
        uint256[] calldata moved,
        uint256 n,
        uint256 row,
        uint256 limit,
        uint256[] memory refuted,
        uint256[] memory confirmed
    ) private pure {
        uint256 end = rows + n * row;
        for (uint256 diag; rows < end; rows += row) {
            uint256 ma;
            assembly {
                ma := calldataload(moved.offset)
                moved.offset := add(moved.offset, 0x20)
            }
            uint256 p = diag;
            uint256 mb;
            assembly {
                mb := moved.offset // entry a + 1, then each b with pb
            }
            for (uint256 pb = rows + row; pb < end; pb += row) {
                uint256 d = _distance(rows, pb, row);
                assembly {
                    p := add(p, 1)
                    let bits := 0
                    switch gt(d, limit)
                    case 1 { bits := refuted }
                    default {
                        let far := calldataload(mb)
                        if lt(far, ma) { far := ma }
                        if lt(shl(2, d), far) { bits := confirmed }
                    }
                    if bits {
                        let at := add(add(bits, 0x20), shl(5, shr(8, p)))
                        mstore(at, or(mload(at), shl(and(p, 255), 1)))
                    }
                    mb := add(mb, 0x20)
                }
            }
            diag += n + 1;
        }
    }

    /// @dev sum |a - b| over two split rows (ColumnMath.absLanes, then one .laneSum: the
    ///      slot sums stay < 2^32).
    function _distance(uint256 pa, uint256 pb, uint256 row) private pure returns (uint256 d) {
        assembly {
            let ones := 0x0000000100000001000000010000000100000001000000010000000100000001
            let bit16 := shl(16, ones)
            let acc := 0
            for { let k := 0 } lt(k, row) { k := add(k, 0x20) } {
                let x := mload(add(pa, k))
                let y := mload(add(pb, k))
                let m := mul(and(shr(16, sub(or(x, bit16), y)), ones), 0xffffffff)
                let hi := or(and(x, m), and(y, not(m)))
                acc := add(acc, sub(hi, xor(xor(x, y), hi)))
            }
            d := shr(224, mul(acc, ones))
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
