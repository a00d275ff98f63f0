// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {CodeStore} from "./lib/CodeStore.sol";
import {ColumnKit} from "./ColumnKit.sol";
import {ColumnMath} from "./lib/ColumnMath.sol";
import {RevenueShare} from "./RevenueShare.sol";

/// @title BatchEngine
/// @notice A round as a batch: participants post their updates as calldata (nothing per
///         parameter is stored), then anyone aggregates the round column by column — one
///         transaction carries the same words of every update, checks them against what was
///         posted, computes those words of the new model by the task's aggregation rule
///         (MEAN, MEDIAN or TRIMMED_MEAN) and writes them once as code. A reward rule
///         (`PaperTask`, ...) decides who may post and what each update earns; the engine
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
///      Sizes. A column transaction carries maxParticipants x columnWords words; the
///      constructor refuses settings whose largest column would exceed MAX_COLUMN_BYTES of
///      calldata (public transaction pools drop transactions over 128 KiB), so no sequence of
///      posts can make a legal column too large to send.
abstract contract BatchEngine is RevenueShare {
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
    /// @param tierThresholds ascending score bounds of the reward tiers (the rule's score).
    /// @param tierRewards wei per tier.
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
        uint256[] tierThresholds;
        uint256[] tierRewards;
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

    /*//////////////////////////////////////////////////////////////
                                CONSTANTS
    //////////////////////////////////////////////////////////////*/

    uint256 internal constant MEAN = 0;
    uint256 internal constant MEDIAN = 1;
    uint256 internal constant TRIMMED_MEAN = 2;
    uint256 internal constant MAX_TIERS = 8;
    /// @notice Seats per round: one column bitmap word per 256 x 256 / 256 pairs at most.
    uint256 internal constant MAX_SEATS = 256;
    /// @notice Largest column: a data contract under the 24,576-byte code limit (EIP-170).
    uint256 internal constant MAX_COLUMN_WORDS = 767;
    /// @notice Calldata bound of a column transaction (128 KiB pool limit, less room for the
    ///         selector, offsets and the transaction envelope).
    uint256 internal constant MAX_COLUMN_BYTES = 126 * 1024;
    /// @notice Largest post: its calldata stays under MAX_COLUMN_BYTES too (a reveal: selector,
    ///      six head words, the words' length and the words), and its SWAR distance sums cannot
    ///      overflow a 32-bit slot.
    uint256 internal constant MAX_POST_WORDS = 4024;
    /// @notice Seconds between `endTask` and the first `sweep`.
    uint256 internal constant EXIT_DELAY = 7 days;
    /// @notice Longest phase or timeout a task may set: every round ends within bounded time.
    uint256 internal constant MAX_DURATION = 30 days;
    /// @notice Largest near-duplicate bound: a mean distance per parameter never exceeds
    ///         2^16, and the sample limit (x 16 x samples) stays far from overflow.
    uint256 internal constant MAX_DUPLICATE_DISTANCE = 1 << 16;
    /// @notice Gas budget of a column transaction (the EIP-7825 cap is 16,777,216).
    uint256 internal constant MAX_COLUMN_GAS = 12_000_000;
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
    uint256 internal constant GAS_PER_REPLAY_HEAD = 500;
    /// @notice Most rounds a task may look back for replays (bounds column 0's lookups).
    uint256 internal constant MAX_REPLAY_ROUNDS = 16;
    /// @dev Blocks between arming a seed and the block whose RANDAO value it takes: the
    ///      proposer of the arming block knows the next block's value (its own reveal), not
    ///      the one after.
    uint256 internal constant SEED_LAG = 2;
    /// @dev Words of each column compared pairwise for near-duplicates.
    uint256 internal constant DUPLICATE_SAMPLES = 2;

    /// @dev 1 in every 32-bit lane: a 16-bit lane of the word at even and odd positions.
    uint256 private constant _ONES32 = 0x0000000100000001000000010000000100000001000000010000000100000001;

    // Participant status in a round (0: none).
    uint8 internal constant POSTING = 1; // some posts in, not all
    uint8 internal constant POSTED = 2; // complete: on the round's list
    uint8 internal constant REFUSED = 3; // complete, but the rule refused it (`_admit`)

    /*//////////////////////////////////////////////////////////////
                                 EVENTS
    //////////////////////////////////////////////////////////////*/

    event PoolFunded(address indexed from, uint256 amount, uint256 pool);
    event RoundStarted(uint256 indexed round, uint256 postDeadline, uint256 reserve);
    event Posted(uint256 indexed round, address indexed participant, uint256 post, uint256 index);
    event Relayed(uint256 indexed round, address indexed participant, address relayer, uint256 index, bytes32 head);
    event ColumnAggregated(uint256 indexed round, uint256 column, address store, address keeper, uint256 fee);
    event Rewarded(uint256 indexed round, address indexed participant, uint256 score, uint256 tier, uint256 reward,
        bool duplicate, bool replay);
    event RoundFinalized(uint256 indexed round, uint256 version, uint256 participants);
    event RoundAbandoned(uint256 indexed round, uint256 participants);
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
    error BadTiers(uint256 thresholds, uint256 rewards);
    error TiersNotAscending(uint256 index);
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

    /*//////////////////////////////////////////////////////////////
                                 STORAGE
    //////////////////////////////////////////////////////////////*/

    address public immutable owner;
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
    uint256[] internal _tierThresholds;
    uint256[] internal _tierRewards;

    /// @notice Wei available to fund future rounds.
    uint256 public rewardPool;
    /// @notice Wei locked by the open round for its rewards and keeper fees.
    uint256 public roundReserve;
    /// @notice Wei credited (rewards, fees) and not yet withdrawn.
    uint256 public totalOwed;
    /// @notice The open (or next) round.
    uint256 public currentRound;
    /// @notice Time `endTask` was called (0: the task runs); no round opens after it.
    uint256 public endedAt;
    /// @notice Whether the current round exists and has not been finalized or abandoned.
    bool public roundOpen;
    uint256 public postDeadline;
    /// @notice Updates on the current round's list (complete posts, in order).
    uint256 public roundEntrants;
    /// @notice Next column to aggregate in the current round.
    uint256 public columnCursor;
    /// @notice Model versions written (0: the initial model).
    uint256 public completedRounds;
    mapping(uint256 => uint256) public roundVersion;

    // Per-seat and per-participant records are keyed without the round and carry it
    // inside, so a returning participant and a reused list index rewrite a live slot
    // (5,000 gas) instead of filling a fresh one (22,100) every round. A record of an
    // earlier round reads as empty; history is in the events.
    /// @dev List index -> address of the update at that index | round << 160.
    mapping(uint256 => uint256) internal _seats;
    /// @dev Participant -> status (8 bits) | next post (32) | list index (16) << 40
    ///      | round (64) << 56 | rule's score accumulator (128) << 128.
    mapping(address => uint256) internal _entries;
    /// @dev Participant -> link its next post must start with (read only by a post that
    ///      follows one of the current round: its entry says so).
    mapping(address => bytes32) internal _cursor;
    /// @dev Fold of the links the next column must open (keccak chain over the list).
    bytes32 internal _columnFold;
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
    uint256 internal _relayed;
    /// @notice Initial model columns written so far (round 1 needs all).
    uint256 public initialColumns;

    /*//////////////////////////////////////////////////////////////
                               CONSTRUCTOR
    //////////////////////////////////////////////////////////////*/

    constructor(BatchSettings memory s) payable RevenueShare(s.accessPrice) {
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
        // n x w words and the n next links; a relay adds an offset, a length and 3 words
        // (signer, r, vs) per relayed seat.
        uint256 columnBytes = 4 + 32 * 8 + 32 * (s.maxParticipants * (column + 1) + 3 * s.maxRelayed);
        if (columnBytes > MAX_COLUMN_BYTES) revert ColumnTooLarge(columnBytes, MAX_COLUMN_BYTES);
        ColumnKit kit = new ColumnKit();
        _kit = kit;
        uint256 gasBound =
            _columnGasBound(kit, s.maxParticipants, s.maxRelayed, column, s.aggregation == 0 ? 0 : 1, s.replayRounds * s.maxParticipants);
        if (gasBound > MAX_COLUMN_GAS) revert ColumnTooCostly(gasBound, MAX_COLUMN_GAS);
        if (s.postWords == 0 || s.postWords % column != 0 || s.postWords > MAX_POST_WORDS) {
            revert BadPostWords(s.postWords, column);
        }
        if (s.aggregation > TRIMMED_MEAN) revert BadAggregation(s.aggregation);
        uint256 tiers = s.tierThresholds.length;
        if (tiers == 0 || tiers > MAX_TIERS || tiers != s.tierRewards.length) {
            revert BadTiers(tiers, s.tierRewards.length);
        }
        uint256 top = s.tierRewards[0];
        for (uint256 i = 1; i < tiers; ++i) {
            if (s.tierThresholds[i] <= s.tierThresholds[i - 1]) revert TiersNotAscending(i);
            if (s.tierRewards[i] > top) top = s.tierRewards[i];
        }
        if (top > type(uint128).max / s.maxParticipants) revert RewardsTooLarge(top, s.maxParticipants);
        // the reserve (top x seats + fee x columns) stays below 2^129: startRound cannot overflow
        if (s.keeperFee > type(uint128).max / MAX_SEATS) revert FeeTooLarge(s.keeperFee, type(uint128).max / MAX_SEATS);

        owner = msg.sender;
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
        _tierThresholds = s.tierThresholds;
        _tierRewards = s.tierRewards;
        uint256 bias = 1 << (s.valueBits - 1);
        _biasLanes = bias * _ONES32;
        _invalidLanes = (0xffff ^ ((1 << s.valueBits) - 1)) * _ONES32;
        uint256 used = s.paramCount % 16;
        _lastWordPadding = used == 0 ? 0 : type(uint256).max << (16 * used);
        if (msg.value != 0) {
            rewardPool = msg.value;
            emit PoolFunded(msg.sender, msg.value, msg.value);
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
        return [paramCount, valueBits, fracBits, modelWords, columnWords, columnCount, postWords, postCount,
            postDuration, minParticipants, maxParticipants, maxRelayed, aggregation, trim, duplicateDistance,
            replayRounds, keeperFee, aggregationTimeout];
    }

    /// @notice The protocol's limits (one read instead of a getter each): seats per round,
    ///         tiers, words per column, calldata bytes per column, words per post, gas per
    ///         column, replay rounds, seconds from `endTask` to `sweep`, longest phase or
    ///         timeout, largest `duplicateDistance`.
    function limits() external pure returns (uint256[10] memory) {
        return [MAX_SEATS, MAX_TIERS, MAX_COLUMN_WORDS, MAX_COLUMN_BYTES, MAX_POST_WORDS, MAX_COLUMN_GAS,
            MAX_REPLAY_ROUNDS, EXIT_DELAY, MAX_DURATION, MAX_DUPLICATE_DISTANCE];
    }

    /// @notice Wei a round locks when it opens: maxParticipants x top reward + fees.
    function roundReserveNeeded() public view returns (uint256) {
        return _topReward() * maxParticipants + keeperFee * columnCount;
    }

    /// @notice An upper bound of a column transaction's gas with n seats, `relayed` of them
    ///         relayed, and w words per update, sorted (`sorts` = 1: MEDIAN, TRIMMED_MEAN)
    ///         or not (MEAN); the constructor refuses settings above MAX_COLUMN_GAS with
    ///         maxParticipants seats and maxRelayed relayed, so no sequence of posts and
    ///         relays can make a legal column exceed it (ml/settings mirrors it to size
    ///         columns). It holds in the worst case a participant can arrange: every seat a
    ///         fresh account, every pair of updates a confirmed near-duplicate.
    function columnGasBound(uint256 n, uint256 relayed, uint256 w, uint256 sorts) public view returns (uint256) {
        return _columnGasBound(_kit, n, relayed, w, sorts, replayRounds * maxParticipants);
    }

    /// @dev `replayHeads`: replayRounds x maxParticipants, the most heads of earlier rounds
    ///      column 0 may look up.
    function _columnGasBound(
        ColumnKit kit,
        uint256 n,
        uint256 relayed,
        uint256 w,
        uint256 sorts,
        uint256 replayHeads
    ) internal view returns (uint256) {
        uint256 comparators = sorts == 0 ? 0 : kit.comparators(n);
        uint256 replays = replayHeads == 0 ? 0 : GAS_REPLAY_LIST + replayHeads * GAS_PER_REPLAY_HEAD;
        return GAS_COLUMN_BASE + n * GAS_PER_SEAT + replays + n * n * GAS_PER_PAIR
            + w * (n * GAS_PER_UPDATE_WORD + comparators * GAS_PER_COMPARATOR_WORD + GAS_PER_MODEL_WORD)
            + relayed * (GAS_PER_RELAYED_SEAT + w * GAS_PER_RELAYED_WORD) + _ruleColumnGas(n, w);
    }

    /// @notice Whether the current round's posting phase is over (deadline passed, or
    ///         every seat taken) while the round is open: columns may be sent.
    function postingClosed() public view virtual returns (bool) {
        return roundOpen && (block.timestamp >= postDeadline || roundEntrants >= maxParticipants);
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
    function abandonableAt() public view returns (uint256) {
        return postDeadline + 2 * aggregationTimeout;
    }

    /// @dev Ends the open round without a new model: the reserve returns to the pool.
    function _endRound(uint256 round) internal {
        roundOpen = false;
        rewardPool += roundReserve;
        roundReserve = 0;
        _onRoundEnd(round);
        emit RoundAbandoned(round, roundEntrants);
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
        _aggregate(round, column, words, nextLinks);
    }

    function _aggregate(uint256 round, uint256 column, uint256[] calldata words, bytes32[] calldata nextLinks)
        internal
    {
        _checkClosedRound(round);
        uint256 n = roundEntrants;
        if (n < minParticipants) revert NoQuorum(round, n, minParticipants);
        if (column != columnCursor) revert WrongColumn(column, columnCursor);
        (uint256 from, uint256 to) = _columnRange(column);
        uint256 w = to - from;
        if (words.length != n * w) revert WrongLength(words.length, n * w);
        if (nextLinks.length != n) revert WrongLength(nextLinks.length, n);
        // The round's seed, fixed once every update is bound, in a block nobody chose (the
        // rule's `_columnSeed`); a restarted column 0 keeps it.
        if (column == 0 && uint64(_seed) != round) _seed = (uint256(_columnSeed(round)) >> 64 << 64) | round;

        _checkColumnLinks(round, column, words, nextLinks, n, w);
        uint256 version = completedRounds + 1;
        address store = _writeColumn(round, column, words, n, w);
        _modelColumn[version][column] = store;
        if (duplicateDistance != 0 && n > 1) _checkDuplicates(round, column, words, n, w);
        _afterColumn(round, column, words, store, n, w);

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
                                 RELAY
    //////////////////////////////////////////////////////////////*/

    /// @dev A relay carries an update its owner signed or committed to: it replaces a
    ///      partial post of the owner's (which counts for nothing), not a complete one.
    function _enlistRelayed(uint256 round, uint256 i, address who, uint256 score, bytes32 head) internal {
        if (uint8(_entry(round, who)) >= POSTED) revert AlreadyPosted(who, round);
        _seats[i] = uint160(who) | (round << 160);
        _setEntry(round, who, POSTED | (postCount << 8) | (i << 40) | (score << 128));
        emit Relayed(round, who, msg.sender, i, head);
    }

    /*//////////////////////////////////////////////////////////////
                              MONEY
    //////////////////////////////////////////////////////////////*/

    /// @notice Pays the caller everything credited to it: rewards, fees and licence revenue.
    function withdraw() external nonReentrant {
        uint256 amount = owed(msg.sender);
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
        return owed(account) + revenueOf(account);
    }

    /// @notice Wei credited to `account` (rewards and fees) and not yet withdrawn; licence
    ///         revenue is `revenueOf`.
    function owed(address account) public view returns (uint256) {
        return _owedOf(account);
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

    /// @notice Words [from, to) of the current global model.
    function globalModelSlice(uint256 from, uint256 to) external view returns (uint256[] memory) {
        return modelSlice(completedRounds, from, to);
    }

    /// @notice A participant's standing in a round: status (0 none, 1 posting, 2 on the
    ///         list), its next post, its index on the list.
    function statusOf(uint256 round, address participant)
        external
        view
        returns (uint256 status, uint256 nextPost, uint256 index)
    {
        uint256 e = _entry(round, participant);
        return (uint8(e), uint32(e >> 8), uint16(e >> 40));
    }

    /// @notice Seed of `round`'s duplicate samples, fixed by its first column (after every
    ///         update is in, so no poster knows which words will be compared); 0 before
    ///         that, and again once a later round has its own.
    function roundSeed(uint256 round) public view returns (bytes32) {
        uint256 seed = _seed;
        return uint64(seed) == round ? bytes32(seed) : bytes32(0);
    }

    /// @dev 1 + list index of `round`'s first relayed update (0: none relayed, or not known
    ///      any more: a later round was relayed). Relayed updates follow the posted ones.
    function _relayedFrom(uint256 round) internal view returns (uint256) {
        return _ofRound(_relayed, round);
    }

    /// @notice Address of the update at list index `i` of `round` (the current round; an
    ///         earlier round's index reads as 0 once a later round reuses it).
    function entrant(uint256 round, uint256 i) public view returns (address) {
        uint256 s = _seats[i];
        return s >> 160 == round ? address(uint160(s)) : address(0);
    }

    /// @dev The value of a round-tagged word (round << 128 | value) for `round`; 0 if the word
    ///      belongs to another round.
    function _ofRound(uint256 word, uint256 round) internal pure returns (uint256) {
        return word >> 128 == round ? uint128(word) : 0;
    }

    /// @dev `round` is the current round and open.
    function _checkOpenRound(uint256 round) internal view {
        if (round != currentRound) revert WrongRound(round, currentRound);
        if (!roundOpen) revert RoundNotOpen(round);
    }

    /// @dev The participant's entry word in `round` (0 if its record is of another round).
    function _entry(uint256 round, address who) internal view returns (uint256 e) {
        e = _entries[who];
        if (uint64(e >> 56) != round) e = 0;
    }

    function _setEntry(uint256 round, address who, uint256 e) internal {
        _entries[who] = e | (round << 56);
    }

    /// @notice Tier of a score: the first i with score <= tierThresholds[i], else tierCount.
    function rewardTier(uint256 score) public view returns (uint256 tier_) {
        uint256 tiers = _tierThresholds.length;
        while (tier_ < tiers && score > _tierThresholds[tier_]) ++tier_;
    }

    /// @notice Number of reward tiers.
    function tierCount() external view returns (uint256) {
        return _tierThresholds.length;
    }

    /// @notice Threshold and reward of tier `i`.
    function tier(uint256 i) external view returns (uint256 threshold, uint256 reward) {
        return (_tierThresholds[i], _tierRewards[i]);
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
                             RULE HOOKS
    //////////////////////////////////////////////////////////////*/

    /// @dev Called after each column's model words are written; the rule accumulates its
    ///      per-update terms. `store` holds the new column.
    function _afterColumn(uint256 round, uint256 column, uint256[] calldata words, address store, uint256 n, uint256 w)
        internal
        virtual;

    /// @dev The score of list entry `i`, participant `who`, once every column is in.
    function _score(uint256 round, uint256 i, address who) internal view virtual returns (uint256);

    /// @dev What the rule adds to a column's gas bound with n seats and w words per update.
    function _ruleColumnGas(uint256, uint256) internal pure virtual returns (uint256) {
        return 0;
    }

    /// @dev Seconds between a round's opening and its posting phase (a commit phase).
    function _postingDelay() internal view virtual returns (uint256) {
        return 0;
    }

    /// @dev The seed of `round`'s duplicate samples and replay table, taken by column 0
    ///      after every update is bound; neither its sender nor one block's producer may
    ///      choose it (PAPER: the randomness of a block armed in advance; CONSENSUS: the draw's).
    function _columnSeed(uint256 round) internal virtual returns (bytes32);

    /// @dev Keeper fee of column `column` of `round`.
    function _columnFee(uint256, uint256) internal view virtual returns (uint256) {
        return keeperFee;
    }

    /// @dev Called when a round opens (after `postDeadline` is set).
    function _onRoundStart(uint256 round) internal virtual {}

    /// @dev Extra checks before msg.sender posts (`post` of its update, entry word `e`).
    function _mayPost(uint256 round, uint256 post, uint256 e) internal view virtual {}

    /// @dev Whether msg.sender's complete update (score accumulator `score`) goes on the
    ///      list; a refused one is marked REFUSED and never aggregated.
    function _admit(uint256, uint256) internal virtual returns (bool) {
        return true;
    }

    /// @dev Called for each listed update after its reward is credited.
    function _settled(uint256 round, address who) internal virtual {}

    /// @dev Called when a round ends (finished or abandoned), before the next one opens.
    function _onRoundEnd(uint256 round) internal virtual {}

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
        postDeadline = block.timestamp + _postingDelay() + postDuration;
        _onRoundStart(round);
        emit RoundStarted(round, postDeadline, reserve);
    }

    function _checkClosedRound(uint256 round) internal view {
        _checkOpenRound(round);
        if (!postingClosed()) revert PostingOpen(round, postDeadline);
    }

    /// @dev Records a post of `words` (post number `post`) by msg.sender: checks order,
    ///      length, padding, lanes and the link chain; puts a complete update on the list.
    ///      `scoreAdd` is added to the update's score accumulator. Returns whether the update
    ///      is now complete and its list index.
    function _post(uint256 round, uint256 post, uint256[] calldata words, bytes32 nextLink, uint256 scoreAdd)
        internal
        returns (bool complete)
    {
        (uint256 e, bool last) = _checkPost(round, post, words, nextLink);
        bytes32 head = _chainLinks(words, nextLink);
        if (post != 0 && head != _cursor[msg.sender]) revert BrokenLink(round, post);
        uint256 score = (e >> 128) + scoreAdd;
        if (!last) {
            if (post == 0) _headOf[msg.sender] = head;
            _cursor[msg.sender] = nextLink;
            _setEntry(round, msg.sender, POSTING | ((post + 1) << 8) | (score << 128));
            emit Posted(round, msg.sender, post, 0);
            return false;
        }
        if (!_admit(round, score)) {
            _setEntry(round, msg.sender, REFUSED | (postCount << 8) | (score << 128));
            emit Posted(round, msg.sender, post, type(uint256).max);
            return false;
        }
        // The head of the whole update: this post's own head when it is the only one.
        _enlist(round, post, post == 0 ? head : _headOf[msg.sender], score);
        return true;
    }

    /// @dev Order, range, length, padding and lanes of a post; returns the entry word and
    ///      whether the post is the update's last.
    function _checkPost(uint256 round, uint256 post, uint256[] calldata words, bytes32 nextLink)
        internal
        view
        returns (uint256 e, bool last)
    {
        _checkOpenRound(round);
        if (block.timestamp >= postDeadline || roundEntrants >= maxParticipants) revert PostingClosed(round);
        e = _entry(round, msg.sender);
        if (uint8(e) >= POSTED) revert AlreadyPosted(msg.sender, round);
        _mayPost(round, post, e);
        uint256 expected = uint32(e >> 8);
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
        _setEntry(round, msg.sender, POSTED | (postCount << 8) | (index << 40) | (score << 128));
        _columnFold = keccak256(abi.encode(_columnFold, head));
        emit Posted(round, msg.sender, post, index);
    }

    /// @dev Participant -> head link of its multi-post update (set by its first post).
    mapping(address => bytes32) internal _headOf;

    function _checkWords(uint256[] calldata words, uint256 from, uint256 to) internal view {
        if (words.length != to - from) revert WrongLength(words.length, to - from);
        if (to == modelWords && words[words.length - 1] & _lastWordPadding != 0) revert NonZeroPadding(to - 1);
        uint256 invalidLanes = _invalidLanes;
        if (invalidLanes == 0) return; // B = 16: every lane is a valid int16
        uint256 biasLanes = _biasLanes;
        uint256 bad;
        // The hot loop of a post: a lane is valid iff (v + 2^(B-1)) mod 2^16 < 2^B.
        assembly {
            let low16 := 0x0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff
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
        ColumnKit kit = _kit;
        bytes32 salt = roundSeed(round);
        bytes4 selector = ColumnKit.replays.selector;
        // ColumnKit.replays(heads, ring, round, window, salt), encoded by hand with the ring's
        // slots read straight into the calldata (the ABI encoder would cost ~300 bytes of
        // code the CONSENSUS task has no room for).
        assembly {
            let ring := add(window, 1)
            let p := mload(0x40)
            mstore(p, selector)
            mstore(add(p, 0x04), heads)
            mstore(add(p, 0x24), 0xa0)
            mstore(add(p, 0x44), round)
            mstore(add(p, 0x64), window)
            mstore(add(p, 0x84), salt)
            mstore(add(p, 0xa4), ring)
            for { let k := 0 } lt(k, ring) { k := add(k, 1) } {
                mstore(0, k)
                mstore(0x20, _headLists.slot)
                mstore(add(p, add(0xc4, shl(5, k))), sload(keccak256(0, 0x40)))
            }
            if iszero(staticcall(gas(), kit, p, add(0xc4, shl(5, ring)), 0, 0)) {
                returndatacopy(0, 0, returndatasize())
                revert(0, returndatasize())
            }
            // (uint256[] flags): offset, length 1 (n <= MAX_SEATS = 256), the word
            returndatacopy(0, 0x40, 0x20)
            sstore(_replays.slot, mload(0))
            // this round's list, for the ring once the round is accepted (`_finishRound`)
            sstore(_pendingHeads.slot, or(heads, shl(160, round)))
        }
    }

    /// @dev The new model's column by the aggregation rule, written as a data contract (a
    ///      rule may override it to measure its updates in the same pass).
    function _writeColumn(uint256, uint256, uint256[] calldata words, uint256 n, uint256 w)
        internal
        virtual
        returns (address)
    {
        uint256 t = _trimmedCount(n);
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
            let low16 := 0x0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff
            // In a local: the optimizer (few runs) would re-copy a 32-byte constant from code
            // on every iteration.
            let sign := SIGN_LANES
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
    function _duplicateFlags(uint256 n) internal view returns (uint256[] memory flags) {
        flags = new uint256[]((n + 255) >> 8);
        if (duplicateDistance == 0 || n < 2) return flags;
        uint256[] memory live = new uint256[]((n * n + 255) >> 8);
        for (uint256 k; k < live.length; ++k) {
            live[k] = _confirmed[k] & ~_refuted[k];
        }
        return _kit.duplicateFlags(live, n);
    }

    function _finishRound(uint256 round, uint256 version, uint256 n) internal {
        uint256[] memory dups = _duplicateFlags(n);
        for (uint256 i; i < n; ++i) {
            address who = entrant(round, i);
            uint256 score = _score(round, i, who);
            bool dup = (dups[i >> 8] >> (i & 255)) & 1 != 0;
            bool replay = (_replays >> i) & 1 != 0;
            uint256 tier_ = rewardTier(score);
            uint256 reward = dup || replay || tier_ >= _tierRewards.length ? 0 : _tierRewards[tier_];
            if (reward != 0) {
                roundReserve -= reward;
                _credit(who, reward, reward);
            }
            _settled(round, who);
            emit Rewarded(round, who, score, tier_, reward, dup, replay);
        }
        if (replayRounds != 0) _headLists[round % (replayRounds + 1)] = _pendingHeads;
        completedRounds = version;
        roundVersion[round] = version;
        roundOpen = false;
        rewardPool += roundReserve;
        roundReserve = 0;
        _onRoundEnd(round);
        emit RoundFinalized(round, version, n);
        _startRound(false);
    }

    function _credit(address account, uint256 amount, uint256 shares) internal {
        totalOwed += amount;
        _creditAccount(account, shares, amount);
    }

    function _unattributedRevenue(uint256 value) internal override {
        rewardPool += value;
    }

    function _topReward() internal view returns (uint256 top) {
        for (uint256 i; i < _tierRewards.length; ++i) {
            if (_tierRewards[i] > top) top = _tierRewards[i];
        }
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
            let low16 := 0x0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff
            let ones := 0x0000000100000001000000010000000100000001000000010000000100000001
            let bit16 := 0x0001000000010000000100000001000000010000000100000001000000010000
            let sign := 0x8000800080008000800080008000800080008000800080008000800080008000
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
}
