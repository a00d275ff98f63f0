"""ColumnMath on the EVM == plain Python: the SWAR sorting network orders 16 lanes at once
for every row count a column can have, the comparator count is the one ml.settings sizes
columns with, packMeans is the MEAN rounding of ml.protocol.aggregate, and ColumnKit's
near-duplicate pair test and replay test are ml.protocol.pair_tests and ml.protocol.replays."""

import numpy as np
import ape
import pytest
from hypothesis import given, settings, strategies as st

from ml import codec, protocol
from ml.settings import comparators
from conftest import examples

lane = st.one_of(st.sampled_from([0, 1, 0x7FFF, 0x8000, 0x8001, 0xFFFE, 0xFFFF]), st.integers(0, 0xFFFF))


@pytest.fixture(scope="module")
def harness(project, owner):
    return project.ColumnHarness.deploy(sender=owner)


def word(lanes):
    return sum(int(v) << (16 * k) for k, v in enumerate(lanes))


@settings(max_examples=examples(40), deadline=None)
@given(st.data())
def test_network_sorts_every_lane(harness, data):
    n = data.draw(st.integers(1, 24), label="rows")
    rows = [data.draw(st.lists(lane, min_size=16, max_size=16), label=f"row {i}") for i in range(n)]
    out = harness.sort([word(r) for r in rows], 1)
    got = [[(int(w) >> (16 * k)) & 0xFFFF for k in range(16)] for w in out]
    for k in range(16):
        assert [g[k] for g in got] == sorted(r[k] for r in rows), k


def test_comparator_counts_match_the_python_sizing(harness):
    assert [int(harness.comparators(n)) for n in range(1, 65)] == [comparators(n) for n in range(1, 65)]


@settings(max_examples=examples(40), deadline=None)
@given(st.data())
def test_pack_means_is_the_reference_rounding(harness, data):
    bits = data.draw(st.integers(2, 16), label="value bits")
    m = data.draw(st.integers(1, 300), label="values per parameter")
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    values = np.array([data.draw(st.lists(st.integers(lo, hi), min_size=16, max_size=16)) for _ in range(m)])
    bias = 1 << (bits - 1)
    sums = (values + bias).sum(axis=0)  # biased sums, as the column pass builds them
    even = sum(int(sums[2 * k]) << (32 * k) for k in range(8))
    odd = sum(int(sums[2 * k + 1]) << (32 * k) for k in range(8))
    (expected,) = codec.pack(protocol.aggregate(list(values), "mean"))
    assert int(harness.packMeans(even, odd, m, bias)) == expected


@pytest.mark.parametrize("m", [1, 2, 3, 7, 255, 256, 300, 511])
def test_pack_means_at_the_extremes(harness, m):
    """The multiply-shift division at its largest dividends (every value at the top or the
    bottom of int16, or mixed so each lane's mean sits just below a rounding step)."""
    bias = 1 << 15
    rng = np.random.default_rng(m)
    for values in (np.full((m, 16), (1 << 15) - 1), np.full((m, 16), -(1 << 15)),
                   rng.choice([-(1 << 15), (1 << 15) - 1], size=(m, 16))):
        sums = (values + bias).sum(axis=0)
        even = sum(int(sums[2 * k]) << (32 * k) for k in range(8))
        odd = sum(int(sums[2 * k + 1]) << (32 * k) for k in range(8))
        (expected,) = codec.pack(protocol.aggregate(list(values), "mean"))
        assert int(harness.packMeans(even, odd, m, bias)) == expected


@pytest.fixture(scope="module")
def kit(project, owner):
    return project.ColumnKit.deploy(sender=owner)


def _bits(bitmap, n):
    return {(a, b) for a in range(n) for b in range(a + 1, n)
            if (int(bitmap[(a * n + b) >> 8]) >> ((a * n + b) & 255)) & 1}


@settings(max_examples=examples(25), deadline=None)
@given(st.data())
def test_pair_bitmaps_are_the_reference_pair_tests(kit, data):
    """Every seat count across bitmap-word boundaries (n^2 > 256 from 17 seats), with
    near copies among the rows so that all three outcomes occur."""
    n = data.draw(st.integers(2, 48), label="seats")
    k = data.draw(st.integers(1, 2), label="samples")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    base = rng.integers(0, 1 << 16, (4, k, 16))
    rows = base[rng.integers(0, 4, n)] + rng.integers(-3, 4, (n, k, 16)) * rng.integers(0, 2, (n, 1, 1))
    rows = np.clip(rows, 0, 0xFFFF)
    samples = [[word(int(v) for v in r[j]) for j in range(k)] for r in rows]
    moved = [int(v) for v in rng.integers(0, 400, n)]
    limit = data.draw(st.integers(0, 60), label="limit")
    # pairs refuted on an earlier column: skipped, and returned refuted
    pairs = [(a, b) for a in range(n) for b in range(a + 1, n)]
    share = data.draw(st.sampled_from([0.0, 0.3, 1.0]), label="share of pairs refuted before")
    skip = {p for p in pairs if rng.random() < share}
    bitmap = [0] * ((n * n + 255) >> 8)
    for a, b in skip:
        bitmap[(a * n + b) >> 8] |= 1 << ((a * n + b) & 255)
    refuted, confirmed = kit.pairBitmaps([w for s in samples for w in s], moved, bitmap, n, k, limit,
                                         0x8000 * ONES32)
    expected = protocol.pair_tests(samples, moved, limit, skip)
    assert (_bits(refuted, n), _bits(confirmed, n)) == expected
    assert skip <= _bits(refuted, n) and not skip & _bits(confirmed, n)


def test_pair_bitmaps_refuse_a_shape_that_does_not_match(kit):
    with ape.reverts(kit.BadShape):
        kit.pairBitmaps([1, 2, 3], [0, 0], [0], 2, 2, 10, 0x8000 * ONES32)
    with ape.reverts(kit.BadShape):
        kit.pairBitmaps([1, 2], [0], [0], 2, 1, 10, 0x8000 * ONES32)
    with ape.reverts(kit.BadShape):  # one skip word per 256 pairs
        kit.pairBitmaps([1, 2], [0, 0], [], 2, 1, 10, 0x8000 * ONES32)


ONES32 = sum(1 << (32 * k) for k in range(8))


# --- replays: head lists as data contracts, looked up in a salted table ------------------

def _head_list(owner, heads):
    """A data contract laid out as the engine's head lists (CodeStore: a STOP byte, then each
    head's first 16 bytes, two per word, an odd list's last half zero)."""
    data = b"".join(h[:16] for h in heads) + (b"\0" * 16 if len(heads) % 2 else b"")
    runtime = b"\0" + data
    init = bytes([0x61]) + len(runtime).to_bytes(2, "big") + bytes.fromhex("80600a5f395ff3") + runtime
    web3 = owner.provider.web3
    tx = web3.eth.send_transaction({"from": owner.address, "data": "0x" + init.hex()})
    return web3.eth.wait_for_transaction_receipt(tx)["contractAddress"]


def _flags(word, n):
    return {i for i in range(n) if (int(word) >> i) & 1}


@settings(max_examples=examples(8), deadline=None)
@given(st.data())
def test_replays_are_the_reference(kit, owner, data):
    """Heads drawn from a small pool so that repeats within the round, hits in the window,
    and hits only outside it all occur; ring slots of rounds outside the window (including
    a stale slot the current round has not rewritten) are ignored."""
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    pool = [bytes(rng.integers(0, 256, 32, dtype=np.uint8)) for _ in range(12)]
    window = data.draw(st.integers(1, 4), label="window")
    round_ = data.draw(st.integers(window + 2, 12), label="round")
    n = data.draw(st.integers(1, 9), label="seats")
    heads = [pool[int(k)] for k in rng.integers(0, 12, n)]
    history = {r: [pool[int(k)] for k in rng.integers(0, 12, int(rng.integers(1, 6)))]
               for r in range(round_ - window - 1, round_)}
    ring = [int(_head_list(owner, hs), 16) | (r << 160) for r, hs in history.items()]
    got = kit.replays(_head_list(owner, heads), ring, round_, window, bytes(rng.integers(0, 256, 32, dtype=np.uint8)))
    assert _flags(got, n) == protocol.replays(heads, history, round_, window)


def test_ground_heads_do_not_lengthen_the_lookups(kit, owner):
    """The attack on an open-addressing table: heads whose low bits all agree (an attacker
    grinds its updates' words until they do) would pile into one probe chain if the table
    were indexed by the heads' own bits, and 256 + 3 x 256 such heads would cost a column 0
    hundreds of thousands of probes. The salted index spreads them: the lookups of ground
    heads cost what random ones do, within the column bound's 550 gas per earlier head (via-IR code)."""
    from ml.settings import GAS_PER_REPLAY_HEAD

    rng = np.random.default_rng(7)

    def heads(ground):
        out = []
        for _ in range(256):
            h = bytes(rng.integers(0, 256, 32, dtype=np.uint8))
            out.append(h[:4] + bytes(12) + h[16:] if ground else h)  # first 16 bytes: 4 random, 12 zero
        return out

    gas = {}
    for ground in (False, True):
        ring = [int(_head_list(owner, heads(ground)), 16) | (r << 160) for r in (7, 8, 9)]
        current = _head_list(owner, heads(ground))
        flags = kit.replays(current, ring, 10, 3, b"\x11" * 32)
        assert int(flags) == 0
        gas[ground] = kit.replays.estimate_gas_cost(current, ring, 10, 3, b"\x11" * 32, sender=owner)
    assert gas[True] < 1.1 * gas[False]
    assert gas[True] < GAS_PER_REPLAY_HEAD * 3 * 256 + 200 * 256  # earlier heads + this round's
