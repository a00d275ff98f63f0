// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {BlobMath} from "../lib/BlobMath.sol";

/// @notice Test-only: BlobMath's functions as external calls, so tests hold them to `ml/blobs.py`.
contract BlobHarness {
    function evaluationPoint(uint256 index) external pure returns (uint256) {
        return BlobMath.evaluationPoint(index);
    }

    function link(uint256 prev, bytes32 hash) external pure returns (uint256) {
        return BlobMath.link(prev, hash);
    }

    function open(bytes32 versionedHash, uint256 index, bytes calldata openings) external view returns (uint256) {
        return BlobMath.open(versionedHash, index, openings, 0);
    }

    function lane(uint256 y, uint256 l, int256 lo, int256 hi) external pure returns (int256) {
        return BlobMath.lane(y, l, lo, hi);
    }

    function aggregate(int256[] memory values, uint256 t) external pure returns (int256) {
        return BlobMath.aggregate(values, t);
    }
}
