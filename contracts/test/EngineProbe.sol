// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {PaperTask} from "../PaperTask.sol";
import {ColumnMath} from "../lib/ColumnMath.sol";

/// @notice Bench only: the column pass's pieces run alone, for gas profiling.
contract EngineProbe is PaperTask {
    constructor(BatchSettings memory s) PaperTask(s) {}

    function probeLoad(uint256[] calldata words, uint256 n, uint256 w, uint256 reps) external returns (uint256 x) {
        uint256 rows;
        assembly {
            rows := mload(0x40)
            mstore(0x40, add(rows, shl(6, n)))
        }
        for (uint256 r; r < reps; ++r) {
            for (uint256 j; j < w; ++j) {
                _loadRows(words, n, w, j, rows);
            }
        }
        assembly {
            x := mload(rows)
        }
    }

    function probeAggregate(uint256[] calldata words, uint256 n, uint256 w, uint256 reps) external returns (uint256 x) {
        uint256 rows;
        assembly {
            rows := mload(0x40)
            mstore(0x40, add(rows, shl(6, n)))
        }
        uint256 t = trimmedCount(n);
        uint256[] memory pairs = t == 0 ? new uint256[](0) : ColumnMath.schedule(n);
        for (uint256 r; r < reps; ++r) {
            for (uint256 j; j < w; ++j) {
                if (t == 0) {
                    x ^= _meanWord(words, n, w, j);
                } else {
                    _loadRows(words, n, w, j, rows);
                    ColumnMath.sortLanes(rows, pairs);
                    (uint256 e, uint256 o) = ColumnMath.sumRows(rows, t, n - t);
                    x ^= ColumnMath.packMeans(e, o, n - 2 * t, 0x8000);
                }
            }
        }
    }

    function probeLinks(uint256[] calldata words, uint256 n, uint256 w, uint256 reps) external returns (bytes32 fold) {
        for (uint256 r; r < reps; ++r) {
            for (uint256 i; i < n; ++i) {
                fold = keccak256(abi.encode(fold, _link(words[i * w:(i + 1) * w], bytes32(0))));
            }
        }
    }
}
