"""Fixed-point codec: float tensors <-> signed B-bit integers <-> packed 256-bit words.

Wire format (also the contract's global-model storage): 16 lanes of 16 bits per word,
lane k of word i holding parameter 16*i + k as an int16 in two's complement, lane 0 in
the least significant bits. Unused lanes of the last word are zero. That is exactly the
memory of a little-endian ``numpy.int16`` array, so packing is a reshape, not a loop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LANES_PER_WORD = 16
LANE_BITS = 16


@dataclass(frozen=True)
class FixedPoint:
    """A signed fixed-point format: value = integer / 2**frac_bits, integer in B bits."""

    frac_bits: int
    value_bits: int = 16

    def __post_init__(self) -> None:
        if not 2 <= self.value_bits <= 16:
            raise ValueError(f"value_bits must be in [2, 16], got {self.value_bits}")
        if not 0 <= self.frac_bits < self.value_bits:
            raise ValueError(f"frac_bits must be in [0, value_bits), got {self.frac_bits}")

    @property
    def scale(self) -> float:
        return float(1 << self.frac_bits)

    @property
    def min_int(self) -> int:
        return -(1 << (self.value_bits - 1))

    @property
    def max_int(self) -> int:
        return (1 << (self.value_bits - 1)) - 1


@dataclass(frozen=True)
class Quantized:
    """Integers of a quantized vector, with how many values had to be clipped."""

    ints: np.ndarray  # int64, in [fmt.min_int, fmt.max_int]
    saturated: int


def quantize(values: np.ndarray, fmt: FixedPoint) -> Quantized:
    """Rounds to the nearest representable value (half to even) and saturates the rest.

    Raises ValueError on NaN or infinity: a diverged model must never reach the chain.
    """
    x = np.asarray(values, dtype=np.float64).ravel()
    if not np.all(np.isfinite(x)):
        raise ValueError("cannot quantize NaN or infinite weights (did training diverge?)")
    scaled = np.rint(x * fmt.scale)
    clipped = np.clip(scaled, fmt.min_int, fmt.max_int)
    saturated = int(np.count_nonzero(clipped != scaled))
    return Quantized(ints=clipped.astype(np.int64), saturated=saturated)


def dequantize(ints: np.ndarray, fmt: FixedPoint) -> np.ndarray:
    return np.asarray(ints, dtype=np.float64) / fmt.scale


def word_count(param_count: int) -> int:
    return (param_count + LANES_PER_WORD - 1) // LANES_PER_WORD


def pack(ints: np.ndarray) -> list[int]:
    """Packs signed integers (each fitting int16) into 256-bit words."""
    a = np.asarray(ints, dtype=np.int64).ravel()
    if a.size and (a.min() < -(1 << 15) or a.max() >= 1 << 15):
        raise ValueError("pack: every value must fit in int16")
    padded = np.zeros(word_count(a.size) * LANES_PER_WORD, dtype="<i2")
    padded[: a.size] = a
    raw = padded.tobytes()
    return [int.from_bytes(raw[i : i + 32], "little") for i in range(0, len(raw), 32)]


def unpack(words: list[int] | tuple[int, ...], param_count: int) -> np.ndarray:
    """Inverse of ``pack``: returns ``param_count`` int64 values."""
    if len(words) != word_count(param_count):
        raise ValueError(f"unpack: expected {word_count(param_count)} words, got {len(words)}")
    raw = b"".join(int(w).to_bytes(32, "little") for w in words)
    return np.frombuffer(raw, dtype="<i2")[:param_count].astype(np.int64)


def encode(values: np.ndarray, fmt: FixedPoint) -> tuple[list[int], int]:
    """float vector -> (packed words, number of saturated values)."""
    q = quantize(values, fmt)
    return pack(q.ints), q.saturated


def decode(words: list[int] | tuple[int, ...], param_count: int, fmt: FixedPoint) -> np.ndarray:
    """packed words -> float64 vector."""
    return dequantize(unpack(words, param_count), fmt)
