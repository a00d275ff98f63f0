// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {PackedLanes} from "./lib/PackedLanes.sol";
import {RevenueShare} from "./RevenueShare.sol";

/// @title FederatedTask
/// @notice One federated-learning task whose server is this contract. Each round,
///         participants submit their locally trained, quantized weights; the contract
///         sums them in packed lanes, publishes the rounded integer mean as the new global
///         model, pays each submission a tiered reward from a sponsor-funded pool, and sells
///         access licences whose revenue flows back to contributors.
/// @dev Protocol (paper rule): the reward tier of a submission is chosen by its distance to
///      the global model current at submission time, distance = floor(sum |v_p - g_p| / N)
///      in fixed-point units. Every piece of arithmetic is mirrored in `ml/reference.py`.
///
///      Storage layout of the model (see PackedLanes): the global model occupies ceil(N/16)
///      words of 16 int16 lanes; the round accumulator ceil(N/16)*2 words of 8 biased 32-bit
///      lanes. Neither is ever cleared: the first submission of a round overwrites the
///      accumulator instead of adding to it, so every later round pays 5,000 gas per word
///      (nonzero -> nonzero) rather than 22,100.
contract FederatedTask is RevenueShare {
    /*//////////////////////////////////////////////////////////////
                                 TYPES
    //////////////////////////////////////////////////////////////*/

    /// @notice Deployment settings of a task (immutable except the access price).
    /// @param paramCount number of model parameters N.
    /// @param valueBits B: each parameter is a signed B-bit integer, 2 <= B <= 16.
    /// @param fracBits fractional bits F of the fixed-point format (value = int / 2^F);
    ///        informational for clients, the contract works on the integers.
    /// @param roundDuration seconds a round stays open for submissions.
    /// @param minParticipants quorum: a round with fewer submissions keeps the old model.
    /// @param maxParticipants submissions after which a round may be finalized at once.
    /// @param accessPrice wei per access licence.
    /// @param tierThresholds ascending bounds; tier i pays tierRewards[i] when the score is
    ///        <= tierThresholds[i]; beyond the last threshold nothing is paid. PAPER: the score
    ///        is the distance to the global model, in fixed-point units. CONSENSUS: `claimScore`.
    /// @param tierRewards wei paid per tier.
    /// @param rewardRule PAPER (0): tier by distance to the global model at submission.
    ///        CONSENSUS (1): commit, reveal, then claim: tier by distance to the round's result.
    /// @param revealDuration CONSENSUS: seconds of the reveal phase after the commit phase.
    /// @param stake CONSENSUS: wei each commit must carry; returned at claim, forfeited to the
    ///        pool by a rejected reveal or no reveal.
    /// @param minMove CONSENSUS: a reveal whose distance to the previous global model is below
    ///        this did not train and is rejected.
    /// @param maxMove CONSENSUS: a reveal farther than this is an outlier and is rejected.
    /// @param maxMoveRatio CONSENSUS: also reject a reveal whose move exceeds this many
    ///        per-mille of the last completed round's mean move (0: off). Updates shrink as
    ///        training converges, so a fixed `maxMove` alone lets late scaled poison through.
    struct TaskConfig {
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
    }

    uint8 public constant PAPER = 0;
    uint8 public constant CONSENSUS = 1;

    // Status of an address in a round (CONSENSUS).
    uint8 internal constant NONE = 0;
    uint8 internal constant COMMITTED = 1;
    uint8 internal constant ACCEPTED = 2;
    uint8 internal constant REJECTED = 3;
    uint8 internal constant CLAIMED = 4;

    /*//////////////////////////////////////////////////////////////
                                 EVENTS
    //////////////////////////////////////////////////////////////*/

    event PoolFunded(address indexed from, uint256 amount, uint256 pool);
    event InitialModelSet(uint256 offset, uint256 words);
    event RoundStarted(uint256 indexed round, uint256 deadline, uint256 reserved);
    event Submitted(
        uint256 indexed round, address indexed participant, uint256 distance, uint256 tier, uint256 reward
    );
    event RoundFinalized(uint256 indexed round, uint256 participants);
    event RoundAbandoned(uint256 indexed round, uint256 participants, uint256 quorum);
    event Withdrawn(address indexed account, uint256 rewards, uint256 revenue);
    event Committed(uint256 indexed round, address indexed participant, bytes32 commitment, uint256 stake);
    event Revealed(uint256 indexed round, address indexed participant, uint256 move, bool accepted);
    event StakeForfeited(uint256 indexed round, address indexed participant, uint256 amount);
    event Claimed(
        uint256 indexed round, address indexed participant, uint256 distance, uint256 tier, uint256 reward, uint256 stake
    );

    /*//////////////////////////////////////////////////////////////
                                 ERRORS
    //////////////////////////////////////////////////////////////*/

    error InvalidConfig(string reason);
    error NotOwner(address caller);
    error RoundNotOpen(uint256 round);
    error RoundStillOpen(uint256 round);
    error WrongRound(uint256 given, uint256 current);
    error AlreadySubmitted(address participant, uint256 round);
    error RoundFull(uint256 round, uint256 maxParticipants);
    error WrongLength(uint256 given, uint256 expected);
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
    error NotClaimable(address participant, uint256 round, uint8 status);
    error WrongStake(uint256 sent, uint256 stake);

    /*//////////////////////////////////////////////////////////////
                               IMMUTABLES
    //////////////////////////////////////////////////////////////*/

    uint256 public constant MAX_TIERS = 8;
    /// @dev ERC-7201-style roots for the two packed vectors, far from Solidity's own slots.
    uint256 internal constant GLOBAL_ROOT = uint256(keccak256("fedchain.global")) - 1;
    uint256 internal constant ACC_ROOT = uint256(keccak256("fedchain.accumulator")) - 1;

    address public immutable owner;
    uint256 public immutable paramCount;
    uint256 public immutable valueBits;
    uint256 public immutable fracBits;
    /// @notice Number of 256-bit words of a packed model (16 parameters per word).
    uint256 public immutable modelWords;
    uint256 public immutable roundDuration;
    uint256 public immutable minParticipants;
    uint256 public immutable maxParticipants;
    uint8 public immutable rewardRule;
    uint256 public immutable revealDuration;
    uint256 public immutable stake;
    uint256 public immutable minMove;
    uint256 public immutable maxMove;
    uint256 public immutable maxMoveRatio;

    uint256 internal immutable _bias; // 2^(B-1)
    uint256 internal immutable _biasLanes; // 2^(B-1) in each 32-bit lane
    uint256 internal immutable _invalidLanes; // bits B..15 of each 32-bit lane
    uint256 internal immutable _lastWordPadding; // unused 16-bit lanes of the last word

    /*//////////////////////////////////////////////////////////////
                                 STORAGE
    //////////////////////////////////////////////////////////////*/

    uint256[] internal _tierThresholds;
    uint256[] internal _tierRewards;

    /// @notice Unreserved wei available for rewards.
    uint256 public rewardPool;
    /// @notice Wei set aside for the open round (maxParticipants x top reward).
    uint256 public roundReserve;
    /// @notice Rewards credited and not yet withdrawn, per account.
    mapping(address => uint256) public rewardBalance;
    /// @notice Sum of `rewardBalance` over all accounts.
    uint256 public totalRewardsOwed;

    /// @notice Current round id (0 before the first round starts).
    uint256 public currentRound;
    /// @notice Whether the current round accepts submissions.
    bool public roundOpen;
    /// @notice Unix time after which the current round may be finalized.
    uint256 public roundDeadline;
    /// @notice Submissions accepted in the current round.
    uint256 public roundSubmissions;
    /// @notice Rounds whose aggregate became the global model.
    uint256 public completedRounds;
    /// @notice Last round each address submitted to (PAPER).
    mapping(address => uint256) public lastSubmittedRound;

    /// @notice Which round's result each of the two model buffers holds (0: the initial model).
    /// @dev Finalize writes the buffer not holding the current model, so the previous result
    ///      stays readable: CONSENSUS claims for round r work until round r+2 is finalized.
    uint256[2] public bufferRound;
    /// @notice Index (0 or 1) of the buffer holding the current global model.
    uint256 public currentBuffer;

    /// @notice CONSENSUS: commits and reveals of the current round.
    uint256 public roundCommits;
    uint256 public roundReveals;
    /// @notice CONSENSUS: the commit phase ends at this time (or when maxParticipants commit).
    uint256 public commitDeadline;
    /// @notice CONSENSUS: commitment of each address in each round.
    mapping(uint256 => mapping(address => bytes32)) public commitmentOf;
    /// @dev CONSENSUS: status (low 8 bits) and move of the reveal (the rest), one slot.
    mapping(uint256 => mapping(address => uint256)) internal _entry;
    /// @notice CONSENSUS: sum of the moves of the current round's accepted reveals.
    uint256 public roundMoveSum;
    /// @notice CONSENSUS: mean move of each completed round's accepted reveals; claim
    ///         thresholds are in per-mille of it, so tiers adapt as updates shrink.
    mapping(uint256 => uint256) public roundMeanMove;
    /// @notice CONSENSUS: mean move of the last completed round (0 before the first).
    uint256 public lastMeanMove;
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
    constructor(TaskConfig memory cfg) payable RevenueShare(cfg.accessPrice) {
        if (cfg.paramCount == 0) revert InvalidConfig("paramCount must be > 0");
        if (cfg.valueBits < 2 || cfg.valueBits > 16) revert InvalidConfig("valueBits must be in [2, 16]");
        if (cfg.fracBits >= cfg.valueBits) revert InvalidConfig("fracBits must be < valueBits");
        if (cfg.minParticipants == 0 || cfg.minParticipants > cfg.maxParticipants) {
            revert InvalidConfig("need 0 < minParticipants <= maxParticipants");
        }
        // Lanes are 32 bits wide and hold values < 2^B: fewer than 2^(32-B) cannot carry.
        if (uint256(cfg.maxParticipants) >= 1 << (32 - uint256(cfg.valueBits))) {
            revert InvalidConfig("maxParticipants must be < 2^(32 - valueBits)");
        }
        if (cfg.roundDuration == 0) revert InvalidConfig("roundDuration must be > 0");
        uint256 tiers = cfg.tierThresholds.length;
        if (tiers == 0 || tiers > MAX_TIERS || tiers != cfg.tierRewards.length) {
            revert InvalidConfig("need 1..8 tiers with one reward each");
        }
        for (uint256 i = 1; i < tiers; ++i) {
            if (cfg.tierThresholds[i] <= cfg.tierThresholds[i - 1]) {
                revert InvalidConfig("tierThresholds must be strictly ascending");
            }
        }

        if (cfg.rewardRule > CONSENSUS) revert InvalidConfig("rewardRule must be 0 (PAPER) or 1 (CONSENSUS)");
        if (cfg.rewardRule == CONSENSUS) {
            if (cfg.revealDuration == 0) revert InvalidConfig("revealDuration must be > 0");
            if (cfg.minMove > cfg.maxMove) revert InvalidConfig("minMove must be <= maxMove");
        }

        owner = msg.sender;
        rewardRule = cfg.rewardRule;
        revealDuration = cfg.revealDuration;
        stake = cfg.stake;
        minMove = cfg.minMove;
        maxMove = cfg.maxMove;
        maxMoveRatio = cfg.maxMoveRatio;
        paramCount = cfg.paramCount;
        valueBits = cfg.valueBits;
        fracBits = cfg.fracBits;
        modelWords = (uint256(cfg.paramCount) + 15) / 16;
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

    /*//////////////////////////////////////////////////////////////
                              SPONSOR / OWNER
    //////////////////////////////////////////////////////////////*/

    /// @notice Adds the attached ETH to the reward pool. Anyone may fund.
    function fund() external payable {
        rewardPool += msg.value;
        emit PoolFunded(msg.sender, msg.value, rewardPool);
    }

    /// @notice Sets words [offset, offset + words.length) of the initial global model
    ///         (packed int16 words); owner only, before round 1. Call it in slices for models
    ///         whose first write would not fit one transaction.
    /// @dev Writes both model buffers and a nonzero placeholder into the matching
    ///      accumulator slots, so the sponsor pays the one-off 22,100-gas fresh-slot writes
    ///      here and every later transaction pays warm prices. Without it the model starts at 0.
    function setInitialModel(uint256 offset, uint256[] calldata words) external {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        if (currentRound != 0) revert ModelLocked();
        uint256 end = offset + words.length;
        if (words.length == 0 || end > modelWords) revert WrongLength(end, modelWords);
        if (end == modelWords && words[words.length - 1] & _lastWordPadding != 0) revert NonZeroPadding(end - 1);
        uint256 root0 = _bufferRoot(0);
        uint256 root1 = _bufferRoot(1);
        uint256 accRoot = ACC_ROOT;
        for (uint256 i; i < words.length; ++i) {
            uint256 w = words[i];
            _checkWordRange(w, offset + i);
            uint256 slot = accRoot + 2 * (offset + i);
            assembly {
                sstore(add(root0, add(offset, i)), w)
                sstore(add(root1, add(offset, i)), w)
                sstore(slot, 1)
                sstore(add(slot, 1), 1)
            }
        }
        emit InitialModelSet(offset, words.length);
    }

    /// @notice Changes the access price; owner only.
    function setAccessPrice(uint256 price) external {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        _setAccessPrice(price);
    }

    /*//////////////////////////////////////////////////////////////
                                  ROUNDS
    //////////////////////////////////////////////////////////////*/

    /// @notice Opens the next round, reserving maxParticipants x top reward from the pool.
    /// @dev The owner opens round 1 (after setting the initial model); later rounds open
    ///      automatically at finalize when the pool suffices, or by anyone calling this.
    function startRound() external {
        if (currentRound == 0 && msg.sender != owner) revert NotOwner(msg.sender);
        if (roundOpen) revert RoundStillOpen(currentRound);
        _startRound(true);
    }

    /// @notice Submits the caller's quantized weights to the open round.
    /// @param round the round the weights were trained for (guards against stale sends).
    /// @param words the packed model: `modelWords` words of 16 int16 lanes, unused lanes 0.
    /// @return reward wei credited to the caller for this submission.
    function submit(uint256 round, uint256[] calldata words) external returns (uint256 reward) {
        if (rewardRule != PAPER) revert WrongRule(rewardRule);
        if (!roundOpen) revert RoundNotOpen(currentRound);
        if (round != currentRound) revert WrongRound(round, currentRound);
        if (lastSubmittedRound[msg.sender] == round) revert AlreadySubmitted(msg.sender, round);
        uint256 count = roundSubmissions;
        if (count >= maxParticipants) revert RoundFull(round, maxParticipants);
        _checkShape(words);

        uint256 distanceSum = _accumulate(words, count == 0, true);
        uint256 distance = distanceSum / paramCount;
        uint256 tier = rewardTier(distance);
        if (tier < _tierRewards.length) reward = _tierRewards[tier];

        lastSubmittedRound[msg.sender] = round;
        roundSubmissions = count + 1;
        if (reward != 0) {
            // Cannot underflow: the reserve holds maxParticipants x the largest reward.
            roundReserve -= reward;
            rewardBalance[msg.sender] += reward;
            totalRewardsOwed += reward;
            _addShares(msg.sender, reward);
        }
        emit Submitted(round, msg.sender, distance, tier, reward);
    }

    /// @notice Closes the open round. Anyone may call once the deadline has passed or every
    ///         expected participant has acted (PAPER: the round is full; CONSENSUS: the commit
    ///         phase is over and every committer has revealed). With a quorum of accepted
    ///         submissions their rounded mean becomes the global model; without one the round
    ///         is abandoned and the model is unchanged. The next round opens at once if the
    ///         pool can fund it.
    function finalize() external {
        uint256 round = currentRound;
        if (!roundOpen) revert RoundNotOpen(round);
        uint256 n = roundSubmissions;
        bool everyoneActed = rewardRule == PAPER ? n >= maxParticipants : _commitClosed() && roundReveals == roundCommits;
        if (!everyoneActed && block.timestamp < roundDeadline) {
            revert DeadlineNotReached(roundDeadline, block.timestamp);
        }

        roundOpen = false;
        uint256 release = roundReserve;
        roundReserve = 0;
        bool completed = n >= minParticipants;
        if (rewardRule == CONSENSUS) {
            uint256 noShows = roundCommits - roundReveals;
            if (noShows != 0) {
                // Their stakes go to the pool; O(1) because every stake is the same amount.
                totalStakes -= noShows * stake;
                release += noShows * stake;
            }
            if (completed) {
                // Keep what the accepted reveals can claim; return the rest.
                uint256 keep = n * _topReward();
                claimReserve[round] = keep;
                roundMeanMove[round] = roundMoveSum / n;
                lastMeanMove = roundMoveSum / n;
                totalClaimReserve += keep;
                release -= keep;
            }
        }

        if (completed) {
            uint256 target = 1 - currentBuffer;
            uint256 expired = bufferRound[target];
            if (expired != 0 && claimReserve[expired] != 0) {
                // Claims of the round that buffer held are no longer possible.
                release += claimReserve[expired];
                totalClaimReserve -= claimReserve[expired];
                claimReserve[expired] = 0;
            }
            _writeMean(n, _bufferRoot(target));
            bufferRound[target] = round;
            currentBuffer = target;
            completedRounds += 1;
            emit RoundFinalized(round, n);
        } else {
            emit RoundAbandoned(round, n, minParticipants);
        }
        rewardPool += release;
        _startRound(false);
    }

    /*//////////////////////////////////////////////////////////////
                        COMMIT, REVEAL, CLAIM (CONSENSUS)
    //////////////////////////////////////////////////////////////*/

    /// @notice Commits to an update for the open round, with `stake` wei attached.
    /// @param commitment `commitmentHash(round, msg.sender, salt, words)`: binds the update to
    ///        this task, the round and the sender, so a copied commitment is useless.
    function commit(uint256 round, bytes32 commitment) external payable {
        if (rewardRule != CONSENSUS) revert WrongRule(rewardRule);
        if (!roundOpen) revert RoundNotOpen(currentRound);
        if (round != currentRound) revert WrongRound(round, currentRound);
        if (_commitClosed()) revert WrongPhase(round, 2);
        if (_entry[round][msg.sender] != NONE) revert AlreadyCommitted(msg.sender, round);
        if (msg.value != stake) revert WrongStake(msg.value, stake);

        _entry[round][msg.sender] = COMMITTED;
        commitmentOf[round][msg.sender] = commitment;
        roundCommits += 1;
        totalStakes += msg.value;
        emit Committed(round, msg.sender, commitment, msg.value);
    }

    /// @notice Reveals the committed update. It is accumulated if its distance to the
    ///         current global model lies in [minMove, maxMove]; otherwise it is rejected and
    ///         the stake is forfeited to the reward pool.
    /// @return accepted whether the update entered the aggregate.
    function reveal(uint256 round, bytes32 salt, uint256[] calldata words) external returns (bool accepted) {
        if (rewardRule != CONSENSUS) revert WrongRule(rewardRule);
        if (!roundOpen) revert RoundNotOpen(currentRound);
        if (round != currentRound) revert WrongRound(round, currentRound);
        if (!_commitClosed() || block.timestamp >= roundDeadline) revert WrongPhase(round, 1);
        if (_entry[round][msg.sender] != COMMITTED) revert NotCommitted(msg.sender, round);
        _checkOpening(round, salt, words);

        bool checkMove = minMove != 0 || maxMove != type(uint256).max || maxMoveRatio != 0;
        uint256 count = roundSubmissions;
        uint256 move = _accumulate(words, count == 0, checkMove) / paramCount;
        accepted = moveAccepted(move, lastMeanMove);
        roundReveals += 1;
        if (accepted) {
            _entry[round][msg.sender] = ACCEPTED | (move << 8);
            roundSubmissions = count + 1;
            roundMoveSum += move;
        } else {
            // Undo the addition; a rejected first reveal leaves junk that the next accepted
            // reveal overwrites, since the accepted count is still 0.
            if (count != 0) _subtract(words);
            _entry[round][msg.sender] = REJECTED | (move << 8);
            totalStakes -= stake;
            rewardPool += stake;
            emit StakeForfeited(round, msg.sender, stake);
        }
        emit Revealed(round, msg.sender, move, accepted);
    }

    /// @notice Claims the reward of an accepted reveal of a finalized round by re-sending the
    ///         update (calldata only, no storage written per parameter). The tier follows from
    ///         its distance to that round's result, the consensus. Returns the stake as well.
    ///         After the round's result has been overwritten (two completed rounds later) or if
    ///         the round was abandoned, only the stake is returned.
    function claim(uint256 round, bytes32 salt, uint256[] calldata words) external returns (uint256 reward) {
        uint256 entry = _entry[round][msg.sender];
        uint8 status = uint8(entry);
        if (status != ACCEPTED || (round == currentRound && roundOpen)) {
            revert NotClaimable(msg.sender, round, status);
        }
        _checkOpening(round, salt, words);
        _entry[round][msg.sender] = CLAIMED | (entry >> 8 << 8);

        uint256 distance = type(uint256).max;
        uint256 tier_ = _tierRewards.length;
        uint256 b = bufferRound[0] == round ? 0 : bufferRound[1] == round ? 1 : 2;
        if (b < 2) {
            distance = _distanceTo(words, _bufferRoot(b)) / paramCount;
            tier_ = rewardTier(claimScore(distance, entry >> 8, roundMeanMove[round]));
            if (tier_ < _tierRewards.length) reward = _tierRewards[tier_];
        }
        uint256 stake_ = stake;
        totalStakes -= stake_;
        if (reward != 0) {
            // Cannot underflow: the round reserved the top reward for each accepted reveal.
            claimReserve[round] -= reward;
            totalClaimReserve -= reward;
            _addShares(msg.sender, reward);
        }
        rewardBalance[msg.sender] += reward + stake_;
        totalRewardsOwed += reward + stake_;
        emit Claimed(round, msg.sender, distance, tier_, reward, stake_);
    }

    /// @notice CONSENSUS: whether a reveal that moved `move` from the previous global model
    ///         enters the aggregate, given the last completed round's mean move.
    function moveAccepted(uint256 move, uint256 lastMean) public view returns (bool) {
        if (move < minMove || move > maxMove) return false;
        return maxMoveRatio == 0 || lastMean == 0 || move * 1000 <= maxMoveRatio * lastMean;
    }

    /// @notice CONSENSUS: the score a claim's tier is chosen by (lower is better), in
    ///         per-mille of the round's mean move: (distance + meanMove - move) / meanMove.
    /// @dev move - distance = |v - g_old| - |v - g_new| is how far the round's consensus
    ///      moved towards this update (the L1 analogue of projecting the update on the
    ///      consensus step). An honest update pulls the consensus along; a free-rider's noise
    ///      or a stale copy does not, so its score stays near or above 1000. The triangle
    ///      inequality bounds move - distance by the consensus step, itself at most the mean
    ///      move, so the score is >= 0 but for per-parameter flooring, which saturates.
    function claimScore(uint256 distance, uint256 move, uint256 meanMove) public pure returns (uint256) {
        uint256 m = meanMove == 0 ? 1 : meanMove;
        return distance + m < move ? 0 : (distance + m - move) * 1000 / m;
    }

    /// @notice CONSENSUS: status of `participant` in `round` (0 none, 1 committed,
    ///         2 accepted, 3 rejected, 4 claimed) and the move of its reveal.
    function statusOf(uint256 round, address participant) external view returns (uint8 status, uint256 move) {
        uint256 entry = _entry[round][participant];
        return (uint8(entry), entry >> 8);
    }

    /// @notice The commitment a participant must send for `words` in `round`.
    function commitmentHash(uint256 round, address participant, bytes32 salt, uint256[] calldata words)
        public
        view
        returns (bytes32)
    {
        return keccak256(abi.encode(address(this), round, participant, salt, keccak256(abi.encodePacked(words))));
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
        return globalModelSlice(0, modelWords);
    }

    /// @notice Words [from, to) of the global model, for models too large for one call.
    function globalModelSlice(uint256 from, uint256 to) public view returns (uint256[] memory words) {
        if (to > modelWords || from > to) revert WrongLength(to, modelWords);
        words = new uint256[](to - from);
        uint256 root = _bufferRoot(currentBuffer);
        for (uint256 i = from; i < to; ++i) {
            uint256 w;
            assembly {
                w := sload(add(root, i))
            }
            words[i - from] = w;
        }
    }

    /// @notice Tier selected by a distance: the first i with distance <= tierThresholds[i],
    ///         or `tierCount()` (no reward) when the distance exceeds every threshold.
    function rewardTier(uint256 distance) public view returns (uint256 tier) {
        uint256 tiers = _tierThresholds.length;
        while (tier < tiers && distance > _tierThresholds[tier]) ++tier;
    }

    /// @notice Number of reward tiers.
    function tierCount() external view returns (uint256) {
        return _tierThresholds.length;
    }

    /// @notice Distance bound and reward of tier `i`.
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

    function _bufferRoot(uint256 b) internal pure returns (uint256) {
        return GLOBAL_ROOT + (b << 128);
    }

    /// @dev CONSENSUS: commits end at the deadline or when maxParticipants have committed.
    function _commitClosed() internal view returns (bool) {
        return roundCommits >= maxParticipants || block.timestamp >= commitDeadline;
    }

    function _startRound(bool mustSucceed) internal {
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
        roundSubmissions = 0;
        if (rewardRule == CONSENSUS) {
            roundCommits = 0;
            roundReveals = 0;
            roundMoveSum = 0;
            commitDeadline = block.timestamp + roundDuration;
            roundDeadline = block.timestamp + roundDuration + revealDuration;
        } else {
            roundDeadline = block.timestamp + roundDuration;
        }
        emit RoundStarted(round, roundDeadline, reserve);
    }

    function _checkShape(uint256[] calldata words) internal view {
        if (words.length != modelWords) revert WrongLength(words.length, modelWords);
        if (words[words.length - 1] & _lastWordPadding != 0) revert NonZeroPadding(words.length - 1);
    }

    /// @dev Reverts unless all 16 lanes of the wire word are valid B-bit values.
    function _checkWordRange(uint256 w, uint256 index) internal view {
        uint256 bad = (
            PackedLanes.toBiased(PackedLanes.spread(w), _biasLanes)
                | PackedLanes.toBiased(PackedLanes.spread(w >> 128), _biasLanes)
        ) & _invalidLanes;
        if (bad != 0) revert ValueOutOfRange(index, bad);
    }

    /// @dev A reveal or claim must re-send exactly the committed, well-shaped update.
    function _checkOpening(uint256 round, bytes32 salt, uint256[] calldata words) internal view {
        _checkShape(words);
        if (commitmentHash(round, msg.sender, salt, words) != commitmentOf[round][msg.sender]) {
            revert BadReveal(msg.sender, round);
        }
    }

    /// @dev Validates, biases and adds (or, for the round's first submission, writes) every
    ///      word into the accumulator; with `withDistance`, also returns sum |v - g| against
    ///      the current global model. This is the hot loop of submit/reveal, so it is one
    ///      assembly block running exactly the PackedLanes steps (spread, toBiased,
    ///      absDiffSum) inline; tests hold its results to ml/reference.py. Out-of-range lanes
    ///      are OR-ed together and checked once after the loop.
    function _accumulate(uint256[] calldata words, bool first, bool withDistance)
        internal
        returns (uint256 distanceSum)
    {
        uint256 biasLanes = _biasLanes;
        uint256 accRoot = ACC_ROOT;
        uint256 globalRoot = _bufferRoot(currentBuffer);
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
            let slot := accRoot
            let gslot := globalRoot
            let end := add(words.offset, shl(5, words.length))
            for { let p := words.offset } lt(p, end) { p := add(p, 0x20) } {
                let w := calldataload(p)
                let lo := and(add(spread(w), biasLanes), low16)
                let hi := and(add(spread(shr(128, w)), biasLanes), low16)
                seen := or(seen, or(lo, hi))
                if withDistance {
                    let g := sload(gslot)
                    distanceSum := add(
                        distanceSum,
                        add(
                            absDiffSum(lo, and(add(spread(g), biasLanes), low16)),
                            absDiffSum(hi, and(add(spread(shr(128, g)), biasLanes), low16))
                        )
                    )
                    gslot := add(gslot, 1)
                }
                switch first
                case 0 {
                    // No lane carries: each holds < maxParticipants * 2^B < 2^32.
                    sstore(slot, add(sload(slot), lo))
                    sstore(add(slot, 1), add(sload(add(slot, 1)), hi))
                }
                default {
                    sstore(slot, lo)
                    sstore(add(slot, 1), hi)
                }
                slot := add(slot, 2)
            }
        }
        if (seen & _invalidLanes != 0) _revertOutOfRange(words);
    }

    /// @dev Error path only: finds the first word with an out-of-range lane and reverts.
    function _revertOutOfRange(uint256[] calldata words) internal view {
        for (uint256 i; i < words.length; ++i) {
            _checkWordRange(words[i], i);
        }
    }

    /// @dev Removes a rejected reveal that `_accumulate` added (already validated).
    function _subtract(uint256[] calldata words) internal {
        uint256 biasLanes = _biasLanes;
        uint256 accRoot = ACC_ROOT;
        for (uint256 i; i < words.length; ++i) {
            uint256 w = words[i];
            uint256 lo = PackedLanes.toBiased(PackedLanes.spread(w), biasLanes);
            uint256 hi = PackedLanes.toBiased(PackedLanes.spread(w >> 128), biasLanes);
            uint256 slot = accRoot + 2 * i;
            assembly {
                // Each lane holds at least this value, so no lane borrows.
                sstore(slot, sub(sload(slot), lo))
                sstore(add(slot, 1), sub(sload(add(slot, 1)), hi))
            }
        }
    }

    /// @dev sum |v - g| between `words` and the model buffer at `root`; reads only.
    function _distanceTo(uint256[] calldata words, uint256 root) internal view returns (uint256 distanceSum) {
        uint256 biasLanes = _biasLanes;
        for (uint256 i; i < words.length; ++i) {
            uint256 w = words[i];
            uint256 g;
            assembly {
                g := sload(add(root, i))
            }
            distanceSum += PackedLanes.absDiffSum(
                PackedLanes.toBiased(PackedLanes.spread(w), biasLanes),
                PackedLanes.toBiased(PackedLanes.spread(g), biasLanes)
            );
            distanceSum += PackedLanes.absDiffSum(
                PackedLanes.toBiased(PackedLanes.spread(w >> 128), biasLanes),
                PackedLanes.toBiased(PackedLanes.spread(g >> 128), biasLanes)
            );
        }
    }

    function _writeMean(uint256 n, uint256 globalRoot) internal {
        uint256 words = modelWords;
        uint256 bias = _bias;
        uint256 accRoot = ACC_ROOT;
        for (uint256 i; i < words; ++i) {
            uint256 lo;
            uint256 hi;
            assembly {
                lo := sload(add(accRoot, shl(1, i)))
                hi := sload(add(accRoot, add(shl(1, i), 1)))
            }
            uint256 w = PackedLanes.meanWord(lo, hi, n, bias);
            assembly {
                sstore(add(globalRoot, i), w)
            }
        }
    }

    function _unattributedRevenue(uint256 amount) internal override {
        rewardPool += amount;
        emit PoolFunded(msg.sender, amount, rewardPool);
    }
}
