"""Gas and latency benchmark: what `ape run bench` measures.

One record per (reward rule, aggregation, parameters, clients): a fresh task, round 1 with
instant mining, then round 2 (the steady state) under interval mining, every client's
transactions of a phase sent at once (no client waits for another), so that only the block
gas limit spreads a phase over several blocks. Gas is all-in: every post (CONSENSUS: commit,
the seat draw, every reveal) and every column transaction (the model write, the rewards and
the keeper fee), over parameters x clients. Against
- the floor: each update's 2 bytes per parameter travel twice (the post, then the column)
  at the EIP-7623 data floor of 40 gas per nonzero byte: 160 gas/param/client;
- the streaming engine this replaced (recorded figures; it was removed once this bench
  showed it won nowhere);
- a naive contract (contracts/test/NaiveFedAvg.sol: one int256 slot per parameter).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Sequence

import numpy as np

from ml.chain import BatchTask, NaiveBaseline, set_automine
from ml.settings import BatchSettings, ConsensusSettings

#: Gas floor per parameter per client of a round: 2 bytes x 40 gas (EIP-7623 floor), twice.
FLOOR_GAS_PER_PARAM = 2 * 2 * 40

#: The streaming engine (FederatedTask: every update summed into contract storage), PAPER
#: submit + finalize share, steady state, gas/param/client, as last measured before it was
#: removed (its last bench run, in the git history of docs/results/bench-batch-262k.txt).
STREAMING_RECORDED = {(8192, 5): 913.6, (8192, 10): 832.2, (8192, 50): 767.0, (262144, 20): 780.8}


@dataclass
class PhaseGas:
    """Gas of one phase (e.g. the naive contract's submissions), over all its transactions."""

    total: int
    transactions: int
    max_tx: int

    def per_param(self, n: int) -> float:
        return self.total / n


def _phase(gas_list: Sequence[int]) -> PhaseGas:
    return PhaseGas(sum(gas_list), len(gas_list), max(gas_list))


def measure_naive(container: Any, accts: Sequence[Any], n: int, participants: int, rng: np.random.Generator,
                  tx_gas_budget: int) -> tuple[PhaseGas, PhaseGas, PhaseGas]:
    """Naive contract, round 2: (first submission of the round, a later one, finalize).
    The first pays fresh 22,100-gas writes because finalize cleared every sum."""
    owner, clients = accts[0], accts[1 : participants + 1]
    naive = NaiveBaseline(container, owner, n)
    slice_ = max(1, tx_gas_budget // 30_000)  # the first submission: ~23k gas per parameter
    subs: list[list[int]] = []
    fin: list[int] = []
    for _ in (1, 2):
        subs = []
        for a in clients:
            values = [int(v) for v in rng.integers(-(2**15), 2**15, n)]
            subs.append([naive.submit(a, f, values[f : f + slice_]) for f in range(0, n, slice_)])
        fin_slice = max(1, tx_gas_budget // 12_000)
        fin = [naive.finalize(owner, f, min(f + fin_slice, n)) for f in range(0, n, fin_slice)]
    return _phase(subs[0]), _phase(subs[-1]), _phase(fin)


# --- the batch engine ---------------------------------------------------------------------


@dataclass
class BatchResult:
    """One steady-state (round 2) round: every client posts (or commits and reveals), a
    keeper aggregates every column."""

    rule: str  # reward rule
    aggregation: str
    params: int
    clients: int
    columns: int
    column_words: int
    post_gas_per_param: float  # the largest post (CONSENSUS: reveal), all its transactions
    aggregate_gas: int  # every column transaction of the round
    gas_per_param_per_client: float  # all-in: posts (+ commits, draw) + every column, over params x clients
    max_tx_gas: int
    max_tx_bytes: int
    block_time: int
    blocks_per_round: int  # from the block before the first post (CONSENSUS: commit) to the last column's
    phase_blocks: dict[str, int]  # distinct blocks each phase's transactions landed in
    seconds: float
    floor_per_param: int = FLOOR_GAS_PER_PARAM
    path: str = "post"  # post: owners post, a keeper aggregates; relay: a relayer carries signed updates
    streaming_gas_per_param_per_client: float | None = None  # recorded, same size, PAPER

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def measure_batch(container: Any, provider: Any, owner: Any, clients: Sequence[Any], n: int, aggregation: str,
                  rng: np.random.Generator, trim: int = 1, block_time: int = 2,
                  consensus: ConsensusSettings | None = None, relay: bool = False) -> BatchResult:
    """Round 2 of a PAPER task (or, with ``consensus``, a CONSENSUS one: commit, draw,
    reveal) with ``len(clients)`` updates of ``n`` parameters near a random model, under
    ``block_time``-second interval mining; duplicate and replay checks and a 1-wei keeper
    fee on (their cost counts). ``relay``: the clients sign (CONSENSUS: commit, then hand
    their openings over) and the keeper carries every update in the columns (nothing is
    posted or revealed; CONSENSUS draws and relays in one block)."""
    t, base = bench_task(container, owner, clients, n, aggregation, rng, trim, consensus, relay)
    start = t.block_number
    set_automine(t.web3, False, block_time)
    t0 = time.perf_counter()
    try:
        posts, extra, agg, blocks = play_round(t, owner, clients, base, n, rng, 2, interval=True, relay=relay)
    finally:
        set_automine(t.web3, True)
    total = sum(p.gas_used for p in posts) + agg.gas_used + extra
    return BatchResult(
        rule="consensus" if consensus else "paper", aggregation=aggregation, params=n, clients=len(clients),
        columns=len(t.columns), column_words=t.column_words,
        post_gas_per_param=round(max(p.gas_used for p in posts) / n, 1) if posts else 0.0,
        aggregate_gas=agg.gas_used, gas_per_param_per_client=round(total / (n * len(clients)), 1),
        max_tx_gas=max([agg.max_tx_gas] + [p.max_tx_gas for p in posts]),
        max_tx_bytes=max([agg.max_tx_bytes] + [p.max_tx_bytes for p in posts]),
        path="relay" if relay else "post",
        block_time=block_time, blocks_per_round=agg.block_number - start, phase_blocks=blocks,
        seconds=round(time.perf_counter() - t0, 2),
        streaming_gas_per_param_per_client=None if consensus else STREAMING_RECORDED.get((n, len(clients))),
    )


#: Rounds a bench task looks back for replays (its column sizing depends on it).
REPLAY_ROUNDS = 3


def bench_task(container: Any, owner: Any, clients: Sequence[Any], n: int, aggregation: str,
               rng: np.random.Generator, trim: int = 1, consensus: ConsensusSettings | None = None,
               relay: bool = False) -> tuple[BatchTask, np.ndarray]:
    """A task as the bench measures it (duplicate and replay checks on, a 1-wei keeper fee,
    each path at its widest columns: every seat relayable on the relay path, none on the
    post path) after its first round (instant mining): the task and the model it started
    from, the centre of every later round's updates."""
    s = BatchSettings(param_count=n, max_participants=len(clients), min_participants=1, aggregation=aggregation,
                      trim=trim if aggregation == "trimmed_mean" else 0, tier_thresholds=(10**9,), tier_rewards=(1,),
                      duplicate_distance=1, replay_rounds=REPLAY_ROUNDS, keeper_fee=1,
                      max_relayed=len(clients) if relay else 0)
    base = rng.normal(0, 0.5, n)
    t = BatchTask.launch(container, owner, s, base, funding=10**18, extra=consensus)
    play_round(t, owner, clients, base, n, rng, 1, relay=relay)
    return t, base


def play_round(t: BatchTask, owner: Any, clients: Sequence[Any], base: np.ndarray, n: int, rng: np.random.Generator,
           r: int, interval: bool = False, relay: bool = False) -> tuple[list[Any], int, Any, dict[str, int]]:
    """One round, every phase's transactions broadcast at once: (posts, gas of commits and
    draw, the aggregation, distinct blocks per phase)."""
    blocks: dict[str, int] = {}
    extra = 0
    updates = [base + rng.normal(0, 0.05, n) for _ in clients]
    if relay and not t.adapter.commits:
        signed = [t.sign(a, r, u) for a, u in zip(clients, updates)]  # off chain: handed to the keeper
        first = t.block_number
        agg = t.relay(owner, signed)
        blocks["relay"] = t.block_number - first
        assert agg.completed
        return [], 0, agg, blocks
    if t.adapter.commits:
        g = t.global_ints()
        cs = [t.prepare(r, u, global_ints=g) for u in updates]
        first = t.block_number
        extra += sum(t.commit_many(list(zip(clients, cs))))
        blocks["commit"] = t.block_number - first
        state = t.round_state()
        if interval:  # the commit phase lasts its whole duration: the next block is the first after it
            t.set_next_timestamp(state.commit_deadline)
        else:
            t.advance_time(max(0, state.commit_deadline - state.now))
        if relay:  # the openings go to the keeper, which draws and relays in one block
            first = t.block_number
            agg = t.relay(owner, [t.opening(a, c) for a, c in zip(clients, cs)])
            blocks["draw+relay"] = t.block_number - first
            assert agg.completed
            return [], extra, agg, blocks  # the commits' gas; the draw's is in agg
        first = t.block_number
        extra += t.draw_seats(owner).gas_used
        blocks["draw"] = t.block_number - first
        first = t.block_number
        posts = t.reveal_many(list(zip(clients, cs)))
        blocks["reveal"] = t.block_number - first
    else:
        first = t.block_number
        posts = t.submit_many(r, list(zip(clients, updates)))
        blocks["post"] = t.block_number - first
    first = t.block_number
    agg = t.aggregate(owner)
    blocks["columns"] = t.block_number - first
    assert agg.completed and all(p is not None for p in posts)
    return posts, extra, agg, blocks


def fund_accounts(funder: Any, accts: Sequence[Any], amount: int) -> None:
    for a in accts:
        if int(a.balance) < amount // 2:
            funder.transfer(a, amount)


def latency_clients(accounts_manager: Any, funder: Any, count: int) -> list[Any]:
    """``count`` client accounts: the node's test accounts first, then generated ones
    (funded from ``funder``)."""
    existing = list(accounts_manager.test_accounts)[1:]
    while len(existing) < count:
        existing.append(accounts_manager.test_accounts.generate_test_account())
    chosen = existing[:count]
    fund_accounts(funder, chosen, 10**19)
    return chosen


def table(rows: list[dict[str, Any]], columns: Sequence[tuple[str, str, Callable[[dict], Any]]]) -> str:
    """A fixed-width text table: columns are (header, format, getter)."""
    head = " ".join(f"{h:>{len(h) if len(h) > 9 else 9}}" for h, _, _ in columns)
    lines = [head]
    for r in rows:
        cells = []
        for h, fmt, get in columns:
            v = get(r)
            w = len(h) if len(h) > 9 else 9
            cells.append(f"{'-':>{w}}" if v is None else f"{v:>{w}{fmt}}")
        lines.append(" ".join(cells))
    return "\n".join(lines)
