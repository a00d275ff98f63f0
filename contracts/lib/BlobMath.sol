// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title BlobMath
/// @notice What the blob data plane computes about one field element of an EIP-4844 blob:
///         where it is evaluated, its opening against a versioned hash (the point-evaluation
///         precompile), its 15 parameter lanes, and the hash chain that binds a list of
///         versioned hashes in one storage word. `ml/blobs.py` mirrors every function.
/// @dev A blob is 4096 field elements of BLS12-381's scalar field; element j is the blob's
///      polynomial at w^brp(j), w the primitive 4096-th root of unity 7^((r-1)/4096) and
///      brp the 12-bit bit reversal (the consensus specs' evaluation form).
library BlobMath {
    uint256 internal constant FIELD_ELEMENTS = 4096;
    uint256 internal constant BLS_MODULUS = 0x73eda753299d7d483339d80809a1d80553bda402fffe5bfeffffffff00000001;
    uint256 internal constant ROOT_OF_UNITY = 0x564c0a11a0f704f4fc3e8acfe0f8245f0ad1347b378fbf96e206da11a5d36306;
    /// @dev Parameters per field element: 15 int16 lanes (240 bits; 16 would not stay below
    ///      the modulus), lane l in bits [16 l, 16 l + 16), as in the column plane's words.
    uint256 internal constant LANES = 15;
    /// @dev One opening in calldata: KZG commitment (48 bytes) | proof (48) | value y (32).
    uint256 internal constant OPENING_BYTES = 128;

    /// @notice An opening that the point-evaluation precompile refused: its commitment is
    ///         not the blob's, or its proof or value is wrong.
    error BadOpening(bytes32 versionedHash, uint256 index);
    /// @notice Fewer openings than the computation needs.
    error MissingOpening(uint256 needed, uint256 given);

    /// @notice The evaluation point of field element `index` (< 4096): w^brp(index).
    function evaluationPoint(uint256 index) internal pure returns (uint256 z) {
        uint256 e = 0;
        unchecked {
            for (uint256 b; b < 12; ++b) {
                e = (e << 1) | ((index >> b) & 1);
            }
        }
        z = 1;
        uint256 base = ROOT_OF_UNITY;
        while (e != 0) {
            if (e & 1 != 0) z = mulmod(z, base, BLS_MODULUS);
            base = mulmod(base, base, BLS_MODULUS);
            e >>= 1;
        }
    }

    /// @notice The value of field element `index` of the blob `versionedHash`, proven by the
    ///         `k`-th opening of `openings` (reverts `BadOpening` if the precompile refuses).
    function open(bytes32 versionedHash, uint256 index, bytes calldata openings, uint256 k)
        internal
        view
        returns (uint256 y)
    {
        uint256 at = k * OPENING_BYTES;
        if (openings.length < at + OPENING_BYTES) revert MissingOpening(k + 1, openings.length / OPENING_BYTES);
        uint256 z = evaluationPoint(index);
        bool ok;
        assembly ("memory-safe") {
            let input := mload(0x40)
            let src := add(openings.offset, at)
            y := calldataload(add(src, 96))
            mstore(input, versionedHash)
            mstore(add(input, 32), z)
            mstore(add(input, 64), y)
            calldatacopy(add(input, 96), src, 96) // commitment | proof
            // a call to an account without code succeeds too: the precompile's answer
            // (FIELD_ELEMENTS_PER_BLOB, BLS_MODULUS) is what proves the opening
            ok := staticcall(gas(), 0x0a, input, 192, input, 64)
            // (Yul evaluates arguments right to left: returndatasize after the call)
            ok := and(ok, eq(returndatasize(), 64))
            ok := and(ok, and(eq(mload(input), 4096), eq(mload(add(input, 32)), BLS_MODULUS)))
        }
        if (!ok) revert BadOpening(versionedHash, index);
    }

    /// @notice The next link of a hash chain over versioned hashes: the top 192 bits of
    ///         keccak256(prev, hash), so a chain and a count (64 bits) share a word.
    function link(uint256 prev, bytes32 hash) internal pure returns (uint256 next) {
        assembly ("memory-safe") {
            mstore(0, prev)
            mstore(32, hash)
            next := shr(64, keccak256(0, 64))
        }
    }

    /// @notice The chain of hashes [from, to) of `hashes`, continuing `prev`.
    function chainOf(uint256 prev, bytes32[] calldata hashes, uint256 from, uint256 to)
        internal
        pure
        returns (uint256 c)
    {
        c = prev;
        for (uint256 i = from; i < to; ++i) {
            c = link(c, hashes[i]);
        }
    }

    /// @notice Lane `l` of element `y` as a signed value, saturated to [lo, hi]: every
    ///         blob decodes to the task's range, so no update is malformed.
    function lane(uint256 y, uint256 l, int256 lo, int256 hi) internal pure returns (int256 v) {
        v = int16(uint16(y >> (16 * l)));
        if (v < lo) v = lo;
        else if (v > hi) v = hi;
    }

    /// @notice `v` as lane `l` of an element (two's complement int16).
    function laneBits(int256 v, uint256 l) internal pure returns (uint256) {
        return uint256(uint16(uint256(v) & 0xffff)) << (16 * l);
    }

    /// @notice One coordinate of the new model: sort the n values, drop `t` at each end,
    ///         and take the rounded mean of the rest (floor((sum + m/2) / m), as the column
    ///         plane). Sorts `values` in place.
    function aggregate(int256[] memory values, uint256 t) internal pure returns (int256) {
        uint256 n = values.length;
        if (t != 0) _sort(values);
        int256 sum = 0;
        for (uint256 i = t; i < n - t; ++i) {
            sum += values[i];
        }
        int256 m = int256(n - 2 * t);
        // floor division for a negative sum too
        int256 q = (sum + m / 2) / m;
        if ((sum + m / 2) % m < 0) --q;
        return q;
    }

    /// @dev Insertion sort of n <= MAX_BLOB_SEATS values per lane, in assembly: with bounds
    ///      checks a worst-case (descending) column of 64 cost ~430 gas per shift, and one
    ///      element dispute of a full MEDIAN round 17M gas, past the transaction cap (measured
    ///      by test_the_costliest_element_dispute_stays_within_the_bound_the_constructor_checked).
    function _sort(int256[] memory a) private pure {
        assembly ("memory-safe") {
            let n := mload(a)
            let base := add(a, 32)
            for { let i := 1 } lt(i, n) { i := add(i, 1) } {
                let v := mload(add(base, shl(5, i)))
                let j := i
                for {} j {} {
                    let prev := mload(add(base, shl(5, sub(j, 1))))
                    if iszero(sgt(prev, v)) { break }
                    mstore(add(base, shl(5, j)), prev)
                    j := sub(j, 1)
                }
                mstore(add(base, shl(5, j)), v)
            }
        }
    }
}
