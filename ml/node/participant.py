"""Long-running participants: a client that trains and takes part in every round on its
own, and a keeper that draws seats and aggregates rounds. Each runs as its own OS process,
talks JSON-RPC to a node, and keeps no state but the chain and (client) a small local file.

Crash safety of the client: everything needed to finish a round (the packed update; under
CONSENSUS also its salt, declared move and head link) is written atomically to the state
file *before* the first transaction that depends on it (the first post, or the commit). On
every step the client re-reads the chain (its status and next post in the round) and does
only what is still missing, and never sends while one of its own transactions is pending,
so a restart at any point neither double-posts nor loses a committed reveal.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..chain import BatchTask, RoundState, TaskError, Update
from ..rules.consensus import Commitment
from ..data import Dataset
from ..models import build_model, set_flat
from ..settings import Status
from ..training import TrainConfig, client_seed, train_local
from .deployment import atomic_write


def draw_seats(task: BatchTask, account: Any, state: RoundState) -> str:
    """Draws the open round's seats (clients and keepers both do, so a withholding keeper
    cannot stall a round); one that loses the race sees a revert and re-reads the chain."""
    draw = task.draw_seats(account)
    return f"round {state.round}: drew seats" + (f" ({draw.seats} of {draw.committers})" if draw else "")


def has_pending(web3: Any, address: str) -> bool:
    """Whether ``address`` has sent transactions that are not mined yet."""
    return web3.eth.get_transaction_count(address, "pending") > web3.eth.get_transaction_count(address, "latest")


def cancel_pending(account: Any) -> str:
    """Replaces the oldest pending transaction of ``account`` by a 0-ETH transfer to itself
    with the same nonce and twice the fees the node asks now. Exactly one of the two can be
    mined, so whatever the stuck transaction was, it is either done or cancelled; the caller
    then re-reads the chain and redoes only what is still missing."""
    web3 = account.provider.web3
    nonce = web3.eth.get_transaction_count(account.address, "latest")
    base = int(web3.eth.get_block("latest")["baseFeePerGas"] or 0)
    tip = max(int(web3.eth.max_priority_fee), 10**9)
    account.transfer(account, 0, nonce=nonce, max_fee=2 * (2 * base + tip), max_priority_fee=2 * tip,
                     gas_limit=21_000)
    return f"replaced stuck transaction with nonce {nonce}"


class ClientState:
    """The client's local folder: one file per round it is in, holding exactly what it
    sends (PAPER: the packed update; CONSENSUS: the commitment with its salt, moves and
    links), written atomically before the first transaction that depends on it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _path(self, round_: int) -> Path:
        return self.folder / f"round-{round_}.json"

    def rounds(self) -> list[int]:
        return sorted(int(p.stem.split("-")[1]) for p in self.folder.glob("round-*.json"))

    def has(self, round_: int) -> bool:
        return self._path(round_).exists()

    def save_update(self, round_: int, u: Update) -> None:
        atomic_write(self._path(round_), json.dumps({"update": [hex(w) for w in u.words], "saturated": u.saturated}))

    def update(self, round_: int) -> Update:
        d = json.loads(self._path(round_).read_text())
        return Update([int(w, 16) for w in d["update"]], int(d["saturated"]))

    def save_commitment(self, c: Commitment) -> None:
        atomic_write(self._path(c.round), json.dumps({"commitment": c.as_json()}))

    def commitment(self, round_: int) -> Commitment:
        return Commitment.from_json(json.loads(self._path(round_).read_text())["commitment"])

    def drop(self, round_: int) -> None:
        self._path(round_).unlink(missing_ok=True)


class Client:
    """One participant. ``step()`` looks at the chain and does the next missing action."""

    def __init__(self, task: BatchTask, account: Any, data: Dataset, shard: np.ndarray, shard_index: int,
                 model: str, seed: int, state: ClientState, train: TrainConfig = TrainConfig(),
                 log: Callable[[str], None] = print, stuck_after: float = 180.0) -> None:
        self.task, self.account, self.data, self.shard = task, account, data, shard
        self.shard_index, self.model_name, self.seed, self.state = shard_index, model, seed, state
        self.train_cfg, self.log = train, log
        self.model = build_model(model, data.n_features, data.n_classes, seed)
        self.stuck_after = stuck_after
        self._pending_since: float | None = None

    # --- one step -----------------------------------------------------------------------

    def step(self) -> str | None:
        """Does at most one kind of action; returns what it did, or None when idle."""
        if has_pending(self.task.web3, self.account.address):
            # Our last transaction is not mined yet: never send a second one beside it. If
            # it stays pending (underpriced, dropped by peers), replace it by a same-nonce
            # no-op; the next step redoes whatever it was, from the chain's state.
            now = time.monotonic()
            self._pending_since = self._pending_since or now
            if now - self._pending_since < self.stuck_after:
                return None
            self._pending_since = None
            return cancel_pending(self.account)
        self._pending_since = None
        view = self.task.round_state()
        done = self._settle_past_rounds(view)
        if done or not view.open:
            return done
        status, next_post = self.task.status(view.round, self.account)
        if not self.task.adapter.commits:
            if view.posting_open and status in (Status.NONE, Status.POSTING):
                return self._post(view.round, next_post)
            return None
        if view.commit_open and status == Status.NONE:
            return self._commit(view.round)
        if status == Status.COMMITTED and not view.seats_drawn and view.posting_open:
            return draw_seats(self.task, self.account, view)
        if view.posting_open and status in (Status.SEATED, Status.POSTING) and self.state.has(view.round):
            return self._reveal(view.round, next_post)
        if status == Status.COMMITTED and view.seats_drawn:
            return self._release(view.round, "not drawn for a seat")
        return None

    # --- actions ------------------------------------------------------------------------

    def _train(self, round_: int) -> np.ndarray:
        set_flat(self.model, self.task.global_model())
        t0 = time.perf_counter()
        w = train_local(self.model, self.data.x_train[self.shard], self.data.y_train[self.shard], self.train_cfg,
                        client_seed(self.seed, round_, self.shard_index))
        self.log(f"round {round_}: trained on {len(self.shard)} samples in {time.perf_counter() - t0:.1f}s")
        return w

    def _post(self, round_: int, next_post: int) -> str:
        if not self.state.has(round_):
            self.state.save_update(round_, self.task.encode(self._train(round_)))  # durable before the first post
        posted = self.task.submit(self.account, round_, self.state.update(round_), start=next_post)
        return f"round {round_}: posted (place {posted.index} on the list)"

    def _commit(self, round_: int) -> str:
        if not self.state.has(round_):
            self.state.save_commitment(self.task.prepare(round_, self._train(round_)))  # durable before the commit
        c = self.state.commitment(round_)
        self.task.commit(self.account, c)
        return f"round {round_}: committed (move {c.move // self.task.param_count})"

    def _reveal(self, round_: int, next_post: int) -> str:
        rev = self.task.reveal(self.account, self.state.commitment(round_), start=next_post)
        return f"round {round_}: revealed ({'on the list' if rev else 'REFUSED by the move bounds'})"

    def _release(self, round_: int, why: str) -> str:
        self.task.release_stake(self.account, round_)
        self.state.drop(round_)
        return f"round {round_}: {why}, stake returned"

    def _settle_past_rounds(self, view: RoundState) -> str | None:
        """Forgets finished rounds (their rewards and stakes were credited by the last
        column), takes back a stake nobody seated, withdraws what is owed."""
        for r in self.state.rounds():
            if r == view.round and view.open:
                continue
            status, _ = self.task.status(r, self.account)
            if status == Status.COMMITTED:
                return self._release(r, "no seats were drawn")
            self.state.drop(r)
            if status == Status.LISTED:
                reward = self.task.rewards(r).get(str(self.account.address))
                self.log(f"round {r}: " + ("abandoned below quorum" if reward is None else f"rewarded {reward} wei"))
            else:
                self.log(f"round {r}: not on the list (status {status.name})")
        if self.task.withdrawable(self.account) > 0:
            paid = self.task.withdraw(self.account)
            return f"withdrew {paid} wei"
        return None


class Keeper:
    """Draws seats nobody drew, aggregates a round once its posting closes (dropping relayed
    updates it cannot carry once allowed; abandoning it below quorum, or whatever its state
    once its abandon time has come), reopens rounds the pool can fund. Any number of keepers may run; one that
    loses a race sees a revert and re-reads the chain. Each column pays its sender the
    task's keeper fee."""

    def __init__(self, task: BatchTask, account: Any, log: Callable[[str], None] = print) -> None:
        self.task, self.account, self.log = task, account, log

    def step(self) -> str | None:
        from ape.exceptions import ContractLogicError

        if has_pending(self.task.web3, self.account.address):
            return None
        view = self.task.round_state()
        try:
            if self.task.adapter.commits and view.open and not view.seats_drawn and not view.commit_open \
                    and view.posting_open:
                return draw_seats(self.task, self.account, view)
            if view.open and view.posting_closed and view.now >= view.abandonable_at:
                # past postDeadline + 2 x aggregationTimeout: whatever stalled it, end it
                self.task.abandon(self.account)
                return f"round {view.round}: abandoned (not finished by its abandon time)"
            if view.open and view.posting_closed:
                agg = self.task.aggregate(self.account)
                if not agg.completed:
                    return f"round {agg.round}: abandoned (no quorum: {agg.participants} on the list)"
                return (f"round {agg.round}: aggregated {agg.participants} updates in {agg.transactions} columns, "
                        f"{sum(agg.rewards.values())} wei of rewards")
            if not view.open and view.round > 0 and self.task.reward_pool >= self.task.round_reserve:
                self.task.start_round(self.account)
                return f"round {view.round + 1}: opened"
        except (ContractLogicError, RuntimeError, TaskError) as err:
            self.log(f"keeper step failed, will re-read the chain (another keeper may have acted first): "
                     f"{str(err).splitlines()[0]}")
        return None


def run_loop(step: Callable[[], str | None], stopping: Callable[[], bool], log: Callable[[str], None],
             poll: float = 1.0) -> None:
    """Calls ``step`` until ``stopping()``; logs what it did; sleeps ``poll`` s when idle.
    A failing step (a restarting node, a transaction that lost a race) is logged and retried
    after a back-off: the next step re-reads the chain, so retrying is always safe."""
    while not stopping():
        try:
            did = step()
        except Exception as err:  # noqa: BLE001 - a daemon logs and retries; state is on chain
            log(f"step failed ({type(err).__name__}: {str(err).splitlines()[0][:160] if str(err) else ''}); "
                "retrying")
            did = None
            _sleep(5 * poll, stopping)
        if did:
            log(did)
        else:
            _sleep(poll, stopping)


def _sleep(seconds: float, stopping: Callable[[], bool]) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end and not stopping():
        time.sleep(min(0.2, end - time.monotonic()) if end > time.monotonic() else 0)
