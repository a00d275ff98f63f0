"""The blob plane (BlobEngine, BlobPaperRule): updates posted as EIP-4844 blobs, a claim
asserted with a bond, disputes that open single field elements with the point-evaluation
precompile, finality after the window. Held to ``ml.blobs`` bit for bit; attacks: a wrong
lane, a wrong score (at every level of its tree), a dispute of an honest claim, a replay, a
round nobody asserts, a claim past its timeout, the money invariant after each."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from conftest import examples, isolated, refused
from ml import blobs as B
from ml import protocol
from ml.blob_chain import BlobTaskClient, Dispute
from ml.settings import AGGREGATIONS, BlobSettings

#: 2 blobs per update (one more parameter than a blob holds): the element dispute picks
#: its blob, a chunk never spans two.
N = B.LANES * B.FIELD_ELEMENTS + 7
REWARDS = (30, 20, 10)
THRESHOLDS = (40, 80, 160)
BOND, FEE = 1000, 5
WINDOW, TIMEOUT = 3600, 3700  # at least an hour each (MIN_BLOB_PHASE)
S = BlobSettings(param_count=N, frac_bits=8, value_bits=12, post_duration=100, min_participants=2,
                 max_participants=4, tier_thresholds=THRESHOLDS, tier_rewards=REWARDS, keeper_fee=FEE,
                 assert_bond=BOND, dispute_window=WINDOW, assert_timeout=TIMEOUT, access_price=0)


def update(seed: int, spread: int = 60) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(rng.integers(-spread, spread + 1, N) * (1 + seed % 3), -2048, 2047)


@pytest.fixture(scope="module")
def deployed(owner):
    """A task with its initial model set and round 1 open (4 seats); ape's module
    isolation reverts it after the module."""
    return BlobTaskClient.launch(owner, S, np.zeros(N, dtype=np.int64), funding=S.round_reserve * 6)


@pytest.fixture
def task(deployed, chain):
    with isolated(chain):
        yield deployed


def money_holds(t: BlobTaskClient) -> None:
    v = t.view()
    revenue = int(t._engine.functions.revenueReceived().call()) - int(t._engine.functions.revenueWithdrawn().call())
    assert t.web3.eth.get_balance(t.address) == v.reward_pool + v.round_reserve + v.total_owed + v.bonds + revenue


def posted_round(t: BlobTaskClient, clients, k: int = 3) -> list[np.ndarray]:
    ups = [update(i) for i in range(k)]
    for c, u in zip(clients, ups):
        t.post(c, t.current_round, u)
    t.advance_time(101)
    return ups


# --- BlobMath against ml.blobs ------------------------------------------------------------


@pytest.fixture(scope="module")
def harness(owner, project):
    return project.BlobHarness.deploy(sender=owner)


@given(st.integers(0, B.FIELD_ELEMENTS - 1))
@settings(max_examples=examples(20))
def test_evaluation_points_match(harness, index):
    assert harness.evaluationPoint(index) == B.evaluation_point(index)


@given(st.integers(0, 2**192 - 1), st.binary(min_size=32, max_size=32))
@settings(max_examples=examples(10))
def test_chain_links_match(harness, prev, h):
    assert harness.link(prev, h) == B.link(prev, h)


@given(st.lists(st.integers(-2048, 2047), min_size=1, max_size=12), st.sampled_from(AGGREGATIONS),
       st.integers(0, 3))
@settings(max_examples=examples(30))
def test_aggregate_matches_the_column_plane_arithmetic(harness, values, rule, trim):
    t = protocol.trimmed_count(len(values), rule, trim)
    assert harness.aggregate(values, t) == int(protocol.aggregate([np.array([v]) for v in values], rule, trim)[0])


@given(st.integers(0, 2**255 - 1), st.integers(0, 14))
@settings(max_examples=examples(20))
def test_lanes_saturate_like_the_decoder(harness, y, lane):
    y %= B.BLS_MODULUS
    lay = B.BlobLayout(B.LANES, 12)
    expected = int(B.element_lanes(y.to_bytes(32, "big"), lay)[lane])
    assert harness.lane(y, lane, lay.lo, lay.hi) == expected


def test_an_opening_proves_an_element_and_a_wrong_value_is_refused(harness, reverts):
    blob = B.encode_update(update(1)[: B.LANES * B.FIELD_ELEMENTS], B.BlobLayout(B.LANES * B.FIELD_ELEMENTS, 12))[0]
    vh = B.blob_hash(blob)
    o = B.opening(blob, 77)
    assert harness.open(vh, 77, o) == B.blob_element(blob, 77)
    forged = o[:96] + (int.from_bytes(o[96:], "big") ^ 1).to_bytes(32, "big")
    with refused("BadOpening"):
        harness.open(vh, 77, forged)
    with refused("BadOpening"):
        harness.open(vh, 78, o)  # another element's point


def test_layouts_match_the_engine(task):
    lay = task.layout
    assert (lay.elements, lay.blobs_per_update, lay.slots_per_update) == (
        task.config.elements, task.config.blobs_per_update, task.config.slots_per_update)
    assert task._engine.functions.levels().call() == lay.levels
    for n in (1, 4):
        assert task._engine.functions.sumsBlobs(n).call() == lay.sums_blobs(n)


def test_a_one_million_parameter_layout():
    lay = B.BlobLayout(1_048_576, 16)
    assert (lay.elements, lay.blobs_per_update, lay.level_counts, lay.sums_blobs(10)) == (69_906, 18, [2185, 46], 2)


def test_codec_round_trip_and_saturation():
    lay = B.BlobLayout(N, 12)
    u = update(4)
    assert np.array_equal(B.decode_update(B.encode_update(u, lay), lay), u)
    with pytest.raises(ValueError, match="must be in"):
        B.encode_update(np.full(N, 5000), lay)


# --- rounds --------------------------------------------------------------------------------


def test_an_honest_round_finalizes_with_the_aggregate_and_tiered_rewards(task, owner, clients, accounts):
    t = task
    ups = posted_round(t, clients)
    claim = t.honest_claim(1)
    assert np.array_equal(claim.model, protocol.aggregate(ups, "mean"))
    keeper = accounts[12]
    r = t.assert_claim(keeper, 1, claim)
    assert r.named("Asserted")[0].scores == claim.scores
    money_holds(t)
    assert t.audit(1, claim) is None
    t.advance_time(WINDOW + 1)
    t.finalize(owner, 1)
    assert t.version == 1
    assert np.array_equal(t.model_ints(), claim.model)
    for c, score in zip(clients, claim.scores):
        assert t.withdrawable(c) == protocol.reward_for(score // N, list(THRESHOLDS), list(REWARDS))
    assert t.withdrawable(keeper) == FEE + BOND
    money_holds(t)
    t.withdraw(keeper)
    money_holds(t)


def test_disputes_of_an_honest_claim_revert_at_every_element_kind_and_tree_level(task, clients, accounts):
    t = task
    posted_round(t, clients)
    claim = t.honest_claim(1)
    t.assert_claim(accounts[12], 1, claim)
    lay = t.layout
    for element in (0, lay.elements - 1, lay.elements, B.FIELD_ELEMENTS * lay.blobs_per_update - 1):
        with refused("ClaimHolds"):
            t.dispute_element(accounts[13], 1, element)
    for level in range(lay.levels + 1):
        with refused("ClaimHolds"):
            t.dispute_score(accounts[13], 1, 1, level, 0)
    assert t.withdrawable(accounts[13]) == 0


def test_a_wrong_lane_is_refuted_for_under_a_million_gas_and_the_round_completes(task, owner, clients, accounts):
    t = task
    posted_round(t, clients)
    honest = t.honest_claim(1)
    lay = t.layout
    bad_model = honest.model.copy()
    bad_model[B.LANES * B.FIELD_ELEMENTS + 3] += 1  # a lane in the second blob
    wrong = B.Claim(bad_model, B.encode_update(bad_model, lay), honest.scores, honest.trees, honest.sums, lay)
    liar, watcher = accounts[12], accounts[13]
    t.assert_claim(liar, 1, wrong)
    found = t.audit(1, honest)
    assert found == Dispute("element", (B.FIELD_ELEMENTS,))
    pool = t.view().reward_pool
    r = t.dispute(watcher, 1, found)
    assert r.gas_used < 1_000_000, r.gas_used
    assert r.gas_used <= t._engine.functions.elementDisputeGasBound().call()
    assert t.withdrawable(watcher) == BOND // 2
    assert t.view().reward_pool == pool + BOND - BOND // 2
    assert t.live_claim(1) is None
    money_holds(t)
    t.assert_claim(watcher, 1, honest)
    t.advance_time(WINDOW + 1)
    t.finalize(owner, 1)
    assert np.array_equal(t.model_ints(), honest.model)
    assert t.withdrawable(liar) == 0
    money_holds(t)


@pytest.mark.parametrize("level", [0, 1, 2])
def test_a_wrong_score_is_refuted_at_the_node_that_breaks(task, clients, accounts, level):
    t = task
    posted_round(t, clients)
    honest = t.honest_claim(1)
    lay = t.layout
    assert lay.levels == 2  # 129 chunks, then 3 nodes, then the score
    trees = [[list(lv) for lv in tree] for tree in honest.trees]
    scores = list(honest.scores)
    seat, chunk = 2, 50
    # a lie at `level`, kept consistent above it: only that node's children expose it
    if level == 0:
        trees[seat][0][chunk] -= 100
    if level <= 1:
        trees[seat][1][chunk // B.FANOUT] -= 100
    scores[seat] -= 100
    wrong = B.Claim(honest.model, honest.model_blobs, scores, trees, B.sums_blobs(trees, lay), lay)
    t.assert_claim(accounts[12], 1, wrong)
    found = t.audit(1, honest)
    assert found == Dispute("score", (seat, level, chunk // B.FANOUT ** level if level < 2 else 0))
    r = t.dispute(accounts[13], 1, found)
    assert r.gas_used < 5_000_000, r.gas_used
    assert t.withdrawable(accounts[13]) == BOND // 2
    money_holds(t)


def test_replays_are_refused_and_an_update_takes_one_seat(task, clients, accounts):
    t = task
    u = update(0)
    t.post(clients[0], 1, u)
    with refused("Replayed"):
        t.post(clients[1], 1, u)
    with refused("AlreadyPosted"):
        t.post(clients[0], 1, update(9))


def test_posting_and_asserting_follow_the_phases(task, clients, accounts):
    t = task
    t.post(clients[0], 1, update(0))
    t.post(clients[1], 1, update(1))
    claim = t.honest_claim(1)
    with refused("PostingOpen"):
        t.assert_claim(accounts[12], 1, claim)
    t.advance_time(101)
    with refused("PostingClosed"):
        t.post(clients[2], 1, update(2))
    with refused("WrongBond"):
        t.send("assertModel", (1, [], claim.scores), accounts[12], value=BOND - 1, gas=500_000)
    t.assert_claim(accounts[12], 1, claim)
    with refused("ClaimPending"):
        t.assert_claim(accounts[13], 1, claim)
    with refused("WindowOpen"):
        t.finalize(accounts[13], 1)
    t.advance_time(WINDOW + 1)
    with refused("WindowClosed"):
        t.dispute_element(accounts[13], 1, 0)


def test_a_round_nobody_asserts_is_abandoned_after_the_timeout(task, clients, accounts):
    t = task
    posted_round(t, clients)
    with refused("QuorumReached"):
        t.abandon(accounts[13], 1)
    t.advance_time(TIMEOUT + 1)
    claim = t.honest_claim(1)
    with refused("AssertClosed"):
        t.assert_claim(accounts[12], 1, claim)
    reserve = t.view().round_reserve
    pool = t.view().reward_pool
    t.abandon(accounts[13], 1)
    assert t.view().reward_pool == pool + reserve and not t.view().open
    money_holds(t)
    t.start_round(accounts[13])
    assert t.current_round == 2


def test_below_quorum_the_round_is_abandoned_at_the_deadline(task, clients, accounts):
    t = task
    t.post(clients[0], 1, update(0))
    t.advance_time(101)
    with refused("NoQuorum"):
        t.assert_claim(accounts[12], 1, t.honest_claim(1))
    t.abandon(accounts[13], 1)
    money_holds(t)


def test_the_model_is_read_from_an_archive_checked_blob_by_blob(task, owner, clients, accounts, tmp_path):
    t = task
    posted_round(t, clients)
    claim = t.honest_claim(1)
    t.assert_claim(accounts[12], 1, claim)
    t.advance_time(WINDOW + 1)
    t.finalize(owner, 1)
    archive = tmp_path / "blobs"
    reader = BlobTaskClient(t.transport, t.address, archive=archive)
    assert np.array_equal(reader.model_ints(1), claim.model)  # from the node, archived on the way
    assert len(list(archive.glob("*.blob"))) >= t.layout.blobs_per_update
    pruned = BlobTaskClient(t.transport, t.address, archive=archive)
    pruned._node_blobs = lambda tx: []  # the node no longer serves them (after ~18 days)
    assert np.array_equal(pruned.model_ints(1), claim.model)
    h = [h for h, _ in t.model_hashes(1)][0]
    path = archive / f"{h.hex()}.blob"
    path.write_bytes(path.read_bytes()[:-1] + b"\x01")  # a tampered copy
    tampered = BlobTaskClient(t.transport, t.address, archive=archive)
    tampered._node_blobs = lambda tx: []
    with pytest.raises(Exception, match="neither archived nor served"):
        tampered.model_ints(1)


def test_the_consortium_rule_runs_on_the_blob_plane(owner, clients, accounts, chain):
    """The same allowlist as on the column plane (`Allowlist`): an unlisted account cannot
    complete an update; members are paid the same whatever their distance."""
    s = BlobSettings(param_count=N, frac_bits=8, value_bits=12, post_duration=100, min_participants=2,
                     max_participants=4, tier_thresholds=(0,), tier_rewards=(25,), keeper_fee=FEE, assert_bond=BOND,
                     dispute_window=WINDOW, assert_timeout=TIMEOUT, access_price=0)
    with isolated(chain):
        t = BlobTaskClient.launch(owner, s, np.zeros(N, dtype=np.int64), funding=s.round_reserve * 2,
                                  rule="consortium")
        t.add_members(owner, clients[:2])
        with refused("NotMember"):
            t.post(clients[2], 1, update(2))
        with refused("NotSponsor"):
            t.send_rule("addMembers", ([str(clients[2].address)],), clients[2])
        t.post(clients[0], 1, update(0))
        t.post(clients[1], 1, update(1, spread=300))
        t.advance_time(101)
        t.assert_claim(accounts[12], 1)
        t.advance_time(WINDOW + 1)
        t.finalize(owner, 1)
        assert [t.withdrawable(c) for c in clients[:3]] == [25, 25, 0]
        money_holds(t)


def test_settings_that_outlive_blob_retention_are_refused(owner, project):
    with pytest.raises(ValueError, match="outlasts the blobs"):
        BlobSettings(param_count=N, post_duration=10 * 86400, assert_timeout=3 * 86400, dispute_window=2 * 86400)
    raw = (N, 12, 8, 10 * 86400, 1, 4, 0, 0, 0, 0, 0, 0, 2 * 86400, 3 * 86400)
    with refused("PhasesOutliveBlobs"):
        project.BlobPaperRule.deploy(raw, [1], [1], sender=owner)


def test_the_costliest_element_dispute_stays_within_the_bound_the_constructor_checked(accounts, chain):
    from ape import accounts as manager

    from studies.bench import latency_clients

    """A griefer's best try at an unrefutable claim: every seat taken (64) under MEDIAN, the
    lanes posted in the order insertion sort handles worst (descending), then a wrong claim.
    Its dispute opens 65 elements, checks 64 blob lists and sorts 15 lanes of 64 values, and
    must stay under the 12M-gas budget the constructor held these settings to."""
    seats = 64
    s = BlobSettings(param_count=B.LANES, frac_bits=8, value_bits=12, post_duration=1000, min_participants=1,
                     max_participants=seats, aggregation="median", tier_thresholds=(10**6,), tier_rewards=(1,),
                     keeper_fee=0, assert_bond=BOND, dispute_window=WINDOW, assert_timeout=TIMEOUT, access_price=0)
    with isolated(chain):
        posters = latency_clients(manager, accounts[0], seats)
        t = BlobTaskClient.launch(accounts[0], s, np.zeros(B.LANES, dtype=np.int64), funding=s.round_reserve)
        for i, who in enumerate(posters):
            t.post(who, 1, np.full(B.LANES, 1000 - 7 * i))
        honest = t.honest_claim(1)
        bad = honest.model.copy()
        bad[3] += 1
        lay = t.layout
        t.assert_claim(accounts[1], 1, B.Claim(bad, B.encode_update(bad, lay), honest.scores, honest.trees,
                                               honest.sums, lay))
        r = t.dispute_element(accounts[2], 1, 0)
        bound = t._engine.functions.elementDisputeGasBound().call()
        assert r.gas_used <= bound <= 12_000_000, (r.gas_used, bound)
        print(f"64-seat MEDIAN element dispute: {r.gas_used:,} gas, {r.data_bytes:,} bytes")


def test_an_update_of_an_abandoned_round_may_be_posted_again(accounts, owner, clients, chain):
    """Replays are refused against accepted rounds only: a round abandoned (by a griefer or
    below quorum) accepted nothing, so its authors post the same update in the next round."""
    s = BlobSettings(param_count=N, frac_bits=8, value_bits=12, post_duration=100, min_participants=2,
                     max_participants=4, tier_thresholds=THRESHOLDS, tier_rewards=REWARDS, keeper_fee=FEE,
                     assert_bond=BOND, dispute_window=WINDOW, assert_timeout=TIMEOUT, access_price=0, replay_rounds=3)
    with isolated(chain):
        t = BlobTaskClient.launch(owner, s, np.zeros(N, dtype=np.int64), funding=s.round_reserve * 3)
        u = update(0)
        t.post(clients[0], 1, u)
        t.advance_time(101)
        t.abandon(accounts[13], 1)  # below quorum
        t.start_round(accounts[13])
        t.post(clients[0], 2, u)
        t.post(clients[1], 2, update(1))
        t.advance_time(101)
        t.assert_claim(accounts[12], 2)
        t.advance_time(WINDOW + 1)
        t.finalize(owner, 2)
        t.start_round(accounts[13])
        with refused("Replayed"):  # round 2 accepted it
            t.post(clients[2], 3, u)


def test_windows_shorter_than_an_hour_are_refused(owner, project):
    with pytest.raises(ValueError, match="at least 3600"):
        BlobSettings(param_count=N, dispute_window=60)
    raw = (N, 12, 8, 100, 1, 4, 0, 0, 0, 0, 0, 0, 60, 3600)
    with refused("BadDuration"):
        project.BlobPaperRule.deploy(raw, [1], [1], sender=owner)


def test_the_initial_model_is_found_among_discarded_drafts(owner, chain):
    """The owner drafts, discards and drafts again before setting the initial model: readers
    still find version 0 (the run of drafts whose chain the engine keeps)."""
    s = BlobSettings(param_count=N, frac_bits=8, value_bits=12, max_participants=2, dispute_window=WINDOW,
                     assert_timeout=TIMEOUT, access_price=0)
    with isolated(chain):
        t = BlobTaskClient.deploy(owner, s)
        lay = t.layout
        t._in_groups("draft", (0,), owner, B.encode_update(update(5), lay))
        t.send("discardDraft", (0,), owner)
        initial = update(6)
        t.set_initial_model(owner, initial)
        fresh = BlobTaskClient(t.transport, t.address)
        assert np.array_equal(fresh.model_ints(0), initial)
