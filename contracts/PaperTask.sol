// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {BatchEngine} from "./BatchEngine.sol";
import {CodeStore} from "./lib/CodeStore.sol";
import {ColumnMath} from "./lib/ColumnMath.sol";

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
    /// @notice No relay once the round's seed is sealed, a column sent or relayed updates dropped.
    error RelayClosed(uint256 round);
    error SeedAlreadySealed(uint256 round);
    /// @notice Column 0 must run in the armed block (or after `sealSeed` took its randomness).
    error SeedNotArmed(uint256 round, uint256 armedBlock);
    error DropTooEarly(uint256 round, uint256 droppableAt);
    error NothingRelayed(uint256 round);
    error BadDrop(uint256 round, uint256 dropped);
    /// @notice The heads given to `drop` are not the list's.
    error HeadsMismatch(uint256 round);

    event SeedArmed(uint256 indexed round, uint256 seedBlock);
    event SeedSealed(uint256 indexed round, bytes32 seed);
    event Dropped(uint256 indexed round, address indexed participant, uint256 index);

    /// @notice The block whose randomness seals the round's seed (round << 128 | block number).
    uint256 public seedArm;
    /// @dev Fold of every head on the current list (what a drop must open).
    bytes32 internal _headsFold;
    /// @dev The latest round with a drop << 128 | columns paid before its drops (no relay
    ///      after a drop; fees only up to columnCount in all).
    uint256 internal _dropRound;

    /// @dev The EIP-712 domain separator, fixed at deployment for the chain it was deployed
    ///      on (recomputed if the chain id ever changes: a fork).
    bytes32 internal immutable _domainSeparator;
    uint256 internal immutable _deployChainId;

    constructor(BatchSettings memory s) payable BatchEngine(s) {
        _deployChainId = block.chainid;
        _domainSeparator = _domain();
    }

    /// @notice Posts words [post*postWords, ...) of the caller's update for `round`; posts
    ///         go in order, and the last one puts the update on the round's list.
    /// @param round the current round.
    /// @param post the caller's next post (0 first).
    /// @param words the post's packed words (16 int16 lanes each, unused lanes 0).
    /// @param nextLink the link of the update's next post (0 for the last): the reverse
    ///        hash chain over columns that binds the update for the column transactions.
    function submit(uint256 round, uint256 post, uint256[] calldata words, bytes32 nextLink) external {
        uint256 distance = _distanceToModel(words, post * postWords, completedRounds);
        if (_post(round, post, words, nextLink, distance) && roundEntrants == maxParticipants) _armSeed(round);
    }

    /// @notice Lists signed updates carried for their owners after the posted ones (anyone
    ///         may relay): only their head links cross here, checked against the owners'
    ///         signatures; their words come in the column transactions like everyone's.
    ///         Before the posting deadline only a relay that takes every seat is accepted.
    ///         Several relays may follow one another until the round's seed is sealed. A
    ///         relayed update whose words nobody supplies (or whose lanes are out of range)
    ///         can stall the columns only until `drop` sheds it.
    /// @param round the current round.
    /// @param heads each relayed update's head link (link 0: it binds every word).
    /// @param signatures each relayed update's owner and its signature of the EIP-712
    ///        `relayDigest(round, head)`, in the same order.
    function relay(uint256 round, bytes32[] calldata heads, Signature[] calldata signatures) external {
        uint256 posted = _openRelay(round, signatures.length, heads.length);
        bytes32 fold = _columnFold;
        for (uint256 j; j < heads.length; ++j) {
            _enlistRelayed(round, posted + j, _signer(round, heads[j], signatures[j], posted + j), 0, heads[j]);
            fold = keccak256(abi.encode(fold, heads[j]));
        }
        _columnFold = fold;
        _headsFold = fold;
        roundEntrants = posted + heads.length;
        _armSeed(round);
    }

    /// @dev Whether `count` updates may be relayed now; returns how many are listed already
    ///      and marks where the relayed ones start.
    function _openRelay(uint256 round, uint256 count, uint256 headsLength) internal returns (uint256 posted) {
        _checkOpenRound(round);
        if (columnCursor != 0 || uint64(_seed) == round || _dropRound >> 128 == round) revert RelayClosed(round);
        if (count == 0 || headsLength != count) revert WrongLength(headsLength, count);
        posted = roundEntrants;
        uint256 first = _relayedFrom(round);
        uint256 relayed = (first == 0 ? 0 : posted + 1 - first) + count;
        if (relayed > maxRelayed) revert TooManyRelayed(relayed, maxRelayed);
        uint256 n = posted + count;
        if (n > maxParticipants) revert RoundFull(round, maxParticipants);
        // A relayer can leave updates out, so it may not close posting early: whoever it
        // left out can post until the deadline.
        if (n < maxParticipants && block.timestamp < postDeadline) revert PostingOpen(round, postDeadline);
        if (first == 0) _relayed = (round << 128) | (posted + 1);
    }

    /// @notice Fixes the round's seed (duplicate samples, replay table) once posting is
    ///         closed: a call arms the block SEED_LAG (2) ahead, and a call in that block (or
    ///         column 0 sent in it) takes that block's RANDAO value, which neither the sender
    ///         nor the arming block's proposer knew when arming, and no producer can grind (one
    ///         can only withhold: a call after the armed block arms again; one before it
    ///         reverts `SeedNotArmed`). The last post or relay that fills the round arms it too.
    /// @param round the current round, posting closed, seed not yet sealed.
    function sealSeed(uint256 round) external {
        _checkClosedRound(round);
        if (uint64(_seed) == round) revert SeedAlreadySealed(round);
        uint256 at = _ofRound(seedArm, round);
        if (at == block.number) {
            _seed = (uint256(_randomness(round)) >> 64 << 64) | round;
            emit SeedSealed(round, bytes32(_seed));
        } else {
            if (at > block.number) revert SeedNotArmed(round, at);
            _armSeed(round);
        }
    }

    /// @notice Sheds relayed updates that stall the round (their words withheld, never
    ///         known, or out of range in some column): from `postDeadline + aggregationTimeout`
    ///         anyone may drop relayed updates; the rest keep their order and the columns
    ///         start again from column 0 (paid only while the round's columnCount fees last). Posted updates, whose
    ///         words are public and checked, cannot be dropped. Whoever sends it chooses the
    ///         relayed updates to leave out, as a relayer does; an owner who cannot risk that
    ///         posts itself.
    /// @param round the current round.
    /// @param heads the head link of every update on the list, in list order (posted ones
    ///        from their posts, relayed ones from the relay transactions).
    /// @param dropped bit j set: the j-th relayed update is dropped (at least one).
    function drop(uint256 round, bytes32[] calldata heads, uint256 dropped) external {
        _checkOpenRound(round);
        uint256 at = postDeadline + aggregationTimeout;
        if (block.timestamp < at) revert DropTooEarly(round, at);
        uint256 first = _relayedFrom(round);
        if (first == 0) revert NothingRelayed(round);
        first -= 1;
        uint256 n = roundEntrants;
        if (heads.length != n) revert WrongLength(heads.length, n);
        // n - first <= MAX_SEATS = 256 relayed updates: bits past them must be clear
        if (dropped == 0 || (n - first < 256 && dropped >> (n - first) != 0)) revert BadDrop(round, dropped);
        bytes32 fold = bytes32(round);
        bytes32 kept = fold;
        uint256 k = first;
        for (uint256 i; i < n; ++i) {
            fold = keccak256(abi.encode(fold, heads[i]));
            if (i < first) {
                kept = keccak256(abi.encode(kept, heads[i]));
            } else if ((dropped >> (i - first)) & 1 == 0) {
                kept = keccak256(abi.encode(kept, heads[i]));
                _moveEntry(round, i, k++);
            } else {
                address who = entrant(round, i);
                _setEntry(round, who, REFUSED | (postCount << 8));
                emit Dropped(round, who, i);
            }
        }
        if (fold != _headsFold) revert HeadsMismatch(round);
        roundEntrants = k;
        _columnFold = kept;
        _headsFold = kept;
        uint256 paid = _ofRound(_dropRound, round);
        _dropRound = round << 128 | (paid + columnCursor);
        columnCursor = 0;
        _relayed = k > first ? (round << 128) | (first + 1) : 0;
    }

    /// @notice 1 + list index of `round`'s first relayed update (0: none relayed, or not
    ///         known any more: a later round was relayed). Relayed updates follow the
    ///         posted ones on the list.
    function relayedFrom(uint256 round) external view returns (uint256) {
        return _relayedFrom(round);
    }

    /// @notice The EIP-712 digest a participant signs to have its update for `round`, whose
    ///         head link is `head`, carried by a relayer (eth_signTypedData_v4 of
    ///         Update(round, head) in the domain {name "fedchain", version "1", this chain,
    ///         this task}).
    function relayDigest(uint256 round, bytes32 head) public view returns (bytes32) {
        bytes32 domain = block.chainid == _deployChainId ? _domainSeparator : _domain();
        return keccak256(abi.encodePacked(hex"1901", domain, keccak256(abi.encode(UPDATE_TYPEHASH, round, head))));
    }

    function _domain() internal view returns (bytes32) {
        return keccak256(
            abi.encode(_DOMAIN_TYPEHASH, keccak256("fedchain"), keccak256("1"), block.chainid, address(this))
        );
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

    function _armSeed(uint256 round) internal {
        seedArm = round << 128 | (block.number + SEED_LAG);
        emit SeedArmed(round, block.number + SEED_LAG);
    }

    function _randomness(uint256 round) internal view returns (bytes32) {
        return keccak256(abi.encode(block.prevrandao, address(this), round));
    }

    /// @dev Column 0 without a sealed seed takes the armed block's randomness, in that block.
    function _columnSeed(uint256 round) internal view override returns (bytes32) {
        uint256 arm = seedArm;
        if (arm != (round << 128 | block.number)) revert SeedNotArmed(round, _ofRound(arm, round));
        return _randomness(round);
    }

    /// @dev Fees of a round never exceed its reserve's columnCount fees: after a drop the
    ///      columns sent again are paid only while the round's earlier passes left fees over.
    function _columnFee(uint256 round, uint256 column) internal view override returns (uint256) {
        uint256 drops = _dropRound;
        if (drops >> 128 != round) return keeperFee;
        return uint128(drops) + column < columnCount ? keeperFee : 0;
    }

    /// @dev Moves the relayed update at list index `from` to `to` (< from).
    function _moveEntry(uint256 round, uint256 from, uint256 to) internal {
        uint256 seat = _seats[from];
        _seats[to] = seat;
        address who = address(uint160(seat));
        _entries[who] = (_entry(round, who) & ~(uint256(0xffff) << 40)) | (to << 40);
    }

    /// @dev Relayed updates' distances so far in the current round, four 64-bit lanes per
    ///      slot by list index (slot i >> 2, lane i & 3). Column 0 rewrites the slots it
    ///      touches, so a slot serves every round for 5,000 gas instead of a fresh 22,100,
    ///      and four updates share each write of the later columns.
    mapping(uint256 => uint256) internal _relayedDistance;

    /// @dev PAPER: the mean distance per parameter to the round's starting model (a posted
    ///      update's in its entry, a relayed one's in `_relayedDistance`).
    function _score(uint256 round, uint256 i, address who) internal view override returns (uint256) {
        uint256 first = _relayedFrom(round);
        uint256 distance = first != 0 && i + 1 >= first
            ? uint64(_relayedDistance[i >> 2] >> ((i & 3) << 6))
            : _entry(round, who) >> 128;
        return distance / paramCount;
    }

    /// @dev MEAN with relayed updates: one pass over the column computes the new model and
    ///      each relayed update's distance to the starting model (the words are loaded, split
    ///      and looped over once, and the old word once per model word instead of once per
    ///      update). Sorted rules measure in `_afterColumn`.
    function _writeColumn(uint256 round, uint256 column, uint256[] calldata words, uint256 n, uint256 w)
        internal
        override
        returns (address store)
    {
        uint256 first = _relayedFrom(round);
        if (first == 0 || _trimmedCount(n) != 0) return super._writeColumn(round, column, words, n, w);
        first -= 1;
        (uint256 old, uint256 accs) = _scratch(column, w, n - first);
        store = CodeStore.deploy(_fusedColumn(words, n, w, first, old, accs), w);
        _addDistances(column, first, n, accs);
    }

    /// @dev The MEAN column's data contract code (see `_writeColumn`), with the relayed
    ///      updates' slot distances added up at `accs`.
    function _fusedColumn(uint256[] calldata words, uint256 n, uint256 w, uint256 first, uint256 old, uint256 accs)
        internal
        pure
        returns (uint256 code)
    {
        uint256 data;
        (code, data) = CodeStore.alloc(w);
        uint256 p;
        assembly {
            p := words.offset
        }
        // p walks the first update's words; each step sums word j of every update.
        for (uint256 end = p + 32 * w; p < end; p += 32) {
            (uint256 even, uint256 odd) = _meanAndDistances(p, first, n, w, old, accs);
            uint256 word = ColumnMath.packMeans(even, odd, n, SIGN_BIAS);
            assembly {
                mstore(data, word)
                data := add(data, 0x20)
                old := add(old, 0x20)
            }
        }
    }

    /// @dev The starting model's column (w words) and `k` accumulators, in memory.
    function _scratch(uint256 column, uint256 w, uint256 k) internal view returns (uint256 old, uint256 accs) {
        old = _loadColumn(_modelColumn[completedRounds][column], w);
        assembly {
            accs := mload(0x40)
            mstore(0x40, add(accs, shl(5, k)))
        }
        // 2 per 32-bit slot per word: the + 1 per slot that `_meanAndDistances` leaves out
        uint256 start = (2 * w) * 0x0000000100000001000000010000000100000001000000010000000100000001;
        for (uint256 i; i < k; ++i) {
            assembly {
                mstore(add(accs, shl(5, i)), start) // memory past the free pointer may hold scratch
            }
        }
    }

    /// @dev Adds each relayed update's distance in this column (list entries [first, n),
    ///      SWAR accumulators of 32-bit slots at `accs`) to `_relayedDistance`.
    function _addDistances(uint256 column, uint256 first, uint256 n, uint256 accs) internal {
        for (uint256 k = first >> 2; k << 2 < n; ++k) {
            uint256 packed = column == 0 ? 0 : _relayedDistance[k];
            for (uint256 lane; lane < 4; ++lane) {
                uint256 i = (k << 2) | lane;
                if (i < first || i >= n) continue;
                uint256 acc;
                assembly {
                    acc := mload(add(accs, shl(5, sub(i, first))))
                }
                uint256 total;
                for (; acc != 0; acc >>= 32) {
                    total += acc & 0xffffffff;
                }
                packed += total << (lane << 6);
            }
            _relayedDistance[k] = packed;
        }
    }

    /// @dev One word of the column at calldata `p` (update 0's copy): the slot sums of all n
    ///      updates (as `_meanWord`) and, for updates [first, n), |v - g| per 32-bit slot
    ///      against the starting model's word at memory `g`, added to their accumulators at
    ///      `accs` (which start at 2 per slot per word: see below). Parameters are reused
    ///      as locals (stack depth).
    function _meanAndDistances(uint256 p, uint256 first, uint256 n, uint256 w, uint256 g, uint256 accs)
        internal
        pure
        returns (uint256 even, uint256 odd)
    {
        assembly {
            let low16 := 0x0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff
            let sign := SIGN_LANES
            w := shl(5, w) // the stride between updates
            first := add(p, mul(first, w)) // the first relayed update's word
            n := add(p, mul(n, w)) // the end
            for {} lt(p, first) { p := add(p, w) } {
                let x := xor(calldataload(p), sign)
                even := add(even, and(x, low16))
                odd := add(odd, and(shr(16, x), low16))
            }
            // d = v + (2^16 - g) per slot never borrows, and bit 16 of d is s = (v >= g).
            // Then |v - g| = (d xor (0xffff + s)) + 1 - s: d - 2^16 when s, else 2^16 - d.
            // The relayed loop sums d instead of v (k relayed updates: k (2^16 - g) too
            // many, taken off first; sums are exact mod 2^256, so a borrow on the way is
            // repaid) and leaves the + 1 per slot to the accumulators' start.
            let zo := xor(mload(g), sign)
            g := sub(0x0001000000010000000100000001000000010000000100000001000000010000, and(zo, low16))
            zo := sub(0x0001000000010000000100000001000000010000000100000001000000010000, and(shr(16, zo), low16))
            even := sub(even, mul(div(sub(n, first), w), g))
            odd := sub(odd, mul(div(sub(n, first), w), zo))
            // A literal in the loop would be copied from code on every use (few optimizer
            // runs): 1 per 32-bit slot goes in `first`, free now.
            first := 0x0000000100000001000000010000000100000001000000010000000100000001
            for {} lt(p, n) { p := add(p, w) } {
                let x := xor(calldataload(p), sign)
                let de := add(and(x, low16), g)
                x := add(and(shr(16, x), low16), zo)
                even := add(even, de)
                odd := add(odd, x)
                let se := and(shr(16, de), first)
                let so := and(shr(16, x), first)
                mstore(
                    accs,
                    sub(add(mload(accs), add(xor(de, add(low16, se)), xor(x, add(low16, so)))), add(se, so))
                )
                accs := add(accs, 0x20)
            }
        }
    }

    /// @dev Relayed updates were never posted: their lanes are checked in every column and,
    ///      under a sorted rule, their distance to the starting model is added up column by
    ///      column (MEAN measured it while writing the column).
    function _afterColumn(uint256 round, uint256 column, uint256[] calldata words, address, uint256 n, uint256 w)
        internal
        override
    {
        uint256 first = _relayedFrom(round);
        if (first == 0) return;
        first -= 1;
        (uint256 from, uint256 to) = _columnRange(column);
        for (uint256 i = first; i < n; ++i) {
            _checkWords(words[i * w:(i + 1) * w], from, to);
        }
        if (_trimmedCount(n) == 0) return;
        // the starting model's column, loaded once for every relayed update; each distance
        // (< 2^32: 16 lanes of < 2^16 in at most 767 words) as a one-slot accumulator
        (uint256 g, uint256 accs) = _scratch(column, w, n - first);
        for (uint256 i = first; i < n; ++i) {
            uint256 d = _sliceDistance(words[i * w:(i + 1) * w], g);
            assembly {
                mstore(add(accs, shl(5, sub(i, first))), d)
            }
        }
        _addDistances(column, first, n, accs);
    }
}
