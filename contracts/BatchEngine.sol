// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {CodeStore} from "./lib/CodeStore.sol";
import {ColumnKit} from "./ColumnKit.sol";
import {ColumnMath} from "./lib/ColumnMath.sol";
import {Entry, Records, Tagged} from "./lib/Records.sol";
import {
    EXIT_DELAY,
    MAX_COLUMN_BYTES,
    MAX_COLUMN_GAS,
    MAX_COLUMN_WORDS,
    MAX_DUPLICATE_DISTANCE,
    MAX_DURATION,
    MAX_POST_WORDS,
    MAX_REPLAY_ROUNDS,
    MAX_SEATS
} from "./lib/Limits.sol";
import {Hooks, IRule} from "./interfaces/IRule.sol";
import {RevenueShare} from "./RevenueShare.sol";

/// @title BatchEngine
/// @notice The data plane of a fedchain task. A round is a batch: participants post their
///         updates as calldata (nothing per parameter is stored), or have them relayed; then
///         anyone aggregates the round column by column — one transaction carries the same
///         words of every update, checks them against what was posted, computes those words
///         of the new model by the task's aggregation rule (MEAN, MEDIAN or TRIMMED_MEAN)
///         and writes them once as code. The reward rule is a separate contract (`IRule`,
///         the engine's creator) called at the points it declares (`Hooks`): who may post or
///         be relayed, what each update scores, what its escrow (stakes) does. The engine
///         pays the rewards with the last column, so there is no claim phase.
/// @dev docs/PROTOCOL.md specifies it; `ml/protocol.py` mirrors every rule bit for bit.
///
///      Links. A model of `modelWords` words is cut into `columnCount` columns of
///      `columnWords` words (the last may be shorter). An update is bound by a reverse hash
///      chain over its columns: link_c = keccak256(words_c ++ link_{c+1}), link_C = 0, so the
///      head link_0 binds every word. A post carries whole columns plus the link that follows
///      them; the contract recomputes the chain and checks it continues the previous post's.
///      A column transaction carries, per update, its words of the column and the next link;
///      the contract hashes each, folds the n links in list order and compares the fold with
///      the one stored by the previous column (the fold of the heads, for column 0): one
///      storage word per column, however many updates.
///
///      Relays. A relay lists updates by their head links only, vouched for by the rule (a
///      signature, a commitment's opening); their words come in the columns like everyone's,
///      where their lanes are checked and their distance to the starting model measured. One
///      whose words never come is shed by `drop` after `aggregationTimeout`.
///
///      Sizes. A column transaction carries maxParticipants x columnWords words; the
///      constructor refuses settings whose largest column would exceed MAX_COLUMN_BYTES of
///      calldata (public transaction pools drop transactions over 128 KiB) or MAX_COLUMN_GAS,
///      so no sequence of posts and relays can make a legal column too large to send.
contract BatchEngine is RevenueShare {
    /*//////////////////////////////////////////////////////////////
                                 TYPES
    //////////////////////////////////////////////////////////////*/

    /// @notice Deployment settings (immutable except the access price).
    /// @param paramCount number of model parameters N.
    /// @param valueBits B: each parameter is a signed B-bit integer, 2 <= B <= 16.
    /// @param fracBits fractional bits of the fixed-point format (informational).
    /// @param postDuration seconds the posting phase of a round lasts (at most).
    /// @param minParticipants quorum: with fewer accepted updates the round keeps the model.
    /// @param maxParticipants updates per round (seats).
    /// @param accessPrice wei per access licence.
    /// @param aggregation MEAN (0), MEDIAN (1) or TRIMMED_MEAN (2).
    /// @param trim TRIMMED_MEAN: values dropped at each end of every coordinate.
    /// @param postWords words per post transaction: a multiple of columnWords.
    /// @param columnWords words of each update per column transaction.
    /// @param duplicateDistance updates of a round within this mean distance per parameter
    ///        of each other, on every sampled word that moved, earn nothing (0: off).
    /// @param replayRounds an exact replay of an update accepted in the last this-many
    ///        rounds earns nothing (0: off).
    /// @param keeperFee wei paid from the round's reserve to the sender of each column.
    /// @param maxRelayed updates a round's relay may carry (at most maxParticipants): the
    ///        column gas bound counts each relayable seat's proof and words, so a task with
    ///        more seats than a fully relayed column can hold relays fewer, or none.
    /// @param aggregationTimeout seconds after the posting deadline from which a stalled
    ///        round sheds what blocks it (PAPER: relayed updates nobody supplies), and after
    ///        twice this anyone may abandon it whatever its quorum (0 < timeout <= MAX_DURATION).
    struct BatchSettings {
        uint256 paramCount;
        uint256 valueBits;
        uint256 fracBits;
        uint256 postDuration;
        uint256 minParticipants;
        uint256 maxParticipants;
        uint256 accessPrice;
        uint256 aggregation;
        uint256 trim;
        uint256 postWords;
        uint256 columnWords;
        uint256 duplicateDistance;
        uint256 replayRounds;
        uint256 keeperFee;
        uint256 maxRelayed;
        uint256 aggregationTimeout;
    }

    /// @notice What a rule declares to its engine: the hooks it wants called (`Hooks`), the
    ///         seconds between a round's opening and its posting phase (a commit phase), the
    ///         gas its hooks add to the last column (per column, per seat), and the largest
    ///         reward it pays one update (each round reserves it for every seat).
    struct RuleSpec {
        uint256 hooks;
        uint256 postingDelay;
        uint256 gasPerColumn;
        uint256 gasPerSeat;
        uint256 maxReward;
    }

    /// @notice The task's state in one read, for clients, keepers and rules: the open (or
    ///         next) round, its phase, list and columns, what its relay and seed stand at,
    ///         and the money (reward pool, the round's reserve, wei owed, the rule's escrow).
    struct RoundView {
        uint256 round;
        bool open;
        bool postingClosed;
        uint256 postDeadline;
        uint256 entrants;
        uint256 columnCursor;
        uint256 completedRounds;
        uint256 relayedFrom;
        uint256 seedArm;
        bytes32 seed;
        uint256 rewardPool;
        uint256 roundReserve;
        uint256 totalOwed;
        uint256 escrowed;
        uint256 endedAt;
        uint256 initialColumns;
    }

    /*//////////////////////////////////////////////////////////////
                                CONSTANTS
    //////////////////////////////////////////////////////////////*/

    uint256 internal constant MEAN = 0;
    uint256 internal constant MEDIAN = 1;
    uint256 internal constant TRIMMED_MEAN = 2;
    /// @dev Upper bounds (measured, with margin) for `columnGasBound`: per column; per seat
    ///      (replay check, settlement); per pair of seats (duplicate samples); per word of
    ///      one update (calldata, load, sum, link); per comparator and column word (sorting);
    ///      per word of the new model (its code, the rounded means).
    uint256 internal constant GAS_COLUMN_BASE = 300_000;
    uint256 internal constant GAS_PER_SEAT = 100_000;
    uint256 internal constant GAS_PER_PAIR = 1_000;
    uint256 internal constant GAS_PER_UPDATE_WORD = 1_000;
    uint256 internal constant GAS_PER_COMPARATOR_WORD = 320;
    uint256 internal constant GAS_PER_MODEL_WORD = 8_000;
    /// @dev Column gas a relay may add per relayed update (its proof, its seat; column 0) and
    ///      per relayed word (head, lanes, distance), counted for maxRelayed seats.
    uint256 internal constant GAS_PER_RELAYED_SEAT = 90_000;
    uint256 internal constant GAS_PER_RELAYED_WORD = 500;
    /// @dev Column 0's replay test: the round's head list (a data contract, the ring slot,
    ///      the kit call) and each head of an earlier round's list it looks up, counted for
    ///      replayRounds lists of maxParticipants heads.
    uint256 internal constant GAS_REPLAY_LIST = 80_000;
    uint256 internal constant GAS_PER_REPLAY_HEAD = 550;
    /// @dev Column gas per seat and word when the rule measures distances to the new model.
    uint256 internal constant GAS_PER_NEW_WORD = 600;
    /// @dev Blocks between arming a seed and the block whose RANDAO value it takes: the
    ///      proposer of the arming block knows the next block's value (its own reveal), not
    ///      the one after.
    uint256 internal constant SEED_LAG = 2;
    /// @dev Words of each column compared pairwise for near-duplicates.
    uint256 internal constant DUPLICATE_SAMPLES = 2;

    /// @dev 1 in every 32-bit lane: a 16-bit lane of the word at even and odd positions.
    uint256 private constant _ONES32 = 0x0000000100000001000000010000000100000001000000010000000100000001;

    /*//////////////////////////////////////////////////////////////
                                 EVENTS
    //////////////////////////////////////////////////////////////*/

    event PoolFunded(address indexed from, uint256 amount, uint256 pool);
    event RoundStarted(uint256 indexed round, uint256 postDeadline, uint256 reserve);
    event Posted(uint256 indexed round, address indexed participant, uint256 post, uint256 index);
    event Relayed(uint256 indexed round, address indexed participant, address relayer, uint256 index, bytes32 head);
    event Dropped(uint256 indexed round, address indexed participant, uint256 index);
    event SeedArmed(uint256 indexed round, uint256 seedBlock);
    event SeedSealed(uint256 indexed round, bytes32 seed);
    event ColumnAggregated(uint256 indexed round, uint256 column, address store, address keeper, uint256 fee);
    event Rewarded(uint256 indexed round, address indexed participant, uint256 score, uint256 reward, bool duplicate,
        bool replay);
    event RoundFinalized(uint256 indexed round, uint256 version, uint256 participants);
    event RoundAbandoned(uint256 indexed round, uint256 participants);
    /// @notice The rule put wei in its escrow (a stake); it says when it releases or forfeits it.
    event Escrowed(uint256 escrowed);
    event Withdrawn(address indexed account, uint256 owed, uint256 revenue);
    event TaskEnded(uint256 sweepableAt);
    event Swept(address indexed to, uint256 amount);

    /*//////////////////////////////////////////////////////////////
                                 ERRORS
    //////////////////////////////////////////////////////////////*/

    error ZeroParamCount();
    error BadValueBits(uint256 valueBits);
    error BadFracBits(uint256 fracBits, uint256 valueBits);
    error BadParticipantBounds(uint256 minParticipants, uint256 maxParticipants);
    error TooManyParticipants(uint256 maxParticipants, uint256 limit);
    error BadMaxRelayed(uint256 maxRelayed, uint256 maxParticipants);
    error BadReplayRounds(uint256 replayRounds, uint256 limit);
    error TooManyRelayed(uint256 relayed, uint256 maxRelayed);
    error BadDuration(uint256 duration, uint256 limit);
    error BadDuplicateDistance(uint256 duplicateDistance, uint256 limit);
    error FeeTooLarge(uint256 keeperFee, uint256 limit);
    error BadColumnWords(uint256 columnWords, uint256 limit);
    error BadPostWords(uint256 postWords, uint256 columnWords);
    error ColumnTooLarge(uint256 bytes_, uint256 limit);
    error ColumnTooCostly(uint256 gas, uint256 limit);
    error BadAggregation(uint256 aggregation);
    error RewardsTooLarge(uint256 topReward, uint256 maxParticipants);
    error NotOwner(address caller);
    error ModelLocked();
    error RoundNotOpen(uint256 round);
    error RoundStillOpen(uint256 round);
    error WrongRound(uint256 given, uint256 current);
    error PostingOpen(uint256 round, uint256 postDeadline);
    error PostingClosed(uint256 round);
    error AlreadyPosted(address participant, uint256 round);
    error RoundFull(uint256 round, uint256 maxParticipants);
    error WrongPost(uint256 given, uint256 expected);
    error WrongColumn(uint256 given, uint256 expected);
    error WrongLength(uint256 given, uint256 expected);
    error ValueOutOfRange(uint256 word, uint256 lanes);
    error NonZeroPadding(uint256 word);
    error BrokenLink(uint256 round, uint256 post);
    error ColumnMismatch(uint256 round, uint256 column);
    error NoQuorum(uint256 round, uint256 participants, uint256 minParticipants);
    error QuorumReached(uint256 round, uint256 participants, uint256 abandonableAt);
    error InsufficientPool(uint256 required, uint256 available);
    error NothingToWithdraw(address account);
    error TransferFailed(address to, uint256 amount);
    error Reentrancy();
    error TaskIsEnded();
    error SweepTooEarly(uint256 sweepableAt, uint256 nowTime);
    /// @notice A hook-only function called by someone other than the task's rule.
    error NotRule();
    /// @notice The rule moved more of its escrow than it holds.
    error EscrowExceeded(uint256 amount, uint256 escrowed);
    /// @notice The rule answered a hook with the wrong number of entries (owners of the
    ///         relayed updates, or scores and rewards of the listed ones).
    error BadRuleReply();
    /// @notice The rule paid an update more than its declared `maxReward`.
    error RewardTooLarge(uint256 reward, uint256 maxReward);
    /// @notice No relay once the round's seed is sealed, a column sent or relayed updates dropped.
    error RelayClosed(uint256 round);
    error SeedAlreadySealed(uint256 round);
    /// @notice Column 0 must run in the armed block (or after `sealSeed` took its randomness).
    error SeedNotArmed(uint256 round, uint256 armedBlock);
    /// @notice The rule supplies the seed (`Hooks.SEED`): there is nothing to seal.
    error RuleSeeds();
    error DropTooEarly(uint256 round, uint256 droppableAt);
    error NothingRelayed(uint256 round);
    error BadDrop(uint256 round, uint256 dropped);
    /// @notice The heads given to `drop` are not the list's.
    error HeadsMismatch(uint256 round);

    /*//////////////////////////////////////////////////////////////
                                 STORAGE
    //////////////////////////////////////////////////////////////*/

    address public immutable owner;
    /// @notice The task's reward rule (the contract that created this engine).
    IRule public immutable rule;
    uint256 internal immutable _hooks;
    uint256 internal immutable _postingDelay;
    uint256 internal immutable _ruleGasPerColumn;
    uint256 internal immutable _ruleGasPerSeat;
    uint256 internal immutable _maxReward;
    uint256 internal immutable paramCount;
    uint256 internal immutable valueBits;
    uint256 internal immutable fracBits;
    uint256 internal immutable modelWords;
    uint256 internal immutable columnWords;
    uint256 internal immutable columnCount;
    uint256 internal immutable postWords;
    uint256 internal immutable postCount;
    uint256 internal immutable postDuration;
    uint256 internal immutable minParticipants;
    uint256 internal immutable maxParticipants;
    uint256 internal immutable maxRelayed;
    uint256 internal immutable aggregation;
    uint256 internal immutable trim;
    uint256 internal immutable duplicateDistance;
    uint256 internal immutable replayRounds;
    uint256 internal immutable keeperFee;
    uint256 internal immutable aggregationTimeout;

    uint256 internal immutable _biasLanes;
    uint256 internal immutable _invalidLanes;
    uint256 internal immutable _lastWordPadding;
    /// @dev This task's own ColumnKit (created by the constructor): stateless column math
    ///      kept out of the task's code (EIP-170).
    ColumnKit internal immutable _kit;

    /// @notice Wei available to fund future rounds.
    uint256 internal rewardPool;
    /// @notice Wei locked by the open round for its rewards and keeper fees.
    uint256 internal roundReserve;
    /// @notice Wei credited (rewards, fees) and not yet withdrawn.
    uint256 internal totalOwed;
    /// @notice Wei the rule holds here (stakes), released or forfeited only by the rule.
    uint256 internal escrowed;
    /// @notice The open (or next) round.
    uint256 internal currentRound;
    /// @notice Time `endTask` was called (0: the task runs); no round opens after it.
    uint256 internal endedAt;
    /// @notice Whether the current round exists and has not been finalized or abandoned.
    bool internal roundOpen;
    uint256 internal postDeadline;
    /// @notice Updates on the current round's list (complete posts, in order).
    uint256 internal roundEntrants;
    /// @notice Next column to aggregate in the current round.
    uint256 internal columnCursor;
    /// @notice Model versions written (0: the initial model).
    uint256 internal completedRounds;
    mapping(uint256 => uint256) public roundVersion;
    /// @dev `settings()`, written once by the constructor (a copy of the immutables: 18 of
    ///      them in one view would cost ~600 bytes of code).
    uint256[18] internal _settings;
    /// @notice Initial model columns written so far (round 1 needs all).
    uint256 internal initialColumns;
    /// @notice The block whose randomness seals the round's seed (round << 128 | block number).
    Tagged internal seedArm;

    /// @dev List index -> address of the update at that index | round << 160 (keyed without
    ///      the round, so a reused index rewrites a live slot; history is in the events).
    mapping(uint256 => uint256) internal _seats;
    mapping(address => Entry) internal _entries;
    /// @dev Participant -> link its next post must start with (read only by a post that
    ///      follows one of the current round: its entry says so).
    mapping(address => bytes32) internal _cursor;
    /// @dev Participant -> head link of its multi-post update (set by its first post).
    mapping(address => bytes32) internal _headOf;
    /// @dev Fold of the links the next column must open (keccak chain over the list).
    bytes32 internal _columnFold;
    /// @dev Fold of every head on the current list (what a drop must open).
    bytes32 internal _headsFold;
    /// @dev The latest round's seed of its duplicate samples (its low 64 bits: the round).
    uint256 internal _seed;
    /// @dev Bitmap word -> pairs (a * n + b) of the current round refuted / confirmed as near
    ///      duplicates (column 0 rewrites every word the round uses).
    mapping(uint256 => uint256) internal _refuted;
    mapping(uint256 => uint256) internal _confirmed;
    /// @dev Bitmap of the current round's list indices whose head link replays a recent
    ///      accepted update (rewritten by column 0: at most MAX_SEATS = 256 indices).
    uint256 internal _replays;
    /// @dev Round % (replayRounds + 1) -> data contract of that round's head links (their
    ///      first 16 bytes, in list order) | round << 160: a ring of the last rounds' lists,
    ///      one slot each, rewritten (a head costs 3,200 gas of code instead of a fresh
    ///      22,100-gas slot). 128 bits suffice: a collision only flags an update as a
    ///      replay, and flagging someone else's needs a second preimage.
    mapping(uint256 => uint256) internal _headLists;
    /// @dev This round's head list (as a ring slot), put on the ring when the round is
    ///      finalized: an abandoned round's heads were never accepted, so they replay nothing.
    uint256 internal _pendingHeads;
    /// @dev Version -> column -> data contract holding that column of the model.
    mapping(uint256 => mapping(uint256 => address)) internal _modelColumn;
    /// @dev The latest relay's round << 128 | 1 + list index of its first relayed update.
    Tagged internal _relayed;
    /// @dev The latest round with a drop << 128 | columns paid before its drops (no relay
    ///      after a drop; fees only up to columnCount in all).
    Tagged internal _dropRound;
    /// @dev Distances so far in the current round, four 64-bit lanes per slot by list index
    ///      (slot i >> 2, lane i & 3): relayed updates' to the starting model (`_fromOld`),
    ///      every update's to the new model (`_toNew`, when the rule asks). Column 0
    ///      rewrites the slots it touches, so a slot serves every round for 5,000 gas.
    mapping(uint256 => uint256) internal _fromOld;
    mapping(uint256 => uint256) internal _toNew;

    /*//////////////////////////////////////////////////////////////
                               CONSTRUCTOR
    //////////////////////////////////////////////////////////////*/

    /// @param s the task's settings.
    /// @param owner_ the task's owner (the rule's deployer): writes the initial model, opens
    ///        round 1, sets the access price, ends the task and sweeps.
    /// @param spec what the rule (msg.sender) declares.
    constructor(BatchSettings memory s, address owner_, RuleSpec memory spec) payable RevenueShare(s.accessPrice) {
        if (s.paramCount == 0) revert ZeroParamCount();
        if (s.valueBits < 2 || s.valueBits > 16) revert BadValueBits(s.valueBits);
        if (s.fracBits >= s.valueBits) revert BadFracBits(s.fracBits, s.valueBits);
        if (s.minParticipants == 0 || s.minParticipants > s.maxParticipants) {
            revert BadParticipantBounds(s.minParticipants, s.maxParticipants);
        }
        if (s.maxParticipants > MAX_SEATS) revert TooManyParticipants(s.maxParticipants, MAX_SEATS);
        if (s.maxRelayed > s.maxParticipants) revert BadMaxRelayed(s.maxRelayed, s.maxParticipants);
        if (s.replayRounds > MAX_REPLAY_ROUNDS) revert BadReplayRounds(s.replayRounds, MAX_REPLAY_ROUNDS);
        _checkDuration(s.postDuration);
        _checkDuration(s.aggregationTimeout);
        if (s.duplicateDistance > MAX_DUPLICATE_DISTANCE) {
            revert BadDuplicateDistance(s.duplicateDistance, MAX_DUPLICATE_DISTANCE);
        }
        uint256 words = (s.paramCount + 15) / 16;
        if (s.columnWords == 0 || s.columnWords > MAX_COLUMN_WORDS) {
            revert BadColumnWords(s.columnWords, MAX_COLUMN_WORDS);
        }
        uint256 column = s.columnWords < words ? s.columnWords : words;
        // selector + 4 head words (round, column, two offsets) + 2 length words, then the
        // n x w words and the n next links.
        uint256 columnBytes = 4 + 32 * 6 + 32 * s.maxParticipants * (column + 1);
        if (columnBytes > MAX_COLUMN_BYTES) revert ColumnTooLarge(columnBytes, MAX_COLUMN_BYTES);
        ColumnKit kit = new ColumnKit();
        _kit = kit;
        uint256 gasBound = _ruleGas(s.maxParticipants, column, spec.hooks, spec.gasPerColumn, spec.gasPerSeat);
        gasBound = _columnGasBound(kit, s.maxParticipants, s.maxRelayed, column, s.aggregation == 0 ? 0 : 1,
            s.replayRounds * s.maxParticipants, gasBound);
        if (gasBound > MAX_COLUMN_GAS) revert ColumnTooCostly(gasBound, MAX_COLUMN_GAS);
        if (s.postWords == 0 || s.postWords % column != 0 || s.postWords > MAX_POST_WORDS) {
            revert BadPostWords(s.postWords, column);
        }
        if (s.aggregation > TRIMMED_MEAN) revert BadAggregation(s.aggregation);
        uint256 top = spec.maxReward;
        if (top > type(uint128).max / s.maxParticipants) revert RewardsTooLarge(top, s.maxParticipants);
        // the reserve (top x seats + fee x columns) stays below 2^129: startRound cannot overflow
        if (s.keeperFee > type(uint128).max / MAX_SEATS) revert FeeTooLarge(s.keeperFee, type(uint128).max / MAX_SEATS);

        owner = owner_;
        rule = IRule(msg.sender);
        _hooks = spec.hooks;
        _postingDelay = spec.postingDelay;
        _ruleGasPerColumn = spec.gasPerColumn;
        _ruleGasPerSeat = spec.gasPerSeat;
        paramCount = s.paramCount;
        valueBits = s.valueBits;
        fracBits = s.fracBits;
        modelWords = words;
        columnWords = column;
        columnCount = (words + column - 1) / column;
        postWords = s.postWords < words ? s.postWords : words;
        postCount = (words + s.postWords - 1) / s.postWords;
        postDuration = s.postDuration;
        minParticipants = s.minParticipants;
        maxParticipants = s.maxParticipants;
        maxRelayed = s.maxRelayed;
        aggregation = s.aggregation;
        trim = s.trim;
        duplicateDistance = s.duplicateDistance;
        replayRounds = s.replayRounds;
        keeperFee = s.keeperFee;
        aggregationTimeout = s.aggregationTimeout;
        _settings = [s.paramCount, s.valueBits, s.fracBits, words, column, (words + column - 1) / column,
            s.postWords < words ? s.postWords : words, (words + s.postWords - 1) / s.postWords, s.postDuration,
            s.minParticipants, s.maxParticipants, s.maxRelayed, s.aggregation, s.trim, s.duplicateDistance,
            s.replayRounds, s.keeperFee, s.aggregationTimeout];
        _maxReward = top;
        uint256 bias = 1 << (s.valueBits - 1);
        _biasLanes = bias * _ONES32;
        _invalidLanes = (0xffff ^ ((1 << s.valueBits) - 1)) * _ONES32;
        uint256 used = s.paramCount % 16;
        _lastWordPadding = used == 0 ? 0 : type(uint256).max << (16 * used);
        if (msg.value != 0) {
            rewardPool = msg.value;
            emit PoolFunded(owner_, msg.value, msg.value);
        }
    }

    /// @dev One copy of the owner check (an immutable costs 33 bytes of code at each use).
    function _checkOwner() internal view {
        if (msg.sender != owner) revert NotOwner(msg.sender);
    }

    /// @dev A phase or timeout in (0, MAX_DURATION].
    function _checkDuration(uint256 d) internal pure {
        if (d == 0 || d > MAX_DURATION) revert BadDuration(d, MAX_DURATION);
    }

    modifier nonReentrant() {
        assembly {
            if tload(0) {
                mstore(0, 0xab143c06) // Reentrancy()
                revert(0x1c, 0x04)
            }
            tstore(0, 1)
        }
        _;
        assembly {
            tstore(0, 0)
        }
    }


    /// @dev Only the task's rule (hook callbacks: its escrow).
    function _checkRule() internal view {
        if (msg.sender != address(rule)) revert NotRule();
    }

    function _has(uint256 hook) internal view returns (bool) {
        return _hooks & hook != 0;
    }

    /*//////////////////////////////////////////////////////////////
                                  OWNER
    //////////////////////////////////////////////////////////////*/

    /// @notice Adds the attached ETH to the reward pool. Anyone may fund.
    function fund() external payable {
        rewardPool += msg.value;
        emit PoolFunded(msg.sender, msg.value, rewardPool);
    }

    /// @notice Writes one column of the initial model (owner, before round 1), in order.
    /// @param column index, `initialColumns` (the next one).
    /// @param words the column's packed words (validated like any update).
    function setInitialColumn(uint256 column, uint256[] calldata words) external {
        _checkOwner();
        if (currentRound != 0) revert ModelLocked();
        if (column != initialColumns) revert WrongColumn(column, initialColumns);
        (uint256 from, uint256 to) = _columnRange(column);
        _checkWords(words, from, to);
        (uint256 code, uint256 data) = CodeStore.alloc(words.length);
        assembly {
            calldatacopy(data, words.offset, shl(5, words.length))
        }
        _modelColumn[0][column] = CodeStore.deploy(code, words.length);
        initialColumns = column + 1;
        emit ColumnAggregated(0, column, _modelColumn[0][column], msg.sender, 0);
    }

    /// @notice Sets the access price for future licences (owner).
    /// @param price wei per licence.
    function setAccessPrice(uint256 price) external {
        _checkOwner();
        _setAccessPrice(price);
    }

    /*//////////////////////////////////////////////////////////////
                                 ROUNDS
    //////////////////////////////////////////////////////////////*/

    /// @notice Ends the task: no round opens after this one (an open round still runs to
    ///         its end). After `EXIT_DELAY` the owner may `sweep` what nobody is owed.
    function endTask() external {
        _checkOwner();
        if (endedAt != 0) revert TaskIsEnded();
        endedAt = block.timestamp;
        emit TaskEnded(block.timestamp + EXIT_DELAY);
    }

    /// @notice Pays the owner the reward pool once the task has ended and `EXIT_DELAY` has
    ///         passed, whatever state the round is in: a round still open is abandoned first
    ///         (its reserve returns to the pool, accepted stakes to their owners), once its
    ///         `abandonableAt` has come too (at most the round's phases and twice the timeout).
    ///         Never touches what is owed (credited rewards, fees, returned stakes, revenue);
    ///         may be called again for revenue that reaches the pool later.
    function sweep() external nonReentrant {
        _checkOwner();
        uint256 end = endedAt;
        if (end == 0 || block.timestamp < end + EXIT_DELAY) {
            revert SweepTooEarly(end == 0 ? type(uint256).max : end + EXIT_DELAY, block.timestamp);
        }
        if (roundOpen) {
            // Once the round could be abandoned by anyone: its committers had their whole
            // reveal phase, so the owner cannot cut it short to take their stakes.
            uint256 at = abandonableAt();
            if (block.timestamp < at) revert SweepTooEarly(at, block.timestamp);
            _endRound(currentRound);
        }
        uint256 amount = rewardPool;
        if (amount == 0) revert NothingToWithdraw(msg.sender);
        rewardPool = 0;
        emit Swept(msg.sender, amount);
        (bool ok,) = msg.sender.call{value: amount}("");
        if (!ok) revert TransferFailed(msg.sender, amount);
    }

    /// @notice Opens the next round, reserving its rewards and keeper fees from the pool.
    ///         The owner opens round 1 once the initial model is complete; later rounds open
    ///         when the previous one ends, or by anyone once the pool can fund them.
    function startRound() external {
        if (currentRound == 0) {
            _checkOwner();
            if (initialColumns < columnCount) revert WrongColumn(initialColumns, columnCount);
        }
        if (roundOpen) revert RoundStillOpen(currentRound);
        _startRound(true);
    }

    /// @notice The task's settings in one read, in this order: paramCount, valueBits,
    ///         fracBits, modelWords, columnWords, columnCount, postWords, postCount,
    ///         postDuration, minParticipants, maxParticipants, maxRelayed, aggregation, trim,
    ///         duplicateDistance, replayRounds, keeperFee, aggregationTimeout (`ml.settings.TaskConfig`).
    function settings() external view returns (uint256[18] memory) {
        return _settings;
    }


    /// @notice Wei a round locks when it opens: maxParticipants x top reward + fees.
    function roundReserveNeeded() public view returns (uint256) {
        return _maxReward * maxParticipants + keeperFee * columnCount;
    }

    /// @notice The task's state in one read (see `RoundView`).
    function roundView() external view returns (RoundView memory v) {
        uint256 round = currentRound;
        v.round = round;
        v.open = roundOpen;
        v.postingClosed = postingClosed();
        v.postDeadline = postDeadline;
        v.entrants = roundEntrants;
        v.columnCursor = columnCursor;
        v.completedRounds = completedRounds;
        v.relayedFrom = _relayed.forRound(round);
        v.seedArm = seedArm.forRound(round);
        v.seed = roundSeed(round);
        v.rewardPool = rewardPool;
        v.roundReserve = roundReserve;
        v.totalOwed = totalOwed;
        v.escrowed = escrowed;
        v.endedAt = endedAt;
        v.initialColumns = initialColumns;
    }

    /// @notice An upper bound of a column transaction's gas with n seats, `relayed` of them
    ///         relayed, and w words per update, sorted (`sorts` = 1) or not, with the rule's
    ///         hooks (see `_columnGasBound`; `ml.settings.column_gas_bound` mirrors it).
    function columnGasBound(uint256 n, uint256 relayed, uint256 w, uint256 sorts) external view returns (uint256) {
        return _columnGasBound(_kit, n, relayed, w, sorts, replayRounds * maxParticipants,
            _ruleGas(n, w, _hooks, _ruleGasPerColumn, _ruleGasPerSeat));
    }

    /// @dev An upper bound of a column transaction's gas with n seats, `relayed` of them
    ///      relayed, and w words per update, sorted (`sorts` = 1: MEDIAN, TRIMMED_MEAN)
    ///      or not (MEAN); the constructor refuses settings above MAX_COLUMN_GAS with
    ///      maxParticipants seats and maxRelayed relayed, so no sequence of posts and
    ///      relays can make a legal column exceed it (ml/settings mirrors it to size
    ///      columns). It holds in the worst case a participant can arrange: every seat a
    ///      fresh account, every pair of updates a confirmed near-duplicate.
    ///      `replayHeads`: replayRounds x maxParticipants, the most heads of earlier rounds
    ///      column 0 may look up; `ruleGas`: what the rule's hooks add (`_ruleGas`).
    function _columnGasBound(
        ColumnKit kit,
        uint256 n,
        uint256 relayed,
        uint256 w,
        uint256 sorts,
        uint256 replayHeads,
        uint256 ruleGas
    ) internal view returns (uint256) {
        uint256 comparators = sorts == 0 ? 0 : kit.comparators(n);
        uint256 replays = replayHeads == 0 ? 0 : GAS_REPLAY_LIST + replayHeads * GAS_PER_REPLAY_HEAD;
        return GAS_COLUMN_BASE + n * GAS_PER_SEAT + replays + n * n * GAS_PER_PAIR
            + w * (n * GAS_PER_UPDATE_WORD + comparators * GAS_PER_COMPARATOR_WORD + GAS_PER_MODEL_WORD)
            + relayed * (GAS_PER_RELAYED_SEAT + w * GAS_PER_RELAYED_WORD) + ruleGas;
    }

    /// @dev What the rule adds: its hooks' gas, and the distances to the new model it asks for.
    function _ruleGas(uint256 n, uint256 w, uint256 hooks, uint256 perColumn, uint256 perSeat)
        internal
        pure
        returns (uint256)
    {
        uint256 toNew = hooks & Hooks.DISTANCE_TO_NEW == 0 ? 0 : n * w * GAS_PER_NEW_WORD;
        return toNew + perColumn + n * perSeat;
    }

    /// @notice Whether the current round's posting phase is over (deadline passed, every seat
    ///         taken, or the rule says so) while the round is open: columns may be sent.
    function postingClosed() internal view returns (bool) {
        if (!roundOpen) return false;
        if (block.timestamp >= postDeadline || roundEntrants >= maxParticipants) return true;
        return _has(Hooks.POSTING_OVER) && rule.postingOver(currentRound);
    }


    /// @notice Ends a round whose posting closed below quorum, or any round not finished
    ///         by `abandonableAt()` (its posting deadline plus twice `aggregationTimeout`),
    ///         whatever its quorum or columns: the model stays, the reserve returns to the
    ///         pool, accepted stakes to their owners, and the next round opens if it can be
    ///         funded. The unconditional way out of every round.
    /// @param round the current round.
    function abandon(uint256 round) external {
        _checkClosedRound(round);
        uint256 n = roundEntrants;
        uint256 at = abandonableAt();
        if (n >= minParticipants && block.timestamp < at) revert QuorumReached(round, n, at);
        _endRound(round);
        _startRound(false);
    }

    /// @notice Time from which anyone may abandon the open round whatever its state.
    function abandonableAt() internal view returns (uint256) {
        return postDeadline + 2 * aggregationTimeout;
    }


    /// @dev Ends the open round without a new model: the reserve returns to the pool.
    function _endRound(uint256 round) internal {
        roundOpen = false;
        rewardPool += roundReserve;
        roundReserve = 0;
        uint256 n = roundEntrants;
        if (_has(Hooks.ROUND_END)) {
            address[] memory listed = new address[](n);
            for (uint256 i; i < n; ++i) {
                listed[i] = entrant(round, i);
            }
            rule.roundEnded(round, false, listed);
        }
        emit RoundAbandoned(round, n);
    }

    /// @notice Aggregates column `column` of the current round (anyone, after posting).
    ///         Carries that column of every update on the list, in list order, and each
    ///         update's next link; writes that column of the new model by the task's
    ///         aggregation rule and pays the sender `keeperFee`. The last column ends the
    ///         round: rewards are credited and the next round opens.
    /// @param round the current round.
    /// @param column `columnCursor` (columns go in order).
    /// @param words n x w words: update i's column at [i*w, (i+1)*w).
    /// @param nextLinks n links: update i's link after this column (0 after the last).
    function aggregate(uint256 round, uint256 column, uint256[] calldata words, bytes32[] calldata nextLinks)
        external
    {
        _checkClosedRound(round);
        uint256 n = roundEntrants;
        if (n < minParticipants) revert NoQuorum(round, n, minParticipants);
        if (column != columnCursor) revert WrongColumn(column, columnCursor);
        (uint256 from, uint256 to) = _columnRange(column);
        uint256 w = to - from;
        if (words.length != n * w) revert WrongLength(words.length, n * w);
        if (nextLinks.length != n) revert WrongLength(nextLinks.length, n);
        // The round's seed, fixed once every update is bound, in a block nobody chose; a
        // restarted column 0 keeps it.
        if (column == 0 && uint64(_seed) != round) _seed = (uint256(_columnSeed(round)) >> 64 << 64) | round;

        _checkColumnLinks(round, column, words, nextLinks, n, w);
        uint256 version = completedRounds + 1;
        address store = _writeColumn(round, column, words, n, w);
        _modelColumn[version][column] = store;
        if (duplicateDistance != 0 && n > 1) _checkDuplicates(round, column, words, n, w);
        _measure(round, column, words, store, n, w);

        uint256 fee = _columnFee(round, column);
        if (fee != 0) {
            roundReserve -= fee;
            _credit(msg.sender, fee, 0);
        }
        emit ColumnAggregated(round, column, store, msg.sender, fee);
        columnCursor = column + 1;
        if (column + 1 == columnCount) _finishRound(round, version, n);
    }

    /*//////////////////////////////////////////////////////////////
                           RELAY, SEED, DROP
    //////////////////////////////////////////////////////////////*/

    /// @notice Lists updates carried for their owners after the posted ones (anyone may
    ///         relay): only their head links cross here, vouched for by the task's rule
    ///         (`IRule.vouch`: a signature, a commitment's opening); their words come in the
    ///         column transactions like everyone's. Unless posting is over with them (every
    ///         seat taken, or the rule says so) only after the posting deadline: a relayer
    ///         can leave updates out, so whoever it left out can post until then. Several
    ///         relays may follow one another until the round's seed is sealed. A relayed
    ///         update whose words nobody supplies (or whose lanes are out of range) can stall
    ///         the columns only until `drop` sheds it.
    /// @param round the current round.
    /// @param heads each relayed update's head link (link 0: it binds every word).
    /// @param proofs what the rule asks for each (in the same order).
    function relay(uint256 round, bytes32[] calldata heads, bytes[] calldata proofs) external {
        uint256 posted = _openRelay(round, heads.length, proofs.length);
        address[] memory owners = rule.vouch(round, posted, heads, proofs);
        if (owners.length != heads.length) revert BadRuleReply();
        bytes32 fold = _columnFold;
        for (uint256 j; j < heads.length; ++j) {
            _enlistRelayed(round, posted + j, owners[j], heads[j]);
            fold = keccak256(abi.encode(fold, heads[j]));
        }
        _columnFold = fold;
        _headsFold = fold;
        roundEntrants = posted + heads.length;
        if (!postingClosed()) revert PostingOpen(round, postDeadline);
        _armSeed(round);
    }

    /// @dev A relayed update at list index `i`: it replaces a partial post of its owner's
    ///      (which counts for nothing), not a complete one.
    function _enlistRelayed(uint256 round, uint256 i, address who, bytes32 head) internal {
        if (_entry(round, who).status() >= Records.POSTED) revert AlreadyPosted(who, round);
        _seats[i] = uint160(who) | (round << 160);
        _setEntry(who, Records.entry(Records.POSTED, postCount, i, round, 0));
        emit Relayed(round, who, msg.sender, i, head);
    }

    /// @dev Whether `count` updates may be relayed now; returns how many are listed already
    ///      and marks where the relayed ones start.
    function _openRelay(uint256 round, uint256 count, uint256 proofs) internal returns (uint256 posted) {
        _checkOpenRound(round);
        if (columnCursor != 0 || uint64(_seed) == round || _dropRound.isOf(round)) revert RelayClosed(round);
        if (count == 0 || proofs != count) revert WrongLength(proofs, count);
        posted = roundEntrants;
        uint256 first = _relayed.forRound(round);
        uint256 relayed = (first == 0 ? 0 : posted + 1 - first) + count;
        if (relayed > maxRelayed) revert TooManyRelayed(relayed, maxRelayed);
        if (posted + count > maxParticipants) revert RoundFull(round, maxParticipants);
        if (first == 0) _relayed = Records.tag(round, posted + 1);
    }

    /// @notice Fixes the round's seed (duplicate samples, replay table) once posting is
    ///         closed: a call arms the block SEED_LAG (2) ahead, and a call in that block (or
    ///         column 0 sent in it) takes that block's RANDAO value, which neither the sender
    ///         nor the arming block's proposer knew when arming, and no producer can grind (one
    ///         can only withhold: a call after the armed block arms again; one before it
    ///         reverts `SeedNotArmed`). The last post or relay that fills the round arms it
    ///         too. Not for a rule that supplies the seed (`RuleSeeds`).
    /// @param round the current round, posting closed, seed not yet sealed.
    function sealSeed(uint256 round) external {
        _checkClosedRound(round);
        if (_has(Hooks.SEED)) revert RuleSeeds();
        if (uint64(_seed) == round) revert SeedAlreadySealed(round);
        uint256 at = seedArm.forRound(round);
        if (at == block.number) {
            _seed = (uint256(_randomness(round)) >> 64 << 64) | round;
            emit SeedSealed(round, bytes32(_seed));
        } else {
            if (at > block.number) revert SeedNotArmed(round, at);
            _armSeed(round);
        }
    }

    /// @notice Sheds relayed updates that stall the round (their words withheld, never
    ///         known, out of range in some column, or refused by the rule once measured): from
    ///         `postDeadline + aggregationTimeout` anyone may drop relayed updates; the rest
    ///         keep their order and the columns start again from column 0 (paid only while
    ///         the round's columnCount fees last). Posted updates, whose words are public and
    ///         checked, cannot be dropped. Whoever sends it chooses the relayed updates to
    ///         leave out, as a relayer does; an owner who cannot risk that posts itself.
    /// @param round the current round.
    /// @param heads the head link of every update on the list, in list order (posted ones
    ///        from their posts, relayed ones from the `Relayed` events).
    /// @param dropped bit j set: the j-th relayed update is dropped (at least one).
    function drop(uint256 round, bytes32[] calldata heads, uint256 dropped) external {
        _checkOpenRound(round);
        uint256 at = postDeadline + aggregationTimeout;
        if (block.timestamp < at) revert DropTooEarly(round, at);
        uint256 first = _relayed.forRound(round);
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
                _dropEntry(round, i);
            }
        }
        if (fold != _headsFold) revert HeadsMismatch(round);
        roundEntrants = k;
        _columnFold = kept;
        _headsFold = kept;
        _dropRound = Records.tag(round, _dropRound.forRound(round) + columnCursor);
        columnCursor = 0;
        _relayed = k > first ? Records.tag(round, first + 1) : Tagged.wrap(0);
    }

    /// @dev Marks the relayed update at list index `i` dropped (refused; the rule is told).
    function _dropEntry(uint256 round, uint256 i) internal {
        address who = entrant(round, i);
        _setEntry(who, Records.entry(Records.REFUSED, postCount, 0, round, 0));
        if (_has(Hooks.DROP)) rule.dropped(round, who);
        emit Dropped(round, who, i);
    }

    /// @dev Moves the relayed update at list index `from` to `to` (< from).
    function _moveEntry(uint256 round, uint256 from, uint256 to) internal {
        uint256 seat = _seats[from];
        _seats[to] = seat;
        address who = address(uint160(seat));
        _entries[who] = _entry(round, who).withIndex(to);
    }

    function _armSeed(uint256 round) internal {
        if (_has(Hooks.SEED)) return;
        seedArm = Records.tag(round, block.number + SEED_LAG);
        emit SeedArmed(round, block.number + SEED_LAG);
    }

    function _randomness(uint256 round) internal view returns (bytes32) {
        return keccak256(abi.encode(block.prevrandao, address(this), round));
    }

    /// @dev The seed of `round`'s duplicate samples and replay table, taken by column 0 after
    ///      every update is bound, which neither its sender nor one block's producer may
    ///      choose: the rule's (`Hooks.SEED`), the sealed one, or the armed block's
    ///      randomness in that block.
    function _columnSeed(uint256 round) internal view returns (bytes32) {
        if (_has(Hooks.SEED)) return rule.columnSeed(round);
        Tagged arm = seedArm;
        if (Tagged.unwrap(arm) != Tagged.unwrap(Records.tag(round, block.number))) {
            revert SeedNotArmed(round, arm.forRound(round));
        }
        return _randomness(round);
    }

    /// @dev Fees of a round never exceed its reserve's columnCount fees: after a drop the
    ///      columns sent again are paid only while the round's earlier passes left fees over.
    function _columnFee(uint256 round, uint256 column) internal view returns (uint256) {
        if (!_dropRound.isOf(round)) return keeperFee;
        return _dropRound.forRound(round) + column < columnCount ? keeperFee : 0;
    }

    /*//////////////////////////////////////////////////////////////
                              MONEY
    //////////////////////////////////////////////////////////////*/

    /// @notice The rule puts the attached wei in its escrow here (a stake).
    function deposit() external payable {
        _checkRule();
        escrowed += msg.value;
        emit Escrowed(escrowed);
    }

    /// @notice The rule returns `amount` of its escrow to `to` (credited, withdrawn with `withdraw`).
    function release(address to, uint256 amount) external {
        _checkRule();
        _takeEscrow(amount);
        _credit(to, amount, 0);
    }

    /// @notice The rule moves `amount` of its escrow to the reward pool (a forfeited stake).
    function forfeit(uint256 amount) external {
        _checkRule();
        _takeEscrow(amount);
        rewardPool += amount;
    }

    function _takeEscrow(uint256 amount) internal {
        uint256 held = escrowed;
        if (amount > held) revert EscrowExceeded(amount, held);
        escrowed = held - amount; // the rule's own events say why (a stake returned or forfeited)
    }

    /// @notice Pays the caller everything credited to it: rewards, fees and licence revenue.
    function withdraw() external nonReentrant {
        uint256 amount = _owedOf(msg.sender);
        if (amount != 0) {
            _clearOwed(msg.sender);
            totalOwed -= amount;
        }
        uint256 revenue = _takeRevenue(msg.sender);
        uint256 total = amount + revenue;
        if (total == 0) revert NothingToWithdraw(msg.sender);
        emit Withdrawn(msg.sender, amount, revenue);
        (bool ok,) = msg.sender.call{value: total}("");
        if (!ok) revert TransferFailed(msg.sender, total);
    }

    /// @notice Wei `withdraw` would pay `account` now.
    function withdrawable(address account) external view returns (uint256) {
        return _owedOf(account) + revenueOf(account);
    }


    /*//////////////////////////////////////////////////////////////
                                 VIEWS
    //////////////////////////////////////////////////////////////*/

    /// @notice Words [from, to) of model `version` (0: initial), with view calls only.
    function modelSlice(uint256 version, uint256 from, uint256 to) public view returns (uint256[] memory out) {
        if (to > modelWords || from > to) revert WrongLength(to, modelWords);
        if (version > completedRounds) revert WrongRound(version, completedRounds);
        out = new uint256[](to - from);
        uint256 dest;
        assembly {
            dest := add(out, 0x20)
        }
        // from <= i < to <= modelWords: nothing here can overflow
        unchecked {
            for (uint256 i = from; i < to;) {
                uint256 c = i / columnWords;
                uint256 stop = (c + 1) * columnWords < to ? (c + 1) * columnWords : to;
                CodeStore.load(_modelColumn[version][c], i - c * columnWords, stop - i, dest + 32 * (i - from));
                i = stop;
            }
        }
    }

    /// @notice A participant's standing in a round: status (0 none, 1 posting, 2 on the
    ///         list, 3 refused or dropped), its next post, its index on the list.
    function statusOf(uint256 round, address participant)
        external
        view
        returns (uint256 status, uint256 nextPost, uint256 index)
    {
        Entry e = _entry(round, participant);
        return (e.status(), e.nextPost(), e.index());
    }

    /// @notice Seed of `round`'s duplicate samples, fixed by its first column (after every
    ///         update is in, so no poster knows which words will be compared); 0 before
    ///         that, and again once a later round has its own.
    function roundSeed(uint256 round) public view returns (bytes32) {
        uint256 seed = _seed;
        return uint64(seed) == round ? bytes32(seed) : bytes32(0);
    }

    /// @notice Address of the update at list index `i` of `round` (the current round; an
    ///         earlier round's index reads as 0 once a later round reuses it).
    function entrant(uint256 round, uint256 i) public view returns (address) {
        uint256 s = _seats[i];
        return s >> 160 == round ? address(uint160(s)) : address(0);
    }

    /// @dev `round` is the current round and open.
    function _checkOpenRound(uint256 round) internal view {
        if (round != currentRound) revert WrongRound(round, currentRound);
        if (!roundOpen) revert RoundNotOpen(round);
    }

    /// @dev The participant's record in `round` (empty if its record is of another round).
    function _entry(uint256 round, address who) internal view returns (Entry e) {
        e = _entries[who];
        if (e.round() != round) e = Entry.wrap(0);
    }

    function _setEntry(address who, Entry e) internal {
        _entries[who] = e;
    }

    /// @notice Offset inside column `column` (of `w` words) of duplicate sample `j` of the
    ///         round whose seed is `seed`.
    function _sampleOffset(bytes32 seed, uint256 column, uint256 j, uint256 w) internal pure returns (uint256) {
        return uint256(keccak256(abi.encode(seed, column, j))) % w;
    }

    /// @notice The link a post of `words` (starting on a column boundary) opens, given the
    ///         link that follows it: the reverse chain over the columns it covers.
    function _chainLinks(uint256[] calldata words, bytes32 next) internal view returns (bytes32 link) {
        link = next;
        uint256 w = columnWords;
        uint256 end = words.length;
        // The last column of the post may be the model's short last column.
        uint256 start = ((end - 1) / w) * w;
        while (true) {
            link = _link(words[start:end], link);
            if (start == 0) break;
            end = start;
            start -= w;
        }
    }

    /*//////////////////////////////////////////////////////////////
                               INTERNAL
    //////////////////////////////////////////////////////////////*/

    function _startRound(bool mustSucceed) internal {
        if (endedAt != 0) {
            if (mustSucceed) revert TaskIsEnded();
            return;
        }
        uint256 reserve = roundReserveNeeded();
        if (reserve > rewardPool) {
            if (mustSucceed) revert InsufficientPool(reserve, rewardPool);
            return;
        }
        rewardPool -= reserve;
        roundReserve = reserve;
        uint256 round = currentRound + 1;
        currentRound = round;
        roundOpen = true;
        roundEntrants = 0;
        columnCursor = 0;
        _columnFold = bytes32(round); // never zero: the first update rewrites a live slot
        postDeadline = block.timestamp + _postingDelay + postDuration;
        if (_has(Hooks.ROUND_START)) rule.roundStarted(round, postDeadline);
        emit RoundStarted(round, postDeadline, reserve);
    }

    function _checkClosedRound(uint256 round) internal view {
        _checkOpenRound(round);
        if (!postingClosed()) revert PostingOpen(round, postDeadline);
    }

    /// @notice Posts words [post*postWords, ...) of the caller's update for `round`; posts
    ///         go in order, and the last one puts the update on the round's list (if the
    ///         rule admits it).
    /// @param round the current round.
    /// @param post the caller's next post (0 first).
    /// @param words the post's packed words (16 int16 lanes each, unused lanes 0).
    /// @param nextLink the link of the update's next post (0 for the last): the reverse
    ///        hash chain over columns that binds the update for the column transactions.
    /// @param proof what the task's rule asks of a post (CONSENSUS: post 0 opens the
    ///        commitment); empty for rules that ask nothing.
    function submit(uint256 round, uint256 post, uint256[] calldata words, bytes32 nextLink, bytes calldata proof)
        external
    {
        (Entry e, bool last) = _checkPost(round, post, words, nextLink);
        bytes32 head = _chainLinks(words, nextLink);
        if (post != 0 && head != _cursor[msg.sender]) revert BrokenLink(round, post);
        if (_has(Hooks.BEFORE_POST)) rule.beforePost(round, msg.sender, post, head, proof);
        uint256 score = e.score() + _distanceToModel(words, post * postWords, completedRounds);
        if (_record(round, post, last, head, nextLink, score) && roundEntrants == maxParticipants) _armSeed(round);
    }

    /// @dev Records a checked post (number `post`, the update's last if `last`) by msg.sender,
    ///      its distance accumulator now `score`; puts a complete update the rule admits on
    ///      the list. Returns whether the update is now on the list.
    function _record(uint256 round, uint256 post, bool last, bytes32 head, bytes32 nextLink, uint256 score)
        internal
        returns (bool)
    {
        if (!last) {
            if (post == 0) _headOf[msg.sender] = head;
            _cursor[msg.sender] = nextLink;
            _setEntry(msg.sender, Records.entry(Records.POSTING, post + 1, 0, round, score));
            emit Posted(round, msg.sender, post, 0);
            return false;
        }
        if (_has(Hooks.ADMIT) && !rule.admit(round, msg.sender, score)) {
            _setEntry(msg.sender, Records.entry(Records.REFUSED, postCount, 0, round, score));
            emit Posted(round, msg.sender, post, type(uint256).max);
            return false;
        }
        // The head of the whole update: this post's own head when it is the only one.
        _enlist(round, post, post == 0 ? head : _headOf[msg.sender], score);
        return true;
    }

    /// @dev Order, range, length, padding and lanes of a post; returns the entry and
    ///      whether the post is the update's last.
    function _checkPost(uint256 round, uint256 post, uint256[] calldata words, bytes32 nextLink)
        internal
        view
        returns (Entry e, bool last)
    {
        _checkOpenRound(round);
        if (block.timestamp >= postDeadline || roundEntrants >= maxParticipants) revert PostingClosed(round);
        e = _entry(round, msg.sender);
        if (e.status() >= Records.POSTED) revert AlreadyPosted(msg.sender, round);
        uint256 expected = e.nextPost();
        if (post != expected) revert WrongPost(post, expected);
        if (post >= postCount) revert WrongPost(post, postCount);
        uint256 from = post * postWords;
        uint256 to = from + postWords < modelWords ? from + postWords : modelWords;
        _checkWords(words, from, to);
        last = to == modelWords;
        if (last && nextLink != 0) revert BrokenLink(round, post);
    }

    /// @dev Puts the caller's complete update on the round's list and folds its head link
    ///      into what column 0 must open.
    function _enlist(uint256 round, uint256 post, bytes32 head, uint256 score) internal {
        uint256 index = roundEntrants;
        roundEntrants = index + 1;
        _seats[index] = uint160(msg.sender) | (round << 160);
        _setEntry(msg.sender, Records.entry(Records.POSTED, postCount, index, round, score));
        bytes32 fold = keccak256(abi.encode(_columnFold, head));
        _columnFold = fold;
        _headsFold = fold;
        emit Posted(round, msg.sender, post, index);
    }

    function _checkWords(uint256[] calldata words, uint256 from, uint256 to) internal view {
        if (words.length != to - from) revert WrongLength(words.length, to - from);
        if (to == modelWords && words[words.length - 1] & _lastWordPadding != 0) revert NonZeroPadding(to - 1);
        uint256 invalidLanes = _invalidLanes;
        if (invalidLanes == 0) return; // B = 16: every lane is a valid int16
        uint256 biasLanes = _biasLanes;
        uint256 bad;
        // The hot loop of a post: a lane is valid iff (v + 2^(B-1)) mod 2^16 < 2^B.
        assembly {
            let low16 := xor(0x0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff, iszero(calldatasize()))
            let end := add(words.offset, shl(5, words.length))
            for { let p := words.offset } lt(p, end) { p := add(p, 0x20) } {
                let x := calldataload(p)
                let e := and(add(and(x, low16), biasLanes), low16)
                let o := and(add(and(shr(16, x), low16), biasLanes), low16)
                bad := or(bad, and(or(e, o), invalidLanes))
            }
        }
        if (bad == 0) return;
        for (uint256 i;; ++i) {
            uint256 x = words[i];
            bad = (ColumnMath.evenLanes(x, biasLanes) | ColumnMath.oddLanes(x, biasLanes)) & invalidLanes;
            if (bad != 0) revert ValueOutOfRange(from + i, bad);
        }
    }

    function _columnRange(uint256 column) internal view returns (uint256 from, uint256 to) {
        if (column >= columnCount) revert WrongColumn(column, columnCount);
        unchecked {
            // column < columnCount: from < modelWords, and both stay far below 2^64
            from = column * columnWords;
            to = from + columnWords < modelWords ? from + columnWords : modelWords;
        }
    }

    function _link(uint256[] calldata words, bytes32 next) internal pure returns (bytes32 h) {
        assembly {
            let p := mload(0x40)
            let len := shl(5, words.length)
            calldatacopy(p, words.offset, len)
            mstore(add(p, len), next)
            h := keccak256(p, add(len, 0x20))
        }
    }

    /// @dev Every update's column hashes to the link the previous column (or its post)
    ///      promised; the folds bind the whole list in order.
    function _checkColumnLinks(
        uint256 round,
        uint256 column,
        uint256[] calldata words,
        bytes32[] calldata nextLinks,
        uint256 n,
        uint256 w
    ) internal {
        bytes32 fold = column == 0 ? bytes32(round) : bytes32(0);
        bytes32 nextFold = 0;
        bool last = column + 1 == columnCount;
        bool replays = column == 0 && replayRounds != 0;
        // the head list, if column 0 keeps it: each head's first 16 bytes, two per word
        (uint256 code, uint256 heads) = CodeStore.alloc((n + 1) >> 1);
        for (uint256 i; i < n; ++i) {
            bytes32 link = _link(words[i * w:(i + 1) * w], nextLinks[i]);
            fold = keccak256(abi.encode(fold, link));
            nextFold = keccak256(abi.encode(nextFold, nextLinks[i]));
            if (last && nextLinks[i] != 0) revert ColumnMismatch(round, column);
            assembly {
                mstore(add(heads, shl(4, i)), link) // its last 16 bytes: the next head's place
            }
        }
        if (fold != _columnFold) revert ColumnMismatch(round, column);
        _columnFold = nextFold;
        if (replays) {
            assembly {
                mstore(add(heads, shl(4, n)), 0) // an odd list's last half-word: no head
            }
            _noteReplays(round, CodeStore.deploy(code, (n + 1) >> 1));
        }
    }

    /// @dev Column 0 sees every update's head link (its exact words), kept as the round's
    ///      head list `heads`: one accepted in the last `replayRounds` rounds (this one
    ///      included, for a second identical copy) is a replay.
    function _noteReplays(uint256 round, address heads) internal {
        uint256 window = replayRounds;
        uint256[] memory ring = new uint256[](window + 1);
        for (uint256 k; k <= window; ++k) {
            ring[k] = _headLists[k];
        }
        _replays = _kit.replays(heads, ring, round, window, roundSeed(round));
        // this round's list, for the ring once the round is accepted (`_finishRound`)
        _pendingHeads = uint160(heads) | (round << 160);
    }

    /// @dev The new model's column by the aggregation rule, written as a data contract. With
    ///      relayed updates under MEAN, one pass over the column computes the new model and
    ///      each relayed update's distance to the starting model (the words are loaded, split
    ///      and looped over once, and the old word once per model word instead of once per
    ///      update); sorted rules measure in `_measure`.
    function _writeColumn(uint256 round, uint256 column, uint256[] calldata words, uint256 n, uint256 w)
        internal
        returns (address)
    {
        uint256 t = _trimmedCount(n);
        uint256 first = _relayed.forRound(round);
        if (first != 0 && t == 0) {
            first -= 1;
            (uint256 old, uint256 accs) = _scratch(column, w, n - first);
            address store = CodeStore.deploy(_fusedColumn(words, n, w, first, old, accs), w);
            _addDistances(_fromOld, column, first, n, accs);
            return store;
        }
        (uint256 code, uint256 data) = CodeStore.alloc(w);
        if (t == 0) {
            for (uint256 j; j < w; ++j) {
                uint256 word = _meanWord(words, n, w, j);
                assembly {
                    mstore(add(data, shl(5, j)), word)
                }
            }
        } else {
            uint256[] memory means = _kit.sortedMeans(words, n, w, t);
            assembly {
                mcopy(data, add(means, 0x20), shl(5, w))
            }
        }
        return CodeStore.deploy(code, w);
    }

    /// @notice Values dropped at each end of every coordinate with n updates (0: MEAN).
    function _trimmedCount(uint256 n) internal view returns (uint256) {
        if (aggregation == MEAN) return 0;
        uint256 most = (n - 1) / 2;
        return aggregation == MEDIAN || trim > most ? most : trim;
    }

    /// @dev 0x8000 in every 16-bit lane: XOR maps an int16 v to v + 2^15, order-preserving.
    uint256 internal constant SIGN_LANES = 0x8000800080008000800080008000800080008000800080008000800080008000;
    uint256 internal constant SIGN_BIAS = 0x8000;

    /// @dev MEAN: word j of the new model straight from calldata, no row copies: the
    ///      biased lanes of the n updates summed in even and odd 32-bit slots.
    function _meanWord(uint256[] calldata words, uint256 n, uint256 w, uint256 j) internal pure returns (uint256) {
        uint256 even;
        uint256 odd;
        assembly {
            // Masks xor-ed with an opaque zero, so they stay on the stack (see _meanAndDistances).
            let z := iszero(calldatasize())
            let low16 := xor(0x0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff, z)
            let sign := xor(SIGN_LANES, z)
            let stride := shl(5, w)
            let p := add(words.offset, shl(5, j))
            for { let end := add(p, mul(n, stride)) } lt(p, end) { p := add(p, stride) } {
                let x := xor(calldataload(p), sign)
                even := add(even, and(x, low16))
                odd := add(odd, and(shr(16, x), low16))
            }
        }
        return ColumnMath.packMeans(even, odd, n, SIGN_BIAS);
    }

    /// @dev Near duplicates on this column's sampled words: a pair is refuted when it is
    ///      farther apart than duplicateDistance per parameter, confirmed when it is within
    ///      it and less than a quarter as far apart as the farther-moved of the two moved
    ///      from the old model (samples nobody moved prove nothing). The pair loop works in
    ///      memory (the samples, the two bitmaps) and writes each bitmap word once: n^2/2
    ///      pairs cost a few hundred gas each, which `GAS_PER_PAIR` bounds.
    function _checkDuplicates(uint256 round, uint256 column, uint256[] calldata words, uint256 n, uint256 w)
        internal
    {
        uint256 samples = w < DUPLICATE_SAMPLES ? w : DUPLICATE_SAMPLES;
        (uint256[] memory s, uint256[] memory moved) = _samples(roundSeed(round), column, words, n, w, samples);
        uint256[] memory known = new uint256[]((n * n + 255) >> 8);
        if (column != 0) {
            for (uint256 k; k < known.length; ++k) {
                known[k] = _refuted[k];
            }
        }
        (uint256[] memory refuted, uint256[] memory confirmed) =
            _kit.pairBitmaps(s, moved, known, n, samples, duplicateDistance * 16 * samples, _biasLanes);
        // `refuted` holds the earlier columns' bits too; column 0 rewrites every word the
        // round uses (the words are the current round's only).
        for (uint256 k; k < refuted.length; ++k) {
            _refuted[k] = refuted[k];
            _confirmed[k] = column == 0 ? confirmed[k] : confirmed[k] | _confirmed[k];
        }
    }

    /// @dev Every update's sampled words (update i's sample k at i*samples+k) and how far
    ///      each moved there from the old model.
    function _samples(bytes32 seed, uint256 column, uint256[] calldata words, uint256 n, uint256 w, uint256 samples)
        internal
        view
        returns (uint256[] memory s, uint256[] memory moved)
    {
        s = new uint256[](n * samples);
        moved = new uint256[](n);
        address old = _modelColumn[completedRounds][column];
        uint256 g;
        for (uint256 k; k < samples; ++k) {
            uint256 off = _sampleOffset(seed, column, k, w);
            assembly {
                g := mload(0x40) // one scratch word past the free pointer, not kept
            }
            CodeStore.load(old, off, 1, g);
            assembly {
                g := mload(g)
            }
            for (uint256 i; i < n; ++i) {
                uint256 x = words[i * w + off];
                s[i * samples + k] = x;
                moved[i] += _wordDistance(x, g);
            }
        }
    }

    /// @dev Bit i set iff list entry i is half of a pair confirmed near on some column and
    ///      never refuted (one pass over the bitmaps, in memory).
    function _duplicateFlags(uint256 n) internal view returns (uint256) {
        if (duplicateDistance == 0 || n < 2) return 0;
        uint256[] memory live = new uint256[]((n * n + 255) >> 8);
        for (uint256 k; k < live.length; ++k) {
            live[k] = _confirmed[k] & ~_refuted[k];
        }
        return _kit.duplicateFlags(live, n);
    }

    /// @dev After a column's model words are written: relayed updates, never posted, have
    ///      their lanes checked and (under a sorted rule) their distance to the starting model
    ///      added up; with `Hooks.DISTANCE_TO_NEW` every update's distance to the new column.
    function _measure(uint256 round, uint256 column, uint256[] calldata words, address store, uint256 n, uint256 w)
        internal
    {
        uint256 first = _relayed.forRound(round);
        if (first != 0) {
            first -= 1;
            (uint256 from, uint256 to) = _columnRange(column);
            for (uint256 i = first; i < n; ++i) {
                _checkWords(words[i * w:(i + 1) * w], from, to);
            }
            if (_trimmedCount(n) != 0) {
                // the starting model's column, loaded once for every relayed update; each
                // distance (< 2^32: 16 lanes of < 2^16 in at most 767 words) as one slot
                (uint256 g, uint256 accs) = _scratch(column, w, n - first);
                _sliceDistances(words, w, first, n, g, accs);
                _addDistances(_fromOld, column, first, n, accs);
            }
        }
        if (_has(Hooks.DISTANCE_TO_NEW)) {
            uint256 g = _loadColumn(store, w);
            uint256 accs = _accumulators(n);
            _sliceDistances(words, w, 0, n, g, accs);
            _addDistances(_toNew, column, 0, n, accs);
        }
    }

    /// @dev Each update i in [first, n)'s distance to the w words at memory `g`, at accs[i - first].
    function _sliceDistances(uint256[] calldata words, uint256 w, uint256 first, uint256 n, uint256 g, uint256 accs)
        internal
        pure
    {
        for (uint256 i = first; i < n; ++i) {
            uint256 d = _sliceDistance(words[i * w:(i + 1) * w], g);
            assembly {
                mstore(add(accs, shl(5, sub(i, first))), d)
            }
        }
    }

    /// @dev The last column: relayed updates are admitted (`Hooks.ADMIT_RELAYED`), every
    ///      listed update is scored by the rule and paid by its tier with its escrow refund
    ///      (nothing for near duplicates and recent replays), and the next round opens.
    function _finishRound(uint256 round, uint256 version, uint256 n) internal {
        address[] memory who = new address[](n);
        uint256[] memory fromOld = new uint256[](n);
        uint256 first = _relayed.forRound(round);
        first = first == 0 ? n : first - 1;
        for (uint256 i; i < n; ++i) {
            who[i] = entrant(round, i);
            fromOld[i] = i < first ? _entry(round, who[i]).score() : _lane(_fromOld, i);
        }
        if (first < n && _has(Hooks.ADMIT_RELAYED)) {
            address[] memory rw = new address[](n - first);
            uint256[] memory rd = new uint256[](n - first);
            for (uint256 i = first; i < n; ++i) {
                rw[i - first] = who[i];
                rd[i - first] = fromOld[i];
            }
            rule.admitRelayed(round, rw, rd);
        }
        uint256[] memory toNew = new uint256[](_has(Hooks.DISTANCE_TO_NEW) ? n : 0);
        for (uint256 i; i < toNew.length; ++i) {
            toNew[i] = _lane(_toNew, i);
        }
        (uint256[] memory scores, uint256[] memory rewards, uint256 refund) = rule.settle(round, who, fromOld, toNew);
        if (scores.length != n || rewards.length != n) revert BadRuleReply();
        _takeEscrow(refund * n);
        uint256 dups = _duplicateFlags(n);
        for (uint256 i; i < n; ++i) {
            bool dup = (dups >> i) & 1 != 0;
            bool replay = (_replays >> i) & 1 != 0;
            uint256 reward = dup || replay ? 0 : rewards[i];
            if (reward > _maxReward) revert RewardTooLarge(reward, _maxReward);
            roundReserve -= reward;
            if (reward + refund != 0) _credit(who[i], reward + refund, reward);
            emit Rewarded(round, who[i], scores[i], reward, dup, replay);
        }
        if (replayRounds != 0) _headLists[round % (replayRounds + 1)] = _pendingHeads;
        completedRounds = version;
        roundVersion[round] = version;
        roundOpen = false;
        rewardPool += roundReserve;
        roundReserve = 0;
        if (_has(Hooks.ROUND_END)) rule.roundEnded(round, true, new address[](0));
        emit RoundFinalized(round, version, n);
        _startRound(false);
    }

    /// @dev List index i's 64-bit lane of a distance map.
    function _lane(mapping(uint256 => uint256) storage map, uint256 i) internal view returns (uint256) {
        return uint64(map[i >> 2] >> ((i & 3) << 6));
    }

    function _credit(address account, uint256 amount, uint256 shares) internal {
        totalOwed += amount;
        _creditAccount(account, shares, amount);
    }

    function _unattributedRevenue(uint256 value) internal override {
        rewardPool += value;
    }


    /// @dev sum |a - b| over the 16 int16 lanes of two wire words.
    function _wordDistance(uint256 a, uint256 b) internal view returns (uint256) {
        return ColumnMath.wordDistance(a, b, _biasLanes);
    }

    /// @dev The w words of the column in data contract `store`, at fresh memory.
    function _loadColumn(address store, uint256 w) internal view returns (uint256 g) {
        assembly {
            g := mload(0x40)
            mstore(0x40, add(g, shl(5, w)))
        }
        CodeStore.load(store, 0, w, g);
    }

    /// @dev sum |v - g| of `words` (starting at model word `from`) against model `version`.
    function _distanceToModel(uint256[] calldata words, uint256 from, uint256 version)
        internal
        view
        returns (uint256)
    {
        // A post past the model's end is refused by _checkPost, with its own error.
        if (from + words.length > modelWords) return 0;
        uint256[] memory g = modelSlice(version, from, from + words.length);
        uint256 p;
        assembly {
            p := add(g, 0x20)
        }
        return _sliceDistance(words, p);
    }

    /// @dev sum |v - g| between calldata `words` and as many words at memory `g`. Lanes are
    ///      int16; XOR 0x8000 maps them to order-preserving unsigned values, split into even
    ///      and odd 32-bit slots. Per slot, d = (a + 2^16) - b has bit 16 set iff a >= b, and
    ///      |a - b| is d's low 16 bits, or their two's complement when a < b. Slots sum in
    ///      SWAR (each < 2^17 per word, < 2^29 over MAX_POST_WORDS), folded once at the end.
    function _sliceDistance(uint256[] calldata words, uint256 g) internal pure returns (uint256 total) {
        assembly {
            // Masks xor-ed with an opaque zero, so they stay on the stack (see _meanAndDistances).
            let z := iszero(calldatasize())
            let low16 := xor(0x0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff, z)
            let ones := xor(0x0000000100000001000000010000000100000001000000010000000100000001, z)
            let bit16 := xor(0x0001000000010000000100000001000000010000000100000001000000010000, z)
            let sign := xor(0x8000800080008000800080008000800080008000800080008000800080008000, z)
            let acc := 0
            let q := g
            let end := add(words.offset, shl(5, words.length))
            for { let p := words.offset } lt(p, end) { p := add(p, 0x20) } {
                let x := xor(calldataload(p), sign)
                let y := xor(mload(q), sign)
                q := add(q, 0x20)
                let d := sub(or(and(x, low16), bit16), and(y, low16))
                let lt_ := and(not(shr(16, d)), ones)
                acc := add(acc, add(xor(and(d, low16), mul(lt_, 0xffff)), lt_))
                d := sub(or(and(shr(16, x), low16), bit16), and(shr(16, y), low16))
                lt_ := and(not(shr(16, d)), ones)
                acc := add(acc, add(xor(and(d, low16), mul(lt_, 0xffff)), lt_))
            }
            for {} acc { acc := shr(32, acc) } {
                total := add(total, and(acc, 0xffffffff))
            }
        }
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
            // The masks are xor-ed with an opaque zero (a call has calldata): left literal,
            // the via-IR optimizer (few runs: size first) re-reads a 32-byte constant from
            // code (CODECOPY + MLOAD) at every use in the loop.
            let z := iszero(calldatasize())
            let low16 := xor(0x0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff, z)
            let sign := xor(SIGN_LANES, z)
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
            first := xor(0x0000000100000001000000010000000100000001000000010000000100000001, z)
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

    /// @dev `k` zeroed accumulators in fresh memory.
    function _accumulators(uint256 k) internal pure returns (uint256 accs) {
        assembly {
            accs := mload(0x40)
            mstore(0x40, add(accs, shl(5, k)))
        }
        for (uint256 i; i < k; ++i) {
            assembly {
                mstore(add(accs, shl(5, i)), 0) // memory past the free pointer may hold scratch
            }
        }
    }

    /// @dev Adds the distances of list entries [first, n) in this column (SWAR accumulators
    ///      of 32-bit slots at `accs`) to the four-lane map `map` (column 0 rewrites it).
    function _addDistances(mapping(uint256 => uint256) storage map, uint256 column, uint256 first, uint256 n,
        uint256 accs) internal {
        for (uint256 k = first >> 2; k << 2 < n; ++k) {
            uint256 packed = column == 0 ? 0 : map[k];
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
            map[k] = packed;
        }
    }
}
