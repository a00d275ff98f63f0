// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {RuleHooks} from "./RuleHooks.sol";

/// @title TieredRule
/// @notice Rewards by tier of a score (lower is better): tier i holds the scores up to
///         `thresholds[i]`, and pays `rewards[i]` wei; a score past every threshold earns 0.
abstract contract TieredRule is RuleHooks {
    /// @notice Most tiers a rule may set.
    uint256 public constant MAX_TIERS = 8;

    error BadTiers(uint256 thresholds, uint256 rewards);
    error TiersNotAscending(uint256 index);

    uint256[] internal _thresholds;
    uint256[] internal _rewards;

    /// @param thresholds ascending score bounds of the tiers; `rewards` wei per tier.
    constructor(uint256[] memory thresholds, uint256[] memory rewards) {
        uint256 count = thresholds.length;
        if (count == 0 || count > MAX_TIERS || count != rewards.length) revert BadTiers(count, rewards.length);
        for (uint256 i = 1; i < count; ++i) {
            if (thresholds[i] <= thresholds[i - 1]) revert TiersNotAscending(i);
        }
        _thresholds = thresholds;
        _rewards = rewards;
    }

    /// @notice The tiers: their ascending score bounds and wei rewards.
    function tiers() external view returns (uint256[] memory thresholds, uint256[] memory rewards) {
        return (_thresholds, _rewards);
    }

    /// @notice Tier of a score: the first i with score <= thresholds[i], else the tier count.
    function rewardTier(uint256 score) public view returns (uint256 tier) {
        uint256 n = _thresholds.length;
        while (tier < n && score > _thresholds[tier]) ++tier;
    }

    /// @dev The largest reward of `rewards` (what a round reserves per seat).
    function _top(uint256[] memory rewards) internal pure returns (uint256 top) {
        for (uint256 i; i < rewards.length; ++i) {
            if (rewards[i] > top) top = rewards[i];
        }
    }

    /// @dev Each score's tier reward.
    function _tierRewards(uint256[] memory scores) internal view returns (uint256[] memory rewards) {
        rewards = new uint256[](scores.length);
        uint256 n = _thresholds.length;
        for (uint256 i; i < scores.length; ++i) {
            uint256 t = rewardTier(scores[i]);
            rewards[i] = t < n ? _rewards[t] : 0;
        }
    }

    /// @dev The paper's scores (each update's mean distance per parameter to the round's
    ///      starting model, from its total `fromOld`) and their tiers' rewards.
    function _distanceTiers(uint256[] calldata fromOld)
        internal
        view
        returns (uint256[] memory scores, uint256[] memory rewards)
    {
        scores = new uint256[](fromOld.length);
        for (uint256 i; i < fromOld.length; ++i) {
            scores[i] = fromOld[i] / paramCount;
        }
        rewards = _tierRewards(scores);
    }
}
