"""Models and the flat-vector view the codec works on (no chain)."""

import numpy as np
import pytest
import torch

from ml import codec
from ml.models import MODELS, build_model, get_flat, param_count, set_flat


@pytest.mark.parametrize("name,expected", [("logreg", 7850), ("mlp", 12730), ("cnn", 9842)])
def test_mnist_models_fit_one_submission(name, expected):
    model = build_model(name, 784, 10)
    assert param_count(model) == expected
    # one submission must stay under the 16,777,216-gas cap at ~880 gas/param
    assert 880 * expected + 150_000 < 16_777_216
    assert model(torch.zeros(3, 784)).shape == (3, 10)


def test_the_blob_plane_model_is_a_million_parameters_and_too_large_for_calldata():
    model = build_model("mlp1m", 784, 10)
    assert param_count(model) == 1_068_810
    assert 880 * 1_068_810 > 16_777_216  # no column-plane submission could carry it
    assert model(torch.zeros(3, 784)).shape == (3, 10)


@pytest.mark.parametrize("name", MODELS)
def test_flat_round_trip_and_seeded_init(name):
    a, b = build_model(name, 784, 10, seed=7), build_model(name, 784, 10, seed=7)
    flat = get_flat(a)
    assert np.array_equal(flat, get_flat(b))
    other = build_model(name, 784, 10, seed=8)
    set_flat(other, flat)
    assert np.array_equal(get_flat(other), flat.astype(np.float32).astype(np.float64))


def test_quantized_model_loads_exactly():
    model = build_model("cnn", 784, 10)
    fmt = codec.FixedPoint(12)
    ints = codec.quantize(get_flat(model), fmt).ints
    set_flat(model, codec.dequantize(ints, fmt))
    assert np.array_equal(codec.quantize(get_flat(model), fmt).ints, ints)


def test_model_errors():
    with pytest.raises(ValueError, match="square images"):
        build_model("cnn", 64, 10)  # 8x8 digits are too small for two 5x5 convolutions
    with pytest.raises(ValueError, match="unknown model"):
        build_model("resnet", 784, 10)
    with pytest.raises(ValueError, match="parameters"):
        set_flat(build_model("logreg", 784, 10), np.zeros(5))
