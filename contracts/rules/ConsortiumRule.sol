// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {BatchEngine} from "../BatchEngine.sol";
import {Hooks, IRule} from "../interfaces/IRule.sol";
import {RuleBase} from "./RuleBase.sol";
import {SignedRelay} from "./SignedRelay.sol";

/// @title ConsortiumRule
/// @notice A consortium's rule: the sponsor (the task's owner) keeps an allowlist of
///         participants, only listed accounts post or are relayed (with their signature),
///         and every accepted update is paid the same reward. The allowlist is the
///         strongest Sybil defence there is: a seat needs the sponsor's yes. No per-client
///         distance is used, so the rule also serves updates where none exists (masked
///         updates: the aggregate is all anyone can see).
/// @dev Hooks: BEFORE_POST only (the allowlist at every post; the relay's vouch checks it
///      too). An account removed mid-round keeps an update already on the list (it was
///      accepted while allowed); it can post or be relayed no more.
contract ConsortiumRule is SignedRelay {
    /// @inheritdoc IRule
    string public constant name = "consortium";

    uint256 internal constant GAS_PER_COLUMN = 30_000;
    uint256 internal constant GAS_PER_SEAT = 5_000;

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

    /// @param s the task's settings; `reward_` wei per accepted update; the attached wei
    ///        funds the reward pool.
    constructor(BatchEngine.BatchSettings memory s, uint256 reward_)
        payable
        RuleBase(s, BatchEngine.RuleSpec(Hooks.BEFORE_POST, 0, GAS_PER_COLUMN, GAS_PER_SEAT, reward_))
    {
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

    /// @notice Only members post.
    function beforePost(uint256, address who, uint256, bytes32, bytes calldata) external view override onlyEngine {
        if (!isMember[who]) revert NotMember(who);
    }

    /// @notice Signed updates of members only.
    function vouch(uint256 round, uint256 first, bytes32[] calldata heads, bytes[] calldata proofs)
        external
        view
        onlyEngine
        returns (address[] memory owners)
    {
        owners = _signers(round, first, heads, proofs);
        for (uint256 j; j < owners.length; ++j) {
            if (!isMember[owners[j]]) revert NotMember(owners[j]);
        }
    }

    /// @notice Every listed update scores 0 and earns `reward`.
    function settle(uint256, address[] calldata who, uint256[] calldata, uint256[] calldata)
        external
        view
        onlyEngine
        returns (uint256[] memory scores, uint256[] memory rewards, uint256 refundEach)
    {
        scores = new uint256[](who.length);
        rewards = new uint256[](who.length);
        for (uint256 i; i < who.length; ++i) {
            rewards[i] = reward;
        }
        return (scores, rewards, 0);
    }
}
