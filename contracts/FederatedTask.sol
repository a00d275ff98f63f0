// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {PackedLanes} from "./lib/PackedLanes.sol";
import {CodeStore} from "./lib/CodeStore.sol";
import {MedianLib} from "./lib/MedianLib.sol";
import {RevenueShare} from "./RevenueShare.sol";

/// @title FederatedTask
/// @notice One federated-learning task whose server is this contract. Each round,
///         participants send their locally trained, quantized weights; the contract sums
///         them in packed lanes, publishes the rounded integer mean as the new global model,
///         pays each contributor a tiered reward from a sponsor-funded pool, and sells access
///         licences whose revenue flows back to contributors.
/// @dev Every piece of arithmetic is mirrored in `ml/reference.py`; docs/PROTOCOL.md is the
///      specification.
///
///      Chunks. A model of N parameters is `modelWords` = ceil(N/16) words of 16 int16 lanes,
///      cut into `chunkCount` chunks of `chunkWords` words (the last may be shorter). Every
///      per-parameter operation (submit, reveal, claim, finalize) works one chunk per call,
///      so a transaction's gas is bounded by the chunk size, not the model size. A
///      participant sends its chunks in order. Each chunk keeps its own contribution count
///      for the round, so every parameter of the new model is the exact rounded mean of the
///      values that actually arrived for it, whether or not their senders finished.
///
///      Storage. The round accumulator is ceil(N/16)*2 storage words of 8 biased 32-bit
///      lanes; it is never cleared: a chunk's first contribution of a round overwrites
///      instead of adding, so every round pays 5,000 gas per word (nonzero -> nonzero), not
///      22,100. Two rules keep that true after any sequence of actions, so a legal chunk
///      always fits its transaction: round 1 cannot open before every accumulator word has
///      been written once (`warmStorage`), and every overwrite sets `ACC_SENTINEL`, so a word
///      is never zero again, even when all its contributions are the all-minimum value
///      (biased 0). Global models are immutable once finalized, so each chunk of each version
///      is a data contract (see CodeStore): reading a chunk costs ~3 gas per word.
///
///      Seats (CONSENSUS). Anyone may commit during the whole commit phase; when it closes,
///      `drawSeats` draws at most `maxParticipants` seats uniformly at random among the
///      committers, so k committers hold k/n of the seats in expectation whatever their
///      timing; committers not drawn take their stake back (`releaseStake`).
contract FederatedTask is RevenueShare {
    /*//////////////////////////////////////////////////////////////
                                 TYPES
    //////////////////////////////////////////////////////////////*/

    /// @notice Deployment settings of a task (immutable except the access price).
    /// @param paramCount number of model parameters N.
    /// @param valueBits B: each parameter is a signed B-bit integer, 2 <= B <= 16.
    /// @param fracBits fractional bits F of the fixed-point format (value = int / 2^F);
    ///        informational for clients, the contract works on the integers.
    /// @param roundDuration seconds a round (CONSENSUS: its commit phase) stays open.
    /// @param minParticipants quorum: a round with fewer complete, accepted contributions
    ///        keeps the old model.
    /// @param maxParticipants participants per round; when all have acted the round may be
    ///        finalized at once.
    /// @param accessPrice wei per access licence.
    /// @param tierThresholds ascending bounds; tier i pays tierRewards[i] when the score is
    ///        <= tierThresholds[i]; beyond the last threshold nothing is paid. PAPER: the score
    ///        is the distance to the global model, in fixed-point units. CONSENSUS: `claimScore`.
    /// @param tierRewards wei paid per tier.
    /// @param rewardRule PAPER (0): tier by distance to the global model at submission.
    ///        CONSENSUS (1): commit, reveal, then claim: tier by distance to the round's result.
    /// @param revealDuration CONSENSUS: seconds of the reveal phase after the commit phase.
    /// @param stake CONSENSUS: wei each commit must carry (> 0); returned at claim or to a
    ///        committer not drawn, forfeited to the pool by a reveal outside the absolute
    ///        bounds or an unfinished one.
    /// @param minMove CONSENSUS: a reveal whose mean distance to the previous global model is
    ///        below this did not train and is rejected.
    /// @param maxMove CONSENSUS: a reveal farther than this is an outlier and is rejected.
    /// @param maxMoveRatio CONSENSUS: also reject a reveal whose move exceeds this many
    ///        per-mille of `moveReference()`, the median of the moves the round's seated
    ///        committers declared (0: off); such a reveal gets its stake back, since the
    ///        bound depends on the others. Updates shrink as training converges, so a fixed
    ///        `maxMove` alone lets late scaled poison through. At claim, an update whose move
    ///        exceeds this many per-mille of its own round's mean move is paid no reward.
    /// @param chunkWords words per chunk, 1 <= chunkWords <= MAX_CHUNK_WORDS.
    /// @param duplicateDistance CONSENSUS: two accepted updates of one round whose mean
    ///        distance per parameter, measured on `SAMPLE_WORDS` words drawn at random after
    ///        the commits, is at most this are copies of each other: neither is rewarded.
    struct TaskSettings {
        uint32 paramCount;
        uint8 valueBits;
        uint8 fracBits;
        uint64 roundDuration;
        uint32 minParticipants;
        uint32 maxParticipants;
        uint256 accessPrice;
        uint256[] tierThresholds;
        uint256[] tierRewards;
        uint8 rewardRule;
        uint64 revealDuration;
        uint256 stake;
        uint256 minMove;
        uint256 maxMove;
        uint256 maxMoveRatio;
        uint32 chunkWords;
        uint256 duplicateDistance;
    }

    /// @notice What a participant sends with each chunk of a reveal or claim.
    /// @param salt the commitment's secret (read with chunk 0 only).
    /// @param move declared move sum: sum |v - g| over all parameters against the global
    ///        model current during the reveal (read with chunk 0 only).
    /// @param chunkMove this chunk's part of `move` (bound by the chunk's link).
    /// @param nextLink link hash of the next chunk (0 after the last).
    struct Opening {
        bytes32 salt;
        uint256 move;
        uint256 chunkMove;
        bytes32 nextLink;
    }

    uint8 public constant PAPER = 0;
    uint8 public constant CONSENSUS = 1;

    // Status of an address in a round.
    uint8 internal constant NONE = 0;
    uint8 internal constant COMMITTED = 1; // CONSENSUS: committed, no chunk revealed yet
    uint8 internal constant ACCEPTED = 2; // every chunk in (and, CONSENSUS, the move accepted)
    uint8 internal constant REJECTED = 3; // CONSENSUS: declared move out of bounds
    uint8 internal constant CLAIMED = 4; // CONSENSUS: reward and stake credited
    uint8 internal constant SENDING = 5; // some chunks in, not all
    uint8 internal constant SEATED = 6; // CONSENSUS: drawn for a seat, no chunk revealed yet
    uint8 internal constant RELEASED = 7; // CONSENSUS: not drawn, stake returned

    /*//////////////////////////////////////////////////////////////
                                 EVENTS
    //////////////////////////////////////////////////////////////*/

    event PoolFunded(address indexed from, uint256 amount, uint256 pool);
    event InitialModelSet(uint256 indexed chunk, address store);
    event StorageWarmed(uint256 fromWord, uint256 toWord);
    event RoundStarted(uint256 indexed round, uint256 deadline, uint256 reserved);
    event ChunkReceived(uint256 indexed round, address indexed participant, uint256 chunk);
    event Submitted(
        uint256 indexed round, address indexed participant, uint256 distance, uint256 tier, uint256 reward
    );
    event RoundClosed(uint256 indexed round, uint256 participants);
    event ChunksFinalized(uint256 indexed round, uint256 done, uint256 total);
    event RoundFinalized(uint256 indexed round, uint256 participants);
    event RoundAbandoned(uint256 indexed round, uint256 participants, uint256 quorum);
    event Withdrawn(address indexed account, uint256 rewards, uint256 revenue);
    event Committed(
        uint256 indexed round, address indexed participant, bytes32 commitment, uint256 move, uint256 stake
    );
    event Revealed(uint256 indexed round, address indexed participant, uint256 move, bool accepted);
    event StakeForfeited(uint256 indexed round, address indexed participant, uint256 amount);
    event Claimed(
        uint256 indexed round, address indexed participant, uint256 distance, uint256 tier, uint256 reward, uint256 stake
    );
    event SeatsDrawn(uint256 indexed round, uint256 committers, uint256 seats, uint256 moveReference, bytes32 seed);
    event StakeReturned(uint256 indexed round, address indexed participant, uint256 amount);
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
    error ZeroDuration();
    error BadChunkWords(uint256 chunkWords, uint256 limit);
    error BadTiers(uint256 thresholds, uint256 rewards);
    error TiersNotAscending(uint256 index);
    error BadRewardRule(uint256 rule);
    error BadMoveBounds(uint256 minMove, uint256 maxMove);
    error ZeroStake();
    error MoveRatioTooLarge(uint256 maxMoveRatio, uint256 limit);
    error RewardsTooLarge(uint256 topReward, uint256 maxParticipants);
    error NotOwner(address caller);
    error RoundNotOpen(uint256 round);
    error RoundStillOpen(uint256 round);
    error WrongRound(uint256 given, uint256 current);
    error AlreadySubmitted(address participant, uint256 round);
    error RoundFull(uint256 round, uint256 maxParticipants);
    error WrongLength(uint256 given, uint256 expected);
    error WrongChunk(uint256 given, uint256 expected);
    error ValueOutOfRange(uint256 word, uint256 lanes);
    error NonZeroPadding(uint256 word);
    error DeadlineNotReached(uint256 deadline, uint256 nowTime);
    error InsufficientPool(uint256 required, uint256 available);
    error ModelLocked();
    error NothingToWithdraw(address account);
    error TransferFailed(address to, uint256 amount);
    error Reentrancy();
    error WrongRule(uint8 rule);
    error WrongPhase(uint256 round, uint8 phase);
    error AlreadyCommitted(address participant, uint256 round);
    error NotCommitted(address participant, uint256 round);
    error BadReveal(address participant, uint256 round);
    error MoveMismatch(uint256 chunk, uint256 declared, uint256 actual);
    error NotClaimable(address participant, uint256 round, uint8 status);
    error WrongStake(uint256 sent, uint256 stake);
    error SubmissionsClosed(uint256 round, uint256 deadline);
    error TooManySenders(uint256 round, uint256 capacity);
    error StorageNotWarmed(uint256 warmedWords, uint256 modelWords);
    error WarmOutOfOrder(uint256 fromWord, uint256 warmedWords);
    error SeatsNotDrawn(uint256 round);
    error SeatsAlreadyDrawn(uint256 round);
    error NotSeated(address participant, uint256 round);
    error NotReleasable(address participant, uint256 round, uint8 status);
    error TaskIsEnded();
    error SweepTooEarly(uint256 sweepableAt, uint256 nowTime);

    /*//////////////////////////////////////////////////////////////
                               IMMUTABLES
    //////////////////////////////////////////////////////////////*/

    uint256 public constant MAX_TIERS = 8;
    /// @notice Largest chunk: its data contract must stay under the 24,576-byte code limit.
    uint256 public constant MAX_CHUNK_WORDS = 767;
    /// @dev ERC-7201-style root of the packed accumulator, far from Solidity's own slots.
    uint256 internal constant ACC_ROOT = uint256(keccak256("fedchain.accumulator")) - 1;
    /// @dev Set in every accumulator word a round writes, so no word ever returns to zero
    ///      (a later write would cost 22,100 gas instead of 5,000). It is bit 31 of the top
    ///      lane, which sums never reach: fewer than 2^(31-B) values of < 2^B each.
    uint256 internal constant ACC_SENTINEL = 1 << 255;
    /// @notice CONSENSUS: most seats a round may have; bounds the draw and the claim's copy
    ///         check, both O(seats).
    uint256 public constant MAX_SEATS = 256;
    /// @notice CONSENSUS: words of each accepted update kept to detect same-round copies.
    uint256 public constant SAMPLE_WORDS = 2;
    /// @notice Seconds between `endTask` and the first `sweep`: time for every open claim.
    uint256 public constant EXIT_DELAY = 7 days;
    /// @dev Keeps the sample positions' hashes apart from the seat draw's.
    uint256 internal constant SAMPLE_DOMAIN = 1 << 128;

    address public immutable owner;
    uint256 public immutable paramCount;
    uint256 public immutable valueBits;
    uint256 public immutable fracBits;
    /// @notice Number of 256-bit words of a packed model (16 parameters per word).
    uint256 public immutable modelWords;
    /// @notice Words per chunk, and number of chunks of a model.
    uint256 public immutable chunkWords;
    uint256 public immutable chunkCount;
    uint256 public immutable roundDuration;
    uint256 public immutable minParticipants;
    uint256 public immutable maxParticipants;
    uint8 public immutable rewardRule;
    uint256 public immutable revealDuration;
    uint256 public immutable stake;
    uint256 public immutable minMove;
    uint256 public immutable maxMove;
    uint256 public immutable maxMoveRatio;
    uint256 public immutable duplicateDistance;

    uint256 internal immutable _bias; // 2^(B-1)
    uint256 internal immutable _biasLanes; // 2^(B-1) in each 32-bit lane
    uint256 internal immutable _invalidLanes; // bits B..15 of each 32-bit lane
    uint256 internal immutable _lastWordPadding; // unused 16-bit lanes of the last word
    uint256 internal immutable _maxMoveSum; // N * (2^B - 1): no update moves farther
    uint256 internal immutable _laneCapacity; // 2^(31-B) - 1 values per lane never reach the sentinel
    bool internal immutable _checkMoves; // CONSENSUS with any move bound set

    /*//////////////////////////////////////////////////////////////
                                 STORAGE
    //////////////////////////////////////////////////////////////*/

    uint256[] internal _tierThresholds;
    uint256[] internal _tierRewards;

    /// @notice Unreserved wei available for rewards.
    uint256 public rewardPool;
    /// @notice Wei set aside for the open round (maxParticipants x top reward).
    uint256 public roundReserve;
    /// @notice Rewards (and returned stakes) credited and not yet withdrawn, per account.
    mapping(address => uint256) public rewardBalance;
    /// @notice Sum of `rewardBalance` over all accounts.
    uint256 public totalRewardsOwed;

    /// @notice Current round id (0 before the first round starts).
    uint256 public currentRound;
    /// @notice Whether the current round accepts submissions, commits or reveals.
    bool public roundOpen;
    /// @notice Whether the current round is closed and its model is being written.
    bool public finalizing;
    /// @notice Chunks of the new model written so far while `finalizing`.
    uint256 public finalizeCursor;
    /// @notice Unix time after which the current round may be finalized.
    uint256 public roundDeadline;
    /// @notice Participants that entered the current round (PAPER: sent a first chunk;
    ///         CONSENSUS: committed).
    uint256 public roundEntrants;
    /// @notice Accumulator words written at least once (`warmStorage`, in order).
    uint256 public warmedWords;
    /// @notice Time `endTask` was called (0: the task runs); no round opens after it.
    uint256 public endedAt;
    /// @notice Whether claim reserves were swept: claims then return stakes only.
    bool public swept;
    /// @notice Complete, accepted contributions of the current round.
    uint256 public roundSubmissions;
    /// @notice Model versions fully written: version 0 is the initial model, version v the
    ///         result of the v-th completed round. The current global model is this version.
    uint256 public completedRounds;
    /// @notice Version produced by each completed round (0: abandoned or not closed yet).
    mapping(uint256 => uint256) public roundVersion;
    /// @notice Round that produced each version.
    mapping(uint256 => uint256) public versionRound;

    /// @dev Data contract of each chunk of each model version.
    mapping(uint256 => mapping(uint256 => address)) internal _modelChunk;
    /// @dev Per chunk: round of its latest contribution (high bits) and the number of
    ///      contributions in that round (low 32 bits).
    mapping(uint256 => uint256) internal _chunkTally;
    /// @dev Per round and address: status (bits 0-7), next chunk expected (8-39), move sum
    ///      declared at reveal (40-135), running sum of the chunks so far (136-255): the
    ///      distance during a PAPER submission or a claim, the verified move during a reveal.
    mapping(uint256 => mapping(address => uint256)) internal _entry;

    /// @notice CONSENSUS: finished reveals (accepted or rejected) this round.
    uint256 public roundReveals;
    /// @notice CONSENSUS: the commit phase ends at this time.
    uint256 public commitDeadline;
    /// @notice CONSENSUS: median of the mean moves declared by this round's seated
    ///         committers, set by `drawSeats`; see `moveReference`.
    uint256 public roundMoveReference;
    /// @notice CONSENSUS: seed of each round's seat draw (0: not drawn); it also picks the
    ///         sampled words of the copy check.
    mapping(uint256 => bytes32) public roundSeed;
    /// @notice CONSENSUS: seats drawn in each round; the seated are `committer(round, i)`,
    ///         i < roundSeats.
    mapping(uint256 => uint256) public roundSeats;
    /// @dev CONSENSUS: every committer of each round by commit order (`roundEntrants` counts
    ///      them, so no array length is written); the draw moves the seated to the front.
    mapping(uint256 => mapping(uint256 => address)) internal _committers;
    /// @dev CONSENSUS: the sampled words of each accepted update.
    mapping(uint256 => mapping(address => uint256[SAMPLE_WORDS])) internal _samples;
    /// @notice CONSENSUS: commitment of each address in each round.
    mapping(uint256 => mapping(address => bytes32)) public commitmentOf;
    /// @dev CONSENSUS: the link hash the next chunk of a reveal or claim must open.
    mapping(uint256 => mapping(address => bytes32)) internal _nextLink;
    /// @notice CONSENSUS: sum of the moves of the current round's accepted reveals.
    uint256 public roundMoveSum;
    /// @notice CONSENSUS: mean move of each completed round's accepted reveals; claim
    ///         thresholds are in per-mille of it, so tiers adapt as updates shrink.
    mapping(uint256 => uint256) public roundMeanMove;
    /// @notice CONSENSUS: wei reserved for the claims of each finalized round.
    mapping(uint256 => uint256) public claimReserve;
    /// @notice CONSENSUS: sum of `claimReserve` over rounds still claimable.
    uint256 public totalClaimReserve;
    /// @notice CONSENSUS: stakes held (committed rounds and accepted, unclaimed reveals).
    uint256 public totalStakes;

    /*//////////////////////////////////////////////////////////////
                               CONSTRUCTOR
    //////////////////////////////////////////////////////////////*/

    /// @notice Creates a task; any ETH sent funds the reward pool.
    constructor(TaskSettings memory cfg) payable RevenueShare(cfg.accessPrice) {
        if (cfg.paramCount == 0) revert ZeroParamCount();
        if (cfg.valueBits < 2 || cfg.valueBits > 16) revert BadValueBits(cfg.valueBits);
        if (cfg.fracBits >= cfg.valueBits) revert BadFracBits(cfg.fracBits, cfg.valueBits);
        if (cfg.minParticipants == 0 || cfg.minParticipants > cfg.maxParticipants) {
            revert BadParticipantBounds(cfg.minParticipants, cfg.maxParticipants);
        }
        // Lanes are 32 bits wide and hold values < 2^B; fewer than 2^(31-B) of them never
        // reach bit 31, which holds the accumulator's sentinel.
        uint256 capacity = (1 << (31 - uint256(cfg.valueBits))) - 1;
        uint256 seatLimit = cfg.rewardRule == CONSENSUS && capacity > MAX_SEATS ? MAX_SEATS : capacity;
        if (cfg.maxParticipants > seatLimit) revert TooManyParticipants(cfg.maxParticipants, seatLimit);
        if (cfg.roundDuration == 0) revert ZeroDuration();
        if (cfg.chunkWords == 0 || cfg.chunkWords > MAX_CHUNK_WORDS) {
            revert BadChunkWords(cfg.chunkWords, MAX_CHUNK_WORDS);
        }
        uint256 tiers = cfg.tierThresholds.length;
        if (tiers == 0 || tiers > MAX_TIERS || tiers != cfg.tierRewards.length) {
            revert BadTiers(tiers, cfg.tierRewards.length);
        }
        uint256 top = cfg.tierRewards[0];
        for (uint256 i = 1; i < tiers; ++i) {
            if (cfg.tierThresholds[i] <= cfg.tierThresholds[i - 1]) revert TiersNotAscending(i);
            if (cfg.tierRewards[i] > top) top = cfg.tierRewards[i];
        }
        // Every round reserves top x maxParticipants; it must not overflow (nor any sum of
        // reserves, which stays below the ETH supply once this product fits in 128 bits).
        if (top > type(uint128).max / cfg.maxParticipants) revert RewardsTooLarge(top, cfg.maxParticipants);

        if (cfg.rewardRule > CONSENSUS) revert BadRewardRule(cfg.rewardRule);
        if (cfg.rewardRule == CONSENSUS) {
            if (cfg.revealDuration == 0) revert ZeroDuration();
            if (cfg.minMove > cfg.maxMove) revert BadMoveBounds(cfg.minMove, cfg.maxMove);
            // A free commit would make seats and unrevealed declarations free.
            if (cfg.stake == 0) revert ZeroStake();
            // maxMoveRatio x reference (a mean move < 2^16) and move x 1000 must not overflow.
            if (cfg.maxMoveRatio > type(uint256).max >> 16) {
                revert MoveRatioTooLarge(cfg.maxMoveRatio, type(uint256).max >> 16);
            }
        }

        owner = msg.sender;
        rewardRule = cfg.rewardRule;
        revealDuration = cfg.revealDuration;
        stake = cfg.stake;
        minMove = cfg.minMove;
        maxMove = cfg.maxMove;
        maxMoveRatio = cfg.maxMoveRatio;
        duplicateDistance = cfg.duplicateDistance;
        _laneCapacity = capacity;
        _checkMoves = cfg.rewardRule == CONSENSUS
            && (cfg.minMove != 0 || cfg.maxMove != type(uint256).max || cfg.maxMoveRatio != 0);
        paramCount = cfg.paramCount;
        valueBits = cfg.valueBits;
        fracBits = cfg.fracBits;
        uint256 words = (uint256(cfg.paramCount) + 15) / 16;
        modelWords = words;
        chunkWords = cfg.chunkWords;
        chunkCount = (words + cfg.chunkWords - 1) / cfg.chunkWords;
        roundDuration = cfg.roundDuration;
        minParticipants = cfg.minParticipants;
        maxParticipants = cfg.maxParticipants;
        _tierThresholds = cfg.tierThresholds;
        _tierRewards = cfg.tierRewards;

        uint256 bias = 1 << (cfg.valueBits - 1);
        _bias = bias;
        _biasLanes = bias * PackedLanes.ONES32;
        _invalidLanes = (0xffff ^ ((1 << cfg.valueBits) - 1)) * PackedLanes.ONES32;
        uint256 used = uint256(cfg.paramCount) % 16;
        _lastWordPadding = used == 0 ? 0 : type(uint256).max << (16 * used);
        _maxMoveSum = uint256(cfg.paramCount) * ((1 << cfg.valueBits) - 1);

        if (msg.value != 0) {
            rewardPool = msg.value;
            emit PoolFunded(msg.sender, msg.value, msg.value);
        }
    }

    /*//////////////////////////////////////////////////////////////
                                MODIFIERS
    //////////////////////////////////////////////////////////////*/

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

    modifier onlyOwnerBeforeStart() {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        if (currentRound != 0) revert ModelLocked();
        _;
    }

    /*//////////////////////////////////////////////////////////////
                              SPONSOR / OWNER
    //////////////////////////////////////////////////////////////*/

    /// @notice Adds the attached ETH to the reward pool. Anyone may fund.
    function fund() external payable {
        rewardPool += msg.value;
        emit PoolFunded(msg.sender, msg.value, rewardPool);
    }

    /// @notice Sets chunk `chunk` of the initial global model (packed int16 words); owner
    ///         only, before round 1. Chunks never set start at 0.
    function setInitialModel(uint256 chunk, uint256[] calldata words) external onlyOwnerBeforeStart {
        (uint256 from,) = _checkChunk(chunk, words);
        (uint256 codePtr, uint256 dataPtr) = CodeStore.alloc(words.length);
        for (uint256 i; i < words.length; ++i) {
            uint256 w = words[i];
            _checkWordRange(w, from + i);
            assembly {
                mstore(add(dataPtr, shl(5, i)), w)
            }
        }
        address store = CodeStore.deploy(codePtr, words.length);
        _modelChunk[0][chunk] = store;
        // Round 0 never exists, so this reads as "no contribution yet" but is already nonzero.
        if (_chunkTally[chunk] == 0) _chunkTally[chunk] = 1;
        emit InitialModelSet(chunk, store);
    }

    /// @notice Writes placeholders into accumulator words [fromWord, toWord), in order from
    ///         `warmedWords`; owner only, before round 1, which cannot open until every word
    ///         is written. The sponsor pays the one-off 22,100-gas fresh-slot writes here, so
    ///         every later write of a participant costs 5,000 and a legal chunk always fits
    ///         its transaction.
    function warmStorage(uint256 fromWord, uint256 toWord) external onlyOwnerBeforeStart {
        if (fromWord != warmedWords) revert WarmOutOfOrder(fromWord, warmedWords);
        if (fromWord >= toWord || toWord > modelWords) revert WrongLength(toWord, modelWords);
        warmedWords = toWord;
        uint256 slot = ACC_ROOT + 2 * fromWord;
        uint256 end = ACC_ROOT + 2 * toWord;
        for (; slot < end; ++slot) {
            assembly {
                sstore(slot, 1)
            }
        }
        emit StorageWarmed(fromWord, toWord);
    }

    /// @notice Changes the access price; owner only.
    function setAccessPrice(uint256 price) external {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        _setAccessPrice(price);
    }

    /// @notice Ends the task: no round opens after this one (an open round still runs to
    ///         its end). After `EXIT_DELAY` the owner may `sweep` what nobody is owed.
    function endTask() external {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        if (endedAt != 0) revert TaskIsEnded();
        endedAt = block.timestamp;
        emit TaskEnded(block.timestamp + EXIT_DELAY);
    }

    /// @notice Pays the owner the reward pool and the reserves of claims still open, once
    ///         the task has ended, `EXIT_DELAY` has passed and no round is open. Never touches
    ///         what is owed: credited rewards, stakes (claims still return them) and revenue
    ///         of contributors. May be called again for revenue that reaches the pool later.
    function sweep() external nonReentrant {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        uint256 end = endedAt;
        if (end == 0 || block.timestamp < end + EXIT_DELAY) {
            revert SweepTooEarly(end == 0 ? type(uint256).max : end + EXIT_DELAY, block.timestamp);
        }
        if (roundOpen || finalizing) revert RoundStillOpen(currentRound);
        uint256 amount = rewardPool + totalClaimReserve;
        if (amount == 0) revert NothingToWithdraw(msg.sender);
        rewardPool = 0;
        totalClaimReserve = 0; // per-round reserves are dead: `swept` ends every claim window
        swept = true;
        emit Swept(msg.sender, amount);
        (bool ok,) = msg.sender.call{value: amount}("");
        if (!ok) revert TransferFailed(msg.sender, amount);
    }

    /*//////////////////////////////////////////////////////////////
                                  ROUNDS
    //////////////////////////////////////////////////////////////*/

    /// @notice Opens the next round, reserving maxParticipants x top reward from the pool.
    /// @dev The owner opens round 1 (after setting the initial model); later rounds open
    ///      automatically at finalize when the pool suffices, or by anyone calling this.
    function startRound() external {
        if (currentRound == 0) {
            if (msg.sender != owner) revert NotOwner(msg.sender);
            if (warmedWords < modelWords) revert StorageNotWarmed(warmedWords, modelWords);
        }
        if (roundOpen || finalizing) revert RoundStillOpen(currentRound);
        _startRound(true);
    }

    /// @notice Submits one chunk of the caller's quantized weights (PAPER), before the
    ///         round's deadline. Chunks go in order, 0 first; the reward is credited with the
    ///         last one. A seat is taken by a complete submission: the first
    ///         `maxParticipants` to finish are the round's contributors, so senders that stop
    ///         after some chunks lock nobody out (their chunks still count in those chunks'
    ///         means, as every contribution that arrived does).
    /// @param round the round the weights were trained for (guards against stale sends).
    /// @param chunk index of the chunk, the caller's next one.
    /// @param words the chunk's packed words (16 int16 lanes each, unused lanes 0).
    /// @return reward wei credited (0 before the last chunk).
    function submit(uint256 round, uint256 chunk, uint256[] calldata words) external returns (uint256 reward) {
        if (rewardRule != PAPER) revert WrongRule(rewardRule);
        _checkOpen(round);
        if (block.timestamp >= roundDeadline) revert SubmissionsClosed(round, roundDeadline);
        uint256 entry = _entry[round][msg.sender];
        if (uint8(entry) == ACCEPTED) revert AlreadySubmitted(msg.sender, round);
        _checkNextChunk(entry, chunk);
        _checkChunk(chunk, words);
        if (roundSubmissions >= maxParticipants) revert RoundFull(round, maxParticipants);
        if (chunk == 0) {
            // Chunk c never has more contributions than chunk 0: this bounds every lane sum.
            if (roundEntrants >= _laneCapacity) revert TooManySenders(round, _laneCapacity);
            roundEntrants += 1;
        }

        uint256 running = (entry >> 136) + _accumulate(round, chunk, words, true);
        if (chunk + 1 < chunkCount) {
            _entry[round][msg.sender] = SENDING | ((chunk + 1) << 8) | (running << 136);
            emit ChunkReceived(round, msg.sender, chunk);
            return 0;
        }

        uint256 distance = running / paramCount;
        uint256 tier_ = rewardTier(distance);
        if (tier_ < _tierRewards.length) reward = _tierRewards[tier_];
        _entry[round][msg.sender] = ACCEPTED;
        roundSubmissions += 1;
        if (reward != 0) {
            // Cannot underflow: the reserve holds maxParticipants x the largest reward.
            roundReserve -= reward;
            _credit(msg.sender, reward, reward);
        }
        emit Submitted(round, msg.sender, distance, tier_, reward);
    }

    /// @notice Closes the open round and writes the new global model; `finalizeChunks` with
    ///         no limit. Fits one transaction only for small models.
    function finalize() external {
        finalizeChunks(type(uint256).max);
    }

    /// @notice Closes the open round, then writes at most `maxChunks` chunks of the new
    ///         global model per call until it is complete. Anyone may call: closing needs the
    ///         deadline passed or every expected participant done (PAPER: maxParticipants
    ///         complete submissions; CONSENSUS: the seats drawn and every seated committer's
    ///         reveal finished). With a quorum of complete, accepted contributions the new
    ///         model becomes current when its last chunk is written; without one the round is
    ///         abandoned and the model is unchanged. Then the next round opens if the pool
    ///         can fund it.
    /// @return done whether the round is fully finalized.
    function finalizeChunks(uint256 maxChunks) public returns (bool done) {
        if (!finalizing) {
            if (!_closeRound()) return true;
        }
        uint256 round = currentRound;
        uint256 version = roundVersion[round];
        uint256 c = finalizeCursor;
        uint256 end = maxChunks > chunkCount - c ? chunkCount : c + maxChunks;
        for (; c < end; ++c) {
            _writeChunk(round, version, c);
        }
        finalizeCursor = end;
        emit ChunksFinalized(round, end, chunkCount);
        if (end < chunkCount) return false;

        finalizing = false;
        completedRounds = version;
        emit RoundFinalized(round, roundSubmissions);
        _startRound(false);
        return true;
    }

    /*//////////////////////////////////////////////////////////////
                        COMMIT, REVEAL, CLAIM (CONSENSUS)
    //////////////////////////////////////////////////////////////*/

    /// @notice Commits to an update for the open round, with `stake` wei attached. Open to
    ///         anyone until `commitDeadline`, however many commit: seats are drawn after it
    ///         (`drawSeats`).
    /// @param commitment `commitmentHash(round, msg.sender, salt, move, firstLink)`: binds
    ///        every chunk (through the link chain) to this task, the round and the sender, so
    ///        a copied commitment is useless.
    /// @param move the same declared move sum (sum |v - g| over all parameters), in the
    ///        clear: reveals are bounded relative to the median of the seated committers'
    ///        declarations (`moveReference`), and the reveal must open exactly this value.
    function commit(uint256 round, bytes32 commitment, uint256 move) external payable {
        if (rewardRule != CONSENSUS) revert WrongRule(rewardRule);
        _checkOpen(round);
        if (block.timestamp >= commitDeadline) revert WrongPhase(round, 2);
        if (_entry[round][msg.sender] != NONE) revert AlreadyCommitted(msg.sender, round);
        if (msg.value != stake) revert WrongStake(msg.value, stake);
        // No update can move farther: the declaration is a lie.
        if (move > _maxMoveSum) revert MoveMismatch(0, move, _maxMoveSum);
        if (!_checkMoves) move = 0;

        _entry[round][msg.sender] = COMMITTED | (move << 40);
        commitmentOf[round][msg.sender] = commitment;
        uint256 index = roundEntrants;
        _committers[round][index] = msg.sender;
        roundEntrants = index + 1;
        totalStakes += msg.value;
        emit Committed(round, msg.sender, commitment, move / paramCount, msg.value);
    }

    /// @notice Draws the round's seats once its commit phase is over; anyone may call, and
    ///         reveals wait for it. With n committers and k = min(n, maxParticipants) seats,
    ///         a partial Fisher-Yates shuffle keyed by the block's randomness picks k of them
    ///         uniformly (O(k), whatever n). The seated are told apart by status; the median of
    ///         their declared mean moves becomes `moveReference()`.
    /// @dev The seed is `prevrandao` and the previous block hash of the draw's block, both
    ///      unknown when the commits were made. Whoever sends the draw chooses its block
    ///      among those after the deadline (docs/PROTOCOL.md, threat model).
    function drawSeats(uint256 round) external {
        if (rewardRule != CONSENSUS) revert WrongRule(rewardRule);
        _checkRevealPhase(round);
        if (roundSeed[round] != 0) revert SeatsAlreadyDrawn(round);
        bytes32 seed = keccak256(abi.encode(block.prevrandao, blockhash(block.number - 1), address(this), round));
        mapping(uint256 => address) storage list = _committers[round];
        uint256 n = roundEntrants;
        uint256 k = n < maxParticipants ? n : maxParticipants;
        uint256[] memory moves = new uint256[](k);
        for (uint256 i; i < k; ++i) {
            address picked = list[i];
            if (n > k) {
                uint256 j = i + uint256(keccak256(abi.encode(seed, i))) % (n - i);
                if (j != i) {
                    address other = list[j];
                    list[j] = picked;
                    list[i] = other;
                    picked = other;
                }
            }
            uint256 entry = _entry[round][picked];
            _entry[round][picked] = _withStatus(entry, SEATED);
            moves[i] = ((entry >> 40) & type(uint96).max) / paramCount;
        }
        uint256 reference_ = MedianLib.lowerMedian(moves);
        roundSeed[round] = seed;
        roundSeats[round] = k;
        roundMoveReference = reference_;
        emit SeatsDrawn(round, n, k, reference_, seed);
    }

    /// @notice Returns the stake of a committer that was not drawn for a seat (or whose round
    ///         closed with no draw).
    function releaseStake(uint256 round) external {
        uint256 entry = _entry[round][msg.sender];
        bool decided = roundSeed[round] != 0 || round != currentRound || !roundOpen;
        if (uint8(entry) != COMMITTED || !decided) revert NotReleasable(msg.sender, round, uint8(entry));
        _entry[round][msg.sender] = _withStatus(entry, RELEASED);
        totalStakes -= stake;
        _credit(msg.sender, stake, 0);
        emit StakeReturned(round, msg.sender, stake);
    }

    /// @notice Reveals one chunk of the committed update, in order. Chunk 0 also opens the
    ///         commitment and declares the update's move (sum |v - g| over all parameters
    ///         against the current global model): if the mean move lies outside the bounds
    ///         (`moveAccepted`) the reveal is rejected at once, nothing enters the aggregate
    ///         and the stake is forfeited. Otherwise each chunk enters the aggregate once its
    ///         link hash and its declared chunk move check out; a false declaration reverts,
    ///         so a liar can never finish and forfeits its stake at finalize.
    /// @param opening salt and declared move (chunk 0), chunk move and next link; see `Opening`.
    /// @return accepted false only for a rejected chunk 0.
    function reveal(
        uint256 round,
        uint256 chunk,
        Opening calldata opening,
        uint256[] calldata words
    ) external returns (bool accepted) {
        if (rewardRule != CONSENSUS) revert WrongRule(rewardRule);
        _checkRevealPhase(round);
        bytes32 seed = roundSeed[round];
        if (seed == 0) revert SeatsNotDrawn(round);
        uint256 entry = _entry[round][msg.sender];
        if (uint8(entry) != (chunk == 0 ? SEATED : SENDING)) {
            if (uint8(entry) == COMMITTED) revert NotSeated(msg.sender, round);
            revert NotCommitted(msg.sender, round);
        }
        _checkNextChunk(entry, chunk);
        _checkChunk(chunk, words);
        _openLink(round, chunk, opening, words);

        // The move declared at commit; the commitment hash bound it too.
        uint256 move = (entry >> 40) & type(uint96).max;
        if (chunk == 0) {
            if (_checkMoves && opening.move != move) revert MoveMismatch(0, move, opening.move);
            uint256 mean = move / paramCount;
            if (!moveAccepted(mean, roundMoveReference)) {
                _entry[round][msg.sender] = REJECTED | (move << 40);
                roundReveals += 1;
                totalStakes -= stake;
                if (!_withinMoveBounds(mean)) {
                    rewardPool += stake;
                    emit StakeForfeited(round, msg.sender, stake);
                } else {
                    // Out of the ratio bound only: the bound follows the others' declarations,
                    // which a majority of seats could skew, so an honest outlier loses nothing.
                    _credit(msg.sender, stake, 0);
                    emit StakeReturned(round, msg.sender, stake);
                }
                emit Revealed(round, msg.sender, mean, false);
                return false;
            }
        }
        _keepSample(round, seed, chunk, words);

        uint256 actual = _accumulate(round, chunk, words, _checkMoves);
        uint256 running = entry >> 136;
        if (_checkMoves) {
            if (actual != opening.chunkMove) revert MoveMismatch(chunk, opening.chunkMove, actual);
            running += actual;
            // Later chunks cannot move negatively, so overshooting already proves a lie.
            if (running > move || (chunk + 1 == chunkCount && running != move)) {
                revert MoveMismatch(chunk, move, running);
            }
        }
        _nextLink[round][msg.sender] = opening.nextLink;
        if (chunk + 1 < chunkCount) {
            _entry[round][msg.sender] = SENDING | ((chunk + 1) << 8) | (move << 40) | (running << 136);
            emit ChunkReceived(round, msg.sender, chunk);
            return true;
        }
        _entry[round][msg.sender] = ACCEPTED | (move << 40);
        roundReveals += 1;
        roundSubmissions += 1;
        roundMoveSum += move / paramCount;
        emit Revealed(round, msg.sender, move / paramCount, true);
        return true;
    }

    /// @notice Claims the reward of an accepted reveal of a finalized round by re-sending
    ///         the update chunk by chunk, exactly as revealed (calldata only: no storage is
    ///         written per parameter). The tier follows from its distance to that round's
    ///         result, the consensus (`claimScore`), unless its move exceeds `maxMoveRatio`
    ///         per-mille of the round's mean move or it has a near copy among the round's
    ///         accepted updates (`duplicateDistance`); the stake is returned with the last
    ///         chunk. Claims stay open until two more rounds have completed; after that, or if
    ///         the round was abandoned, the first chunk settles the stake alone.
    /// @return reward wei of reward credited (0 before the last chunk).
    function claim(
        uint256 round,
        uint256 chunk,
        Opening calldata opening,
        uint256[] calldata words
    ) external returns (uint256 reward) {
        if (rewardRule != CONSENSUS) revert WrongRule(rewardRule);
        uint256 entry = _entry[round][msg.sender];
        bool live = _claimWindow(round, entry);
        _checkNextChunk(entry, chunk);
        _checkChunk(chunk, words);
        _openLink(round, chunk, opening, words);

        uint256 running = entry >> 136;
        if (!live) return _settleClaim(round, entry, 0, false);
        running += _distanceTo(words, _modelChunk[roundVersion[round]][chunk]);
        if (chunk + 1 == chunkCount) return _settleClaim(round, entry, running, true);
        _nextLink[round][msg.sender] = opening.nextLink;
        // Keep status and declared move (bits 0-135) with the next chunk and the running sum.
        _entry[round][msg.sender] = (entry & (type(uint136).max ^ (uint256(type(uint32).max) << 8)))
            | ((chunk + 1) << 8) | (running << 136);
        emit ChunkReceived(round, msg.sender, chunk);
    }

    /// @notice CONSENSUS: whether a reveal that moved `move` (mean per parameter) from the
    ///         previous global model enters the aggregate, given the reference mean move
    ///         (`moveReference`; 0: no ratio bound).
    function moveAccepted(uint256 move, uint256 referenceMean) public view returns (bool) {
        if (!_withinMoveBounds(move)) return false;
        return maxMoveRatio == 0 || referenceMean == 0 || move * 1000 <= maxMoveRatio * referenceMean;
    }

    /// @notice Whether `finalize`/`finalizeChunks` would close the open round now (or is
    ///         mid-way writing its model): the rule keepers poll, stated once, here.
    function canClose() external view returns (bool) {
        return finalizing || (roundOpen && (_everyoneActed(currentRound) || block.timestamp >= roundDeadline));
    }

    /// @notice Wei the next round locks from `rewardPool` when it opens (maxParticipants x
    ///         the top tier reward); `startRound` reverts with InsufficientPool below it.
    function roundReserveNeeded() external view returns (uint256) {
        return _topReward() * maxParticipants;
    }

    /// @notice CONSENSUS: the mean move `maxMoveRatio` refers to in the current round: the
    ///         lower median of the mean moves declared by its seated committers, fixed by
    ///         `drawSeats` before any reveal (0 before). It follows the round's own updates
    ///         (no state carries over from earlier rounds, so no round can ratchet it), and
    ///         moving it either way takes a majority of the round's seats.
    function moveReference() external view returns (uint256) {
        return roundMoveReference;
    }

    /// @notice CONSENSUS: the `i`-th committer of `round` (0 past the last); after the draw
    ///         the first `roundSeats(round)` are the seated.
    function committer(uint256 round, uint256 i) external view returns (address) {
        return _committers[round][i];
    }

    /// @notice CONSENSUS: the score a claim's tier is chosen by (lower is better), in
    ///         per-mille of the round's mean move: (distance + meanMove - move) / meanMove.
    /// @dev move - distance = |v - g_old| - |v - g_new| is how far the round's consensus
    ///      moved towards this update (the L1 analogue of projecting the update on the
    ///      consensus step). A typical honest update pulls the consensus along; a
    ///      free-rider's noise does not, so its score stays near or above 1000 (so does an
    ///      honest update the majority disagrees with: see docs/PROTOCOL.md). The triangle
    ///      inequality bounds move - distance by the consensus step, itself at most the mean
    ///      move, so the score is >= 0 but for per-parameter flooring, which saturates.
    function claimScore(uint256 distance, uint256 move, uint256 meanMove) public pure returns (uint256) {
        uint256 m = meanMove == 0 ? 1 : meanMove;
        return distance + m < move ? 0 : (distance + m - move) * 1000 / m;
    }

    /// @notice Status of `participant` in `round` (0 none, 1 committed, 2 accepted,
    ///         3 rejected, 4 claimed, 5 sending chunks, 6 seated, 7 not drawn and stake
    ///         returned), its next chunk, and its declared mean move (CONSENSUS).
    function statusOf(uint256 round, address participant)
        external
        view
        returns (uint8 status, uint256 nextChunk, uint256 move)
    {
        uint256 entry = _entry[round][participant];
        return (uint8(entry), uint32(entry >> 8), ((entry >> 40) & type(uint96).max) / paramCount);
    }

    /// @notice The commitment a participant sends for an update whose chunk 0 has link
    ///         `firstLink` and whose declared move sum is `move`.
    function commitmentHash(uint256 round, address participant, bytes32 salt, uint256 move, bytes32 firstLink)
        public
        view
        returns (bytes32)
    {
        return keccak256(abi.encode(address(this), round, participant, salt, move, firstLink));
    }

    /// @notice Link hash of one chunk: keccak256(words, chunkMove, nextLink). Chained from the
    ///         last chunk (nextLink 0) back to chunk 0, it lets each chunk be checked on arrival
    ///         with one stored hash per participant.
    function chunkLink(uint256[] calldata words, uint256 chunkMove, bytes32 nextLink) public pure returns (bytes32 h) {
        assembly {
            let ptr := mload(0x40)
            let len := shl(5, words.length)
            calldatacopy(ptr, words.offset, len)
            mstore(add(ptr, len), chunkMove)
            mstore(add(ptr, add(len, 0x20)), nextLink)
            h := keccak256(ptr, add(len, 0x40))
        }
    }

    /*//////////////////////////////////////////////////////////////
                                 PAYOUTS
    //////////////////////////////////////////////////////////////*/

    /// @notice Pays the caller all rewards credited and revenue earned (pull payment).
    function withdraw() external nonReentrant {
        uint256 rewards = rewardBalance[msg.sender];
        uint256 revenue = _takeRevenue(msg.sender);
        if (rewards + revenue == 0) revert NothingToWithdraw(msg.sender);
        if (rewards != 0) {
            rewardBalance[msg.sender] = 0;
            totalRewardsOwed -= rewards;
        }
        emit Withdrawn(msg.sender, rewards, revenue);
        (bool ok,) = msg.sender.call{value: rewards + revenue}("");
        if (!ok) revert TransferFailed(msg.sender, rewards + revenue);
    }

    /*//////////////////////////////////////////////////////////////
                                  VIEWS
    //////////////////////////////////////////////////////////////*/

    /// @notice The whole global model as packed int16 words (free to read with eth_call).
    function globalModel() external view returns (uint256[] memory) {
        return modelSlice(completedRounds, 0, modelWords);
    }

    /// @notice Words [from, to) of the global model, for models too large for one call.
    function globalModelSlice(uint256 from, uint256 to) external view returns (uint256[] memory) {
        return modelSlice(completedRounds, from, to);
    }

    /// @notice Words [from, to) of model version `version` (0: initial; every completed
    ///         round's model stays readable).
    function modelSlice(uint256 version, uint256 from, uint256 to) public view returns (uint256[] memory words) {
        if (to > modelWords || from > to) revert WrongLength(to, modelWords);
        if (version > completedRounds) revert WrongRound(version, completedRounds);
        words = new uint256[](to - from);
        uint256 dest;
        assembly {
            dest := add(words, 0x20)
        }
        uint256 size = chunkWords;
        for (uint256 i = from; i < to;) {
            uint256 c = i / size;
            uint256 stop = (c + 1) * size < to ? (c + 1) * size : to;
            CodeStore.load(_modelChunk[version][c], i - c * size, stop - i, dest + 32 * (i - from));
            i = stop;
        }
    }

    /// @notice Data contract holding chunk `chunk` of model version `version`.
    function modelChunk(uint256 version, uint256 chunk) external view returns (address) {
        return _modelChunk[version][chunk];
    }

    /// @notice Tier selected by a score: the first i with score <= tierThresholds[i],
    ///         or `tierCount()` (no reward) when the score exceeds every threshold.
    function rewardTier(uint256 score) public view returns (uint256 tier_) {
        uint256 tiers = _tierThresholds.length;
        while (tier_ < tiers && score > _tierThresholds[tier_]) ++tier_;
    }

    /// @notice Number of reward tiers.
    function tierCount() external view returns (uint256) {
        return _tierThresholds.length;
    }

    /// @notice Score bound and reward of tier `i`.
    function tier(uint256 i) external view returns (uint256 threshold, uint256 reward) {
        return (_tierThresholds[i], _tierRewards[i]);
    }

    /// @notice Everything an account can withdraw now (rewards + revenue), in wei.
    function withdrawable(address account) external view returns (uint256) {
        return rewardBalance[account] + revenueOf(account);
    }

    /*//////////////////////////////////////////////////////////////
                                INTERNAL
    //////////////////////////////////////////////////////////////*/

    function _topReward() internal view returns (uint256 top) {
        for (uint256 i; i < _tierRewards.length; ++i) {
            if (_tierRewards[i] > top) top = _tierRewards[i];
        }
    }

    function _checkOpen(uint256 round) internal view {
        if (!roundOpen) revert RoundNotOpen(currentRound);
        if (round != currentRound) revert WrongRound(round, currentRound);
    }

    /// @dev CONSENSUS: the draw and the reveals happen between the two deadlines.
    function _checkRevealPhase(uint256 round) internal view {
        _checkOpen(round);
        if (block.timestamp < commitDeadline || block.timestamp >= roundDeadline) revert WrongPhase(round, 1);
    }

    /// @dev CONSENSUS: the absolute move bounds; outside them a reveal forfeits its stake.
    function _withinMoveBounds(uint256 move) internal view returns (bool) {
        return move >= minMove && move <= maxMove;
    }

    /// @dev An entry with its status byte (bits 0-7) replaced, everything else kept.
    function _withStatus(uint256 entry, uint8 status) internal pure returns (uint256) {
        return (entry & ~uint256(0xff)) | status;
    }

    function _credit(address account, uint256 amount, uint256 shares) internal {
        rewardBalance[account] += amount;
        totalRewardsOwed += amount;
        if (shares != 0) _addShares(account, shares);
    }

    /// @dev PAPER: maxParticipants complete submissions; CONSENSUS: the commit phase over,
    ///      the seats drawn and every seated committer's reveal finished.
    function _everyoneActed(uint256 round) internal view returns (bool) {
        return rewardRule == PAPER
            ? roundSubmissions >= maxParticipants
            : block.timestamp >= commitDeadline && roundSeed[round] != 0 && roundReveals == roundSeats[round];
    }

    function _startRound(bool mustSucceed) internal {
        if (endedAt != 0) {
            if (mustSucceed) revert TaskIsEnded();
            return;
        }
        uint256 reserve = _topReward() * maxParticipants;
        if (reserve > rewardPool) {
            if (mustSucceed) revert InsufficientPool(reserve, rewardPool);
            return; // someone funds the pool and calls startRound()
        }
        rewardPool -= reserve;
        roundReserve = reserve;
        uint256 round = currentRound + 1;
        currentRound = round;
        roundOpen = true;
        roundEntrants = 0;
        roundSubmissions = 0;
        if (rewardRule == CONSENSUS) {
            roundReveals = 0;
            roundMoveSum = 0;
            roundMoveReference = 0;
            commitDeadline = block.timestamp + roundDuration;
            roundDeadline = block.timestamp + roundDuration + revealDuration;
        } else {
            roundDeadline = block.timestamp + roundDuration;
        }
        emit RoundStarted(round, roundDeadline, reserve);
    }

    /// @dev Ends the open round's submissions and settles its money. Returns whether a new
    ///      model must be written (quorum reached); if not, the round is abandoned and the
    ///      next one opened here.
    function _closeRound() internal returns (bool completed) {
        uint256 round = currentRound;
        if (!roundOpen) revert RoundNotOpen(round);
        uint256 n = roundSubmissions;
        if (!_everyoneActed(round) && block.timestamp < roundDeadline) {
            revert DeadlineNotReached(roundDeadline, block.timestamp);
        }

        roundOpen = false;
        uint256 release = roundReserve;
        roundReserve = 0;
        completed = n >= minParticipants;
        if (rewardRule == CONSENSUS) {
            // Seated committers who did not finish revealing: their stakes go to the pool, in
            // O(1) because every stake is the same amount. Committers not drawn (or of a
            // round never drawn) keep theirs for `releaseStake`.
            uint256 unfinished = roundSeats[round] - roundReveals;
            if (unfinished != 0) {
                totalStakes -= unfinished * stake;
                release += unfinished * stake;
            }
            if (completed) {
                uint256 keep = n * _topReward();
                claimReserve[round] = keep;
                roundMeanMove[round] = roundMoveSum / n;
                totalClaimReserve += keep;
                release -= keep;
            }
        }

        if (completed) {
            uint256 version = completedRounds + 1;
            roundVersion[round] = version;
            versionRound[version] = round;
            if (version > 2) {
                // Claims of the round two versions back close now.
                uint256 expired = versionRound[version - 2];
                if (claimReserve[expired] != 0) {
                    release += claimReserve[expired];
                    totalClaimReserve -= claimReserve[expired];
                    claimReserve[expired] = 0;
                }
            }
            finalizing = true;
            finalizeCursor = 0;
            emit RoundClosed(round, n);
        } else {
            emit RoundAbandoned(round, n, minParticipants);
        }
        rewardPool += release;
        if (!completed) _startRound(false);
    }

    /// @dev Writes chunk `c` of model `version`: the rounded mean of this round's
    ///      contributions to the chunk, or, if it received none, the previous version's code.
    function _writeChunk(uint256 round, uint256 version, uint256 c) internal {
        uint256 tally = _chunkTally[c];
        if (tally >> 32 != round) {
            _modelChunk[version][c] = _modelChunk[version - 1][c];
            return;
        }
        uint256 n = uint32(tally);
        uint256 from = c * chunkWords;
        uint256 len = (c + 1) * chunkWords < modelWords ? chunkWords : modelWords - from;
        uint256 bias = _bias;
        (uint256 codePtr, uint256 dataPtr) = CodeStore.alloc(len);
        uint256 slot = ACC_ROOT + 2 * from;
        for (uint256 i; i < len; ++i) {
            uint256 lo;
            uint256 hi;
            assembly {
                lo := sload(slot)
                hi := sload(add(slot, 1))
            }
            uint256 w = PackedLanes.meanWord(lo & ~ACC_SENTINEL, hi & ~ACC_SENTINEL, n, bias);
            assembly {
                mstore(add(dataPtr, shl(5, i)), w)
            }
            slot += 2;
        }
        _modelChunk[version][c] = CodeStore.deploy(codePtr, len);
    }

    /// @dev Reverts unless `entry` is an accepted reveal of a finalized round; returns
    ///      whether the round's claims are still live. The claim reserve of a round is
    ///      released when the round two versions later closes; abandoned rounds have none.
    function _claimWindow(uint256 round, uint256 entry) internal view returns (bool live) {
        uint256 version = roundVersion[round];
        if (
            uint8(entry) != ACCEPTED || (round == currentRound && (roundOpen || finalizing))
                || version > completedRounds
        ) {
            revert NotClaimable(msg.sender, round, uint8(entry));
        }
        live = version != 0 && version + 2 > completedRounds + (finalizing ? 1 : 0) && !swept;
    }

    /// @dev Credits a finished claim: the reward of its tier (if live) and the stake.
    function _settleClaim(uint256 round, uint256 entry, uint256 distanceSum, bool live)
        internal
        returns (uint256 reward)
    {
        uint256 declared = (entry >> 40) & type(uint96).max;
        uint256 distance = type(uint256).max;
        uint256 tier_ = _tierRewards.length;
        _entry[round][msg.sender] = CLAIMED | (declared << 40);
        if (live) {
            distance = distanceSum / paramCount;
            uint256 move = declared / paramCount;
            uint256 meanMove = roundMeanMove[round];
            // An update much larger than its round's mean drags the consensus towards itself,
            // which the score would reward as agreement: such an outlier (a boosted or scaled
            // update that passed the reveal bounds, e.g. in round 1) is paid nothing.
            // Copies of one update earn nothing: same-round copies need collusion (commits
            // are binding before anything is revealed), so this prices out Sybils.
            if ((maxMoveRatio == 0 || move * 1000 <= maxMoveRatio * meanMove) && !_hasNearCopy(round)) {
                tier_ = rewardTier(claimScore(distance, move, meanMove));
                if (tier_ < _tierRewards.length) reward = _tierRewards[tier_];
            }
        }
        uint256 stake_ = stake;
        totalStakes -= stake_;
        if (reward != 0) {
            // Cannot underflow: the round reserved the top reward for each accepted reveal.
            claimReserve[round] -= reward;
            totalClaimReserve -= reward;
        }
        _credit(msg.sender, reward + stake_, reward);
        emit Claimed(round, msg.sender, distance, tier_, reward, stake_);
    }

    /// @dev A chunk index must be the participant's next one.
    function _checkNextChunk(uint256 entry, uint256 chunk) internal pure {
        uint256 expected = uint32(entry >> 8);
        if (chunk != expected) revert WrongChunk(chunk, expected);
    }

    /// @dev Checks the length (and, for the last chunk, the padding) of chunk `chunk`;
    ///      returns its word range.
    function _checkChunk(uint256 chunk, uint256[] calldata words) internal view returns (uint256 from, uint256 to) {
        if (chunk >= chunkCount) revert WrongChunk(chunk, chunkCount);
        from = chunk * chunkWords;
        to = from + chunkWords < modelWords ? from + chunkWords : modelWords;
        if (words.length != to - from) revert WrongLength(words.length, to - from);
        if (to == modelWords && words[words.length - 1] & _lastWordPadding != 0) revert NonZeroPadding(to - 1);
    }

    /// @dev Reverts unless all 16 lanes of the wire word are valid B-bit values.
    function _checkWordRange(uint256 w, uint256 index) internal view {
        uint256 bad = (
            PackedLanes.toBiased(PackedLanes.spread(w), _biasLanes)
                | PackedLanes.toBiased(PackedLanes.spread(w >> 128), _biasLanes)
        ) & _invalidLanes;
        if (bad != 0) revert ValueOutOfRange(index, bad);
    }

    /// @dev Checks that `link` is the link the participant committed to for this chunk:
    ///      chunk 0 against the commitment, later chunks against the link stored by the
    ///      previous one. The claim of chunk 0 starts over from the commitment.
    function _openLink(uint256 round, uint256 chunk, Opening calldata o, uint256[] calldata words) internal view {
        bytes32 link = chunkLink(words, o.chunkMove, o.nextLink);
        bool ok = chunk == 0
            ? commitmentHash(round, msg.sender, o.salt, o.move, link) == commitmentOf[round][msg.sender]
            : link == _nextLink[round][msg.sender];
        if (!ok) revert BadReveal(msg.sender, round);
    }

    /// @dev Validates, biases and adds (or, for the chunk's first contribution of the
    ///      round, writes) every word into the accumulator; with `withDistance`, also returns
    ///      sum |v - g| against the current global model. This is the hot loop of
    ///      submit/reveal, so it is one assembly block running exactly the PackedLanes steps
    ///      (spread, toBiased, absDiffSum) inline; tests hold its results to ml/reference.py.
    ///      Out-of-range lanes are OR-ed together and checked once after the loop.
    function _accumulate(uint256 round, uint256 chunk, uint256[] calldata words, bool withDistance)
        internal
        returns (uint256 distanceSum)
    {
        uint256 tally = _chunkTally[chunk];
        bool first = tally >> 32 != round;
        _chunkTally[chunk] = first ? (round << 32) | 1 : tally + 1;

        uint256 g; // the current global chunk, copied into memory
        if (withDistance) {
            assembly {
                g := mload(0x40)
                mstore(0x40, add(g, shl(5, words.length)))
            }
            CodeStore.load(_modelChunk[completedRounds][chunk], 0, words.length, g);
        }
        uint256 biasLanes = _biasLanes;
        uint256 slot = ACC_ROOT + 2 * chunk * chunkWords;
        uint256 seen;
        assembly {
            function spread(x) -> y {
                y := and(x, 0xffffffffffffffffffffffffffffffff)
                y := and(or(y, shl(64, y)), 0x0000000000000000ffffffffffffffff0000000000000000ffffffffffffffff)
                y := and(or(y, shl(32, y)), 0x00000000ffffffff00000000ffffffff00000000ffffffff00000000ffffffff)
                y := and(or(y, shl(16, y)), 0x0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff)
            }
            function absDiffSum(a, b) -> total {
                let d := sub(add(a, 0x0001000000010000000100000001000000010000000100000001000000010000), b)
                let s := and(shr(16, d), 0x0000000100000001000000010000000100000001000000010000000100000001)
                let geLanes := and(d, mul(s, 0xffffffff))
                let ones := 0x0000000100000001000000010000000100000001000000010000000100000001
                let geCount := shr(224, mul(s, ones))
                total := sub(
                    add(shr(224, mul(geLanes, ones)), shl(16, sub(8, geCount))),
                    add(shl(16, geCount), shr(224, mul(xor(d, geLanes), ones)))
                )
            }
            let low16 := 0x0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff
            let end := add(words.offset, shl(5, words.length))
            for { let p := words.offset } lt(p, end) { p := add(p, 0x20) } {
                let w := calldataload(p)
                let lo := and(add(spread(w), biasLanes), low16)
                let hi := and(add(spread(shr(128, w)), biasLanes), low16)
                seen := or(seen, or(lo, hi))
                if withDistance {
                    let gw := mload(g)
                    distanceSum := add(
                        distanceSum,
                        add(
                            absDiffSum(lo, and(add(spread(gw), biasLanes), low16)),
                            absDiffSum(hi, and(add(spread(shr(128, gw)), biasLanes), low16))
                        )
                    )
                    g := add(g, 0x20)
                }
                switch first
                case 0 {
                    // No lane carries: each holds < maxParticipants * 2^B < 2^32.
                    sstore(slot, add(sload(slot), lo))
                    sstore(add(slot, 1), add(sload(add(slot, 1)), hi))
                }
                default {
                    sstore(slot, or(lo, ACC_SENTINEL))
                    sstore(add(slot, 1), or(hi, ACC_SENTINEL))
                }
                slot := add(slot, 2)
            }
        }
        if (seen & _invalidLanes != 0) _revertOutOfRange(chunk, words);
    }

    /// @dev Error path only: finds the first word with an out-of-range lane and reverts.
    function _revertOutOfRange(uint256 chunk, uint256[] calldata words) internal view {
        for (uint256 i; i < words.length; ++i) {
            _checkWordRange(words[i], chunk * chunkWords + i);
        }
    }

    /// @dev sum |v - g| between a chunk's `words` and the data contract `store`; reads only.
    function _distanceTo(uint256[] calldata words, address store) internal view returns (uint256 distanceSum) {
        uint256 g;
        assembly {
            g := mload(0x40)
            mstore(0x40, add(g, shl(5, words.length)))
        }
        CodeStore.load(store, 0, words.length, g);
        for (uint256 i; i < words.length; ++i) {
            uint256 gw;
            assembly {
                gw := mload(add(g, shl(5, i)))
            }
            distanceSum += _wordDistance(words[i], gw);
        }
    }

    /// @dev sum |a - b| over the 16 int16 lanes of two wire words.
    function _wordDistance(uint256 a, uint256 b) internal view returns (uint256) {
        uint256 biasLanes = _biasLanes;
        return PackedLanes.absDiffSum(
            PackedLanes.toBiased(PackedLanes.spread(a), biasLanes), PackedLanes.toBiased(PackedLanes.spread(b), biasLanes)
        )
            + PackedLanes.absDiffSum(
                PackedLanes.toBiased(PackedLanes.spread(a >> 128), biasLanes),
                PackedLanes.toBiased(PackedLanes.spread(b >> 128), biasLanes)
            );
    }

    /// @notice CONSENSUS: index of the model word kept as sample `j` of every update of a
    ///         round drawn with `seed` (ml/protocol mirrors it).
    function sampleWord(bytes32 seed, uint256 j) public view returns (uint256) {
        return uint256(keccak256(abi.encode(seed, SAMPLE_DOMAIN + j))) % modelWords;
    }

    /// @dev Keeps the sampled words that fall in this chunk of the caller's reveal.
    function _keepSample(uint256 round, bytes32 seed, uint256 chunk, uint256[] calldata words) internal {
        uint256 from = chunk * chunkWords;
        for (uint256 j; j < SAMPLE_WORDS; ++j) {
            uint256 w = sampleWord(seed, j);
            if (w >= from && w < from + words.length) _samples[round][msg.sender][j] = words[w - from];
        }
    }

    /// @dev Whether another accepted update of `round` lies within `duplicateDistance` (mean
    ///      per sampled parameter) of the caller's and less than a quarter as far from it as
    ///      the caller moved on the sample: parameters that no update moves (weights of
    ///      always-blank pixels) or barely moves are equal in every honest update and prove
    ///      nothing, so closeness must be small against the move. O(seats) <= MAX_SEATS.
    function _hasNearCopy(uint256 round) internal view returns (bool) {
        uint256[SAMPLE_WORDS] storage mine = _samples[round][msg.sender];
        uint256 moved;
        uint256 version = roundVersion[round] - 1; // the model the round's updates left from
        uint256 size = chunkWords;
        for (uint256 j; j < SAMPLE_WORDS; ++j) {
            uint256 w = sampleWord(roundSeed[round], j);
            uint256 g;
            assembly {
                g := mload(0x40)
            }
            CodeStore.load(_modelChunk[version][w / size], w % size, 1, g);
            assembly {
                g := mload(g)
            }
            moved += _wordDistance(mine[j], g);
        }
        if (moved == 0) return false;
        uint256 limit = duplicateDistance * SAMPLE_WORDS * 16;
        mapping(uint256 => address) storage seated = _committers[round];
        uint256 seats = roundSeats[round];
        for (uint256 i; i < seats; ++i) {
            address other = seated[i];
            uint8 status = uint8(_entry[round][other]);
            if (other == msg.sender || (status != ACCEPTED && status != CLAIMED)) continue;
            uint256[SAMPLE_WORDS] storage theirs = _samples[round][other];
            uint256 d;
            for (uint256 j; j < SAMPLE_WORDS; ++j) {
                d += _wordDistance(mine[j], theirs[j]);
            }
            if (d <= limit && 4 * d < moved) return true;
        }
        return false;
    }

    function _unattributedRevenue(uint256 amount) internal override {
        rewardPool += amount;
        emit PoolFunded(msg.sender, amount, rewardPool);
    }
}
