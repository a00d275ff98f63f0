// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {RuleBase} from "./RuleBase.sol";

/// @title SignedRelay
/// @notice A relay vouched for by its owners' EIP-712 signatures: a participant signs the
///         round and its update's head link (which binds every word), so anyone may carry
///         the update and nobody can change it. The domain is the task's engine.
abstract contract SignedRelay is RuleBase {
    /// @notice EIP-712 type a participant signs to let anyone carry its update: the round and
    ///         the head link, which binds every word (the domain binds chain and task).
    bytes32 public constant UPDATE_TYPEHASH = keccak256("Update(uint256 round,bytes32 head)");
    bytes32 internal constant _DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    /// @dev secp256k1n / 2: a larger s is the malleable twin of a valid signature.
    uint256 internal constant _HALF_ORDER = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;

    /// @notice Relayed update `index` (its list index) carries no valid signature of `signer`.
    error BadSignature(address signer, uint256 index);

    /// @dev The domain separator for the chain the task was deployed on (recomputed if the
    ///      chain id ever changes: a fork).
    bytes32 internal immutable _domainSeparator;
    uint256 internal immutable _deployChainId;

    constructor() {
        _deployChainId = block.chainid;
        _domainSeparator = _domain();
    }

    /// @notice The EIP-712 digest a participant signs to have its update for `round`, whose
    ///         head link is `head`, carried by a relayer (eth_signTypedData_v4 of
    ///         Update(round, head) in the domain {name "fedchain", version "1", this chain,
    ///         the task's engine}).
    function relayDigest(uint256 round, bytes32 head) public view returns (bytes32) {
        bytes32 domain = block.chainid == _deployChainId ? _domainSeparator : _domain();
        return keccak256(abi.encodePacked(hex"1901", domain, keccak256(abi.encode(UPDATE_TYPEHASH, round, head))));
    }

    function _domain() internal view returns (bytes32) {
        return keccak256(
            abi.encode(_DOMAIN_TYPEHASH, keccak256("fedchain"), keccak256("1"), block.chainid, address(engine))
        );
    }

    /// @dev The owners of signed relayed updates: proof j is abi.encode(signer, r, vs), an
    ///      EIP-2098 compact signature of `relayDigest(round, heads[j])`. `first`: the first
    ///      one's list index (for the error).
    function _signers(uint256 round, uint256 first, bytes32[] calldata heads, bytes[] calldata proofs)
        internal
        view
        returns (address[] memory owners)
    {
        owners = new address[](heads.length);
        for (uint256 j; j < heads.length; ++j) {
            (address signer, bytes32 r, bytes32 vs) = abi.decode(proofs[j], (address, bytes32, bytes32));
            _checkSigner(round, heads[j], signer, r, vs, first + j);
            owners[j] = signer;
        }
    }

    /// @dev `signer` signed `head` for `round` (EIP-2098 compact; a malleable high-s twin is
    ///      refused); list index `i` names the update in the error.
    function _checkSigner(uint256 round, bytes32 head, address signer, bytes32 r, bytes32 vs, uint256 i)
        internal
        view
    {
        uint256 s_ = uint256(vs) & (type(uint256).max >> 1);
        address got = address(0);
        if (s_ <= _HALF_ORDER) got = ecrecover(relayDigest(round, head), uint8(uint256(vs) >> 255) + 27, r, bytes32(s_));
        if (got == address(0) || got != signer) revert BadSignature(signer, i);
    }
}
