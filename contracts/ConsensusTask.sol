// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {BatchEngine} from "./BatchEngine.sol";

/// @title ConsensusTask
/// @notice The CONSENSUS reward rule on the batch engine. Each round: anyone commits to an
///         update (a hash binding its head link, a salt and its declared move) with a stake
///         during the commit phase; then `drawSeats` seats `maxParticipants` committers at
///         random; seated committers reveal by posting their update (the reveal replaces the
///         post); the columns aggregate the round, and with the last one every accepted
///         update is paid by how much the consensus moved towards it and gets its stake back.
///         No claim phase.
/// @dev Moves are sums |v - g| over all parameters against the model the round started
///      from; bounds compare their per-parameter means (move / paramCount). The score of an
///      update is `claimScore(d, m, mean)` in per-mille of the round's mean accepted move,
///      with d its mean distance to the new model: an update the new model moved towards
///      scores low (good); one the consensus ignored scores ~1000 or more.
contract ConsensusTask is BatchEngine {
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

    /// @dev Column gas the rule adds per seat (its distance slot, stake return) and per
    ///      seat and word (the distance to the new model), for `columnGasBound`.
    uint256 internal constant GAS_PER_SEAT_CONSENSUS = 40_000;
    uint256 internal constant GAS_PER_SEAT_WORD_CONSENSUS = 600;
    /// @dev Per column: a relay column also ends the round (one column) with the rule's
    ///      first-write slots (moves, finished reveals) and the next round's commit phase;
    ///      measured ~480k fixed against the engine's 300k base.
    uint256 internal constant GAS_PER_COLUMN_CONSENSUS = 200_000;

    uint8 internal constant COMMITTED = 1;
    uint8 internal constant SEATED = 2;
    uint8 internal constant RELEASED = 3;
    uint8 internal constant FINISHED = 4; // revealed (accepted or rejected)

    event Committed(uint256 indexed round, address indexed participant, bytes32 commitment, uint256 move);
    event DrawArmed(uint256 indexed round, uint256 drawBlock);
    event SeatsDrawn(uint256 indexed round, uint256 committers, uint256 seats, uint256 moveReference, bytes32 seed);
    event Rejected(uint256 indexed round, address indexed participant, uint256 move, bool stakeReturned);
    event StakeReturned(uint256 indexed round, address indexed participant, uint256 amount);
    event StakeForfeited(uint256 indexed round, uint256 seats, uint256 amount);

    error ZeroStake();
    error BadMoveBounds(uint256 minMove, uint256 maxMove);
    error MoveRatioTooLarge(uint256 maxMoveRatio, uint256 limit);
    error WrongPhase(uint256 round);
    error WrongStake(uint256 sent, uint256 stake);
    error AlreadyCommitted(address participant, uint256 round);
    error SeatsNotDrawn(uint256 round);
    error SeatsAlreadyDrawn(uint256 round);
    error NotSeated(address participant, uint256 round);
    error BadReveal(address participant, uint256 round);
    error NotReleasable(address participant, uint256 round);
    error RelayNeedsOneColumn(uint256 columns);
    error DrawNotArmed(uint256 round, uint256 drawBlock);

    /// @notice What opens a seated committer's commitment for a relayer: whose it is, and
    ///         the reveal's salt and declared move (the words come in the column).
    struct Opening {
        address owner;
        bytes32 salt;
        uint256 move;
    }

    uint256 public immutable commitDuration;
    uint256 public immutable stake;
    uint256 public immutable minMove;
    uint256 public immutable maxMove;
    uint256 public immutable maxMoveRatio;

    uint256 public commitDeadline;
    /// @notice The block whose randomness the draw takes, armed a block ahead (round << 128 |
    ///         block number).
    uint256 internal _drawArm;
    /// @notice Stakes held: committed, seated, or accepted and not yet settled.
    uint256 public totalStakes;
    mapping(uint256 => mapping(address => bytes32)) public commitmentOf;
    /// @dev Round -> participant -> seat status (8 bits) | declared move << 8.
    mapping(uint256 => mapping(address => uint256)) internal _seat;
    mapping(uint256 => mapping(uint256 => address)) internal _committer;
    mapping(uint256 => uint256) public roundCommitters;
    mapping(uint256 => uint256) internal _roundSeats;
    mapping(uint256 => bytes32) public drawSeed;
    mapping(uint256 => uint256) public moveReference;
    /// @notice Round -> reveals finished (accepted or rejected).
    mapping(uint256 => uint256) internal _roundFinished;
    /// @notice Round -> sum of the accepted moves.
    mapping(uint256 => uint256) internal _roundMoveSum;
    /// @dev Round -> participant -> sum |v - new model| over the columns aggregated so far.
    mapping(uint256 => mapping(address => uint256)) internal _distanceToNew;

    constructor(BatchSettings memory s, ConsensusSettings memory c) payable BatchEngine(s) {
        if (c.stake == 0) revert ZeroStake();
        _checkDuration(c.commitDuration);
        if (c.minMove > c.maxMove) revert BadMoveBounds(c.minMove, c.maxMove);
        if (c.maxMoveRatio > type(uint256).max >> 16) revert MoveRatioTooLarge(c.maxMoveRatio, type(uint256).max >> 16);
        // Only one-column tasks relay (see `relay`): a larger one's column keeps no room for it.
        if (s.maxRelayed != 0 && columnCount != 1) revert RelayNeedsOneColumn(columnCount);
        commitDuration = c.commitDuration;
        stake = c.stake;
        minMove = c.minMove;
        maxMove = c.maxMove;
        maxMoveRatio = c.maxMoveRatio;
    }

    /*//////////////////////////////////////////////////////////////
                       COMMIT, DRAW, REVEAL, RELEASE
    //////////////////////////////////////////////////////////////*/

    /// @notice Commits to an update for the open round with `stake` wei, before
    ///         `commitDeadline`; any number may commit (seats are drawn after).
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
        totalStakes += msg.value;
        emit Committed(round, msg.sender, commitment, move);
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
        uint256 at = _ofRound(_drawArm, round);
        if (at != block.number) {
            if (at > block.number) revert DrawNotArmed(round, at);
            _drawArm = round << 128 | (block.number + SEED_LAG);
            emit DrawArmed(round, block.number + SEED_LAG);
            return;
        }
        bytes32 seed = keccak256(abi.encode(block.prevrandao, address(this), round));
        mapping(uint256 => address) storage list = _committer[round];
        uint256 n = roundCommitters[round];
        uint256 k = n < maxParticipants ? n : maxParticipants;
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
        uint256 reference_ = _kit.lowerMedian(means);
        drawSeed[round] = seed == 0 ? bytes32(uint256(1)) : seed;
        _roundSeats[round] = k;
        moveReference[round] = reference_;
        emit SeatsDrawn(round, n, k, reference_, seed);
    }

    /// @notice Reveals (posts) words [post*postWords, ...) of the committed update; post 0
    ///         opens the commitment with `salt` and `move`. The last post checks the move
    ///         measured while posting against the declaration and the bounds: an accepted
    ///         update goes on the list, a refused one is not aggregated (stake forfeited,
    ///         or returned when only the ratio bound refused it).
    function reveal(uint256 round, uint256 post, uint256[] calldata words, bytes32 nextLink, bytes32 salt,
        uint256 move) external {
        if (post == 0 && commitmentHash(round, msg.sender, salt, move, _chainLinks(words, nextLink))
            != commitmentOf[round][msg.sender]) revert BadReveal(msg.sender, round);
        _post(round, post, words, nextLink, _distanceToModel(words, post * postWords, completedRounds));
    }

    /// @notice The relay replaces the reveal: column 0 with seated committers' updates carried
    ///         for them (anyone may relay), after the revealed ones. No signature is needed:
    ///         the commitment, sent from the owner's own account, binds the update, the salt
    ///         and the move, so an opening is proof enough and a relayer can change nothing.
    ///         Each is opened and admitted exactly as its reveal would be (declared move,
    ///         bounds) before anything is aggregated, so the task must hold the whole model
    ///         in one column (otherwise the move is known only after later columns: reveal
    ///         instead). A refused opening reverts the relay (relayers check openings first;
    ///         the owner can still reveal itself). A relayer cannot close the reveal phase
    ///         early unless every seated committer is done.
    /// @param round the current round (seats drawn).
    /// @param words (revealed + relayed) x modelWords words, in list order.
    /// @param nextLinks each update's link after column 0 (all zero: one column).
    /// @param openings each relayed update's owner, commitment salt and declared move, in order.
    function relay(uint256 round, uint256[] calldata words, bytes32[] calldata nextLinks, Opening[] calldata openings)
        external
    {
        // A multi-column task has maxRelayed = 0 (its constructor refuses more): TooManyRelayed.
        (uint256 posted, uint256 w) = _relayShape(round, openings.length, words.length, nextLinks.length);
        if (drawSeed[round] == 0) revert SeatsNotDrawn(round);
        uint256 g = _loadColumn(_modelColumn[completedRounds][0], w);
        address[] memory owners = new address[](openings.length);
        bytes32[] memory heads = new bytes32[](openings.length);
        uint256[] memory moves = new uint256[](openings.length);
        for (uint256 j; j < openings.length; ++j) {
            uint256 i = posted + j;
            owners[j] = openings[j].owner;
            (heads[j], moves[j]) = _openRelayed(round, words[i * w:(i + 1) * w], nextLinks[i], openings[j], g);
        }
        _relay(round, words, nextLinks, owners, heads, moves);
    }

    /// @dev Checks that `count` updates may be relayed into column 0 of `round` beside the
    ///      posted ones (round open, no column yet, seats, lengths); returns the posted count
    ///      and the column's width. A rule calls it before reading any relayed update.
    function _relayShape(uint256 round, uint256 count, uint256 wordsLength, uint256 linksLength)
        internal
        view
        returns (uint256 posted, uint256 w)
    {
        _checkOpenRound(round);
        if (columnCursor != 0) revert WrongColumn(0, columnCursor);
        if (count == 0) revert WrongLength(0, 1);
        if (count > maxRelayed) revert TooManyRelayed(count, maxRelayed);
        posted = roundEntrants;
        uint256 n = posted + count;
        if (n > maxParticipants) revert RoundFull(round, maxParticipants);
        (uint256 from, uint256 to) = _columnRange(0);
        w = to - from;
        if (wordsLength != n * w) revert WrongLength(wordsLength, n * w);
        if (linksLength != n) revert WrongLength(linksLength, n);
    }

    /// @dev Column 0 with the relayed updates `owners` (each vouched for by the rule: its
    ///      head link `heads[j]`, its score so far `scores[j]`) put on the list after the
    ///      posted ones, then aggregated like any other column. A relayer can only leave an
    ///      update out, so it may not close posting early unless the rule says posting is
    ///      over (every seat taken, or every seated committer done): otherwise it waits for
    ///      the deadline, and whoever it left out can post until then.
    function _relay(
        uint256 round,
        uint256[] calldata words,
        bytes32[] calldata nextLinks,
        address[] memory owners,
        bytes32[] memory heads,
        uint256[] memory scores
    ) internal {
        uint256 posted = roundEntrants;
        (uint256 from, uint256 to) = _columnRange(0);
        uint256 w = to - from;
        bytes32 fold = _columnFold;
        for (uint256 j; j < owners.length; ++j) {
            uint256 i = posted + j;
            _checkWords(words[i * w:(i + 1) * w], from, to);
            _enlistRelayed(round, i, owners[j], scores[j], heads[j]);
            fold = keccak256(abi.encode(fold, heads[j]));
        }
        _columnFold = fold;
        roundEntrants = posted + owners.length;
        _relayed = (round << 128) | (posted + 1);
        // The rule's own postingClosed() decides, with the relayed updates counted: one
        // statement of when columns may start.
        _aggregate(round, 0, words, nextLinks);
    }

    /// @dev A relayed update's reveal: seated, its commitment opened, its move measured
    ///      against the starting model `g` and admitted; returns its head link and move.
    function _openRelayed(uint256 round, uint256[] calldata mine, bytes32 next, Opening calldata o, uint256 g)
        internal
        returns (bytes32 head, uint256 measured)
    {
        address who = o.owner;
        if (uint8(_seat[round][who]) != SEATED) revert NotSeated(who, round);
        head = _link(mine, next);
        if (commitmentHash(round, who, o.salt, o.move, head) != commitmentOf[round][who]) revert BadReveal(who, round);
        measured = _sliceDistance(mine, g);
        if (!_admitFor(round, who, measured)) revert BadReveal(who, round);
    }

    /// @notice Returns the stake of a commit that was not seated: the seats were drawn
    ///         without it, or the round ended before anyone drew.
    function releaseStake(uint256 round) external {
        uint256 entry = _seat[round][msg.sender];
        bool over = round < currentRound || !roundOpen || block.timestamp >= postDeadline;
        if (uint8(entry) != COMMITTED || (drawSeed[round] == 0 && !over)) revert NotReleasable(msg.sender, round);
        _seat[round][msg.sender] = (entry & ~uint256(0xff)) | RELEASED;
        totalStakes -= stake;
        _credit(msg.sender, stake, 0);
        emit StakeReturned(round, msg.sender, stake);
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
    ///         3 released, 4 revealed) and its declared move.
    function seatOf(uint256 round, address participant) external view returns (uint256 status, uint256 move) {
        uint256 e = _seat[round][participant];
        return (uint8(e), e >> 8);
    }

    /// @notice Posting also closes once every seated committer has finished revealing.
    function postingClosed() public view override returns (bool) {
        if (!roundOpen || block.timestamp < commitDeadline) return false;
        uint256 round = currentRound;
        return block.timestamp >= postDeadline
            || (drawSeed[round] != 0 && _roundFinished[round] == _roundSeats[round]);
    }

    /*//////////////////////////////////////////////////////////////
                               RULE HOOKS
    //////////////////////////////////////////////////////////////*/

    /// @dev The draw's seed: every update was bound by its commitment before it existed.
    function _columnSeed(uint256 round) internal view override returns (bytes32) {
        return drawSeed[round];
    }

    function _ruleColumnGas(uint256 n, uint256 w) internal pure override returns (uint256) {
        return GAS_PER_COLUMN_CONSENSUS + n * (GAS_PER_SEAT_CONSENSUS + w * GAS_PER_SEAT_WORD_CONSENSUS);
    }

    function _postingDelay() internal view override returns (uint256) {
        return commitDuration;
    }

    function _onRoundStart(uint256) internal override {
        commitDeadline = block.timestamp + commitDuration;
    }

    function _mayPost(uint256 round, uint256, uint256) internal view override {
        if (drawSeed[round] == 0) revert SeatsNotDrawn(round);
        if (uint8(_seat[round][msg.sender]) != SEATED) revert NotSeated(msg.sender, round);
    }

    /// @dev The last reveal post: the measured move must be the declared one, within
    ///      [minMove, maxMove] and the ratio bound (per-parameter means).
    function _admit(uint256 round, uint256 measured) internal override returns (bool) {
        return _admitFor(round, msg.sender, measured);
    }

    function _admitFor(uint256 round, address who, uint256 measured) internal returns (bool) {
        uint256 entry = _seat[round][who];
        uint256 declared = entry >> 8;
        _seat[round][who] = (entry & ~uint256(0xff)) | FINISHED;
        _roundFinished[round] += 1;
        uint256 mean = measured / paramCount;
        bool inBounds = measured == declared && mean >= minMove && mean <= maxMove;
        uint256 ref = moveReference[round];
        bool inRatio = maxMoveRatio == 0 || ref == 0 || mean * 1000 <= maxMoveRatio * ref;
        if (inBounds && inRatio) {
            _roundMoveSum[round] += measured;
            return true;
        }
        // Outside the absolute bounds (or a false declaration): the stake is forfeited. Only
        // the ratio bound, which the other seats' declarations set: the stake comes back.
        totalStakes -= stake;
        if (inBounds) {
            _credit(who, stake, 0);
        } else {
            rewardPool += stake;
        }
        emit Rejected(round, who, measured, inBounds);
        return false;
    }

    /// @dev Accumulates each update's distance to the new column.
    function _afterColumn(uint256 round, uint256, uint256[] calldata words, address store, uint256 n, uint256 w)
        internal
        override
    {
        uint256 g = _loadColumn(store, w);
        for (uint256 i; i < n; ++i) {
            address who = entrant(round, i);
            _distanceToNew[round][who] += _sliceDistance(words[i * w:(i + 1) * w], g);
        }
    }

    /// @dev claimScore of the update's mean distance to the new model and mean move against
    ///      the round's mean accepted move; an update farther than maxMoveRatio x that mean
    ///      scores past every tier.
    function _score(uint256 round, uint256, address who) internal view override returns (uint256) {
        uint256 mean = _roundMoveSum[round] / roundEntrants / paramCount;
        uint256 move = (_entry(round, who) >> 128) / paramCount;
        if (maxMoveRatio != 0 && move * 1000 > maxMoveRatio * mean) return type(uint256).max;
        return claimScore(_distanceToNew[round][who] / paramCount, move, mean);
    }

    /// @dev Every listed update gets its stake back with its reward.
    function _settled(uint256, address who) internal override {
        totalStakes -= stake;
        _credit(who, stake, 0);
    }

    /// @dev Seated committers that never finished revealing forfeit their stakes to the pool;
    ///      in a round abandoned below quorum the accepted reveals get theirs back.
    function _onRoundEnd(uint256 round) internal override {
        if (roundVersion[round] == 0) {
            for (uint256 i; i < roundEntrants; ++i) {
                _settled(round, entrant(round, i));
            }
        }
        uint256 missing = _roundSeats[round] - _roundFinished[round];
        if (missing != 0) {
            uint256 amount = missing * stake;
            totalStakes -= amount;
            rewardPool += amount;
            emit StakeForfeited(round, missing, amount);
        }
    }
}
