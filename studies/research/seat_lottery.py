"""Research, not part of the product: the seat draw against Sybils, measured on chain.

10 Sybils and 5 honest clients commit to every round of a CONSENSUS task with 5 seats; the
Sybils commit first (as if in the block that opens the round). Every Sybil reveals the same
small update (one update, k commitments); honest updates move ~12 units per parameter and
differ from each other by ~3. Over many rounds: the Sybils' share of seats and of rewards
(the batch engine pays same-round near-copies nothing), honest reveals refused, stakes lost. Two settings: the ratio bound off and at 2000 (the
shipped config), where a Sybil majority of seats sets the median reference.

Run: .venv/bin/python -m studies.research.seat_lottery [rounds] | tee docs/results/research/seat_lottery.out.txt
"""

from __future__ import annotations

import dataclasses
import sys

import numpy as np
from ape import accounts, chain, networks, project

from ml import codec
from ml.chain import BatchTask
from ml.settings import BatchSettings, ConsensusSettings

N = 400
ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 40
BASE = BatchSettings(param_count=N, frac_bits=8, value_bits=12, post_duration=600, min_participants=2,
                     max_participants=5, tier_thresholds=(500, 900, 1300), tier_rewards=(300, 200, 100),
                     duplicate_distance=1)
CONS = ConsensusSettings(commit_duration=600, stake=10**15, min_move=2, max_move=400)


def update(g: np.ndarray, offset: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return codec.dequantize(np.clip(g + offset + rng.integers(-4, 5, N), -2048, 2047), BASE.fmt)


def run(ratio: int) -> dict[str, float]:
    s, cons = BASE, dataclasses.replace(CONS, max_move_ratio=ratio)
    owner, people = accounts.test_accounts[0], list(accounts.test_accounts)[1:16]
    sybils, honest = people[:10], people[10:]
    t = BatchTask.launch(project.ConsensusTask, owner, s, np.zeros(N), funding=s.round_reserve * (ROUNDS + 1),
                         consensus=cons)
    seats = {"sybil": 0, "honest": 0}
    reward = {"sybil": 0, "honest": 0}
    rejected = {"sybil": 0, "honest": 0}
    lost = 0
    majority_rounds = 0
    for r in range(1, ROUNDS + 1):
        g = t.global_ints()
        copy = update(g, 3, 10_000 + r)
        cs = {a: t.prepare(r, copy) for a in sybils}
        cs |= {a: t.prepare(r, update(g, 12, 100 * r + i)) for i, a in enumerate(honest)}
        for a, c in cs.items():
            t.commit(a, c)
        t.draw_seats(owner, wait=t.advance_time)
        seated = {a for a in cs if t.seated(r, a)}
        kind = {a: ("sybil" if a in sybils else "honest") for a in cs}
        majority_rounds += sum(a in seated for a in sybils) > 2
        owed = {a: t.withdrawable(a) for a in seated}
        for a, c in cs.items():
            if a not in seated:
                t.release_stake(a, r)
                continue
            seats[kind[a]] += 1
            if t.reveal(a, c) is None:
                rejected[kind[a]] += 1
        agg = t.aggregate(owner, wait=t.advance_time)
        for a in seated:
            got = agg.rewards.get(str(a.address), 0)
            reward[kind[a]] += got
            lost += cons.stake - (t.withdrawable(a) - owed[a] - got)  # credited = reward + stake back
        print(f"  ratio {ratio}: round {r}/{ROUNDS}", end="\r", flush=True, file=sys.stderr)
    total_seats = 5 * ROUNDS
    return {
        "ratio": ratio, "rounds": ROUNDS, "completed": t.completed_rounds,
        "sybil_seat_share": seats["sybil"] / total_seats,
        "sybil_reward_share": reward["sybil"] / max(1, reward["sybil"] + reward["honest"]),
        "sybil_reward_wei": reward["sybil"], "honest_reward_wei": reward["honest"],
        "rounds_with_sybil_majority": majority_rounds,
        "honest_rejected": rejected["honest"], "sybil_rejected": rejected["sybil"], "stake_lost_wei": lost,
    }


def main() -> None:
    with networks.parse_network_choice("ethereum:local:foundry"):
        rows = []
        for ratio in (0, 2000):
            snapshot = chain.snapshot()  # not chain.isolate(): ape 0.8's swallows exceptions
            try:
                rows.append(run(ratio))
            finally:
                chain.restore(snapshot)
    print(f"10 Sybils (one identical update) + 5 honest committers, 5 seats, {ROUNDS} rounds, on anvil")
    print(f"{'ratio':>6} {'seats':>7} {'reward':>7} {'sybil wei':>10} {'honest wei':>11} {'maj.rds':>8} "
          f"{'hon.rej':>8} {'lost':>5} {'done':>5}")
    for x in rows:
        print(f"{x['ratio']:>6} {x['sybil_seat_share']:>7.3f} {x['sybil_reward_share']:>7.3f} "
              f"{x['sybil_reward_wei']:>10} {x['honest_reward_wei']:>11} {x['rounds_with_sybil_majority']:>8} "
              f"{x['honest_rejected']:>8} {x['stake_lost_wei']:>5} {x['completed']:>5}")
    print("seats/reward: the Sybils' share of seats held and of rewards paid; maj.rds: rounds where Sybils held"
          " 3+ of 5 seats; hon.rej: honest reveals rejected (stake returned); lost: stake forfeited, wei;"
          " done: rounds completed. Expected seat share 10/15 = 0.667.")


if __name__ == "__main__":
    main()
