"""Codec properties: quantization, packing layout and round trips."""

import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra.numpy import arrays

from ml import codec

formats = st.builds(
    lambda b, f: codec.FixedPoint(frac_bits=min(f, b - 1), value_bits=b),
    st.integers(2, 16),
    st.integers(0, 15),
)


@given(st.lists(st.integers(-(2**15), 2**15 - 1), min_size=1, max_size=100))
def test_pack_unpack_round_trip(values):
    words = codec.pack(np.array(values))
    assert len(words) == codec.word_count(len(values))
    assert all(0 <= w < 2**256 for w in words)
    assert codec.unpack(words, len(values)).tolist() == values


@given(st.lists(st.integers(-(2**15), 2**15 - 1), min_size=1, max_size=40))
def test_pack_layout_is_lane_k_of_word_i(values):
    words = codec.pack(np.array(values))
    for p, v in enumerate(values):
        lane = (words[p // 16] >> (16 * (p % 16))) & 0xFFFF
        assert lane == v % 2**16  # two's complement int16
    # unused lanes of the last word are zero
    assert words[-1] >> (16 * (len(values) % 16 or 16)) == 0


@given(formats, arrays(np.float64, st.integers(1, 64), elements=st.floats(-1e3, 1e3)))
def test_quantize_is_nearest_or_saturated(fmt, x):
    q = codec.quantize(x, fmt)
    assert q.ints.min() >= fmt.min_int and q.ints.max() <= fmt.max_int
    back = codec.dequantize(q.ints, fmt)
    inside = (x * fmt.scale >= fmt.min_int - 0.5) & (x * fmt.scale <= fmt.max_int + 0.5)
    assert np.all(np.abs(back[inside] - x[inside]) <= 0.5 / fmt.scale + 1e-12)
    assert q.saturated == int(np.count_nonzero(np.rint(x * fmt.scale) != q.ints))


@given(formats, st.lists(st.integers(-(2**15), 2**15 - 1), min_size=1, max_size=50))
def test_encode_decode_round_trip_on_grid(fmt, ints):
    ints = np.clip(np.array(ints), fmt.min_int, fmt.max_int)
    floats = ints / fmt.scale
    words, saturated = codec.encode(floats, fmt)
    assert saturated == 0
    assert np.array_equal(codec.decode(words, len(ints), fmt), floats)


def test_saturation_is_counted():
    fmt = codec.FixedPoint(frac_bits=12)
    q = codec.quantize(np.array([100.0, -100.0, 0.5]), fmt)
    assert q.saturated == 2
    assert q.ints.tolist() == [fmt.max_int, fmt.min_int, 2048]


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_quantize_rejects_non_finite(bad):
    with pytest.raises(ValueError, match="NaN or infinite"):
        codec.quantize(np.array([0.0, bad]), codec.FixedPoint(8))


@pytest.mark.parametrize("b,f", [(1, 0), (17, 4), (8, 8), (8, -1)])
def test_bad_format_rejected(b, f):
    with pytest.raises(ValueError):
        codec.FixedPoint(frac_bits=f, value_bits=b)


def test_pack_rejects_values_beyond_int16():
    with pytest.raises(ValueError, match="int16"):
        codec.pack(np.array([2**15]))


def test_unpack_rejects_wrong_word_count():
    with pytest.raises(ValueError, match="expected 1 words"):
        codec.unpack([0, 0], 16)
