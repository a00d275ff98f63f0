// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title CodeStore
/// @notice Write-once word arrays kept as contract code ("data contracts").
/// @dev A finished global model never changes, and every submission of the next round
///      reads all of it. Kept in storage, each word read costs a cold SLOAD (2,100 gas per
///      16 parameters); kept as code, one EXTCODECOPY brings a whole chunk into memory for
///      ~3 gas per word. Writing costs 200 gas per byte of code (6,400 per word) instead of
///      a 5,000-gas SSTORE, and is paid once per round by whoever finalizes.
///
///      Layout of a data contract's code: one 0x00 byte (STOP, so a call into it does
///      nothing) followed by the words, big-endian.
library CodeStore {
    error CreateFailed(uint256 words);

    /// @dev Creation code prefix, 10 bytes, followed by the runtime code it returns:
    ///      PUSH2 len, DUP1, PUSH1 10, PUSH0, CODECOPY(0, 10, len), PUSH0, RETURN(0, len).
    ///      `len` is patched into bytes 1-2.
    uint256 internal constant PREFIX = 0x61_0000_80_600a_5f_39_5f_f3 << 176;
    uint256 internal constant PREFIX_BYTES = 10;
    /// @dev Offset of word i inside the runtime code (after the STOP byte).
    uint256 internal constant DATA_OFFSET = 1;

    /// @notice Memory for a data contract of `words` words, laid out as its creation code;
    ///         fill word i at `dataPtr + 32 * i`, then call `deploy`.
    function alloc(uint256 words) internal pure returns (uint256 codePtr, uint256 dataPtr) {
        uint256 runtime = DATA_OFFSET + 32 * words;
        assembly {
            codePtr := mload(0x40)
            mstore(codePtr, or(PREFIX, shl(232, runtime)))
            mstore8(add(codePtr, PREFIX_BYTES), 0) // the STOP byte
            dataPtr := add(codePtr, add(PREFIX_BYTES, DATA_OFFSET))
            mstore(0x40, add(dataPtr, shl(5, words)))
        }
    }

    /// @notice Deploys the data contract prepared by `alloc` and filled by the caller.
    function deploy(uint256 codePtr, uint256 words) internal returns (address store) {
        uint256 size = PREFIX_BYTES + DATA_OFFSET + 32 * words;
        assembly {
            store := create(0, codePtr, size)
        }
        if (store == address(0)) revert CreateFailed(words);
    }

    /// @notice Copies `count` words starting at word `from` of `store` to memory at `dest`.
    ///         Missing words (past the code, or an unset `store` = address(0)) read as 0.
    function load(address store, uint256 from, uint256 count, uint256 dest) internal view {
        assembly {
            extcodecopy(store, dest, add(DATA_OFFSET, shl(5, from)), shl(5, count))
        }
    }
}
