"""The relay path's transactions: what a relayer sends for a round, for every rule.

A relay lists updates by their head links, each with the proof its rule asks for (a
signature, a commitment's opening): ``relay(round, heads, proofs)``; then, once the round's
seed is sealed (the block after the listing), every column through ``aggregate``, like any
round. Columns carry an explicit gas limit (the contract's column bound, which counts what
relayed updates add), so that all of them can be sent at once and land in one block.
``ml.chain.TaskClient`` sends the plan over whichever transport it has.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from . import codec, protocol
from .settings import RELAY_GAS_BASE, RELAY_GAS_PER_SEAT, RuleCost, column_gas_bound
from .signing import Relayable
from .transport import Call


@dataclass(frozen=True)
class RelayPlan:
    """A relay's transactions: ``listing`` puts the relayed updates on the list (their heads
    and proofs), then, once the round's seed is sealed, ``columns``."""

    listing: list[Call]
    columns: list[Call]


def lanes_ok(words: Sequence[int], param_count: int, value_bits: int) -> bool:
    """Whether packed words are what the contract accepts: every lane a ``value_bits``-bit
    signed value, the last word's unused lanes zero (BatchEngine._checkWords)."""
    used = param_count % 16
    if used and words[-1] >> (16 * used):
        return False
    if value_bits == 16:
        return True
    lo, hi = -(1 << (value_bits - 1)), (1 << (value_bits - 1))
    ints = codec.unpack(list(words), len(words) * 16)
    return bool(((ints >= lo) & (ints < hi)).all())


def relay_plan(round_: int, posted: Sequence[list[int]], relayed: Sequence[Relayable], column_words: int,
               sorts: bool, cost: RuleCost | None = None, max_relayed: int | None = None,
               replay_heads: int = 0) -> RelayPlan:
    """The transactions of ``round_`` with ``relayed`` after the ``posted`` updates (the list
    so far, in order): the listing, then every column; at most the task's ``max_relayed``.
    Column gas limits are the contract's column bound for a rule adding ``cost``
    (``replay_heads``: the task's replayRounds x maxParticipants)."""
    if not relayed:
        raise ValueError("nothing to relay")
    for s in relayed:
        if s.round != round_:
            raise ValueError(f"{s.owner}'s update is for round {s.round}, not round {round_}")
    updates = [list(u) for u in posted] + [s.words for s in relayed]
    model_words = len(updates[0])
    if any(len(u) != model_words for u in updates):
        raise ValueError("updates of different lengths")
    if max_relayed is not None and len(relayed) > max_relayed:
        raise ValueError(f"{len(relayed)} updates to relay, but the task's relay carries at most {max_relayed} "
                         f"(maxRelayed): the others post (or reveal) themselves")
    links = [protocol.update_links(u, column_words) for u in updates]
    heads = [lk[0] for lk in links[len(posted):]]
    listing = [Call("engine", "relay", (round_, heads, [s.proof() for s in relayed]),
                    gas=RELAY_GAS_BASE + RELAY_GAS_PER_SEAT * len(relayed))]
    columns = []
    for c, (f, t) in enumerate(protocol.chunk_ranges(model_words, column_words)):
        words = [w for u in updates for w in u[f:t]]
        nexts = [lk[c + 1] for lk in links]
        gas = column_gas_bound(len(updates), t - f, sorts, cost, len(relayed), replay_heads)
        columns.append(Call("engine", "aggregate", (round_, c, words, nexts), gas=gas))
    return RelayPlan(listing, columns)


def still_to_relay(relayed: Sequence[Relayable], listed: Sequence[str], seats: int,
                   max_relayed: int | None = None) -> list[Relayable]:
    """What a relay still carries, in order: not the owners already on the list (they posted
    or revealed themselves), no more than the seats left (others may have taken some), and
    no more than the task relays (``max_relayed``; the rest must post themselves)."""
    on_list = set(listed)
    room = max(0, seats - len(listed))
    if max_relayed is not None:
        room = min(room, max_relayed)
    return [s for s in relayed if s.owner not in on_list][:room]
