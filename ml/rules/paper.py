"""The paper's rule (contracts/rules/PaperRule.sol): anyone posts while seats last, signed
updates may be relayed, each update earns the tier of its mean distance to the model."""

from __future__ import annotations

from ..settings import RuleCost
from . import RuleAdapter


class PaperAdapter(RuleAdapter):
    name = "paper"
    contract = "PaperRule"
    cost = RuleCost(per_column=30_000, per_seat=5_000)


ADAPTER = PaperAdapter()
