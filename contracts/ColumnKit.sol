// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ColumnMath} from "./lib/ColumnMath.sol";

/// @title ColumnKit
/// @notice Stateless column math a task calls instead of carrying it: the sorting-network
///         column of MEDIAN and TRIMMED_MEAN, the near-duplicate pair test, and the replay test. Every task creates its own kit in its constructor (no
///         library linking, nothing to trust but the task's own creation code), which keeps
///         the tasks under the EIP-170 code limit. Functions of their arguments (and of the
///         head lists, write-once data contracts, that `replays` reads).
/// @dev Mirrored by `ml/protocol.py` like the rest of the engine's arithmetic.
contract ColumnKit {
    uint256 internal constant SIGN_BIAS = 0x8000;

    /// @notice `pairBitmaps` got samples, distances or skip words that do not match n.
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
    /// @param skip pairs already refuted on an earlier column (bitmap like `refuted`, one
    ///        word per 256 pairs): not measured again, neither bit set; a refuted pair stays
    ///        refuted whatever later columns say, so only the first column pays for all.
    /// @param biasLanes the task's lane bias (2^(B-1) in every 32-bit slot).
    function pairBitmaps(
        uint256[] calldata s,
        uint256[] calldata moved,
        uint256[] calldata skip,
        uint256 n,
        uint256 samples,
        uint256 limit,
        uint256 biasLanes
    ) external pure returns (uint256[] memory refuted, uint256[] memory confirmed) {
        uint256 words = (n * n + 255) >> 8;
        if (s.length != n * samples || moved.length != n || skip.length != words) {
            revert BadShape(s.length, moved.length, n);
        }
        refuted = skip; // the pair loop tests each pair's bit before measuring it
        confirmed = new uint256[](words);
        _pairs(_rows(s, biasLanes), moved, n, samples << 7, limit, refuted, confirmed);
    }

    /// @dev The split rows of `pairBitmaps`' samples, in fresh memory.
    function _rows(uint256[] calldata s, uint256 biasLanes) private pure returns (uint256 rows) {
        // n^2/2 pairs is the engine's only quadratic loop, so everything a pair can share is
        // done once per row: each sample's biased even and odd lanes v (one per 32-bit slot)
        // are stored with 2^16 - v in the next word (update i's sample k, half h, at rows +
        // 64(2(i*samples + k) + h)), and a pair's |a - b| per half is then a single add, a
        // borrow test and a conditional negation (one slot sum at the end: 32 lanes < 2^16
        // per sample).
        assembly {
            let low16 := 0x0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff
            let top := shl(16, 0x0000000100000001000000010000000100000001000000010000000100000001)
            rows := mload(0x40)
            let end := add(rows, shl(7, s.length))
            mstore(0x40, end)
            let p := s.offset
            for { let q := rows } lt(q, end) { q := add(q, 0x80) } {
                let x := calldataload(p)
                let v := and(add(and(x, low16), biasLanes), low16)
                mstore(q, v)
                mstore(add(q, 0x20), sub(top, v))
                v := and(add(and(shr(16, x), low16), biasLanes), low16)
                mstore(add(q, 0x40), v)
                mstore(add(q, 0x60), sub(top, v))
                p := add(p, 0x20)
            }
        }
    }

    /// @dev The pair loop of `pairBitmaps` over split rows of `row` bytes each, bits set in
    ///      the memory bitmaps; a pair whose refuted bit is set already (it came in `skip`)
    ///      is not measured (dead parameters reused as locals: stack depth).
    function _pairs(
        uint256 rows,
        uint256[] calldata moved,
        uint256 n,
        uint256 row,
        uint256 limit,
        uint256[] memory refuted,
        uint256[] memory confirmed
    ) private pure {
        // Memory pointers and pair indices (n < 2^16 rows): nothing here can overflow.
        unchecked {
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
                    uint256 d;
                    assembly {
                        p := add(p, 1)
                        d := and(shr(and(p, 255), mload(add(add(refuted, 0x20), shl(5, shr(8, p))))), 1)
                    }
                    if (d == 0) {
                        d = _distance(rows, pb, row);
                        assembly {
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
                        }
                    }
                    assembly {
                        mb := add(mb, 0x20)
                    }
                }
                diag += n + 1;
            }
        }
    }

    /// @dev sum |a - b| over two split rows: per slot t = a + 2^16 - b has bit 16 set iff
    ///      a >= b, and |a - b| is t's low half, or its 16-bit negation when the bit is clear
    ///      (never a borrow across slots); one slot sum at the end (the sums stay < 2^32).
    function _distance(uint256 pa, uint256 pb, uint256 row) private pure returns (uint256 d) {
        assembly {
            let ones := 0x0000000100000001000000010000000100000001000000010000000100000001
            let low16 := 0x0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff
            pb := add(pb, 0x20) // b's 2^16 - v words
            // Two samples (the engine's DUPLICATE_SAMPLES): four halves, unrolled (a loop
            // step costs more than the half it measures).
            switch row
            case 0x100 {
                let t := add(mload(pa), mload(pb))
                let l := and(not(shr(16, t)), ones)
                d := add(xor(and(t, low16), mul(l, 0xffff)), l)
                t := add(mload(add(pa, 0x40)), mload(add(pb, 0x40)))
                l := and(not(shr(16, t)), ones)
                d := add(d, add(xor(and(t, low16), mul(l, 0xffff)), l))
                t := add(mload(add(pa, 0x80)), mload(add(pb, 0x80)))
                l := and(not(shr(16, t)), ones)
                d := add(d, add(xor(and(t, low16), mul(l, 0xffff)), l))
                t := add(mload(add(pa, 0xc0)), mload(add(pb, 0xc0)))
                l := and(not(shr(16, t)), ones)
                d := add(d, add(xor(and(t, low16), mul(l, 0xffff)), l))
            }
            default {
                for { let end := add(pa, row) } lt(pa, end) { pa := add(pa, 0x40) } {
                    let t := add(mload(pa), mload(pb))
                    let l := and(not(shr(16, t)), ones)
                    d := add(d, add(xor(and(t, low16), mul(l, 0xffff)), l))
                    pb := add(pb, 0x40)
                }
            }
            d := shr(224, mul(d, ones))
        }
    }

    /// @notice Bit i set iff head i of the list in data contract `current` (a CodeStore of
    ///         the round's head links' first 16 bytes, two per word, in list order; a zero
    ///         half is no head) replays an update: its head is in a list of the last
    ///         `window` rounds, or earlier on `current` itself (the first copy of a round is
    ///         not a replay of itself).
    /// @param ring the task's head-list slots (data contract | round << 160); lists of
    ///        rounds outside [round - window, round) are ignored.
    /// @param salt the round's seed: it hashes heads into the lookup table, so nobody who
    ///        chose an update can make heads collide in it and lengthen the probes (a table
    ///        indexed by the heads' own bits could be flooded by ground heads).
    function replays(address current, uint256[] calldata ring, uint256 round, uint256 window, bytes32 salt)
        external
        view
        returns (uint256)
    {
        uint256 n = (current.code.length - 1) >> 4;
        uint256[] memory flags = new uint256[]((n + 255) >> 8);
        uint256 size = 2;
        while (size < 2 * n) size <<= 1; // half full at most: ~2 probes per lookup
        uint256[] memory keys = new uint256[](size);
        uint256[] memory at = new uint256[](size);
        _lookUp(current, n, keys, at, flags, salt, true);
        for (uint256 k; k < ring.length; ++k) {
            uint256 r = ring[k] >> 160;
            if (r == 0 || r >= round || round - r > window) continue;
            address list = address(uint160(ring[k]));
            _lookUp(list, (list.code.length - 1) >> 4, keys, at, flags, salt, false);
        }
        return flags[0]; // n <= MAX_SEATS = 256: one word
    }

    /// @dev Looks every head of `list` up in the open-addressing table (`keys`: head or 0;
    ///      `at`: its index on the current list): a hit flags that index; with `insert`
    ///      (the current list) a miss adds the head and a hit flags the new copy instead.
    function _lookUp(
        address list,
        uint256 count,
        uint256[] memory keys,
        uint256[] memory at,
        uint256[] memory flags,
        bytes32 salt,
        bool insert
    ) private view {
        assembly {
            let buf := mload(0x40) // scratch past the free pointer: the list's heads
            extcodecopy(list, buf, 1, shl(4, count))
            let mask := sub(mload(keys), 1)
            mstore(0x20, salt)
            for { let i := 0 } lt(i, count) { i := add(i, 1) } {
                let h := shr(128, mload(add(buf, shl(4, i))))
                if iszero(h) { continue }
                mstore(0, h)
                let slot := and(keccak256(0, 0x40), mask)
                for {} 1 { slot := and(add(slot, 1), mask) } {
                    let key := mload(add(keys, shl(5, add(slot, 1))))
                    if iszero(key) {
                        if insert {
                            mstore(add(keys, shl(5, add(slot, 1))), h)
                            mstore(add(at, shl(5, add(slot, 1))), i)
                        }
                        break
                    }
                    if eq(key, h) {
                        let j := i
                        if iszero(insert) { j := mload(add(at, shl(5, add(slot, 1)))) }
                        let word := add(flags, shl(5, add(shr(8, j), 1)))
                        mstore(word, or(mload(word), shl(and(j, 255), 1)))
                        break
                    }
                }
            }
        }
    }

    /// @notice Bit i set iff list entry i (n <= 256) is half of a pair whose bit is set in
    ///         `live` (confirmed near on some column and never refuted).
    function duplicateFlags(uint256[] calldata live, uint256 n) external pure returns (uint256 flags) {
        unchecked {
            for (uint256 a; a < n; ++a) {
                for (uint256 b = a + 1; b < n; ++b) {
                    uint256 p = a * n + b;
                    if ((live[p >> 8] >> (p & 255)) & 1 != 0) flags |= (1 << a) | (1 << b);
                }
            }
        }
    }
}
