"""Gas and latency benchmark: what `ape run bench` measures.

Gas, per phase and per parameter, on a fresh task at each model size, in the steady state
(round 2: every storage slot already written once), against
- the floor of a 16-bit quantized update: 2 nonzero calldata bytes (32 gas) plus one
  5,000-gas storage word per 8 parameters of 32-bit accumulator lanes (625 gas): 657;
- a naive contract (contracts/test/NaiveFedAvg.sol: one int256 slot per parameter).

Latency: blocks per round as the number of clients grows, on a chain that mines a block
every few seconds, with each client's transactions sent at once (no client waits for
another), so that only the block gas limit spreads a phase over several blocks.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from ml.chain import BatchTask, FedTask, NaiveBaseline
from ml.settings import BatchSettings, ConsensusSettings, TaskSettings

#: Gas floor per parameter of a 16-bit update: 2 calldata bytes + 1/8 of a 5,000-gas SSTORE.
FLOOR_GAS_PER_PARAM = 2 * 16 + 5000 / 8


@dataclass
class PhaseGas:
    """Gas of one phase for one participant (or one finalize), over all its transactions."""

    total: int
    transactions: int
    max_tx: int

    def per_param(self, n: int) -> float:
        return self.total / n


@dataclass
class SizeResult:
    params: int
    chunks: int
    paper_submit: PhaseGas
    paper_finalize: PhaseGas
    commit: PhaseGas
    reveal: PhaseGas
    consensus_finalize: PhaseGas
    claim: PhaseGas
    naive_submit_first: PhaseGas | None = None
    naive_submit_later: PhaseGas | None = None
    naive_finalize: PhaseGas | None = None

    def row(self) -> dict[str, Any]:
        n = self.params
        d: dict[str, Any] = {"params": n, "chunks": self.chunks}
        for name in ("paper_submit", "paper_finalize", "commit", "reveal", "consensus_finalize", "claim",
                     "naive_submit_first", "naive_submit_later", "naive_finalize"):
            g = getattr(self, name)
            d[name] = None if g is None else {**asdict(g), "per_param": round(g.per_param(n), 1)}
        d["floor_per_param"] = FLOOR_GAS_PER_PARAM
        d["submit_over_floor"] = round(self.paper_submit.per_param(n) / FLOOR_GAS_PER_PARAM, 3)
        d["reveal_over_floor"] = round(self.reveal.per_param(n) / FLOOR_GAS_PER_PARAM, 3)
        if self.naive_submit_first is not None and self.naive_submit_later is not None:
            d["naive_first_over_ours"] = round(self.naive_submit_first.total / self.paper_submit.total, 1)
            d["naive_later_over_ours"] = round(self.naive_submit_later.total / self.paper_submit.total, 1)
        d["max_tx_gas"] = max(g.max_tx for g in (self.paper_submit, self.paper_finalize, self.commit, self.reveal,
                                                  self.consensus_finalize, self.claim))
        return d


def _phase(gas_list: Sequence[int]) -> PhaseGas:
    return PhaseGas(sum(gas_list), len(gas_list), max(gas_list))


def measure_size(container: Any, accts: Sequence[Any], n: int, participants: int, rng: np.random.Generator,
                 tx_gas_budget: int) -> SizeResult:
    """PAPER and CONSENSUS rounds at ``n`` parameters; steady-state (round 2) figures."""
    owner, clients = accts[0], accts[1 : participants + 1]
    base = rng.normal(0, 0.5, n)

    paper = TaskSettings(param_count=n, max_participants=participants, min_participants=1,
                         tier_thresholds=(10**9,), tier_rewards=(1,))
    t = FedTask.launch(container, owner, paper, base, funding=10**18)
    t.tx_gas_budget = tx_gas_budget
    for r in (1, 2):
        subs = [t.submit(a, r, base + rng.normal(0, 0.05, n)) for a in clients]
        fin = t.finalize(owner)
    submit = max((s for s in subs if s is not None), key=lambda s: s.gas_used)
    paper_submit = PhaseGas(submit.gas_used, submit.transactions, submit.max_tx_gas)
    paper_fin = PhaseGas(fin.gas_used, fin.transactions, fin.max_tx_gas)

    cons = TaskSettings(param_count=n, max_participants=participants, min_participants=1,
                        tier_thresholds=(10**9,), tier_rewards=(1,), reward_rule="consensus",
                        stake=10**15, min_move=1, max_move=10**9)
    t = FedTask.launch(container, owner, cons, base, funding=10**18)
    t.tx_gas_budget = tx_gas_budget
    for r in (1, 2):
        g = t.global_ints()
        cs = [t.prepare(r, base + rng.normal(0, 0.05, n), global_ints=g) for _ in clients]
        commits = [t.commit(a, c) for a, c in zip(clients, cs)]
        t.draw_seats(owner, wait=t.advance_time)  # the commit phase lasts its whole duration
        reveals = [t.reveal(a, c) for a, c in zip(clients, cs)]
        cfin = t.finalize(owner)
        claims = [t.claim(a, c) for a, c in zip(clients, cs)]
    rv = max(reveals, key=lambda x: x.gas_used)
    cl = max(claims, key=lambda x: x.gas_used)
    return SizeResult(
        params=n, chunks=len(t.chunks), paper_submit=paper_submit, paper_finalize=paper_fin,
        commit=_phase([max(commits)]), reveal=PhaseGas(rv.gas_used, rv.transactions, rv.max_tx_gas),
        consensus_finalize=PhaseGas(cfin.gas_used, cfin.transactions, cfin.max_tx_gas),
        claim=PhaseGas(cl.gas_used, cl.transactions, cl.max_tx_gas),
    )


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


# --- latency --------------------------------------------------------------------------


@dataclass
class LatencyResult:
    rule: str
    clients: int
    block_time: int
    block_gas_limit: int
    tx_gas: int  # gas limit of one client's submit/reveal transaction
    phase_blocks: dict[str, list[int]] = field(default_factory=dict)  # phase -> blocks its txs landed in
    blocks_per_round: int = 0  # from the block the round opened to the block that finalized it
    min_blocks: int = 0  # sequential phases + extra blocks the gas limit forces
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _blocks(task: FedTask, calls: Sequence[tuple[Any, Any]]) -> list[int]:
    return [int(r.block_number) for r in task.broadcast(calls)]


def measure_latency(container: Any, provider: Any, owner: Any, clients: Sequence[Any], rule: str, param_count: int,
                    block_time: int, rng: np.random.Generator) -> LatencyResult:
    """One round with ``len(clients)`` clients under interval mining (``block_time`` s).
    The task is launched and round 1 run with instant mining; the measured round is 2."""
    n_clients = len(clients)
    settings = TaskSettings(param_count=param_count, max_participants=n_clients, min_participants=1,
                            tier_thresholds=(10**9,), tier_rewards=(1,), reward_rule=rule,
                            stake=10**15 if rule == "consensus" else 0, min_move=1 if rule == "consensus" else 0,
                            max_move=10**9 if rule == "consensus" else 2**256 - 1)
    base = rng.normal(0, 0.5, param_count)
    t = FedTask.launch(container, owner, settings, base, funding=10**18)
    updates = [base + rng.normal(0, 0.05, param_count) for _ in clients]
    # round 1 with instant mining, so round 2 runs on warm storage like every later round
    if rule == "paper":
        for a, u in zip(clients, updates):
            t.submit(a, 1, u)
    else:
        cs = [t.prepare(1, u) for u in updates]
        for a, c in zip(clients, cs):
            t.commit(a, c)
        t.draw_seats(owner, wait=t.advance_time)
        for a, c in zip(clients, cs):
            t.reveal(a, c)
    t.finalize(owner)

    res = LatencyResult(rule=rule, clients=n_clients, block_time=block_time,
                        block_gas_limit=int(provider.web3.eth.get_block("latest")["gasLimit"]), tx_gas=0)
    start_block = int(provider.web3.eth.block_number)
    provider.make_request("evm_setAutomine", [False])
    provider.make_request("evm_setIntervalMining", [block_time])
    t0 = time.perf_counter()
    res.tx_gas = t.send_gas_limit(t.model_words)  # one chunk at the latency study's sizes
    try:
        if rule == "paper":
            res.phase_blocks["submit"] = _blocks(t, [
                (call, a) for a, u in zip(clients, updates) for call in t.submit_calls(2, t.encode(u))])
            sequential = 2
        else:
            g = t.global_ints()
            cs = [t.prepare(2, u, global_ints=g) for u in updates]
            res.phase_blocks["commit"] = _blocks(t, [(t.commit_call(x, a), a) for a, x in zip(clients, cs)])
            # The commit phase lasts its whole duration; the next block is the first after it.
            provider.make_request("evm_setNextBlockTimestamp", [t.round_state().commit_deadline])
            res.phase_blocks["draw"] = _blocks(t, [(t.draw_call(2), owner)])
            res.phase_blocks["reveal"] = _blocks(t, [
                (call, a) for a, x in zip(clients, cs) for call in t.reveal_calls(x)])
            sequential = 4
        res.phase_blocks["finalize"] = _blocks(t, [(t.finalize_call(2**32), owner)])
    finally:
        provider.make_request("evm_setIntervalMining", [0])
        provider.make_request("evm_setAutomine", [True])
    res.seconds = round(time.perf_counter() - t0, 2)
    res.blocks_per_round = res.phase_blocks["finalize"][0] - start_block
    per_block = max(1, res.block_gas_limit // res.tx_gas)
    res.min_blocks = sequential + math.ceil(n_clients / per_block) - 1
    return res


# --- the batch engine ---------------------------------------------------------------------


@dataclass
class BatchResult:
    """One steady-state (round 2) batch round: every client posts, a keeper aggregates."""

    rule: str  # reward rule
    aggregation: str
    params: int
    clients: int
    columns: int
    column_words: int
    post_gas_per_param: float  # the largest post, all its transactions
    aggregate_gas: int  # every column transaction of the round
    gas_per_param_per_client: float  # all-in: every post + every column, over params x clients
    max_tx_gas: int
    max_tx_bytes: int
    streaming_gas_per_param_per_client: float | None = None  # today's engine, same size (PAPER submit + finalize share)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def measure_batch(container: Any, owner: Any, clients: Sequence[Any], n: int, aggregation: str,
                  rng: np.random.Generator, trim: int = 1, advance: Callable[[int], None] | None = None,
                  consensus: ConsensusSettings | None = None) -> BatchResult:
    """Round 2 of a PaperTask (or, with ``consensus``, a ConsensusTask: commit, draw,
    reveal) with ``len(clients)`` updates of ``n`` parameters near a random model; duplicate
    and replay checks and a 1-wei keeper fee on (their cost counts)."""
    s = BatchSettings(param_count=n, max_participants=len(clients), min_participants=1, aggregation=aggregation,
                      trim=trim if aggregation == "trimmed_mean" else 0, tier_thresholds=(10**9,), tier_rewards=(1,),
                      duplicate_distance=1, replay_rounds=3, keeper_fee=1)
    base = rng.normal(0, 0.5, n)
    t = BatchTask.launch(container, owner, s, base, funding=10**18, consensus=consensus)
    for r in (1, 2):
        posts, extra = [], 0
        if consensus:
            g = t.global_ints()
            cs = [t.prepare(r, base + rng.normal(0, 0.05, n), global_ints=g) for _ in clients]
            extra = sum(t.commit(a, c) for a, c in zip(clients, cs))
            extra += t.draw_seats(owner, wait=advance).gas_used
            posts = [t.reveal(a, c) for a, c in zip(clients, cs)]
        else:
            posts = [t.submit(a, r, base + rng.normal(0, 0.05, n)) for a in clients]
            if advance:
                advance(s.post_duration)
        agg = t.aggregate(owner, wait=advance)
    total = sum(p.gas_used for p in posts) + agg.gas_used + extra
    return BatchResult(
        rule="consensus" if consensus else "paper", aggregation=aggregation, params=n, clients=len(clients), columns=len(t.columns),
        column_words=t.column_words, post_gas_per_param=round(max(p.gas_used for p in posts) / n, 1),
        aggregate_gas=agg.gas_used, gas_per_param_per_client=round(total / (n * len(clients)), 1),
        max_tx_gas=max(agg.max_tx_gas, *(p.max_tx_gas for p in posts)),
        max_tx_bytes=max(agg.max_tx_bytes, *(p.max_tx_bytes for p in posts)),
    )


def measure_batch_latency(container: Any, provider: Any, owner: Any, clients: Sequence[Any], n: int,
                          block_time: int, rng: np.random.Generator) -> dict[str, Any]:
    """Blocks of one PaperTask round (round 2) under interval mining: every post broadcast at
    once, then every column at once (their gas limits are the contract's own bound), from
    the block before the first post to the block of the last column."""
    s = BatchSettings(param_count=n, max_participants=len(clients), min_participants=1,
                      tier_thresholds=(10**9,), tier_rewards=(1,), duplicate_distance=1, replay_rounds=3)
    base = rng.normal(0, 0.5, n)
    t = BatchTask.launch(container, owner, s, base, funding=10**18)
    t.submit_many(1, [(a, base + rng.normal(0, 0.05, n)) for a in clients])
    t.aggregate(owner)
    start = int(provider.web3.eth.block_number)
    provider.make_request("evm_setAutomine", [False])
    provider.make_request("evm_setIntervalMining", [block_time])
    t0 = time.perf_counter()
    try:
        posts = t.submit_many(2, [(a, base + rng.normal(0, 0.05, n)) for a in clients])
        agg = t.aggregate(owner)
    finally:
        provider.make_request("evm_setIntervalMining", [0])
        provider.make_request("evm_setAutomine", [True])
    return {"rule": "paper", "engine": "batch", "clients": len(clients), "params": n, "block_time": block_time,
            "columns": len(t.columns), "blocks_per_round": agg.block_number - start,
            "seconds": round(time.perf_counter() - t0, 2),
            "max_tx_gas": max(agg.max_tx_gas, *(p.max_tx_gas for p in posts))}


def measure_streaming(container: Any, owner: Any, clients: Sequence[Any], n: int,
                      rng: np.random.Generator) -> float:
    """Today's streaming engine at the same size: PAPER submits + finalize, round 2, gas per
    parameter per client."""
    paper = TaskSettings(param_count=n, max_participants=len(clients), min_participants=1,
                         tier_thresholds=(10**9,), tier_rewards=(1,))
    base = rng.normal(0, 0.5, n)
    t = FedTask.launch(container, owner, paper, base, funding=10**18)
    for r in (1, 2):
        subs = [t.submit(a, r, base + rng.normal(0, 0.05, n)) for a in clients]
        fin = t.finalize(owner)
    return round((sum(x.gas_used for x in subs if x) + fin.gas_used) / (n * len(clients)), 1)


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
