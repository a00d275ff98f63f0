// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {BlobMath} from "./lib/BlobMath.sol";
import {
    BLOB_SAFE_SPAN,
    EXIT_DELAY,
    MIN_BLOB_PHASE,
    MAX_BLOB_SEATS,
    MAX_BLOBS_PER_UPDATE,
    MAX_COLUMN_BYTES,
    MAX_COLUMN_GAS,
    MAX_DURATION,
    MAX_REPLAY_ROUNDS
} from "./lib/Limits.sol";
import {Hooks, IRule} from "./interfaces/IRule.sol";
import {RevenueShare} from "./RevenueShare.sol";

/// @title BlobEngine
/// @notice The blob data plane of a fedchain task: a round's cost on chain does not grow
///         with the model. Participants post their updates as EIP-4844 blobs (the contract
///         keeps one hash-chain word per update, never a parameter); after posting closes
///         anyone asserts the new model, also as blobs, with each update's score and a bond.
///         Within `disputeWindow` anyone may dispute one field element of the model (the
///         contract opens that element in every update and in the model with the
///         point-evaluation precompile and re-executes the aggregation) or one node of an
///         update's score tree (its children opened the same way). A refuted claim pays half
///         its bond to the disputer and half to the reward pool, and anyone may assert again;
///         a claim the window leaves standing becomes the round's model and pays the rewards.
/// @dev docs/PROTOCOL.md ("The blob plane") specifies it; `ml/blobs.py` mirrors it.
///
///      Updates. N parameters travel as int16 lanes, 15 per field element (`BlobMath`), in
///      `blobsPerUpdate` blobs. Any blob decodes to an update: a lane saturates to the task's
///      B-bit range, lanes past N and bits past 240 are ignored. The model a claim asserts
///      must be canonical (in range, zero elsewhere), so an element dispute compares words.
///
///      Scores. Update i's score is sum |v - g| over its N parameters against the model the
///      round started from. The claim carries the scores and, in its "sums" blobs, each
///      update's score tree: level 0 holds the sums of chunks of CHUNK_ELEMENTS elements,
///      level t+1 the sums of FANOUT nodes of level t, up to the first level of at most
///      FANOUT nodes, whose sum is the score. A dispute names one node and shows that it
///      differs from the sum of its children; every wrong score has such a node.
///
///      Rounds. The next round opens only when this one has ended (finalized or abandoned):
///      its scores measure distances to this round's model, which is not known until the
///      window closes, and nobody should train from a model that may be replaced.
contract BlobEngine is RevenueShare {
    /*//////////////////////////////////////////////////////////////
                                 TYPES
    //////////////////////////////////////////////////////////////*/

    /// @notice Deployment settings (immutable except the access price).
    /// @param paramCount number of model parameters N.
    /// @param valueBits B: each parameter is a signed B-bit integer, 2 <= B <= 16.
    /// @param fracBits fractional bits of the fixed-point format (informational).
    /// @param postDuration seconds the posting phase of a round lasts (at most).
    /// @param minParticipants quorum: with fewer complete updates the round keeps its model.
    /// @param maxParticipants complete updates per round (seats).
    /// @param accessPrice wei per access licence.
    /// @param aggregation MEAN (0), MEDIAN (1) or TRIMMED_MEAN (2).
    /// @param trim TRIMMED_MEAN: values dropped at each end of every coordinate.
    /// @param replayRounds an update whose blobs equal one of the last this-many rounds'
    ///        (or this round's) is refused.
    /// @param keeperFee wei paid from the round's reserve to the asserter of the final claim.
    /// @param assertBond wei every claim bonds: at least what the costliest dispute costs.
    /// @param disputeWindow seconds a claim stands open to disputes (shorter than the
    ///        ~18 days a node keeps blobs).
    /// @param assertTimeout seconds after the posting deadline within which claims may be
    ///        asserted; past it a round with no live claim may be abandoned by anyone.
    struct BlobSettings {
        uint256 paramCount;
        uint256 valueBits;
        uint256 fracBits;
        uint256 postDuration;
        uint256 minParticipants;
        uint256 maxParticipants;
        uint256 accessPrice;
        uint256 aggregation;
        uint256 trim;
        uint256 replayRounds;
        uint256 keeperFee;
        uint256 assertBond;
        uint256 disputeWindow;
        uint256 assertTimeout;
    }

    /// @notice The task's state in one read.
    struct BlobView {
        uint256 round;
        bool open;
        bool postingClosed;
        uint256 postDeadline;
        uint256 entrants;
        uint256 version;
        address claimant;
        uint256 claimDeadline;
        uint256 rewardPool;
        uint256 roundReserve;
        uint256 totalOwed;
        uint256 bonds;
        uint256 endedAt;
        bool modelSet;
    }

    /*//////////////////////////////////////////////////////////////
                                CONSTANTS
    //////////////////////////////////////////////////////////////*/

    uint256 internal constant MEAN = 0;
    uint256 internal constant TRIMMED_MEAN = 2;
    /// @notice Elements per level-0 node of a score tree (a chunk of one blob: 4096 / 32).
    uint256 public constant CHUNK_ELEMENTS = 32;
    /// @notice Children per higher node of a score tree (16 elements of 3 sums).
    uint256 public constant FANOUT = 48;
    /// @dev Score-tree sums: 64-bit slots, 3 per field element.
    uint256 internal constant SLOTS_PER_ELEMENT = 3;
    /// @dev The hooks this plane serves: who may post, settlement, round start and end.
    uint256 internal constant SERVED_HOOKS = Hooks.BEFORE_POST | Hooks.ROUND_START | Hooks.ROUND_END;
    /// @dev Upper bounds (with margin) of a dispute's gas: its base, one opening (50,000 in
    ///      the precompile, its calldata and copy), one versioned hash of a list checked
    ///      against a chain, one comparison of the lane sort per pair of seats.
    ///      Measured: 72k per seat (its opening, list check, lanes) and 813 per pair of
    ///      seats (MEDIAN, every lane in descending order) in a 64-seat round.
    uint256 internal constant GAS_DISPUTE_BASE = 250_000;
    uint256 internal constant GAS_PER_OPENING = 75_000;
    uint256 internal constant GAS_PER_HASH = 800;
    uint256 internal constant GAS_PER_PAIR = 900;

    /*//////////////////////////////////////////////////////////////
                                 EVENTS
    //////////////////////////////////////////////////////////////*/

    event PoolFunded(address indexed from, uint256 amount, uint256 pool);
    event RoundStarted(uint256 indexed round, uint256 postDeadline, uint256 reserve);
    /// @notice Blobs appended to `account`'s update (`kind` 0) or claim draft (`kind` 1) of
    ///         `round`, from position `first`: how anyone finds them (by this transaction).
    event BlobsPosted(uint256 indexed round, address indexed account, uint256 kind, uint256 first, bytes32[] hashes);
    /// @notice `participant`'s update is complete and holds seat `index`.
    event Posted(uint256 indexed round, address indexed participant, uint256 index, bytes32 chain);
    event ModelSet(uint256 indexed version, bytes32 chain);
    /// @notice A claim: its blobs (the model's, then the score trees') and scores.
    event Asserted(uint256 indexed round, address indexed claimant, uint256 deadline, bytes32[] blobs,
        uint256[] scores);
    event ClaimRefuted(uint256 indexed round, address indexed claimant, address indexed disputer, uint256 kind,
        uint256 at);
    event Rewarded(uint256 indexed round, address indexed participant, uint256 distance, uint256 score,
        uint256 reward);
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
    error ModelTooLarge(uint256 blobsPerUpdate, uint256 limit);
    error BadReplayRounds(uint256 replayRounds, uint256 limit);
    error BadDuration(uint256 duration, uint256 limit);
    error BadAggregation(uint256 aggregation);
    /// @notice Posting, asserting and the window together would outlast the blobs a dispute
    ///         needs on the network's nodes.
    error PhasesOutliveBlobs(uint256 span, uint256 limit);
    error RewardsTooLarge(uint256 topReward, uint256 maxParticipants);
    error FeeTooLarge(uint256 keeperFee, uint256 limit);
    error BondTooLarge(uint256 assertBond);
    /// @notice The worst element dispute of these settings would exceed a transaction's gas
    ///         budget or the pools' size limit: nobody could refute a wrong claim.
    error DisputeTooCostly(uint256 gas, uint256 bytes_);
    error HooksNotServed(uint256 hooks);
    error NotOwner(address caller);
    error NotRule();
    error ModelLocked();
    error ModelNotSet();
    error RoundNotOpen(uint256 round);
    error RoundStillOpen(uint256 round);
    error WrongRound(uint256 given, uint256 current);
    error PostingOpen(uint256 round, uint256 postDeadline);
    error PostingClosed(uint256 round);
    error AlreadyPosted(address participant, uint256 round);
    error RoundFull(uint256 round, uint256 maxParticipants);
    /// @notice The transaction carries no blob.
    error NoBlobs();
    error TooManyBlobs(uint256 given, uint256 limit);
    /// @notice This update's blobs equal those of an update of `round`.
    error Replayed(uint256 round);
    error WrongLength(uint256 given, uint256 expected);
    /// @notice The versioned hashes given are not the ones the chain word `expected` binds.
    error BlobsMismatch(uint256 given, uint256 expected);
    error WrongBond(uint256 sent, uint256 bond);
    error NoQuorum(uint256 round, uint256 participants, uint256 minParticipants);
    error QuorumReached(uint256 round, uint256 participants, uint256 abandonableAt);
    error AssertClosed(uint256 round, uint256 assertDeadline);
    error ClaimPending(uint256 round, address claimant, uint256 deadline);
    error NoClaim(uint256 round);
    error WindowOpen(uint256 round, uint256 deadline);
    error WindowClosed(uint256 round, uint256 deadline);
    /// @notice The disputed element or node is what the claim says: the dispute is wrong.
    error ClaimHolds(uint256 round, uint256 at);
    error BadElement(uint256 element, uint256 elements);
    error BadNode(uint256 level, uint256 index);
    error BadSeat(uint256 seat, uint256 entrants);
    error InsufficientPool(uint256 required, uint256 available);
    error NothingToWithdraw(address account);
    error TransferFailed(address to, uint256 amount);
    error Reentrancy();
    error TaskIsEnded();
    error SweepTooEarly(uint256 sweepableAt, uint256 nowTime);
    error BadRuleReply();
    error RewardTooLarge(uint256 reward, uint256 maxReward);

    /*//////////////////////////////////////////////////////////////
                                 STORAGE
    //////////////////////////////////////////////////////////////*/

    address public immutable owner;
    /// @notice The task's reward rule (its creator).
    IRule public immutable rule;
    uint256 internal immutable _hooks;
    uint256 internal immutable _maxReward;
    uint256 public immutable paramCount;
    uint256 internal immutable valueBits;
    uint256 internal immutable fracBits;
    /// @notice Field elements of an update (N / 15, rounded up).
    uint256 public immutable elements;
    uint256 public immutable blobsPerUpdate;
    /// @notice Slots (64-bit sums) of one update's score tree.
    uint256 public immutable slotsPerUpdate;
    uint256 internal immutable postDuration;
    uint256 internal immutable minParticipants;
    uint256 public immutable maxParticipants;
    uint256 internal immutable aggregation;
    uint256 internal immutable trim;
    uint256 internal immutable replayRounds;
    uint256 public immutable keeperFee;
    uint256 public immutable assertBond;
    uint256 public immutable disputeWindow;
    uint256 public immutable assertTimeout;
    /// @notice The most gas an element dispute of these settings takes (a full round,
    ///         MEDIAN's worst order): the constructor holds it under MAX_COLUMN_GAS.
    uint256 public immutable elementDisputeGasBound;
    int256 internal immutable _lo;
    int256 internal immutable _hi;

    uint256 internal rewardPool;
    uint256 internal roundReserve;
    uint256 internal totalOwed;
    /// @dev Wei bonded by the live claim.
    uint256 internal bonds;
    uint256 public currentRound;
    bool internal roundOpen;
    uint256 internal postDeadline;
    uint256 internal roundEntrants;
    /// @notice Model versions finalized (0: only the initial model).
    uint256 public version;
    uint256 internal endedAt;
    /// @dev Version -> chain word of its blobs' versioned hashes (0: not set).
    mapping(uint256 => uint256) internal _modelChain;
    mapping(uint256 => uint256) public roundVersion;
    /// @dev Round -> participant -> chain (192 bits) | seat + 1 (32) | blobs so far (32).
    mapping(uint256 => mapping(address => uint256)) internal _updates;
    /// @dev Round -> seat -> participant.
    mapping(uint256 => mapping(uint256 => address)) internal _seats;
    /// @dev Round -> account -> its claim draft: chain (192 bits) | blobs so far (64).
    mapping(uint256 => mapping(address => uint256)) internal _drafts;
    /// @dev Chain of a complete update -> last round it was posted in (replays).
    mapping(uint256 => uint256) internal _seen;
    /// @dev The live claim of the current round: claimant | deadline (96 bits).
    uint256 internal _claim;
    /// @dev Its model's chain word and keccak256(sums chain, keccak256(scores)).
    uint256 internal _claimModel;
    bytes32 internal _claimDigest;

    /*//////////////////////////////////////////////////////////////
                               CONSTRUCTOR
    //////////////////////////////////////////////////////////////*/

    /// @param s the settings; `owner_` may set the initial model, open round 1, set the
    ///        access price, end the task and sweep; `hooks` what the rule (msg.sender)
    ///        declares, `maxReward` the most it pays one update.
    constructor(BlobSettings memory s, address owner_, uint256 hooks, uint256 maxReward)
        payable
        RevenueShare(s.accessPrice)
    {
        if (s.paramCount == 0) revert ZeroParamCount();
        if (s.valueBits < 2 || s.valueBits > 16) revert BadValueBits(s.valueBits);
        if (s.fracBits >= s.valueBits) revert BadFracBits(s.fracBits, s.valueBits);
        if (s.minParticipants == 0 || s.minParticipants > s.maxParticipants) {
            revert BadParticipantBounds(s.minParticipants, s.maxParticipants);
        }
        if (s.maxParticipants > MAX_BLOB_SEATS) revert TooManyParticipants(s.maxParticipants, MAX_BLOB_SEATS);
        if (s.replayRounds > MAX_REPLAY_ROUNDS) revert BadReplayRounds(s.replayRounds, MAX_REPLAY_ROUNDS);
        if (s.aggregation > TRIMMED_MEAN) revert BadAggregation(s.aggregation);
        _checkDuration(s.postDuration);
        _checkDuration(s.disputeWindow);
        _checkDuration(s.assertTimeout);
        if (s.disputeWindow < MIN_BLOB_PHASE) revert BadDuration(s.disputeWindow, MIN_BLOB_PHASE);
        if (s.assertTimeout < MIN_BLOB_PHASE) revert BadDuration(s.assertTimeout, MIN_BLOB_PHASE);
        uint256 span = s.postDuration + s.assertTimeout + s.disputeWindow;
        if (span > BLOB_SAFE_SPAN) revert PhasesOutliveBlobs(span, BLOB_SAFE_SPAN);
        if (hooks & ~SERVED_HOOKS != 0) revert HooksNotServed(hooks);
        if (maxReward > type(uint128).max / s.maxParticipants) revert RewardsTooLarge(maxReward, s.maxParticipants);
        if (s.keeperFee > type(uint128).max) revert FeeTooLarge(s.keeperFee, type(uint128).max);
        if (s.assertBond > type(uint128).max) revert BondTooLarge(s.assertBond);
        uint256 e = (s.paramCount + BlobMath.LANES - 1) / BlobMath.LANES;
        uint256 perUpdate = (e + BlobMath.FIELD_ELEMENTS - 1) / BlobMath.FIELD_ELEMENTS;
        if (perUpdate > MAX_BLOBS_PER_UPDATE) revert ModelTooLarge(perUpdate, MAX_BLOBS_PER_UPDATE);
        // The costliest dispute of a full round opens one element of every update and of
        // the model, and checks every update's list of versioned hashes.
        uint256 n = s.maxParticipants;
        uint256 gas = GAS_DISPUTE_BASE + (n + 1) * (GAS_PER_OPENING + perUpdate * GAS_PER_HASH)
            + n * n * GAS_PER_PAIR;
        uint256 size = 4 + 32 * 12 + (n + 1) * (BlobMath.OPENING_BYTES + 64 + 32 * perUpdate);
        if (gas > MAX_COLUMN_GAS || size > MAX_COLUMN_BYTES) revert DisputeTooCostly(gas, size);

        owner = owner_;
        rule = IRule(msg.sender);
        _hooks = hooks;
        _maxReward = maxReward;
        paramCount = s.paramCount;
        valueBits = s.valueBits;
        fracBits = s.fracBits;
        elements = e;
        blobsPerUpdate = perUpdate;
        slotsPerUpdate = _treeSlots(e);
        postDuration = s.postDuration;
        minParticipants = s.minParticipants;
        maxParticipants = s.maxParticipants;
        aggregation = s.aggregation;
        trim = s.aggregation == MEAN ? 0 : s.trim;
        replayRounds = s.replayRounds;
        keeperFee = s.keeperFee;
        assertBond = s.assertBond;
        disputeWindow = s.disputeWindow;
        assertTimeout = s.assertTimeout;
        elementDisputeGasBound = gas;
        _lo = -int256(1 << (s.valueBits - 1));
        _hi = int256(1 << (s.valueBits - 1)) - 1;
        if (msg.value != 0) {
            rewardPool = msg.value;
            emit PoolFunded(owner_, msg.value, msg.value);
        }
    }

    function _checkDuration(uint256 d) internal pure {
        if (d == 0 || d > MAX_DURATION) revert BadDuration(d, MAX_DURATION);
    }

    function _checkOwner() internal view {
        if (msg.sender != owner) revert NotOwner(msg.sender);
    }

    modifier nonReentrant() {
        assembly ("memory-safe") {
            if tload(0) {
                mstore(0, 0xab143c06) // Reentrancy()
                revert(0x1c, 0x04)
            }
            tstore(0, 1)
        }
        _;
        assembly ("memory-safe") {
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

    /// @notice Makes the owner's draft of round 0 (`draft(0)`: `blobsPerUpdate` blobs) the
    ///         initial model (owner, before round 1).
    function setInitialModel() external {
        _checkOwner();
        if (currentRound != 0) revert ModelLocked();
        uint256 d = _drafts[0][msg.sender];
        if (uint64(d) != blobsPerUpdate) revert WrongLength(uint64(d), blobsPerUpdate);
        delete _drafts[0][msg.sender];
        _modelChain[0] = d >> 64;
        emit ModelSet(0, bytes32(d >> 64));
    }

    /// @notice Sets the access price for future licences (owner).
    function setAccessPrice(uint256 price) external {
        _checkOwner();
        _setAccessPrice(price);
    }

    /// @notice Ends the task: no round opens after this one. After `EXIT_DELAY` the owner
    ///         may `sweep` the reward pool.
    function endTask() external {
        _checkOwner();
        if (endedAt != 0) revert TaskIsEnded();
        endedAt = block.timestamp;
        emit TaskEnded(block.timestamp + EXIT_DELAY);
    }

    /// @notice Pays the owner the reward pool once the task ended `EXIT_DELAY` ago, ending
    ///         an open round first when anyone could abandon it. Never touches what is owed
    ///         or bonded.
    function sweep() external nonReentrant {
        _checkOwner();
        uint256 end = endedAt;
        if (end == 0 || block.timestamp < end + EXIT_DELAY) {
            revert SweepTooEarly(end == 0 ? type(uint256).max : end + EXIT_DELAY, block.timestamp);
        }
        if (roundOpen) {
            // only once anyone could abandon it, and never under a live claim: the owner
            // cannot cut a round short to take its rewards back
            uint256 at = abandonableAt();
            if (block.timestamp < at) revert SweepTooEarly(at, block.timestamp);
            _checkNoClaim(currentRound);
            _abandon(currentRound);
        }
        uint256 amount = rewardPool;
        if (amount == 0) revert NothingToWithdraw(msg.sender);
        rewardPool = 0;
        emit Swept(msg.sender, amount);
        (bool ok,) = msg.sender.call{value: amount}("");
        if (!ok) revert TransferFailed(msg.sender, amount);
    }

    /*//////////////////////////////////////////////////////////////
                                 ROUNDS
    //////////////////////////////////////////////////////////////*/

    /// @notice Opens the next round, reserving its rewards and the asserter's fee from the
    ///         pool. The owner opens round 1 once the initial model is set; anyone opens the
    ///         later ones once the previous round has ended.
    function startRound() external nonReentrant {
        uint256 round = currentRound;
        if (round == 0) {
            _checkOwner();
            if (_modelChain[0] == 0) revert ModelNotSet();
        }
        if (roundOpen) revert RoundStillOpen(round);
        if (endedAt != 0) revert TaskIsEnded();
        uint256 reserve = roundReserveNeeded();
        uint256 pool = rewardPool;
        if (pool < reserve) revert InsufficientPool(reserve, pool);
        rewardPool = pool - reserve;
        roundReserve = reserve;
        ++round;
        currentRound = round;
        roundOpen = true;
        roundEntrants = 0;
        uint256 deadline = block.timestamp + postDuration;
        postDeadline = deadline;
        emit RoundStarted(round, deadline, reserve);
        if (_hooks & Hooks.ROUND_START != 0) rule.roundStarted(round, deadline);
    }

    /// @notice Appends this blob transaction's blobs to the caller's update of `round`; the
    ///         one that completes it (`blobsPerUpdate` blobs in all) takes a seat, after the
    ///         rule's `beforePost` with `proof` when the rule declares it.
    /// @param proof what the rule asks of the poster (read only by the completing call).
    function post(uint256 round, bytes calldata proof) external nonReentrant {
        _checkPosting(round);
        uint256 word = _updates[round][msg.sender];
        if ((word >> 32) & 0xffffffff != 0) revert AlreadyPosted(msg.sender, round);
        uint256 count = word & 0xffffffff;
        (uint256 chain, uint256 added) = _appendBlobs(round, 0, word >> 64, count, blobsPerUpdate);
        count += added;
        if (count < blobsPerUpdate) {
            _updates[round][msg.sender] = (chain << 64) | count;
            return;
        }
        uint256 seat = roundEntrants;
        if (seat == maxParticipants) revert RoundFull(round, maxParticipants);
        uint256 last = _seen[chain];
        // this round's, or an accepted one's (a round abandoned accepted nothing)
        if (last == round || (last != 0 && last + replayRounds >= round && roundVersion[last] != 0)) {
            revert Replayed(last);
        }
        _seen[chain] = round;
        if (_hooks & Hooks.BEFORE_POST != 0) rule.beforePost(round, msg.sender, 0, bytes32(chain), proof);
        roundEntrants = seat + 1;
        _seats[round][seat] = msg.sender;
        _updates[round][msg.sender] = (chain << 64) | ((seat + 1) << 32) | count;
        emit Posted(round, msg.sender, seat, bytes32(chain));
    }

    /// @notice Appends this blob transaction's blobs to the caller's claim draft of `round`
    ///         (round 0: the owner's initial model): the model's `blobsPerUpdate` blobs, then
    ///         the score trees' `sumsBlobs(entrants)` blobs.
    function draft(uint256 round) external {
        if (round == 0) {
            _checkOwner();
            if (currentRound != 0) revert ModelLocked();
        } else if (round != currentRound || !roundOpen) {
            revert RoundNotOpen(round);
        }
        uint256 word = _drafts[round][msg.sender];
        uint256 count = uint64(word);
        (uint256 chain, uint256 added) =
            _appendBlobs(round, 1, word >> 64, count, blobsPerUpdate + sumsBlobs(maxParticipants));
        _drafts[round][msg.sender] = (chain << 64) | (count + added);
    }

    /// @notice Clears the caller's claim draft of `round` (to start it again).
    function discardDraft(uint256 round) external {
        delete _drafts[round][msg.sender];
    }

    /// @notice Asserts the caller's draft as `round`'s result: `blobs` its versioned hashes
    ///         (the model's, then the score trees'), `scores` each seat's distance to the
    ///         round's starting model (sum |v - g| over the parameters), bonded by
    ///         `assertBond` wei. Open to anyone once posting has closed, until
    ///         `assertTimeout` after the posting deadline, while no claim is live.
    function assertModel(uint256 round, bytes32[] calldata blobs, uint256[] calldata scores) external payable nonReentrant {
        _checkRound(round);
        uint256 n = roundEntrants;
        if (!postingClosed()) revert PostingOpen(round, postDeadline);
        uint256 closeAt = postDeadline + assertTimeout;
        if (block.timestamp > closeAt) revert AssertClosed(round, closeAt);
        _checkNoClaim(round);
        if (n < minParticipants) revert NoQuorum(round, n, minParticipants);
        if (msg.value != assertBond) revert WrongBond(msg.value, assertBond);
        if (scores.length != n) revert WrongLength(scores.length, n);
        uint256 m = blobsPerUpdate;
        if (blobs.length != m + sumsBlobs(n)) revert WrongLength(blobs.length, m + sumsBlobs(n));
        uint256 d = _drafts[round][msg.sender];
        uint256 model = BlobMath.chainOf(0, blobs, 0, m);
        uint256 full = BlobMath.chainOf(model, blobs, m, blobs.length);
        if (uint64(d) != blobs.length || full != d >> 64) revert BlobsMismatch(full, d >> 64);
        delete _drafts[round][msg.sender];
        uint256 deadline = block.timestamp + disputeWindow;
        _claim = (uint256(uint160(msg.sender)) << 96) | deadline;
        _claimModel = model;
        _claimDigest = _digest(BlobMath.chainOf(0, blobs, m, blobs.length), scores);
        bonds += msg.value;
        emit Asserted(round, msg.sender, deadline, blobs, scores);
    }

    /// @notice Refutes the live claim at field element `element` of its model: opens it in
    ///         the model (`openings` record 0) and, when it holds parameters, in every
    ///         seat's update (record 1 + seat), re-executes the aggregation and reverts
    ///         `ClaimHolds` if the claim's element is the canonical result.
    /// @param modelBlobs the claim's model blobs' versioned hashes.
    /// @param updateBlobs each seat's update blobs' versioned hashes (may be empty past the
    ///        parameters).
    function disputeElement(
        uint256 round,
        uint256 element,
        bytes32[] calldata modelBlobs,
        bytes32[][] calldata updateBlobs,
        bytes calldata openings
    ) external nonReentrant {
        _checkWindow(round);
        uint256 m = blobsPerUpdate;
        if (element >= m * BlobMath.FIELD_ELEMENTS) revert BadElement(element, m * BlobMath.FIELD_ELEMENTS);
        _checkBlobs(modelBlobs, _claimModel);
        uint256 b = element / BlobMath.FIELD_ELEMENTS;
        uint256 at = element % BlobMath.FIELD_ELEMENTS;
        uint256 claimed = BlobMath.open(modelBlobs[b], at, openings, 0);
        uint256 expected = 0; // past the parameters the canonical element is 0
        if (element < elements) {
            uint256 n = roundEntrants;
            if (updateBlobs.length != n) revert WrongLength(updateBlobs.length, n);
            uint256[] memory ys = new uint256[](n);
            for (uint256 i; i < n; ++i) {
                _checkBlobs(updateBlobs[i], _updates[round][_seats[round][i]] >> 64);
                ys[i] = BlobMath.open(updateBlobs[i][b], at, openings, i + 1);
            }
            expected = _aggregateElement(ys, element);
        }
        if (claimed == expected) revert ClaimHolds(round, element);
        _refute(round, 0, element);
    }

    /// @notice Refutes the live claim at node (`level`, `index`) of seat `seat`'s score tree:
    ///         the node's value (the claimed score at level `levels()`, else its slot in the
    ///         sums blobs, `openings` record 0) must equal the sum of its children (slots of
    ///         the level below, or at level 0 the distances of its chunk of elements
    ///         between the update and the starting model), opened in order; reverts
    ///         `ClaimHolds` if it does.
    function disputeScore(
        uint256 round,
        uint256 seat,
        uint256 level,
        uint256 index,
        bytes32[] calldata sums,
        uint256[] calldata scores,
        bytes32[] calldata update,
        bytes32[] calldata old,
        bytes calldata openings
    ) external nonReentrant {
        _checkWindow(round);
        uint256 n = roundEntrants;
        if (seat >= n) revert BadSeat(seat, n);
        if (sums.length != sumsBlobs(n)) revert WrongLength(sums.length, sumsBlobs(n));
        if (_digest(BlobMath.chainOf(0, sums, 0, sums.length), scores) != _claimDigest) {
            revert BlobsMismatch(0, uint256(_claimDigest));
        }
        (uint256 count, uint256 offset, uint256 below, uint256 belowOffset, uint256 top) = _node(level);
        if (index >= count) revert BadNode(level, index);
        uint256 base = seat * slotsPerUpdate;
        uint256 k = 0;
        uint256 value;
        if (level == top) {
            value = scores[seat];
        } else {
            value = _slot(sums, base + offset + index, openings, k++);
        }
        uint256 total;
        if (level == 0) {
            _checkBlobs(update, _updates[round][_seats[round][seat]] >> 64);
            _checkBlobs(old, _modelChain[version]);
            total = _chunkDistance(index, update, old, openings, k);
        } else {
            uint256 from = index * FANOUT;
            uint256 to = from + FANOUT < below ? from + FANOUT : below;
            total = _slotSum(sums, base + belowOffset + from, base + belowOffset + to, openings, k);
        }
        uint256 at = (level << 128) | index;
        if (total == value) revert ClaimHolds(round, at);
        _refute(round, 1, at);
    }

    /// @notice Makes the live claim of `round` its result once its window has closed: the
    ///         model becomes the next version, the rule scores the seats (`sums` and
    ///         `scores` as asserted) and the rewards, the fee and the bond are credited.
    function finalize(uint256 round, bytes32[] calldata sums, uint256[] calldata scores) external nonReentrant {
        _checkRound(round);
        uint256 c = _claim;
        if (c == 0) revert NoClaim(round);
        uint256 deadline = uint96(c);
        if (block.timestamp < deadline) revert WindowOpen(round, deadline);
        if (_digest(BlobMath.chainOf(0, sums, 0, sums.length), scores) != _claimDigest) {
            revert BlobsMismatch(0, uint256(_claimDigest));
        }
        uint256 n = roundEntrants;
        address[] memory who = new address[](n);
        for (uint256 i; i < n; ++i) {
            who[i] = _seats[round][i];
        }
        (uint256[] memory ruleScores, uint256[] memory rewards, uint256 refundEach) =
            rule.settle(round, who, scores, new uint256[](0));
        if (ruleScores.length != n || rewards.length != n || refundEach != 0) revert BadRuleReply();
        uint256 paid = 0;
        for (uint256 i; i < n; ++i) {
            uint256 r = rewards[i];
            if (r > _maxReward) revert RewardTooLarge(r, _maxReward);
            paid += r;
            _credit(who[i], r, r);
            emit Rewarded(round, who[i], scores[i], ruleScores[i], r);
        }
        address claimant = address(uint160(c >> 96));
        uint256 bond = bonds;
        bonds = 0;
        _credit(claimant, keeperFee + bond, 0);
        uint256 v = version + 1;
        version = v;
        _modelChain[v] = _claimModel;
        roundVersion[round] = v;
        rewardPool += roundReserve - paid - keeperFee;
        roundReserve = 0;
        _clearClaim();
        roundOpen = false;
        emit ModelSet(v, bytes32(_modelChain[v]));
        emit RoundFinalized(round, v, n);
        if (_hooks & Hooks.ROUND_END != 0) rule.roundEnded(round, true, new address[](0));
    }

    /// @notice Ends `round` without a new model, its reserve back in the pool: once posting
    ///         closed below quorum, or once `assertTimeout` after the posting deadline has
    ///         passed with no live claim. Anyone may call it.
    function abandon(uint256 round) external nonReentrant {
        _checkRound(round);
        uint256 n = roundEntrants;
        uint256 at = abandonableAt();
        if (block.timestamp < at) revert QuorumReached(round, n, at);
        _checkNoClaim(round);
        _abandon(round);
    }

    /*//////////////////////////////////////////////////////////////
                                 MONEY
    //////////////////////////////////////////////////////////////*/

    /// @notice Pays the caller everything credited to it: rewards, fees, bonds, disputers'
    ///         shares and licence revenue.
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

    /// @notice Wei a round locks when it opens: maxParticipants x top reward + the fee.
    function roundReserveNeeded() public view returns (uint256) {
        return _maxReward * maxParticipants + keeperFee;
    }

    /// @notice Whether the current round's posting phase is over (deadline or every seat).
    function postingClosed() public view returns (bool) {
        return roundOpen && (block.timestamp > postDeadline || roundEntrants == maxParticipants);
    }

    /// @notice When anyone may abandon the open round: at the posting deadline below
    ///         quorum, else `assertTimeout` later (and only while no claim is live).
    function abandonableAt() public view returns (uint256) {
        uint256 deadline = postDeadline;
        return roundEntrants < minParticipants ? deadline + 1 : deadline + assertTimeout + 1;
    }

    /// @notice Blobs that hold the score trees of `n` updates.
    function sumsBlobs(uint256 n) public view returns (uint256) {
        uint256 elems = (n * slotsPerUpdate + SLOTS_PER_ELEMENT - 1) / SLOTS_PER_ELEMENT;
        return (elems + BlobMath.FIELD_ELEMENTS - 1) / BlobMath.FIELD_ELEMENTS;
    }

    /// @notice Levels of a score tree below the score itself (the score is level `levels()`).
    function levels() public view returns (uint256 t) {
        (,,,, t) = _node(0);
    }

    /// @notice The chain word of model `version`'s versioned hashes (0: not set).
    function modelChain(uint256 v) external view returns (bytes32) {
        return bytes32(_modelChain[v]);
    }

    /// @notice `who`'s update of `round`: its chain word, blobs so far, and seat + 1 (0
    ///         while incomplete).
    function updateOf(uint256 round, address who) external view returns (bytes32 chain, uint256 count, uint256 seat) {
        uint256 w = _updates[round][who];
        return (bytes32(w >> 64), w & 0xffffffff, (w >> 32) & 0xffffffff);
    }

    /// @notice The participant holding `seat` of `round`.
    function seatOf(uint256 round, uint256 seat) external view returns (address) {
        return _seats[round][seat];
    }

    /// @notice `who`'s claim draft of `round`: its chain word and blobs so far.
    function draftOf(uint256 round, address who) external view returns (bytes32 chain, uint256 count) {
        uint256 w = _drafts[round][who];
        return (bytes32(w >> 64), uint64(w));
    }

    /// @notice The live claim: its model's chain word and digest (sums chain, scores).
    function claimOf() external view returns (address claimant, uint256 deadline, bytes32 model, bytes32 digest) {
        uint256 c = _claim;
        return (address(uint160(c >> 96)), uint96(c), bytes32(_claimModel), _claimDigest);
    }

    /// @notice The settings in one read, in this order: paramCount, valueBits, fracBits,
    ///         postDuration, minParticipants, maxParticipants, aggregation, trim,
    ///         replayRounds, keeperFee, assertBond, disputeWindow, assertTimeout, elements,
    ///         blobsPerUpdate, slotsPerUpdate.
    function settings() external view returns (uint256[16] memory) {
        return [paramCount, valueBits, fracBits, postDuration, minParticipants, maxParticipants, aggregation, trim,
            replayRounds, keeperFee, assertBond, disputeWindow, assertTimeout, elements, blobsPerUpdate,
            slotsPerUpdate];
    }

    /// @notice The task's state in one read (see `BlobView`).
    function roundView() external view returns (BlobView memory v) {
        v.round = currentRound;
        v.open = roundOpen;
        v.postingClosed = postingClosed();
        v.postDeadline = postDeadline;
        v.entrants = roundEntrants;
        v.version = version;
        uint256 c = _claim;
        v.claimant = address(uint160(c >> 96));
        v.claimDeadline = uint96(c);
        v.rewardPool = rewardPool;
        v.roundReserve = roundReserve;
        v.totalOwed = totalOwed;
        v.bonds = bonds;
        v.endedAt = endedAt;
        v.modelSet = _modelChain[0] != 0;
    }

    /*//////////////////////////////////////////////////////////////
                                INTERNAL
    //////////////////////////////////////////////////////////////*/

    function _checkRound(uint256 round) internal view {
        if (!roundOpen) revert RoundNotOpen(round);
        if (round != currentRound) revert WrongRound(round, currentRound);
    }

    function _checkPosting(uint256 round) internal view {
        _checkRound(round);
        if (block.timestamp > postDeadline) revert PostingClosed(round);
    }

    function _checkNoClaim(uint256 round) internal view {
        uint256 c = _claim;
        if (c != 0) revert ClaimPending(round, address(uint160(c >> 96)), uint96(c));
    }

    function _checkWindow(uint256 round) internal view {
        _checkRound(round);
        uint256 c = _claim;
        if (c == 0) revert NoClaim(round);
        if (block.timestamp >= uint96(c)) revert WindowClosed(round, uint96(c));
    }

    /// @dev Reverts unless `hashes` are exactly the list the chain word `chain` binds.
    function _checkBlobs(bytes32[] calldata hashes, uint256 chain) internal pure {
        uint256 c = BlobMath.chainOf(0, hashes, 0, hashes.length);
        if (c != chain || chain == 0) revert BlobsMismatch(c, chain);
    }

    function _digest(uint256 sumsChain, uint256[] calldata scores) internal pure returns (bytes32) {
        return keccak256(abi.encode(sumsChain, keccak256(abi.encodePacked(scores))));
    }

    /// @dev Appends this transaction's blobs (at most `limit` in all) to a chain.
    function _appendBlobs(uint256 round, uint256 kind, uint256 chain, uint256 count, uint256 limit)
        internal
        returns (uint256, uint256 added)
    {
        while (added <= limit && blobhash(added) != 0) ++added;
        if (added == 0) revert NoBlobs();
        if (count + added > limit) revert TooManyBlobs(count + added, limit);
        bytes32[] memory hashes = new bytes32[](added);
        for (uint256 i; i < added; ++i) {
            bytes32 h = blobhash(i);
            hashes[i] = h;
            chain = BlobMath.link(chain, h);
        }
        emit BlobsPosted(round, msg.sender, kind, count, hashes);
        return (chain, added);
    }

    /// @dev The canonical model element `element` from the seats' elements `ys`.
    function _aggregateElement(uint256[] memory ys, uint256 element) internal view returns (uint256) {
        uint256 n = ys.length;
        uint256 first = element * BlobMath.LANES;
        uint256 lanes = paramCount - first < BlobMath.LANES ? paramCount - first : BlobMath.LANES;
        int256[] memory column = new int256[](n);
        uint256 y = 0;
        for (uint256 l; l < lanes; ++l) {
            for (uint256 i; i < n; ++i) {
                column[i] = BlobMath.lane(ys[i], l, _lo, _hi);
            }
            y |= BlobMath.laneBits(BlobMath.aggregate(column, _trimmed(n)), l);
        }
        return y;
    }

    /// @dev Values dropped at each end (ml.protocol.trimmed_count).
    function _trimmed(uint256 n) internal view returns (uint256) {
        if (aggregation == MEAN) return 0;
        uint256 half = (n - 1) / 2;
        return aggregation == TRIMMED_MEAN && trim < half ? trim : half;
    }

    /// @dev Sum |v - g| over the parameters of chunk `index` (elements [32 i, 32 i + 32)):
    ///      the update's elements are openings k.., the old model's the next ones.
    function _chunkDistance(
        uint256 index,
        bytes32[] calldata update,
        bytes32[] calldata old,
        bytes calldata openings,
        uint256 k
    ) internal view returns (uint256 total) {
        uint256 from = index * CHUNK_ELEMENTS;
        uint256 to = from + CHUNK_ELEMENTS < elements ? from + CHUNK_ELEMENTS : elements;
        uint256 b = from / BlobMath.FIELD_ELEMENTS; // a chunk lies in one blob (4096 = 128 x 32)
        uint256 span = to - from;
        for (uint256 e = from; e < to; ++e) {
            uint256 at = e % BlobMath.FIELD_ELEMENTS;
            uint256 u = BlobMath.open(update[b], at, openings, k + e - from);
            uint256 g = BlobMath.open(old[b], at, openings, k + span + e - from);
            uint256 first = e * BlobMath.LANES;
            uint256 lanes = paramCount - first < BlobMath.LANES ? paramCount - first : BlobMath.LANES;
            for (uint256 l; l < lanes; ++l) {
                int256 d = BlobMath.lane(u, l, _lo, _hi) - BlobMath.lane(g, l, _lo, _hi);
                total += uint256(d < 0 ? -d : d);
            }
        }
    }

    /// @dev Slot `s` of the sums blobs (64 bits), from opening k.
    function _slot(bytes32[] calldata sums, uint256 s, bytes calldata openings, uint256 k)
        internal
        view
        returns (uint256)
    {
        uint256 e = s / SLOTS_PER_ELEMENT;
        uint256 y = BlobMath.open(sums[e / BlobMath.FIELD_ELEMENTS], e % BlobMath.FIELD_ELEMENTS, openings, k);
        return uint64(y >> (64 * (s % SLOTS_PER_ELEMENT)));
    }

    /// @dev Sum of slots [from, to), each element opened once, openings k.. in order.
    function _slotSum(bytes32[] calldata sums, uint256 from, uint256 to, bytes calldata openings, uint256 k)
        internal
        view
        returns (uint256 total)
    {
        uint256 opened = type(uint256).max;
        uint256 y = 0;
        for (uint256 s = from; s < to; ++s) {
            uint256 e = s / SLOTS_PER_ELEMENT;
            if (e != opened) {
                y = BlobMath.open(sums[e / BlobMath.FIELD_ELEMENTS], e % BlobMath.FIELD_ELEMENTS, openings, k++);
                opened = e;
            }
            total += uint64(y >> (64 * (s % SLOTS_PER_ELEMENT)));
        }
    }

    /// @dev Level `level` of the score tree: its node count and slot offset, the level
    ///      below's count and offset, and the top level (the score's: levels stored).
    function _node(uint256 level)
        internal
        view
        returns (uint256 count, uint256 offset, uint256 below, uint256 belowOffset, uint256 top)
    {
        uint256 c = (elements + CHUNK_ELEMENTS - 1) / CHUNK_ELEMENTS;
        uint256 off = 0;
        uint256 t = 0;
        while (true) {
            if (t == level) (count, offset) = (c, off);
            if (t + 1 == level) (below, belowOffset) = (c, off);
            if (c <= FANOUT) break;
            off += c;
            c = (c + FANOUT - 1) / FANOUT;
            ++t;
        }
        top = t + 1;
        if (level == top) (count, offset) = (1, 0);
        else if (level > top) count = 0;
    }

    /// @dev Slots of one update's score tree.
    function _treeSlots(uint256 e) internal pure returns (uint256 total) {
        uint256 c = (e + CHUNK_ELEMENTS - 1) / CHUNK_ELEMENTS;
        while (true) {
            total += c;
            if (c <= FANOUT) break;
            c = (c + FANOUT - 1) / FANOUT;
        }
    }

    /// @dev The live claim is wrong: half its bond to the disputer, half to the pool.
    function _refute(uint256 round, uint256 kind, uint256 at) internal {
        address claimant = address(uint160(_claim >> 96));
        uint256 bond = bonds;
        bonds = 0;
        uint256 half = bond / 2;
        _credit(msg.sender, half, 0);
        rewardPool += bond - half;
        _clearClaim();
        emit ClaimRefuted(round, claimant, msg.sender, kind, at);
    }

    function _clearClaim() internal {
        _claim = 0;
        _claimModel = 0;
        _claimDigest = 0;
    }

    function _abandon(uint256 round) internal {
        uint256 n = roundEntrants;
        rewardPool += roundReserve;
        roundReserve = 0;
        roundOpen = false;
        emit RoundAbandoned(round, n);
        if (_hooks & Hooks.ROUND_END != 0) {
            address[] memory who = new address[](n);
            for (uint256 i; i < n; ++i) {
                who[i] = _seats[round][i];
            }
            rule.roundEnded(round, false, who);
        }
    }

    function _credit(address account, uint256 amount, uint256 shares) internal {
        totalOwed += amount;
        _creditAccount(account, shares, amount);
    }

    function _unattributedRevenue(uint256 value) internal override {
        rewardPool += value;
    }
}
