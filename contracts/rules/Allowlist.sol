// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title Allowlist
/// @notice The consortium's membership, for its rule on either plane: the sponsor (the
///         task's owner) keeps an allowlist, only listed accounts take seats, and every
///         accepted update is paid the same reward. The allowlist is the strongest Sybil defence there is: a seat
///         needs the sponsor's yes. No per-client distance is used, so the rule also serves
///         updates where none exists (masked updates: the aggregate is all anyone can see).
/// @dev Hook: BEFORE_POST (the allowlist at every post). An account removed mid-round keeps
///      an update already on the list (it was accepted while allowed); it can post no more.
abstract contract Allowlist {
    event MemberAdded(address indexed account);
    event MemberRemoved(address indexed account);

    /// @notice Only the sponsor (the task's owner) changes the allowlist.
    error NotSponsor(address caller);
    /// @notice `account` is not on the allowlist (or not any more).
    error NotMember(address account);

    /// @notice The sponsor: the deployer, the task's owner.
    address public immutable sponsor;
    /// @notice Wei every accepted update earns.
    uint256 public immutable reward;
    /// @notice Whether an account is on the allowlist.
    mapping(address => bool) public isMember;
    /// @notice Accounts on the allowlist now.
    uint256 public memberCount;

    constructor(uint256 reward_) {
        sponsor = msg.sender;
        reward = reward_;
    }

    /// @notice Puts accounts on the allowlist (sponsor); already listed ones are skipped.
    function addMembers(address[] calldata accounts) external {
        if (msg.sender != sponsor) revert NotSponsor(msg.sender);
        uint256 count = memberCount;
        for (uint256 i; i < accounts.length; ++i) {
            if (isMember[accounts[i]]) continue;
            isMember[accounts[i]] = true;
            count += 1;
            emit MemberAdded(accounts[i]);
        }
        memberCount = count;
    }

    /// @notice Takes accounts off the allowlist (sponsor): they cannot post or be relayed
    ///         from now on; an update already on a round's list stays.
    function removeMembers(address[] calldata accounts) external {
        if (msg.sender != sponsor) revert NotSponsor(msg.sender);
        uint256 count = memberCount;
        for (uint256 i; i < accounts.length; ++i) {
            if (!isMember[accounts[i]]) continue;
            isMember[accounts[i]] = false;
            count -= 1;
            emit MemberRemoved(accounts[i]);
        }
        memberCount = count;
    }

    /// @dev Reverts unless `who` is on the allowlist.
    function _checkMember(address who) internal view {
        if (!isMember[who]) revert NotMember(who);
    }

    /// @dev `n` scores of 0 and `n` rewards of `reward`.
    function _equalRewards(uint256 n) internal view returns (uint256[] memory scores, uint256[] memory rewards) {
        scores = new uint256[](n);
        rewards = new uint256[](n);
        for (uint256 i; i < n; ++i) {
            rewards[i] = reward;
        }
    }
}
