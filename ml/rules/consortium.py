"""The consortium rule (contracts/rules/ConsortiumRule.sol): the sponsor keeps an allowlist,
only listed accounts post or are relayed (signed), every accepted update earns the same
reward. Deploy with ``rule="consortium"``; the reward is ``settings.tier_rewards[0]``."""

from __future__ import annotations

from typing import Any, Sequence

from ..transport import Call
from . import RuleAdapter


class ConsortiumAdapter(RuleAdapter):
    name = "consortium"
    contract = "ConsortiumRule"

    def deploy_args(self, settings: Any, extra: Any) -> tuple:
        """The engine's settings and the one reward every accepted update earns."""
        return (settings.as_tuple(), int(settings.tier_rewards[0]))

    def enroll(self, task: Any, owner: Any, accounts: Sequence[Any]) -> None:
        """The sponsor lists ``accounts`` (those not listed yet)."""
        self.add_members(task, owner, accounts)

    def add_members(self, task: Any, sponsor: Any, accounts: Sequence[Any]) -> int:
        """The sponsor puts ``accounts`` on the allowlist; gas used (0 if all were listed)."""
        new = [task.address_of(a) for a in accounts if not self.is_member(task, a)]
        return task.send(Call("rule", "addMembers", (new,)), sponsor).gas_used if new else 0

    def remove_members(self, task: Any, sponsor: Any, accounts: Sequence[Any]) -> int:
        """The sponsor takes ``accounts`` off the allowlist: no post or relay of theirs from now."""
        return task.send(Call("rule", "removeMembers", ([task.address_of(a) for a in accounts],)), sponsor).gas_used

    def before_relay(self, task: Any, sender: Any, round_: int, relayed: list, wait: Any) -> tuple[list, int, int]:
        """Only listed accounts are relayed (one unlisted would revert the whole listing)."""
        return [s for s in relayed if self.is_member(task, s.owner)], task.max_participants, 0

    def is_member(self, task: Any, account: Any) -> bool:
        return bool(task.view("rule", "isMember", task.address_of(account)))

    def members(self, task: Any) -> list[str]:
        """The allowlist now, from its events."""
        listed: dict[str, bool] = {}
        for e in sorted(task.events("MemberAdded", target="rule") + task.events("MemberRemoved", target="rule"),
                        key=lambda e: e.block_number):
            listed[str(e.account)] = e.name == "MemberAdded"
        return [a for a, on in listed.items() if on]

    def tiers(self, task: Any) -> list[tuple[int, int]]:
        """One tier: every score (all 0) earns the reward."""
        return [(0, int(task.view("rule", "reward")))]


ADAPTER = ConsortiumAdapter()
