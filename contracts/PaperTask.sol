// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {BatchEngine} from "./BatchEngine.sol";
import {CodeStore} from "./lib/CodeStore.sol";

/// @title PaperTask
/// @notice The paper's reward rule on the batch engine: anyone takes part while seats last
///         (a seat is a complete update, posted by its owner or relayed with its signature),
///         and each update earns the tier of its mean distance to the model the round started
///         from, paid when the round's last column is aggregated (nothing for near duplicates
///         and recent replays).
/// @dev A posted update's distance is measured while posting, where it costs nothing extra
///      (a post pays the EIP-7623 calldata floor and this computation stays under it); a
///      relayed update's in each column transaction, under that transaction's floor.
contract PaperTask is BatchEngine {
    /// @notice EIP-712 type a participant signs to let anyone carry its update: the round and
    ///         the head link, which binds every word (the domain binds chain and task).
    bytes32 public constant UPDATE_TYPEHASH = keccak256("Update(uint256 round,bytes32 head)");
    bytes32 internal constant _DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    /// @dev secp256k1n / 2: a larger s is the malleable twin of a valid signature.
    uint256 internal constant _HALF_ORDER = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;

    /// @notice A relayed update's owner and its EIP-2098 compact signature of
    ///         `relayDigest(round, head)`: r and yParityAndS.
    struct Signature {
        address signer;
        bytes32 r;
        bytes32 vs;
    }

    error BadSignature(address signer, uint256 index);

    constructor(BatchSettings memory s) payable BatchEngine(s) {}

    /// @notice Posts words [post*postWords, ...) of the caller's update for `round`; posts
    ///         go in order, and the last one puts the update on the round's list.
    /// @param round the current round.
    /// @param post the caller's next post (0 first).
    /// @param words the post's packed words (16 int16 lanes each, unused lanes 0).
    /// @param nextLink the link of the update's next post (0 for the last): the reverse
    ///        hash chain over columns that binds the update for the column transactions.
    function submit(uint256 round, uint256 post, uint256[] calldata words, bytes32 nextLink) external {
        uint256 distance = _distanceToModel(words, post * postWords, completedRounds);
        _post(round, post, words, nextLink, distance);
    }

    /// @notice Aggregates column 0 of `round` with signed updates carried for their owners
    ///         appended after the posted ones (anyone may relay; the relayer earns the keeper
    ///         fee like any column sender). Before the posting deadline only a relay that
    ///         takes every seat is accepted. Later columns go through `aggregate`.
    /// @param round the current round.
    /// @param words (posted + relayed) x w words of column 0, in list order.
    /// @param nextLinks each update's link after column 0.
    /// @param signatures each relayed update's owner and its signature of the EIP-712
    ///        `relayDigest(round, head)`, in order.
    function relay(
        uint256 round,
        uint256[] calldata words,
        bytes32[] calldata nextLinks,
        Signature[] calldata signatures
    ) external {
        (uint256 posted, uint256 w) = _relayShape(round, signatures.length, words.length, nextLinks.length);
        address[] memory owners = new address[](signatures.length);
        bytes32[] memory heads = new bytes32[](signatures.length);
        for (uint256 j; j < signatures.length; ++j) {
            uint256 i = posted + j;
            // The head binds every word of the update (column 0 here, the rest through
            // nextLinks), so one recovery per update covers all its columns.
            heads[j] = _link(words[i * w:(i + 1) * w], nextLinks[i]);
            owners[j] = _signer(round, heads[j], signatures[j], i);
        }
        _relay(round, words, nextLinks, owners, heads, new uint256[](signatures.length));
    }

    /// @notice The EIP-712 digest a participant signs to have its update for `round`, whose
    ///         head link is `head`, carried by a relayer (eth_signTypedData_v4 of
    ///         Update(round, head) in the domain {name "fedchain", version "1", this chain,
    ///         this task}).
    function relayDigest(uint256 round, bytes32 head) public view returns (bytes32) {
        bytes32 domain = keccak256(
            abi.encode(_DOMAIN_TYPEHASH, keccak256("fedchain"), keccak256("1"), block.chainid, address(this))
        );
        return keccak256(abi.encodePacked(hex"1901", domain, keccak256(abi.encode(UPDATE_TYPEHASH, round, head))));
    }

    /// @dev The claimed signer of list entry `i`, if it signed `head` for `round` (EIP-2098
    ///      compact; a malleable high-s twin is refused).
    function _signer(uint256 round, bytes32 head, Signature calldata sig, uint256 i) internal view returns (address) {
        uint256 s_ = uint256(sig.vs) & (type(uint256).max >> 1);
        address got = address(0);
        if (s_ <= _HALF_ORDER) {
            got = ecrecover(relayDigest(round, head), uint8(uint256(sig.vs) >> 255) + 27, sig.r, bytes32(s_));
        }
        if (got == address(0) || got != sig.signer) revert BadSignature(sig.signer, i);
        return got;
    }

    function _ruleColumnGas(uint256 n, uint256 w) internal pure override returns (uint256) {
        return n * (GAS_PER_RELAYED_SEAT + w * GAS_PER_RELAYED_WORD);
    }

    /// @dev PAPER: the mean distance per parameter to the round's starting model.
    function _score(uint256, uint256, uint256 entry) internal view override returns (uint256) {
        return (entry >> 128) / paramCount;
    }

    /// @dev Relayed updates were never posted: their lanes are checked (column 0 did so while
    ///      relaying) and their distance to the starting model is added up column by column.
    function _afterColumn(uint256 round, uint256 column, uint256[] calldata words, address, uint256 n, uint256 w)
        internal
        override
    {
        uint256 first = relayedFrom[round];
        if (first == 0) return;
        uint256 g; // the starting model's column, loaded once for every relayed update
        assembly {
            g := mload(0x40)
            mstore(0x40, add(g, shl(5, w)))
        }
        CodeStore.load(_modelColumn[completedRounds][column], 0, w, g);
        for (uint256 i = first - 1; i < n; ++i) {
            _scoreRelayed(round, column, i, words[i * w:(i + 1) * w], g);
        }
    }

    function _scoreRelayed(uint256 round, uint256 column, uint256 i, uint256[] calldata mine, uint256 g) internal {
        if (column != 0) {
            (uint256 from, uint256 to) = _columnRange(column);
            _checkWords(mine, from, to);
        }
        _entry[round][entrant[round][i]] += _sliceDistance(mine, g) << 128;
    }
}
