"""The CONSENSUS rule (contracts/rules/ConsensusRule.sol): committers stake on a hidden
update, seats are drawn at random, seated committers reveal (or hand their opening to a
relayer), and each accepted update is paid by how far the consensus moved towards it."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
from eth_abi import encode as abi_encode

from .. import codec, protocol
from ..settings import COMMIT_GAS, DRAW_GAS, ConsensusSettings, RuleCost, Status, post_gas
from ..chain import Update
from ..signing import OpenedUpdate
from ..transport import Call, await_block
from . import RuleAdapter


@dataclass(frozen=True)
class Commitment:
    """What a participant keeps from commit to reveal: the packed update, its salt, its
    declared move (sum |v - g|) and its head link."""

    round: int
    salt: bytes
    words: list[int]
    move: int
    head: bytes
    saturated: int = 0

    def as_json(self) -> dict[str, Any]:
        return {"round": self.round, "salt": self.salt.hex(), "words": [hex(w) for w in self.words],
                "move": self.move, "head": self.head.hex(), "saturated": self.saturated}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Commitment":
        return cls(int(d["round"]), bytes.fromhex(d["salt"]), [int(w, 16) for w in d["words"]], int(d["move"]),
                   bytes.fromhex(d["head"]), int(d["saturated"]))

    def proof(self) -> bytes:
        """What post 0 of the reveal carries: the commitment's opening (salt, move)."""
        return abi_encode(["bytes32", "uint256"], [self.salt, self.move])


@dataclass(frozen=True)
class SeatDraw:
    """What ConsensusRule.drawSeats decided for a round."""

    round: int
    committers: int
    seats: int
    move_reference: int
    seed: bytes
    gas_used: int


_SEAT = {1: Status.COMMITTED, 2: Status.SEATED, 3: Status.RELEASED, 4: Status.REFUSED, 5: Status.REFUSED}


class ConsensusAdapter(RuleAdapter):
    name = "consensus"
    contract = "ConsensusRule"
    cost = RuleCost(per_column=200_000, per_seat=40_000, distance_to_new=True)
    seals = False  # the draw's seed
    commits = True

    def deploy_args(self, settings: Any, extra: ConsensusSettings | None) -> tuple:
        c = extra or ConsensusSettings()
        return super().deploy_args(settings, None) + (c.as_tuple(),)

    def phase(self, task: Any, round_: int) -> tuple[int, bool]:
        return (int(task.view("rule", "commitDeadline")),
                int.from_bytes(bytes(task.view("rule", "drawSeed", round_)), "big") != 0)

    def status(self, task: Any, round_: int, account: Any) -> Status:
        seat = int(task.view("rule", "seatOf", round_, task.address_of(account))[0])
        return _SEAT.get(seat, Status.NONE)

    def stake(self, task: Any) -> int:
        """Wei a commit locks."""
        return int(task.view("rule", "stake"))

    # --- commit -------------------------------------------------------------------------

    def prepare(self, task: Any, round_: int, weights: Any, salt: bytes | None = None,
                global_ints: np.ndarray | None = None) -> Commitment:
        """Quantizes an update, measures its move against the current model (view calls
        unless given) and links it; keep the result until the reveal."""
        u = weights if hasattr(weights, "words") else task.encode(weights)
        g = task.global_ints() if global_ints is None else global_ints
        move = self.move(task, u.words, g)
        head = protocol.update_links(u.words, task.column_words)[0]
        return Commitment(round_, salt if salt is not None else os.urandom(32), list(u.words), move, head,
                          u.saturated)

    def move(self, task: Any, words: Sequence[int], global_ints: np.ndarray) -> int:
        """An update's move, sum |v - g| over all parameters: what a reveal or relay measures."""
        return int(np.abs(codec.unpack(list(words), task.param_count)
                          - np.asarray(global_ints, dtype=np.int64)).sum())

    def commit_call(self, task: Any, c: Commitment, participant: Any) -> Call:
        h = protocol.commitment_hash(task.rule_address, c.round, task.address_of(participant), c.salt, c.move, c.head)
        return Call("rule", "commit", (c.round, h, c.move), value=self.stake(task), gas=COMMIT_GAS)

    def commit(self, task: Any, sender: Any, c: Commitment, bound_to: Any = None) -> int:
        """Commits ``c`` with the stake; ``bound_to``: an attacker replaying another's
        commitment binds it to that participant (it can never be opened)."""
        return task.send(self.commit_call(task, c, bound_to or sender), sender).gas_used

    def commit_many(self, task: Any, items: Sequence[tuple[Any, Commitment]]) -> list[int]:
        """Commits every ``(sender, commitment)`` at once; gas of each."""
        receipts = task.broadcast([(self.commit_call(task, c, sender), sender) for sender, c in items])
        return [r.gas_used for r in receipts]

    # --- draw -----------------------------------------------------------------------------

    def draw_call(self, task: Any, round_: int) -> Call:
        return Call("rule", "drawSeats", (round_,), gas=DRAW_GAS)

    def draw_seats(self, task: Any, sender: Any, wait: Callable[[int], None] | None = None) -> SeatDraw | None:
        """Waits out the commit phase, then draws the seats unless someone did (two calls:
        the first arms a block two ahead, a call in that block draws); returns the draw, or
        None when it was made already."""
        state = task.round_state()
        if state.commit_deadline > state.now:
            (wait or time.sleep)(state.commit_deadline - state.now)
        round_ = state.round
        gas = 0
        for _ in range(8):
            if self.phase(task, round_)[1]:
                return None
            armed = task.events("DrawArmed", target="rule", round=round_)
            if armed and int(armed[-1].drawBlock) > task.block_number:
                await_block(task.web3, int(armed[-1].drawBlock))
            receipt = task.send(self.draw_call(task, round_), sender)
            gas += receipt.gas_used
            drawn = receipt.named("SeatsDrawn")
            if drawn:
                ev = drawn[0]
                return SeatDraw(int(ev.round), int(ev.committers), int(ev.seats), int(ev.moveReference),
                                bytes(ev.seed), gas)
        raise RuntimeError(f"round {round_}: no seat draw landed in its armed block after 8 tries")

    def seated(self, task: Any, round_: int, account: Any) -> bool:
        return self.status(task, round_, account) == Status.SEATED

    # --- reveal ---------------------------------------------------------------------------

    def reveal_calls(self, task: Any, c: Commitment) -> list[Call]:
        """The reveal: the update's posts, post 0 opening the commitment."""
        return task.post_calls(c.round, Update(list(c.words), c.saturated), c.proof())

    def reveal(self, task: Any, sender: Any, c: Commitment, start: int = 0) -> Any:
        """Reveals every post from ``start``; returns None when the rule refused the update
        (a Rejected event: move out of bounds or not as declared)."""
        receipts = [task.send(call, sender) for call in self.reveal_calls(task, c)[start:]]
        task._updates[(c.round, task.address_of(sender))] = c.words
        if receipts[-1].named("Rejected"):
            return None
        return task._posted(c.round, receipts, c.saturated)

    def reveal_many(self, task: Any, items: Sequence[tuple[Any, Commitment]]) -> list[Any]:
        """Reveals every ``(sender, commitment)`` at once; None where the rule refused it."""
        calls = [(call, sender) for sender, c in items for call in self.reveal_calls(task, c)]
        receipts = task.broadcast(calls)
        k, out = len(task.posts), []
        for i, (sender, c) in enumerate(items):
            mine = receipts[i * k : (i + 1) * k]
            task._updates[(c.round, task.address_of(sender))] = c.words
            out.append(None if mine[-1].named("Rejected") else task._posted(c.round, mine, c.saturated))
        return out

    def release_stake(self, task: Any, sender: Any, round_: int) -> int:
        (ev,) = task.send(Call("rule", "releaseStake", (round_,)), sender).named("StakeReturned")
        return int(ev.amount)

    def release_stakes(self, task: Any, sender: Any) -> int:
        """Takes back every stake ``sender`` still has on a commit that was never seated and
        may be released now (its round over, or its seats drawn without it); wei returned.
        A participant that commits every round calls this before its next commit."""
        me = task.address_of(sender)
        current, open_ = task.current_round, task.round_open
        total = 0
        for e in task.events("Committed", target="rule", participant=me):
            r = int(e.round)
            over_or_drawn = r < current or not open_ or self.phase(task, r)[1]
            if over_or_drawn and int(task.view("rule", "seatOf", r, me)[0]) == 1:  # committed, never seated
                total += self.release_stake(task, sender, r)
        return total

    # --- relay ----------------------------------------------------------------------------

    def opening(self, task: Any, account: Any, c: Commitment) -> OpenedUpdate:
        """What a seated committer hands to a relayer instead of revealing: its update, the
        opening of the commitment ``account`` sent, and ``account``'s signature of the relay
        (its consent: ``task.sign``, an ape account or an eth-account key)."""
        signed = task.sign(account, c.round, Update(list(c.words), c.saturated))
        return OpenedUpdate(task.address_of(account), c.round, list(c.words), c.salt, c.move, c.saturated,
                            signed.r, signed.vs)

    def admissible(self, task: Any, round_: int, opened: Sequence[OpenedUpdate]) -> list[OpenedUpdate]:
        """The openings the rule will admit, by the reveal's own rules (ml.protocol): each
        opens its owner's commitment, the measured move is the declared one, within
        [minMove, maxMove] and the ratio bound against the draw's reference (before the
        draw, with every committer seated, the lower median of all declared moves). A
        relayer leaves the others out."""
        g = task.global_ints()
        if self.phase(task, round_)[1]:
            reference = int(task.view("rule", "moveReference", round_))
        else:
            declared = [int(e.move) for e in task.events("Committed", target="rule", round=round_)]
            reference = protocol.move_reference([m // task.param_count for m in declared])
        bounds = tuple(int(task.view("rule", n)) for n in ("minMove", "maxMove", "maxMoveRatio"))
        out = []
        for o in opened:
            measured = self.move(task, o.words, g)
            head = protocol.update_links(o.words, task.column_words)[0]
            # An opening of another commitment (words, salt or move) would revert the listing.
            opens = bytes(task.view("rule", "commitmentOf", round_, o.owner)) == protocol.commitment_hash(
                task.rule_address, round_, o.owner, o.salt, o.move, head)
            if opens and measured == o.move and protocol.move_accepted(measured // task.param_count, *bounds,
                                                                       reference):
                out.append(o)
        return out

    def before_relay(self, task: Any, sender: Any, round_: int, relayed: list, wait: Any) -> tuple[list, int, int]:
        """The seats decide who may be relayed: the draw comes first; refused reveals are
        done too (not on the list) and count towards closing."""
        draw = self.draw_seats(task, sender, wait)
        seats = min(task.max_participants, int(task.view("rule", "roundCommitters", round_)))
        relayed = [s for s in relayed if self.seated(task, round_, s.owner)]
        relayed = self.admissible(task, round_, [s for s in relayed if isinstance(s, OpenedUpdate)])
        seats -= len(task.events("Rejected", target="rule", round=round_))
        return relayed, seats, draw.gas_used if draw else 0

    def refuses(self, task: Any, round_: int, owner: str, words: Sequence[int]) -> bool:
        """A relayed update whose measured move is not its declared one: the last column
        reverts until it is dropped."""
        declared = int(task.view("rule", "seatOf", round_, owner)[1])
        return self.move(task, words, task.model_ints(task.round_state().completed_rounds)) != declared


ADAPTER = ConsensusAdapter()
