"""Rule adapters: what the task client does differently per reward rule.

A task's engine is the same for every rule; its rule contract says who may post or be
relayed and what an update earns. Each rule has an adapter here (a module of its own): the
contract it deploys, its constructor arguments, the gas its hooks add to a column, its own
actions (a CONSENSUS commit, a consortium's members) and how the client reads its phase.
``RULES`` is the registry: one line per rule.
"""

from __future__ import annotations

import importlib
from typing import Any, Sequence

from ..settings import RuleCost, Status

#: rule name (its contract's ``name()``) -> module in this package defining ``ADAPTER``.
RULES: dict[str, str] = {
    "paper": "paper",
    "consensus": "consensus",
    "consortium": "consortium",
}


class RuleAdapter:
    """The defaults: a tiered rule with no phase of its own, relaying signed updates, whose
    seed the engine seals. Subclasses override what their rule does differently."""

    name = ""
    contract = ""
    cost = RuleCost()
    #: The engine seals the round's seed (``sealSeed``); False when the rule supplies it.
    seals = True
    #: Participants commit first and reveal after a seat draw (CONSENSUS); else they post.
    commits = False

    def deploy_args(self, settings: Any, extra: Any) -> tuple:
        """The rule contract's constructor arguments."""
        return (settings.as_tuple(), list(settings.tier_thresholds), list(settings.tier_rewards))

    def enroll(self, task: Any, owner: Any, accounts: Sequence[Any]) -> None:
        """What the task's owner does so that ``accounts`` may take part (nothing, unless the
        rule keeps a list of participants)."""

    def phase(self, task: Any, round_: int) -> tuple[int, bool]:
        """(commit deadline, seats drawn) of ``round_``: rules without a commit phase (0, False)."""
        return 0, False

    def status(self, task: Any, round_: int, account: Any) -> Status:
        """Where an account with nothing posted stands in ``round_`` by the rule."""
        return Status.NONE

    def before_relay(self, task: Any, sender: Any, round_: int, relayed: list, wait: Any) -> tuple[list, int, int]:
        """What a relay carries and how many seats it may fill, once the rule's phase allows
        it; the gas spent getting there (e.g. a seat draw)."""
        return relayed, task.max_participants, 0

    def refuses(self, task: Any, round_: int, owner: str, words: Sequence[int]) -> bool:
        """Whether the rule will refuse a relayed update once its words are measured."""
        return False

    def tiers(self, task: Any) -> list[tuple[int, int]]:
        thresholds, rewards = task.view("rule", "tiers")
        return list(zip((int(t) for t in thresholds), (int(r) for r in rewards)))

    def tiers_of(self, task: Any, scores: dict[str, int]) -> dict[str, int]:
        """Each participant's tier of its score (what the rule paid it by)."""
        from ..protocol import reward_tier

        thresholds = [t for t, _ in self.tiers(task)]
        return {a: reward_tier(s, thresholds) for a, s in scores.items()}


def adapter_of_contract(contract: str) -> RuleAdapter:
    """The adapter of the rule whose contract is named ``contract`` (e.g. "PaperRule")."""
    for name in RULES:
        a = adapter_for(name)
        if a.contract == contract:
            return a
    raise ValueError(f"{contract} is not a rule contract: one of "
                     f"{', '.join(adapter_for(n).contract for n in RULES)}")


def adapter_for(name: str) -> RuleAdapter:
    """The adapter of rule ``name`` (a task's ``rule.name()``, or a config's ``rule``)."""
    if name not in RULES:
        raise ValueError(f"unknown rule {name!r}: one of {', '.join(RULES)}")
    return importlib.import_module(f"{__name__}.{RULES[name]}").ADAPTER
