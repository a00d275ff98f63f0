// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title IRule
/// @notice A reward rule of a fedchain task: who may post or be relayed, what an update
///         scores, what happens to the rule's escrow (stakes) at the end of a round. The
///         data plane (`BatchEngine`: rounds, posts, links, columns, aggregation, duplicates,
///         the model, money) calls a rule only at the points its `Hooks` flags declare, and
///         always `vouch` (relay) and `settle` (the last column). A rule has its own code
///         budget: it deploys its engine in its constructor and is the engine's only `rule`.
/// @dev Every hook is called by the engine only (`msg.sender == engine`); a hook that
///      reverts reverts the engine's transaction, with the rule's error.
interface IRule {
    /// @notice The rule's name ("paper", "consensus", ...): clients pick their adapter by it.
    function name() external view returns (string memory);

    /// @notice Before a post of `who`'s update (`post` its number, `head` the link its words
    ///         open, `proof` what the rule asks of the poster, e.g. a commitment's opening):
    ///         reverts if `who` may not post it. Flag `Hooks.BEFORE_POST`.
    function beforePost(uint256 round, address who, uint256 post, bytes32 head, bytes calldata proof) external;

    /// @notice Whether `who`'s complete update, whose words lie `distance` (sum |v - g|
    ///         over every parameter) from the model the round started from, goes on the list;
    ///         a refused update is never aggregated. Flag `Hooks.ADMIT`.
    function admit(uint256 round, address who, uint256 distance) external returns (bool);

    /// @notice The owners of relayed updates: update j's head link `heads[j]` and the rule's
    ///         evidence `proofs[j]` that its owner wants it carried (a signature, a
    ///         commitment's opening); reverts if one is not acceptable. Always called.
    function vouch(uint256 round, uint256 first, bytes32[] calldata heads, bytes[] calldata proofs)
        external
        returns (address[] memory owners);

    /// @notice Checks the relayed updates' measured distances (list indices from `first`,
    ///         owners `who`) once every column is in, before the round is finished; reverts
    ///         if one is refused (the round then sheds it with `drop`). Flag `Hooks.ADMIT_RELAYED`.
    function admitRelayed(uint256 round, address[] calldata who, uint256[] calldata distance) external;

    /// @notice Whether the rule closed posting early (e.g. every seated committer done).
    ///         Flag `Hooks.POSTING_OVER`.
    function postingOver(uint256 round) external view returns (bool);

    /// @notice The seed of `round`'s duplicate samples and replay table, when the rule has one
    ///         nobody chose (otherwise the engine seals its own). Flag `Hooks.SEED`.
    function columnSeed(uint256 round) external view returns (bytes32);

    /// @notice The scores and rewards (wei, each at most the rule's `maxReward`) of the
    ///         listed updates (`who` in list order; `fromOld` each one's distance to the
    ///         round's starting model, `toNew` to the new model when the rule measures it,
    ///         else empty), and the wei of the rule's escrow each listed participant gets back
    ///         with its reward. The engine pays nothing to near duplicates and recent replays.
    ///         Always called, by the last column.
    function settle(uint256 round, address[] calldata who, uint256[] calldata fromOld, uint256[] calldata toNew)
        external
        returns (uint256[] memory scores, uint256[] memory rewards, uint256 refundEach);

    /// @notice `round` opened; its posting phase ends at `postDeadline` (and starts
    ///         `postingDelay` after now). Flag `Hooks.ROUND_START`.
    function roundStarted(uint256 round, uint256 postDeadline) external;

    /// @notice A relayed update of `who` was dropped from `round`. Flag `Hooks.DROP`.
    function dropped(uint256 round, address who) external;

    /// @notice `round` ended: `finalized` with a new model, or abandoned; `listed` its updates
    ///         when abandoned (empty when finalized). Flag `Hooks.ROUND_END`.
    function roundEnded(uint256 round, bool finalized, address[] calldata listed) external;
}

/// @title Hooks
/// @notice The points at which an engine calls its rule (bits of `RuleSpec.hooks`).
library Hooks {
    uint256 internal constant BEFORE_POST = 1;
    uint256 internal constant ADMIT = 2;
    uint256 internal constant ADMIT_RELAYED = 4;
    uint256 internal constant POSTING_OVER = 8;
    uint256 internal constant SEED = 16;
    uint256 internal constant DROP = 32;
    uint256 internal constant ROUND_END = 64;
    /// @notice The engine measures every update's distance to the new model (`settle`'s `toNew`).
    uint256 internal constant DISTANCE_TO_NEW = 128;
    uint256 internal constant ROUND_START = 256;
}
