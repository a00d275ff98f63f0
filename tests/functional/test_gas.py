"""Gas is deterministic, so its bounds are properties: submit and finalize gas are affine
in the parameter count, with the coefficients printed in the README."""

import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st

from ml import codec
from ml.settings import TaskSettings

# Fixed part: base tx cost plus the per-participant bookkeeping writes (entry, reward,
# shares, revenue correction, chunk tally). Steady-state rounds (accumulator slots already
# nonzero), per parameter: submit = calldata 2 bytes (~32) + 1/8 accumulator SSTORE (625)
# + the global model read from code (~0.2) + ~75 of SWAR compute in the assembly loop;
# finalize = 1/8 accumulator SLOAD (262) + 1/16 of a 32-byte code deposit (400) + the mean.
# Measured marginal: 736 (submit), 785 (finalize).
SUBMIT_PER_PARAM, SUBMIT_FIXED = 760, 170_000
FINALIZE_PER_PARAM, FINALIZE_FIXED = 790, 280_000
# claim = calldata (~32) + SWAR distance against the new model read from code.
CLAIM_PER_PARAM, CLAIM_FIXED = 150, 130_000
#: A reveal also keeps the update's 2 sampled words for the copy check (2 fresh slots), and a
#: claim compares them with every other seat's (O(seats)).
CLAIM_PER_SEAT = 15_000
REVEAL_FIXED = SUBMIT_FIXED + 50_000


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(16, 6000), st.integers(0, 2**32))
def test_submit_and_finalize_gas_are_affine_in_params(deploy_task, owner, clients, chain, n, seed):
    rng = np.random.default_rng(seed)
    s = TaskSettings(param_count=n, frac_bits=12, min_participants=1, max_participants=2,
                     tier_thresholds=(10**9,), tier_rewards=(1,))
    with chain.isolate():
        t = deploy_task(s)
        t.set_initial_model(owner, rng.normal(0, 0.5, n))  # pre-warms buffers and accumulator
        t.start_round(owner)
        # measure round 2: every slot has been written by then
        for k in range(2):
            t.submit(clients[k], 1, rng.normal(0, 0.5, n))
        t.finalize(owner)
        gas = [t.submit(clients[k], 2, rng.normal(0, 0.5, n)).gas_used for k in range(2)]
        fin = t.finalize(owner).gas_used
    assert max(gas) <= SUBMIT_PER_PARAM * n + SUBMIT_FIXED, (n, gas)
    assert fin <= FINALIZE_PER_PARAM * n + FINALIZE_FIXED, (n, fin)
    # and the floor: nobody beats one 5,000-gas SSTORE per 8 parameters
    assert min(gas) >= 5000 * (n // 8)
    assert codec.word_count(n) == t.model_words


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(16, 4000), st.integers(0, 2**32))
def test_consensus_gas_commit_constant_reveal_and_claim_affine(deploy_task, owner, clients, chain, n, seed):
    """Commit costs the same at any size; a reveal with move checks (it reads the global
    model) stays within 1.16x the 657 gas/param floor; a claim writes no per-parameter storage."""
    rng = np.random.default_rng(seed)
    s = TaskSettings(param_count=n, frac_bits=12, min_participants=1, max_participants=2,
                     tier_thresholds=(10**9,), tier_rewards=(1,), reward_rule="consensus",
                     stake=10**15, min_move=1, max_move=10**9)
    base = rng.normal(0, 0.5, n)
    with chain.isolate():
        t = deploy_task(s)
        t.set_initial_model(owner, base)
        t.start_round(owner)
        for r in (1, 2):
            cs = [t.prepare(r, base + rng.normal(0, 0.05, n)) for _ in range(2)]
            commit = [t.commit(clients[k], c) for k, c in enumerate(cs)]
            draw = t.draw_seats(owner, wait=t.advance_time)
            reveal = [t.reveal(clients[k], c).gas_used for k, c in enumerate(cs)]
            t.finalize(owner)
            claim = [t.claim(clients[k], c).gas_used for k, c in enumerate(cs)]
    # The round's first commit writes roundEntrants fresh; every commit records its address in
    # the round's committer list (a fresh slot), which the seat draw reads.
    assert max(commit) <= 145_000 and min(commit) <= 110_000, commit
    assert draw.gas_used <= 100_000 + 30_000 * draw.seats, draw
    assert max(reveal) <= SUBMIT_PER_PARAM * n + REVEAL_FIXED, (n, reveal)
    assert max(claim) <= CLAIM_PER_PARAM * n + CLAIM_FIXED + CLAIM_PER_SEAT * s.max_participants, (n, claim)
