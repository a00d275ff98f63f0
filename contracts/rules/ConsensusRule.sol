// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {BatchEngine} from "../BatchEngine.sol";
import {Hooks, IRule} from "../interfaces/IRule.sol";
import {MedianLib} from "../lib/MedianLib.sol";
import {RuleBase} from "./RuleBase.sol";
import {SignedRelay} from "./SignedRelay.sol";
import {TieredRule} from "./TieredRule.sol";

/// @title ConsensusRule
/// @notice The CONSENSUS reward rule. Each round: anyone commits to an update (a hash binding
///         its head link, a salt and its declared move) with a stake during the commit phase;
///         then `drawSeats` seats `maxParticipants` committers at random; seated committers
///         reveal by posting their update through the engine (post 0 opens the commitment),
///         or have it relayed with the opening; the columns aggregate the round, and with the
///         last one every accepted update is paid by how much the consensus moved towards it
///         and gets its stake back. No claim phase.
/// @dev Moves are sums |v - g| over all parameters against the model the round started
///      from; bounds compare their per-parameter means (move / paramCount). The score of an
///      update is `claimScore(d, m, mean)` in per-mille of the round's mean accepted move,
///      with d its mean distance to the new model: an update the new model moved towards
///      scores low (good); one the consensus ignored scores ~1000 or more. Stakes are held in
///      the engine's escrow (`deposit`, `release`, `forfeit`).
contract ConsensusRule is SignedRelay, TieredRule {
    /// @inheritdoc IRule
    string public constant name = "consensus";
    /// @param commitDuration seconds of the commit phase (the posting phase follows it).
    /// @param stake wei each commit locks; forfeited by a seated committer that does not
    ///        finish revealing or declares a move outside [minMove, maxMove].
    /// @param minMove smallest accepted mean move per parameter (0: none).
    /// @param maxMove largest accepted mean move per parameter.
    /// @param maxMoveRatio per-mille bound of a move relative to the median of the seated
    ///        committers' declared moves (reveal) and to the accepted mean (reward); 0: off.
    struct ConsensusSettings {
        uint256 commitDuration;
        uint256 stake;
        uint256 minMove;
        uint256 maxMove;
        uint256 maxMoveRatio;
    }

    /// @dev Gas the hooks add to the last column: per column (settle, the next round's
    ///      start), per seat (its score, its stake).
    uint256 internal constant GAS_PER_COLUMN = 200_000;
    uint256 internal constant GAS_PER_SEAT = 40_000;
    uint256 internal constant HOOKS = Hooks.BEFORE_POST | Hooks.ADMIT | Hooks.ADMIT_RELAYED | Hooks.POSTING_OVER
        | Hooks.SEED | Hooks.DROP | Hooks.ROUND_END | Hooks.DISTANCE_TO_NEW | Hooks.ROUND_START;
    /// @dev Blocks between arming the draw and the block whose RANDAO value it takes.
    uint256 internal constant SEED_LAG = 2;

    uint8 internal constant COMMITTED = 1;
    uint8 internal constant SEATED = 2;
    uint8 internal constant RELEASED = 3;
    uint8 internal constant FINISHED = 4; // revealed or relayed (accepted or rejected)
    uint8 internal constant DROPPED = 5; // relayed, then dropped: its stake is returned

    event Committed(uint256 indexed round, address indexed participant, bytes32 commitment, uint256 move);
    event DrawArmed(uint256 indexed round, uint256 drawBlock);
    event SeatsDrawn(uint256 indexed round, uint256 committers, uint256 seats, uint256 moveReference, bytes32 seed);
    event Rejected(uint256 indexed round, address indexed participant, uint256 move, bool stakeReturned);
    event StakeReturned(uint256 indexed round, address indexed participant, uint256 amount);
    event StakeForfeited(uint256 indexed round, uint256 seats, uint256 amount);

    error ZeroStake();
    /// @notice The commit phase must last (0, 30 days]: every round ends within bounded time.
    error BadDuration(uint256 duration, uint256 limit);
    error BadMoveBounds(uint256 minMove, uint256 maxMove);
    error MoveRatioTooLarge(uint256 maxMoveRatio, uint256 limit);
    error RoundNotOpen(uint256 round);
    error WrongPhase(uint256 round);
    error WrongStake(uint256 sent, uint256 stake);
    error AlreadyCommitted(address participant, uint256 round);
    error SeatsNotDrawn(uint256 round);
    error SeatsAlreadyDrawn(uint256 round);
    error NotSeated(address participant, uint256 round);
    error BadReveal(address participant, uint256 round);
    error NotReleasable(address participant, uint256 round);
    error DrawNotArmed(uint256 round, uint256 drawBlock);

    uint256 public immutable commitDuration;
    uint256 public immutable stake;
    uint256 public immutable minMove;
    uint256 public immutable maxMove;
    uint256 public immutable maxMoveRatio;
    uint256 internal immutable _maxParticipants;

    /// @notice The engine's open (or latest) round, and whether it is open (the hooks keep it).
    uint256 public currentRound;
    bool public roundOpen;
    uint256 public commitDeadline;
    uint256 public postDeadline;
    /// @dev The block whose randomness the draw takes, armed ahead (round << 128 | block).
    uint256 internal _drawArm;
    mapping(uint256 => mapping(address => bytes32)) public commitmentOf;
    /// @dev Round -> participant -> seat status (8 bits) | declared move << 8.
    mapping(uint256 => mapping(address => uint256)) internal _seat;
    mapping(uint256 => mapping(uint256 => address)) internal _committer;
    mapping(uint256 => uint256) public roundCommitters;
    mapping(uint256 => uint256) internal _roundSeats;
    mapping(uint256 => bytes32) public drawSeed;
    mapping(uint256 => uint256) public moveReference;
    /// @notice Round -> seated committers done (revealed, accepted or not, or relayed).
    mapping(uint256 => uint256) internal _roundFinished;

    /// @param s the task's settings; `thresholds`/`rewards` its tiers (claim score in
    ///        per-mille, wei); `c` the rule's own; the attached wei funds the reward pool.
    constructor(
        BatchEngine.BatchSettings memory s,
        uint256[] memory thresholds,
        uint256[] memory rewards,
        ConsensusSettings memory c
    )
        payable
        RuleBase(s, BatchEngine.RuleSpec(HOOKS, c.commitDuration, GAS_PER_COLUMN, GAS_PER_SEAT, _top(rewards)))
        TieredRule(thresholds, rewards)
    {
        if (c.stake == 0) revert ZeroStake();
        if (c.commitDuration == 0 || c.commitDuration > 30 days) revert BadDuration(c.commitDuration, 30 days);
        if (c.minMove > c.maxMove) revert BadMoveBounds(c.minMove, c.maxMove);
        if (c.maxMoveRatio > type(uint256).max >> 16) revert MoveRatioTooLarge(c.maxMoveRatio, type(uint256).max >> 16);
        commitDuration = c.commitDuration;
        stake = c.stake;
        minMove = c.minMove;
        maxMove = c.maxMove;
        maxMoveRatio = c.maxMoveRatio;
        _maxParticipants = s.maxParticipants;
    }

    /*//////////////////////////////////////////////////////////////
                       COMMIT, DRAW, RELEASE
    //////////////////////////////////////////////////////////////*/

    /// @notice Commits to an update for the open round with `stake` wei (held in the
    ///         engine's escrow), before `commitDeadline`; any number may commit (seats are
    ///         drawn after).
    /// @param commitment `commitmentHash(round, msg.sender, salt, move, head)`.
    /// @param move the declared sum |v - g| over all parameters (in the clear: the seated
    ///        declarations set the reveal bound's reference).
    function commit(uint256 round, bytes32 commitment, uint256 move) external payable {
        if (round != currentRound || !roundOpen) revert RoundNotOpen(round);
        if (block.timestamp >= commitDeadline) revert WrongPhase(round);
        if (_seat[round][msg.sender] != 0) revert AlreadyCommitted(msg.sender, round);
        if (msg.value != stake) revert WrongStake(msg.value, stake);
        if (move > paramCount << 16) revert BadReveal(msg.sender, round); // no update moves farther
        _seat[round][msg.sender] = COMMITTED | (move << 8);
        commitmentOf[round][msg.sender] = commitment;
        uint256 i = roundCommitters[round];
        _committer[round][i] = msg.sender;
        roundCommitters[round] = i + 1;
        emit Committed(round, msg.sender, commitment, move);
        engine.deposit{value: msg.value}();
    }

    /// @notice Seats min(committers, maxParticipants) committers uniformly at random (anyone,
    ///         after the commit phase, before the posting deadline) and fixes the reveal
    ///         bound's reference: the lower median of the seated declared mean moves. Two
    ///         calls: the first arms the block SEED_LAG (2) ahead (`DrawArmed`), a call in
    ///         that block draws with its RANDAO value, which neither the sender nor the arming
    ///         block's proposer knew and no producer can grind (only withhold: a call after
    ///         the armed block arms again; one before it reverts `DrawNotArmed`).
    function drawSeats(uint256 round) external {
        if (round != currentRound || !roundOpen) revert RoundNotOpen(round);
        if (block.timestamp < commitDeadline || block.timestamp >= postDeadline) revert WrongPhase(round);
        if (drawSeed[round] != 0) revert SeatsAlreadyDrawn(round);
        uint256 arm = _drawArm;
        uint256 at = arm >> 128 == round ? uint128(arm) : 0;
        if (at != block.number) {
            if (at > block.number) revert DrawNotArmed(round, at);
            _drawArm = round << 128 | (block.number + SEED_LAG);
            emit DrawArmed(round, block.number + SEED_LAG);
            return;
        }
        bytes32 seed = keccak256(abi.encode(block.prevrandao, address(this), round));
        mapping(uint256 => address) storage list = _committer[round];
        uint256 n = roundCommitters[round];
        uint256 k = n < _maxParticipants ? n : _maxParticipants;
        uint256[] memory means = new uint256[](k);
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
            uint256 entry = _seat[round][picked];
            _seat[round][picked] = (entry & ~uint256(0xff)) | SEATED;
            means[i] = (entry >> 8) / paramCount;
        }
        uint256 reference_ = MedianLib.lowerMedian(means);
        drawSeed[round] = seed == 0 ? bytes32(uint256(1)) : seed;
        _roundSeats[round] = k;
        moveReference[round] = reference_;
        emit SeatsDrawn(round, n, k, reference_, seed);
    }

    /// @notice Returns the stake of a commit that was not seated: the seats were drawn
    ///         without it, or the round ended before anyone drew.
    function releaseStake(uint256 round) external {
        uint256 entry = _seat[round][msg.sender];
        bool over = round < currentRound || !roundOpen || block.timestamp >= postDeadline;
        if (uint8(entry) != COMMITTED || (drawSeed[round] == 0 && !over)) revert NotReleasable(msg.sender, round);
        _seat[round][msg.sender] = (entry & ~uint256(0xff)) | RELEASED;
        emit StakeReturned(round, msg.sender, stake);
        engine.release(msg.sender, stake);
    }

    /*//////////////////////////////////////////////////////////////
                                 VIEWS
    //////////////////////////////////////////////////////////////*/

    /// @notice The commitment a participant sends for an update with head link `head`.
    function commitmentHash(uint256 round, address participant, bytes32 salt, uint256 move, bytes32 head)
        public
        view
        returns (bytes32)
    {
        return keccak256(abi.encode(address(this), round, participant, salt, move, head));
    }

    /// @notice Score of an update (lower is better): (d + mean - m) in per-mille of the
    ///         round's mean accepted move, saturating at 0; d its mean distance to the new
    ///         model, m its mean move.
    function claimScore(uint256 distance, uint256 move, uint256 meanMove) public pure returns (uint256) {
        uint256 m = meanMove == 0 ? 1 : meanMove;
        return distance + m < move ? 0 : (distance + m - move) * 1000 / m;
    }

    /// @notice Seat status of a participant in a round (0 none, 1 committed, 2 seated,
    ///         3 released, 4 revealed or relayed, 5 relayed and dropped) and its declared move.
    function seatOf(uint256 round, address participant) external view returns (uint256 status, uint256 move) {
        uint256 e = _seat[round][participant];
        return (uint8(e), e >> 8);
    }

    /*//////////////////////////////////////////////////////////////
                                 HOOKS
    //////////////////////////////////////////////////////////////*/

    /// @notice A round opened: its commit phase runs until `postDeadline - postDuration`.
    function roundStarted(uint256 round, uint256 postDeadline_) external override onlyEngine {
        currentRound = round;
        roundOpen = true;
        postDeadline = postDeadline_;
        commitDeadline = block.timestamp + commitDuration;
    }

    /// @notice Only seated committers reveal; post 0 opens the commitment with `proof` =
    ///         abi.encode(salt, move).
    function beforePost(uint256 round, address who, uint256 post, bytes32 head, bytes calldata proof)
        external
        view
        override
        onlyEngine
    {
        if (drawSeed[round] == 0) revert SeatsNotDrawn(round);
        if (uint8(_seat[round][who]) != SEATED) revert NotSeated(who, round);
        if (post == 0) {
            (bytes32 salt, uint256 move) = abi.decode(proof, (bytes32, uint256));
            if (commitmentHash(round, who, salt, move, head) != commitmentOf[round][who]) revert BadReveal(who, round);
        }
    }

    /// @notice The last reveal post: the move measured while posting must be the declared
    ///         one, within [minMove, maxMove] and the ratio bound (per-parameter means).
    ///         Outside the absolute bounds (or a false declaration) the stake is forfeited;
    ///         refused only by the ratio bound (which the other seats' declarations set) it
    ///         comes back.
    function admit(uint256 round, address who, uint256 measured) external override onlyEngine returns (bool) {
        uint256 entry = _seat[round][who];
        _seat[round][who] = (entry & ~uint256(0xff)) | FINISHED;
        _roundFinished[round] += 1;
        bool inBounds = measured == entry >> 8 && _inBounds(measured);
        if (inBounds && _inRatio(round, measured)) return true;
        emit Rejected(round, who, measured, inBounds);
        if (inBounds) {
            engine.release(who, stake);
        } else {
            engine.forfeit(stake);
        }
        return false;
    }

    /// @notice Relayed reveals: proof j is abi.encode(owner, r, vs, salt, move): the owner's
    ///         signature of the relay (`relayDigest(round, head)`: its consent, so nobody who
    ///         read an opening in a first reveal post can relay, and so end, someone else's
    ///         reveal) and the opening of its commitment to `heads[j]` (sent from the owner's
    ///         own account, it binds the update, the salt and the move). The declared move
    ///         must pass the bounds now; the measured one must equal it once the columns are
    ///         in (`admitRelayed`).
    function vouch(uint256 round, uint256 first, bytes32[] calldata heads, bytes[] calldata proofs)
        external
        override
        onlyEngine
        returns (address[] memory owners)
    {
        if (drawSeed[round] == 0) revert SeatsNotDrawn(round);
        owners = new address[](heads.length);
        for (uint256 j; j < heads.length; ++j) {
            (address who, bytes32 r, bytes32 vs, bytes32 salt, uint256 move) =
                abi.decode(proofs[j], (address, bytes32, bytes32, bytes32, uint256));
            _checkSigner(round, heads[j], who, r, vs, first + j);
            uint256 entry = _seat[round][who];
            if (uint8(entry) != SEATED) revert NotSeated(who, round);
            if (commitmentHash(round, who, salt, move, heads[j]) != commitmentOf[round][who]) {
                revert BadReveal(who, round);
            }
            if (!_inBounds(move) || !_inRatio(round, move)) revert BadReveal(who, round);
            _seat[round][who] = (entry & ~uint256(0xff)) | FINISHED;
            owners[j] = who;
        }
        _roundFinished[round] += heads.length;
    }

    /// @notice A relayed update's measured move must be its declared one; otherwise the last
    ///         column reverts until the round drops it.
    function admitRelayed(uint256 round, address[] calldata who, uint256[] calldata measured)
        external
        view
        override
        onlyEngine
    {
        for (uint256 i; i < who.length; ++i) {
            if (measured[i] != _seat[round][who[i]] >> 8) revert BadReveal(who[i], round);
        }
    }

    /// @notice Posting is over once every seated committer is done.
    function postingOver(uint256 round) external view override returns (bool) {
        return drawSeed[round] != 0 && _roundFinished[round] == _roundSeats[round];
    }

    /// @notice The draw's seed: every update was bound by its commitment before it existed.
    function columnSeed(uint256 round) external view override returns (bytes32) {
        return drawSeed[round];
    }

    /// @notice A dropped relayed update gets its stake back: whoever drops chooses which
    ///         relayed updates to leave out (a withheld or refused one, or an honest one
    ///         beside it), so a drop must cost nobody a stake. A liar's false move costs it
    ///         the round's reward and delays the round by the timeout; it moves no model.
    function dropped(uint256 round, address who) external override onlyEngine {
        _seat[round][who] = (_seat[round][who] & ~uint256(0xff)) | DROPPED;
        emit StakeReturned(round, who, stake);
        engine.release(who, stake);
    }

    /// @notice claimScore of each update's mean distance to the new model and mean move
    ///         against the round's mean accepted move (an update farther than maxMoveRatio x
    ///         that mean scores past every tier); its tier's reward; every stake back.
    function settle(uint256, address[] calldata who, uint256[] calldata fromOld, uint256[] calldata toNew)
        external
        view
        onlyEngine
        returns (uint256[] memory scores, uint256[] memory rewards, uint256 refundEach)
    {
        uint256 n = who.length;
        uint256 sum = 0;
        for (uint256 i; i < n; ++i) {
            sum += fromOld[i];
        }
        uint256 mean = sum / n / paramCount;
        scores = new uint256[](n);
        for (uint256 i; i < n; ++i) {
            uint256 move = fromOld[i] / paramCount;
            scores[i] = maxMoveRatio != 0 && move * 1000 > maxMoveRatio * mean
                ? type(uint256).max
                : claimScore(toNew[i] / paramCount, move, mean);
        }
        return (scores, _tierRewards(scores), stake);
    }

    /// @notice Seated committers that never finished forfeit their stakes to the pool; in a
    ///         round abandoned the listed updates get theirs back.
    function roundEnded(uint256 round, bool, address[] calldata listed) external override onlyEngine {
        roundOpen = false;
        for (uint256 i; i < listed.length; ++i) {
            emit StakeReturned(round, listed[i], stake);
            engine.release(listed[i], stake);
        }
        uint256 missing = _roundSeats[round] - _roundFinished[round];
        if (missing != 0) {
            _roundFinished[round] = _roundSeats[round]; // forfeited once
            emit StakeForfeited(round, missing, missing * stake);
            engine.forfeit(missing * stake);
        }
    }

    function _inBounds(uint256 move) internal view returns (bool) {
        uint256 mean = move / paramCount;
        return mean >= minMove && mean <= maxMove;
    }

    function _inRatio(uint256 round, uint256 move) internal view returns (bool) {
        uint256 ref = moveReference[round];
        return maxMoveRatio == 0 || ref == 0 || (move / paramCount) * 1000 <= maxMoveRatio * ref;
    }
}
