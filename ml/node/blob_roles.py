"""The two daemons of the blob plane, each one `step()` at a time (``run_loop`` drives them).

- ``BlobKeeper`` asserts the round's claim once posting closes (bonded; it earns the
  keeper fee when the claim stands), finalizes it when its window closes, abandons a round
  nobody can finish, and opens the next round. Anyone may run one; none is trusted.
- ``Watcher`` audits every claim as it appears: it fetches the round's blobs, recomputes
  the model and every score tree with ``ml.blobs`` and disputes the first thing that is
  wrong, earning half the bond; then it asserts the right claim itself (bonded, earning the
  fee when it stands), so a lying keeper cannot stall the round by lying again first. One
  honest watcher within the window keeps the task honest.

A keeper can also be an adversary (``wrong_lane``): it then asserts a model with one lane
off by one, once per round, for demonstrations and tests of the watcher.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np

from .. import blobs as B
from ..blob_chain import BlobTaskClient


class BlobKeeper:
    """Asserts, finalizes and reopens rounds of a blob task."""

    def __init__(self, task: BlobTaskClient, account: Any, wrong_lane: int | None = None,
                 log: Callable[[str], None] = lambda s: None) -> None:
        self.task = task
        self.account = account
        self.wrong_lane = wrong_lane
        self.log = log

    def _claim(self, round_: int) -> B.Claim:
        claim = self.task.honest_claim(round_)
        if self.wrong_lane is None:
            return claim
        lay = self.task.layout
        bad = claim.model.copy()
        p = self.wrong_lane
        bad[p] = bad[p] + 1 if bad[p] < lay.hi else bad[p] - 1
        return B.Claim(bad, B.encode_update(bad, lay), claim.scores, claim.trees, claim.sums, lay)

    def step(self) -> str | None:
        t = self.task
        v = t.view()
        now = int(t.web3.eth.get_block("latest")["timestamp"])
        if not v.open:
            if v.ended_at or v.round == 0:
                return None
            started = t.start_round(self.account)
            return f"opened round {started}"
        r = v.round
        if v.claimant != "0x0000000000000000000000000000000000000000":
            if now >= v.claim_deadline:
                t.finalize(self.account, r)
                return f"round {r}: finalized the claim of {v.claimant[:10]}; model version {t.version}"
            return None
        if not v.posting_closed:
            return None
        cfg = t.config
        if v.entrants < cfg.min_participants or now > v.post_deadline + cfg.assert_timeout:
            t.abandon(self.account, r)
            return f"round {r}: abandoned ({v.entrants} updates)"
        me = str(self.account.address)
        if self.wrong_lane is not None and any(e.claimant == me for e in t.events("ClaimRefuted", round=r)):
            return None  # caught once this round: the adversary leaves the round to others
        claim = self._claim(r)
        t.assert_claim(self.account, r, claim)
        lie = "" if self.wrong_lane is None else f" with parameter {self.wrong_lane} off by one"
        return f"round {r}: asserted a claim over {v.entrants} updates{lie} (bond {cfg.assert_bond} wei)"


class Watcher:
    """Audits every claim of a blob task and disputes wrong ones."""

    def __init__(self, task: BlobTaskClient, account: Any, log: Callable[[str], None] = lambda s: None) -> None:
        self.task = task
        self.account = account
        self.log = log
        self.audited: set[tuple[int, bytes, bytes, str]] = set()
        self.refuted = 0

    def step(self) -> str | None:
        t = self.task
        v = t.view()
        if not v.open or v.claimant == "0x0000000000000000000000000000000000000000":
            return None
        _, _, model, digest = t._engine.functions.claimOf().call()
        key = (v.round, bytes(model), bytes(digest), v.claimant)
        if key in self.audited:
            return None
        started = time.monotonic()
        honest = t.honest_claim(v.round)
        found = t.audit(v.round, honest)
        took = time.monotonic() - started
        if found is None:
            self.audited.add(key)  # marked only once settled: a failed step is retried
            return f"round {v.round}: the claim of {v.claimant[:10]} holds (recomputed in {took:.1f} s)"
        receipt = t.dispute(self.account, v.round, found)
        self.audited.add(key)
        self.refuted += 1
        self.log(f"round {v.round}: refuted the claim of {v.claimant[:10]} at {found.kind} {found.at} "
                 f"({receipt.gas_used:,} gas); earned {t.config.assert_bond // 2} wei")
        t.assert_claim(self.account, v.round, honest)
        return f"round {v.round}: asserted the right claim"


def model_matches(task: BlobTaskClient, version: int, expected: np.ndarray) -> bool:
    return bool(np.array_equal(task.model_ints(version), expected))
