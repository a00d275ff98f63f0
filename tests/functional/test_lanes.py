"""PackedLanes on the EVM == ml.reference, including the extremes of every lane."""

from hypothesis import given, settings as _settings, strategies as st


def settings(max_examples, deadline=None):
    return _settings(max_examples=max_examples, deadline=deadline)

from ml import protocol

lane16 = st.one_of(st.sampled_from([0, 1, 0x7FFF, 0x8000, 0xFFFF]), st.integers(0, 0xFFFF))
lane32 = st.one_of(st.sampled_from([0, 1, 0xFFFF, 0xFFFFFFFF]), st.integers(0, 0xFFFFFFFF))


def words_of(lanes, bits):
    return sum(v << (bits * k) for k, v in enumerate(lanes))


@settings(max_examples=60, deadline=None)
@given(st.lists(lane16, min_size=16, max_size=16))
def test_spread(lanes, values):
    x = words_of(values, 16)
    assert lanes.spread(x) == protocol.spread(x)
    assert lanes.spread(x >> 128) == protocol.spread(x >> 128)


@settings(max_examples=60, deadline=None)
@given(st.lists(lane16, min_size=8, max_size=8), st.integers(2, 16))
def test_to_biased(lanes, values, bits):
    s = words_of(values, 32)
    bias_lanes = (1 << (bits - 1)) * protocol.ONES32
    assert lanes.toBiased(s, bias_lanes) == protocol.to_biased(s, bits)


@settings(max_examples=80, deadline=None)
@given(st.lists(lane16, min_size=8, max_size=8), st.lists(lane16, min_size=8, max_size=8))
def test_abs_diff_sum(lanes, a, b):
    wa, wb = words_of(a, 32), words_of(b, 32)
    assert lanes.absDiffSum(wa, wb) == protocol.abs_diff_sum(wa, wb) == sum(abs(x - y) for x, y in zip(a, b))


@settings(max_examples=80, deadline=None)
@given(st.data(), st.integers(2, 16))
def test_mean_word(lanes, data, bits):
    n = data.draw(st.integers(1, (1 << (32 - bits)) - 1), label="n")
    hi_sum = n * ((1 << bits) - 1)
    sums = data.draw(st.lists(st.one_of(st.just(0), st.just(hi_sum), st.integers(0, hi_sum)), min_size=16, max_size=16))
    lo, hi = words_of(sums[:8], 32), words_of(sums[8:], 32)
    bias = 1 << (bits - 1)
    expected = words_of([(protocol.round_mean(s, n) - bias) % 2**16 for s in sums], 16)
    assert lanes.meanWord(lo, hi, n, bias) == expected


# --- MedianLib (the seat draw's move reference) ---------------------------------------


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 2**16), min_size=0, max_size=40))
def test_lower_median_matches_reference(median_harness, values):
    assert median_harness.lowerMedian(values) == protocol.move_reference(values)


def test_lower_median_worst_case_fits_a_draw(median_harness, owner):
    """MAX_SEATS values in descending order (insertion sort's worst case) cost well under the
    gas a draw of 256 seats may spend beside its storage work."""
    values = list(range(256, 0, -1))
    assert median_harness.lowerMedian(values) == 128
    gas = median_harness.lowerMedian.estimate_gas_cost(values, sender=owner)
    assert gas < 1_000_000, gas
    print(f"lower median of 256 descending values: {gas:,} gas (incl. calldata)")
