"""MedianLib on the EVM == ml.protocol (the seat draw's move reference)."""

from hypothesis import given, settings, strategies as st

from ml import protocol
from conftest import examples


@settings(max_examples=examples(40), deadline=None)
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
