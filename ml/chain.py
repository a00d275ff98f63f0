"""The task client: the only Python code that builds calls to a task's contracts.

A task is a data plane (``BatchEngine``: rounds, posts, relays, columns, the model, money)
and a reward rule (``PaperRule``, ``ConsensusRule``, ``ConsortiumRule``, ...: who may post,
what each update earns) that created it. ``TaskClient`` speaks for both in protocol words
(``task.submit(account, round, update)``, ``task.aggregate(keeper)``); what only one rule
does (CONSENSUS commits, draws and openings; the consortium's members) lives in that rule's
adapter (``ml.rules``), reached through the task (``task.commit(...)`` on a CONSENSUS task).

Every call is a value (``ml.transport.Call``) built here and sent by a transport: ape
(scripts, tests, node processes) or bare web3.py (the Flower server). Reads, events and past
transactions go through web3.py on both, so a result is the same type whichever sent it.
Every write goes through ``ml.codec``; every link and commitment through ``ml.protocol``.
"""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from . import codec, protocol
from .relay import lanes_ok, relay_plan, still_to_relay
from .settings import (DROP_GAS_BASE, DROP_GAS_PER_SEAT, SEAL_GAS, BatchSettings, Status, TaskConfig,
                       column_gas_bound, post_gas)
from .signing import Relayable, SignedUpdate, compact, recover_signer
from .transport import (ApeTransport, Call, Event, EventDecoder, Receipt, TaskError, Transport, Web3Transport,
                        abi_of, automine, await_block)

#: Words fetched per view call when reading a large model (keeps eth_call responses small).
VIEW_WORDS_PER_CALL = 2048

log = logging.getLogger("fedchain.task")


@dataclass(frozen=True)
class Update:
    """A quantized update as it travels: the packed words of every parameter."""

    words: list[int]
    saturated: int = 0  # values clipped to the fixed-point range when quantizing


@dataclass(frozen=True)
class Posted:
    """One complete post (all its transactions) of an update."""

    round: int
    participant: str
    index: int  # place on the round's list
    gas_used: int
    transactions: int
    max_tx_gas: int
    max_tx_bytes: int
    saturated: int = 0


@dataclass(frozen=True)
class BatchRound:
    """What aggregating one round did (every column transaction, and what preceded them)."""

    round: int
    participants: int
    completed: bool
    rewards: dict[str, int]  # participant -> wei credited with the last column
    duplicates: list[str]
    replays: list[str]
    gas_used: int
    transactions: int
    max_tx_gas: int
    max_tx_bytes: int
    next_round_open: bool
    block_number: int = 0
    scores: dict[str, int] = field(default_factory=dict)  # participant -> the rule's score
    tiers: dict[str, int] = field(default_factory=dict)  # participant -> tier (tiered rules)
    blocks: list[int] = field(default_factory=list)  # every block the round's transactions landed in
    sent: int = 0  # every transaction the call sent for the round (a draw, a listing, a seal, the columns)


@dataclass(frozen=True)
class RoundState:
    """One read of the task's round state: what a client or keeper decides its next step on
    (``BatchEngine.roundView`` in one call, and the rule's phase)."""

    round: int
    open: bool
    now: int  # timestamp of the pending block (what the next transaction will see)
    commit_deadline: int  # rules with a commit phase (CONSENSUS); 0 otherwise
    post_deadline: int
    posting_closed: bool  # columns may be sent
    seats_drawn: bool  # CONSENSUS; always False otherwise
    entrants: int  # complete updates on the round's list
    min_participants: int
    columns_done: int  # columnCursor
    abandonable_at: int = 0  # anyone may abandon the round from then
    completed_rounds: int = 0
    relayed_from: int = 0  # 1 + list index of the first relayed update (0: none)
    seed_arm: int = 0  # block whose randomness seals the seed (0: not armed)
    seed: bytes = b"\0" * 32
    reward_pool: int = 0
    round_reserve: int = 0
    total_owed: int = 0
    escrowed: int = 0
    ended_at: int = 0
    initial_columns: int = 0

    @property
    def commit_open(self) -> bool:
        return self.open and self.now < self.commit_deadline

    @property
    def posting_open(self) -> bool:
        """Updates may be posted (or seats drawn and revealed, under CONSENSUS)."""
        return self.open and not self.commit_open and not self.posting_closed and self.now < self.post_deadline


class TaskClient:
    """Handle on one deployed task (its engine and its rule) over a transport: updates are
    posted or relayed as calldata, then aggregated column by column by anyone; the model,
    money and round views are free calls."""

    def __init__(self, transport: Transport, address: str, abis: dict[str, list[dict]] | None = None) -> None:
        """``abis``: contract name -> ABI (default: the project's compiled manifest)."""
        from .rules import adapter_for

        self.transport = transport
        self.web3 = w3 = transport.web3
        self.address = w3.to_checksum_address(address)
        abi = (lambda name: abis[name]) if abis else abi_of
        self._engine = w3.eth.contract(address=self.address, abi=abi("BatchEngine"))
        rule_address = self._engine.functions.rule().call()
        probe = w3.eth.contract(address=rule_address, abi=[{
            "type": "function", "name": "name", "stateMutability": "view", "inputs": [],
            "outputs": [{"name": "", "type": "string"}]}])
        self.adapter = adapter_for(probe.functions.name().call())
        self.rule_address = rule_address
        self._rule = w3.eth.contract(address=rule_address, abi=abi(self.adapter.contract))
        self.rule = self.adapter.name
        self._decoder = EventDecoder(w3, {self.address: self._engine.abi, rule_address: self._rule.abi})
        self.config = cfg = TaskConfig.from_words(self._engine.functions.settings().call())
        self.param_count = cfg.param_count
        self.fmt = cfg.fmt
        self.model_words = cfg.model_words
        self.column_words = cfg.column_words
        self.columns = protocol.chunk_ranges(self.model_words, self.column_words)
        self.post_words = cfg.post_words
        self.posts = protocol.chunk_ranges(self.model_words, self.post_words)
        self.aggregation = cfg.aggregation
        self.trim = cfg.trim
        self.sorts = self.aggregation != "mean"
        self.chain_id = int(w3.eth.chain_id)
        self._send_targets: dict[str, Any] = {}
        self._collect: list[Receipt] | None = None  # a relay's or aggregation's receipts so far
        self._updates: dict[tuple[int, str], list[int]] = {}  # (round, address) -> words known here

    # --- construction ------------------------------------------------------------------

    @classmethod
    def at(cls, address: str, transport: Transport | None = None) -> "TaskClient":
        """The task whose engine is at ``address``, over ``transport`` (default: ape's
        connected provider)."""
        if transport is None:
            from ape import chain

            transport = ApeTransport(chain.provider)
        return cls(transport, address)

    @classmethod
    def over_web3(cls, rpc_url: str, address: str, abis: dict[str, list[dict]] | None = None) -> "TaskClient":
        """The task at ``address`` through bare web3.py (no ape): senders are eth-account
        ``LocalAccount``s. ``abis``: contract name -> ABI (``task_abis()``), default the
        project's compiled manifest."""
        from web3 import Web3

        return cls(Web3Transport(Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 120}))), address, abis)

    @classmethod
    def deploy(cls, rule: Any, sender: Any, settings: BatchSettings, funding: int = 0,
               extra: Any = None) -> "TaskClient":
        """Deploys a task with ape: its rule contract (``rule``: a name in ``ml.rules``, or
        the rule's ape container), which creates its engine; ``extra``: the rule's own
        settings (CONSENSUS: ``ConsensusSettings``)."""
        import dataclasses

        from ape import chain, project

        from .rules import adapter_for, adapter_of_contract

        adapter = adapter_for(rule) if isinstance(rule, str) else adapter_of_contract(rule.contract_type.name)
        if settings.rule != adapter.name:
            settings = dataclasses.replace(settings, rule=adapter.name)
        container = getattr(project, adapter.contract)
        deployed = container.deploy(*adapter.deploy_args(settings, extra), sender=sender, value=funding)
        return cls(ApeTransport(chain.provider), str(deployed.engine()))

    @classmethod
    def launch(cls, rule: Any, owner: Any, settings: BatchSettings, initial: np.ndarray, funding: int,
               extra: Any = None) -> "TaskClient":
        """Deploys, writes the initial model column by column and opens round 1."""
        task = cls.deploy(rule, owner, settings, funding, extra)
        task.set_initial_model(owner, initial)
        task.start_round(owner)
        return task

    # --- the two contracts ---------------------------------------------------------------

    @property
    def engine(self) -> Any:
        """The engine as the transport's contract object (an ape contract under ape)."""
        return self._target("engine")

    @property
    def rule_contract(self) -> Any:
        """The rule as the transport's contract object."""
        return self._target("rule")

    def _target(self, target: str) -> Any:
        if target not in self._send_targets:
            if isinstance(self.transport, ApeTransport):
                from ape import project

                name = "BatchEngine" if target == "engine" else self.adapter.contract
                address = self.address if target == "engine" else self.rule_address
                self._send_targets[target] = getattr(project, name).at(address)
            else:
                self._send_targets[target] = self._engine if target == "engine" else self._rule
        return self._send_targets[target]

    def view(self, target: str, method: str, *args: Any) -> Any:
        """A view of the engine or the rule, through web3.py."""
        c = self._engine if target == "engine" else self._rule
        return getattr(c.functions, method)(*args).call()

    # --- sending -------------------------------------------------------------------------

    def send(self, call: Call, sender: Any) -> Receipt:
        """Sends one call; its receipt with the task's events decoded."""
        return self._receipt(self.transport.send(call, self._target(call.target), sender))

    def broadcast(self, items: Sequence[tuple[Call, Any]]) -> list[Receipt]:
        """Signs and sends every ``(call, sender)`` without waiting for any, then waits for
        all: clients are independent, so a phase takes as many blocks as the block gas limit
        forces. Explicit gas limits (not the block's) let a block pack as many as fit."""
        raw = self.transport.broadcast([(c, self._target(c.target), s) for c, s in items])
        return [self._receipt(r) for r in raw]

    def _receipt(self, raw: Any) -> Receipt:
        tx_hash = _hex(raw["transactionHash"])
        data = self.web3.eth.get_transaction(tx_hash)["input"]
        events = [e for e in (self._decoder.decode(log) for log in raw["logs"]) if e is not None]
        receipt = Receipt(tx_hash, int(raw["gasUsed"]), int(raw["blockNumber"]), len(bytes(data)), events)
        if self._collect is not None:
            self._collect.append(receipt)
        return receipt

    @contextmanager
    def _collecting(self) -> Iterator[None]:
        """Collects the receipts of a round's transactions (its blocks and count in
        ``BatchRound``); nested calls (a relay that aggregates) add to the outer collection."""
        if self._collect is not None:
            yield
            return
        self._collect = []
        try:
            yield
        finally:
            self._collect = None

    def events(self, name: str, target: str = "engine", **filters: Any) -> list[Event]:
        """Every ``name`` event of the engine (or rule) so far whose indexed ``filters`` match."""
        c = self._engine if target == "engine" else self._rule
        logs = getattr(c.events, name)().get_logs(from_block=0, argument_filters=filters or None)
        return [Event(e["event"], dict(e["args"]), str(e["address"]), _hex(e["transactionHash"]),
                      int(e["blockNumber"])) for e in logs]

    # --- basics --------------------------------------------------------------------------

    def encode(self, weights: np.ndarray) -> Update:
        """Quantizes and packs float weights for this task."""
        w = np.asarray(weights, dtype=np.float64).ravel()
        if w.size != self.param_count:
            raise ValueError(f"weights have {w.size} values; the task expects {self.param_count}")
        words, saturated = codec.encode(w, self.fmt)
        return Update(words, saturated)

    def address_of(self, account: Any) -> str:
        return str(getattr(account, "address", account))

    def fund(self, sender: Any, amount: int) -> None:
        self.send(Call("engine", "fund", (), value=amount), sender)

    def start_round(self, sender: Any) -> int:
        self.send(Call("engine", "startRound", ()), sender)
        return self.current_round

    def advance_time(self, seconds: int) -> None:
        """Development chains only: the next block's timestamp moves ``seconds`` ahead."""
        self.transport.advance_time(seconds)

    def set_next_timestamp(self, timestamp: int) -> None:
        """Development chains only: the next block gets ``timestamp`` (a phase's first block)."""
        self.web3.provider.make_request("evm_setNextBlockTimestamp", [int(timestamp)])

    def withdrawable(self, account: Any) -> int:
        return int(self.view("engine", "withdrawable", self.address_of(account)))

    def buy_access(self, sender: Any) -> None:
        self.send(Call("engine", "buyAccess", (), value=self.access_price), sender)

    def has_access(self, account: Any) -> bool:
        return bool(self.view("engine", "hasAccess", self.address_of(account)))

    def tiers(self) -> list[tuple[int, int]]:
        """The rule's reward tiers (score bound, wei), for tiered rules."""
        return self.adapter.tiers(self)

    # --- views (free) --------------------------------------------------------------------

    def model_ints(self, version: int | None) -> np.ndarray:
        """Integers of model ``version`` (0: the initial model; None: the current one)."""
        if version is None:
            version = self.completed_rounds
        words: list[int] = []
        for start in range(0, self.model_words, VIEW_WORDS_PER_CALL):
            end = min(start + VIEW_WORDS_PER_CALL, self.model_words)
            words.extend(int(w) for w in self.view("engine", "modelSlice", version, start, end))
        return codec.unpack(words, self.param_count)

    def global_ints(self) -> np.ndarray:
        """The global model's integers, read with view calls only."""
        return self.model_ints(None)

    def global_model(self) -> np.ndarray:
        """The global model as floats, ready for ``models.set_flat``."""
        return codec.dequantize(self.global_ints(), self.fmt)

    def model_after(self, round_: int) -> np.ndarray:
        """The model (floats) that round ``round_`` produced."""
        version = self.round_version(round_)
        if version == 0:
            raise ValueError(f"round {round_} produced no model (not aggregated yet, or abandoned)")
        return codec.dequantize(self.model_ints(version), self.fmt)

    @property
    def block_number(self) -> int:
        return int(self.web3.eth.block_number)

    def _now(self) -> int:
        return int(self.web3.eth.get_block("pending")["timestamp"])

    def _view(self) -> tuple:
        return tuple(self.view("engine", "roundView"))

    def round_state(self) -> RoundState:
        """One consistent read (``roundView``, and the rule's phase) of what a client or
        keeper decides its next step on."""
        (round_, open_, closed, deadline, entrants, cursor, completed, relayed_from, seed_arm, seed, pool,
         reserve, owed, escrowed, ended, initial) = self._view()
        commit_deadline, drawn = self.adapter.phase(self, round_)
        return RoundState(round_, open_, self._now(), commit_deadline, deadline, closed, drawn, entrants,
                          self.config.min_participants, cursor, deadline + 2 * self.config.aggregation_timeout,
                          completed, relayed_from, seed_arm, bytes(seed), pool, reserve, owed, escrowed, ended,
                          initial)

    @property
    def current_round(self) -> int:
        return int(self._view()[0])

    @property
    def round_open(self) -> bool:
        return bool(self._view()[1])

    @property
    def completed_rounds(self) -> int:
        """Rounds that produced a model (the current model's version)."""
        return int(self._view()[6])

    @property
    def reward_pool(self) -> int:
        return int(self._view()[10])

    @property
    def total_owed(self) -> int:
        return int(self._view()[12])

    @property
    def escrowed(self) -> int:
        return int(self._view()[13])

    def round_version(self, round_: int) -> int:
        """Model version ``round_`` produced (0: none, or not yet)."""
        return int(self.view("engine", "roundVersion", round_))

    @property
    def access_price(self) -> int:
        return int(self.view("engine", "accessPrice"))

    @property
    def round_reserve(self) -> int:
        """Wei a round locks from the pool when it opens (roundReserveNeeded)."""
        return int(self.view("engine", "roundReserveNeeded"))

    @property
    def max_participants(self) -> int:
        return self.config.max_participants

    @property
    def max_relayed(self) -> int:
        return self.config.max_relayed

    @property
    def replay_heads(self) -> int:
        return self.config.replay_heads

    def status(self, round_: int, account: Any) -> tuple[Status, int]:
        """Where ``account`` stands in ``round_`` and its next post number."""
        posted, next_post, _ = (int(x) for x in self.view("engine", "statusOf", round_, self.address_of(account)))
        if posted == 2:
            return Status.LISTED, next_post
        if posted == 3:
            return Status.REFUSED, next_post
        if posted == 1:
            return Status.POSTING, next_post
        return self.adapter.status(self, round_, account), next_post

    def entrants(self, round_: int) -> list[str]:
        """The current round's list of complete updates, in list (column) order."""
        view = self._view()
        if round_ != int(view[0]):
            raise ValueError(f"entrants() reads the current round's list, not round {round_}'s")
        return [str(self.view("engine", "entrant", round_, i)) for i in range(int(view[4]))]

    def posted_words(self, round_: int, participant: str) -> list[int]:
        """An update's words: known here (posted or relayed through this client), else from
        the chain (its post transactions' calldata, found through its Posted events)."""
        key = (round_, str(participant))
        if key not in self._updates:
            words: list[int] = []
            for e in sorted(self.events("Posted", round=round_, participant=participant), key=lambda e: e.post):
                tx = self.web3.eth.get_transaction(e.tx_hash)
                _, args = self._engine.decode_function_input(tx["input"])
                words.extend(int(w) for w in args["words"])
            self._updates[key] = words
        return self._updates[key]

    def rewards(self, round_: int) -> dict[str, int]:
        """Wei credited to each listed participant when ``round_`` was aggregated."""
        return {str(e.participant): int(e.reward) for e in self.events("Rewarded", round=round_)}

    # --- the initial model ------------------------------------------------------------------

    def set_initial_model(self, owner: Any, weights: np.ndarray) -> int:
        update = self.encode(weights)
        done = self.round_state().initial_columns
        for c, (f, t) in enumerate(self.columns):
            if c >= done:
                self.send(Call("engine", "setInitialColumn", (c, update.words[f:t])), owner)
        return update.saturated

    # --- posting ---------------------------------------------------------------------------

    def post_calls(self, round_: int, update: Update, proof: bytes = b"") -> list[Call]:
        """One submit per post, in order, each with the link of the post after it; ``proof``
        goes with post 0 (what the rule asks of a poster: CONSENSUS, the commitment's opening)."""
        links = protocol.update_links(update.words, self.column_words)
        calls = []
        for p, (f, t) in enumerate(self.posts):
            nxt = links[t // self.column_words] if t < self.model_words else b"\0" * 32
            calls.append(Call("engine", "submit", (round_, p, update.words[f:t], nxt, proof if p == 0 else b""),
                              gas=post_gas(t - f, self.column_words)))
        return calls

    def submit(self, sender: Any, round_: int, update: Update | np.ndarray, start: int = 0,
               proof: bytes = b"") -> Posted:
        """Posts the whole update (from post ``start``, to resume)."""
        u = update if isinstance(update, Update) else self.encode(update)
        receipts = [self.send(call, sender) for call in self.post_calls(round_, u, proof)[start:]]
        self._updates[(round_, self.address_of(sender))] = u.words
        return self._posted(round_, receipts, u.saturated)

    def submit_many(self, round_: int, items: Sequence[tuple[Any, Update | np.ndarray]]) -> list[Posted]:
        """Posts every ``(sender, update)`` at once (see ``broadcast``)."""
        updates = [u if isinstance(u, Update) else self.encode(u) for _, u in items]
        calls = [(call, sender) for (sender, _), u in zip(items, updates) for call in self.post_calls(round_, u)]
        receipts = self.broadcast(calls)
        k = len(self.posts)
        for (sender, _), u in zip(items, updates):
            self._updates[(round_, self.address_of(sender))] = u.words
        return [self._posted(round_, receipts[i * k : (i + 1) * k], u.saturated) for i, u in enumerate(updates)]

    def _posted(self, round_: int, receipts: Sequence[Receipt], saturated: int) -> Posted:
        (ev,) = receipts[-1].named("Posted")
        gas = [r.gas_used for r in receipts]
        size = [r.data_bytes for r in receipts]
        return Posted(round_, str(ev.participant), int(ev.index), sum(gas), len(gas), max(gas), max(size), saturated)

    # --- relay -------------------------------------------------------------------------------

    def sign(self, account: Any, round_: int, update: Update | np.ndarray) -> SignedUpdate:
        """``account`` (an ape account or an eth-account key) signs its update for ``round_``
        so that anyone may relay it (``ml.signing.sign_update`` does the same with a bare key)."""
        from eth_account.messages import encode_typed_data

        u = update if hasattr(update, "words") else self.encode(update)
        head = protocol.update_links(u.words, self.column_words)[0]
        sig = account.sign_message(encode_typed_data(full_message=protocol.relay_typed_data(
            self.chain_id, self.address, round_, head)))
        r, vs = compact(int(sig.v), int.from_bytes(bytes(sig.r), "big") if not isinstance(sig.r, int) else sig.r,
                        int.from_bytes(bytes(sig.s), "big") if not isinstance(sig.s, int) else sig.s)
        return SignedUpdate(self.address_of(account), round_, list(u.words), r, vs, u.saturated)

    def relay(self, sender: Any, relayed: Sequence[Relayable],
              wait: Callable[[int], None] | None = None) -> BatchRound:
        """Carries ``relayed`` (updates the rule vouches for: signed, or CONSENSUS openings) to
        the chain beside whatever was posted: at once when posting is over with them (every
        seat taken, or every drawn seat done), else after the posting deadline
        (``wait(seconds)``), when a left-out owner has had its chance to post; then lists them
        (``relay``: heads and proofs) and sends every column."""
        with self._collecting():
            return self._relay(sender, relayed, wait)

    def _relay(self, sender: Any, relayed: Sequence[Relayable], wait: Callable[[int], None] | None) -> BatchRound:
        round_ = self.current_round
        relayed = self.well_formed(round_, relayed)
        relayed, seats, extra_gas = self.adapter.before_relay(self, sender, round_, relayed, wait)
        names = self.entrants(round_)
        cap = self.max_relayed
        if len(names) + len(still_to_relay(relayed, names, self.max_participants, cap)) < seats:
            # Not a full house: the contract accepts it only after the deadline (posts may
            # arrive until then, so the list is read again after).
            state = self.round_state()
            if state.post_deadline > state.now:
                (wait or time.sleep)(state.post_deadline - state.now + 1)
            names = self.entrants(round_)
        relayed = still_to_relay(relayed, names, self.max_participants, cap)
        if not relayed:
            return self.aggregate(sender, wait, extra_gas=extra_gas)
        listing = self.list_relayed(sender, relayed)
        return self.aggregate(sender, wait, extra_gas=extra_gas + listing.gas_used)

    def well_formed(self, round_: int, relayed: Sequence[Relayable]) -> list[Relayable]:
        """What of ``relayed`` a relay of ``round_`` may carry without reverting for everyone:
        an item for this round, of the model's length, in the task's lanes, signed by its
        owner, the first of its owner. A relayer's inputs come from others (a Flower server's
        from its SuperNodes): one malformed item must not cost the honest ones their round.
        The rest is left out, with a warning; the rule's own checks follow (``before_relay``)."""
        out: list[Relayable] = []
        owners: set[str] = set()
        for s in relayed:
            try:
                owner = str(s.owner).lower()
                why = (f"for round {s.round}" if s.round != round_
                       else f"{len(s.words)} words, not {self.model_words}" if len(s.words) != self.model_words
                       else "values outside the task's lanes" if not lanes_ok(s.words, self.param_count,
                                                                                self.fmt.value_bits)
                       else "a second update of its owner" if owner in owners
                       else "not signed by its owner" if recover_signer(self.chain_id, self.address, s,
                                                                       self.column_words).lower() != owner
                       else "")
            except Exception as err:  # noqa: BLE001 - whatever a sender made of it, it is not relayable
                owner, why = "?", f"malformed ({type(err).__name__}: {err})"
            if why:
                log.warning("round %d: left out an update of %s: %s", round_, getattr(s, "owner", "?"), why)
                continue
            owners.add(owner)
            out.append(s)
        return out

    def list_relayed(self, sender: Any, relayed: Sequence[Relayable]) -> Receipt:
        """The listing alone (``relay``: heads and proofs of ``relayed`` after the current
        list), with no wait and no column; once it lands, the words are kept here for whoever
        aggregates through this client (not before: a listing that reverted lists nothing,
        and its owner may post other words itself). ``relay`` is the whole path."""
        round_ = self.current_round
        plan = relay_plan(round_, [], relayed, self.column_words, self.sorts, self.adapter.cost, self.max_relayed,
                          self.replay_heads)
        receipt = self.send(plan.listing[0], sender)
        for s in relayed:
            self._updates[(round_, s.owner)] = list(s.words)
        return receipt

    def relay_calls(self, round_: int, posted: Sequence[list[int]], relayed: Sequence[Relayable]) -> list[Call]:
        """Every transaction of a relay of ``relayed`` after the ``posted`` updates (the list
        so far, in order): the listing (``relay``: heads and proofs), then every column
        (which need the seed sealed first: ``seal_seed``)."""
        plan = relay_plan(round_, posted, relayed, self.column_words, self.sorts, self.adapter.cost,
                          self.max_relayed, self.replay_heads)
        return plan.listing + plan.columns

    # --- seeds, drops and the way out ------------------------------------------------------

    def seal_seed(self, sender: Any, tries: int = 8, column_next: bool = False) -> int:
        """Seals the round's seed once posting is closed (``sealSeed``: a call in the armed
        block takes its randomness; one that lands later arms again and is sent again);
        returns the gas spent (0 when sealed already, or when the rule supplies the seed).
        ``column_next``: column 0 goes out next, so if the next block is the armed one (the
        post or relay that filled the round armed it) column 0 takes the seed itself."""
        if not self.adapter.seals:
            return 0
        gas = 0
        for _ in range(tries):
            state = self.round_state()
            if int.from_bytes(state.seed, "big"):
                return gas
            if state.seed_arm > self.block_number:
                await_block(self.web3, state.seed_arm)
                if column_next:
                    return gas
            gas += self.send(Call("engine", "sealSeed", (state.round,), gas=SEAL_GAS), sender).gas_used
        raise TaskError(f"the seed was not sealed after {tries} tries")

    def relayed_heads(self, round_: int) -> dict[str, bytes]:
        """Owner -> head link of every update relayed into ``round_`` (Relayed events)."""
        return {str(e.participant): bytes(e.head) for e in self.events("Relayed", round=round_)}

    def stalled(self, round_: int) -> list[int]:
        """List indices of ``round_``'s relayed updates that no column can carry from here:
        words not known to this client (withheld by their relayer), out of the task's lanes,
        or ones the rule will refuse once measured (``adapter.refuses``)."""
        relayed = self.relayed_heads(round_)
        out = []
        for i, a in enumerate(self.entrants(round_)):
            if a not in relayed:
                continue
            words = self._updates.get((round_, a))
            if (words is None or protocol.update_links(words, self.column_words)[0] != relayed[a]
                    or not lanes_ok(words, self.param_count, self.fmt.value_bits)
                    or self.adapter.refuses(self, round_, a, words)):
                out.append(i)
        return out

    def drop(self, sender: Any, indices: Sequence[int]) -> int:
        """Drops the relayed updates at list ``indices`` of the current round (allowed from
        postDeadline + aggregationTimeout); columns start again from 0. Gas used."""
        state = self.round_state()
        names = self.entrants(state.round)
        relayed = self.relayed_heads(state.round)
        first = state.relayed_from - 1
        heads = [relayed[a] if a in relayed else protocol.update_links(self.posted_words(state.round, a),
                                                                       self.column_words)[0] for a in names]
        bits = 0
        for i in indices:
            if i < first:
                raise ValueError(f"list index {i} is a posted update: only relayed ones can be dropped")
            bits |= 1 << (i - first)
        gas = DROP_GAS_BASE + DROP_GAS_PER_SEAT * len(names)
        return self.send(Call("engine", "drop", (state.round, heads, bits), gas=gas), sender).gas_used

    def abandon(self, sender: Any) -> int:
        """Ends the current round without a new model (below quorum, or from abandonableAt
        whatever its state); gas used."""
        return self.send(Call("engine", "abandon", (self.current_round,)), sender).gas_used

    # --- aggregation --------------------------------------------------------------------------

    def column_call(self, round_: int, column: int, updates: Sequence[list[int]], relayed: int | None = None) -> Call:
        """The aggregate transaction of ``column`` over the list's updates (in list order),
        with the contract's own gas bound as its limit (so columns can be broadcast together:
        the node cannot estimate column c+1 before column c is mined)."""
        f, t = self.columns[column]
        words = [w for u in updates for w in u[f:t]]
        nexts = [protocol.update_links(u, self.column_words)[column + 1] for u in updates]
        r = min(self.max_relayed, len(updates)) if relayed is None else relayed
        return Call("engine", "aggregate", (round_, column, words, nexts),
                    gas=column_gas_bound(len(updates), t - f, self.sorts, self.adapter.cost, r, self.replay_heads))

    def aggregate(self, sender: Any, wait: Callable[[int], None] | None = None, extra_gas: int = 0) -> BatchRound:
        """Waits for the posting phase to close (``wait(seconds)``, real time by default),
        then sends every remaining column (or abandons a round below quorum). Relayed updates
        this client cannot carry (``stalled``) are dropped once the contract allows it
        (waiting for that too); the round's seed is sealed first."""
        with self._collecting():
            return self._aggregate(sender, wait, extra_gas)

    def _aggregate(self, sender: Any, wait: Callable[[int], None] | None, extra_gas: int) -> BatchRound:
        state = self.round_state()
        round_ = state.round
        if not state.posting_closed and state.post_deadline > state.now:
            (wait or time.sleep)(state.post_deadline - state.now + 1)
            state = self.round_state()
        if state.entrants < state.min_participants:
            gas = self.abandon(sender)
            return BatchRound(round_, state.entrants, False, {}, [], [], gas, 1, gas, 0, self.round_open,
                              self.block_number)
        stuck = self.stalled(round_) if state.relayed_from else []
        if stuck:
            at = state.post_deadline + self.config.aggregation_timeout
            if at > state.now:
                (wait or time.sleep)(at - state.now + 1)
            extra_gas += self.drop(sender, stuck)
            return self._aggregate(sender, wait, extra_gas)
        if state.columns_done == 0:
            extra_gas += self.seal_seed(sender, column_next=True)
        names = self.entrants(round_)
        updates = [self.posted_words(round_, a) for a in names]
        calls = [self.column_call(round_, c, updates) for c in range(state.columns_done, len(self.columns))]
        return self._columns_sent(round_, len(names), self.broadcast([(call, sender) for call in calls]),
                                  extra_gas=extra_gas)

    def _columns_sent(self, round_: int, participants: int, receipts: Sequence[Receipt], extra_gas: int = 0) -> BatchRound:
        """What the column transactions ``receipts`` did; ``extra_gas`` (a draw, a listing
        sent before them) counts in the round's gas, not in its column figures."""
        rewarded = receipts[-1].named("Rewarded")
        gas = [r.gas_used for r in receipts]
        scores = {str(e.participant): int(e.score) for e in rewarded}
        return BatchRound(
            round_, participants, True, {str(e.participant): int(e.reward) for e in rewarded},
            [str(e.participant) for e in rewarded if e.duplicate], [str(e.participant) for e in rewarded if e.replay],
            sum(gas) + extra_gas, len(gas), max(gas), max(r.data_bytes for r in receipts), self.round_open,
            receipts[-1].block_number, scores, self.adapter.tiers_of(self, scores),
            sorted({r.block_number for r in [*(self._collect or []), *receipts]}),
            len({r.tx_hash for r in [*(self._collect or []), *receipts]}))

    # --- money ----------------------------------------------------------------------------

    def withdraw(self, sender: Any) -> int:
        (ev,) = self.send(Call("engine", "withdraw", ()), sender).named("Withdrawn")
        return int(ev.owed) + int(ev.revenue)

    def end_task(self, owner: Any) -> int:
        """Ends the task (no round opens after the current one); returns when the owner may
        sweep the pool."""
        (ev,) = self.send(Call("engine", "endTask", ()), owner).named("TaskEnded")
        return int(ev.sweepableAt)

    def sweep(self, owner: Any) -> int:
        """Pays the owner the reward pool of an ended task (after EXIT_DELAY)."""
        (ev,) = self.send(Call("engine", "sweep", ()), owner).named("Swept")
        return int(ev.amount)

    # --- the rule's own actions -----------------------------------------------------------

    def __getattr__(self, name: str) -> Any:
        """A rule's own action (``task.commit`` on a CONSENSUS task, ``task.add_member`` on a
        consortium's), bound to this task; a clear error on a task of another rule."""
        if name.startswith("_") or "adapter" not in self.__dict__:
            raise AttributeError(name)
        fn = getattr(self.adapter, name, None)
        if fn is None or not callable(fn) or name in _ADAPTER_HOOKS:
            raise AttributeError(f"{name!r}: not an action of this task (rule {self.rule!r})")
        return lambda *a, **kw: fn(self, *a, **kw)


def _hex(h: Any) -> str:
    return "0x" + bytes(h).hex() if isinstance(h, (bytes, bytearray)) else str(h)


#: Adapter methods the client calls itself, not actions of the rule.
_ADAPTER_HOOKS = {"deploy_args", "phase", "status", "before_relay", "refuses", "tiers", "tiers_of", "enroll"}

#: The name the rest of the project grew up with.
BatchTask = TaskClient


class NaiveBaseline:
    """The bench's comparison contract (contracts/test/NaiveFedAvg.sol: one int256 slot per
    parameter), not part of the protocol; here only so that every contract call the
    project's Python makes is built in this module."""

    def __init__(self, container: Any, sender: Any, param_count: int) -> None:
        self.contract = container.deploy(param_count, sender=sender)

    def submit(self, sender: Any, from_: int, values: Sequence[int]) -> int:
        return int(self.contract.submit(from_, list(values), sender=sender).gas_used)

    def finalize(self, sender: Any, from_: int, to: int) -> int:
        return int(self.contract.finalize(from_, to, sender=sender).gas_used)


def task_abis() -> dict[str, list[dict]]:
    """The ABIs a task client needs (the engine's and every rule's), for a process that
    reads no manifest (``TaskClient.over_web3(..., abis=task_abis())``)."""
    from .rules import RULES, adapter_for

    return {name: abi_of(name) for name in ["BatchEngine", *(adapter_for(r).contract for r in RULES)]}


def download_model(address: str, model: Any, transport: Transport | None = None) -> Any:
    """Loads the current global model of the task at ``address`` into a torch model, using
    view calls only (no transaction, no account needed)."""
    from .models import set_flat

    set_flat(model, TaskClient.at(address, transport).global_model())
    return model


def set_automine(web3: Any, on: bool, block_time: int = 0) -> None:
    """A dev anvil: mine per transaction (``on``), or every ``block_time`` seconds."""
    if on:
        web3.provider.make_request("evm_setIntervalMining", [0])
        web3.provider.make_request("evm_setAutomine", [True])
    else:
        web3.provider.make_request("evm_setIntervalMining", [int(block_time)])


__all__ = ["BatchRound", "BatchTask", "Call", "NaiveBaseline", "Posted", "RoundState", "TaskClient", "TaskError",
           "Update", "automine", "download_model", "set_automine"]
