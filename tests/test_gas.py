"""Gas is deterministic, so its bounds are properties: submit and finalize gas are affine
in the parameter count, with the coefficients printed in the README."""

import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st

from ml import codec
from ml.chain import TaskSettings

# Fixed part: base tx cost plus the per-participant bookkeeping writes (round, reward,
# shares, revenue correction). Steady-state rounds (accumulator slots already nonzero), per parameter:
# submit = calldata 2 bytes (~32) + 1/8 accumulator SSTORE (625) + 1/16 global SLOAD (131)
# + ~115 of loop and SWAR compute; measured marginal 902 (submit) and 691 (finalize).
SUBMIT_PER_PARAM, SUBMIT_FIXED = 910, 130_000
FINALIZE_PER_PARAM, FINALIZE_FIXED = 700, 120_000


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
