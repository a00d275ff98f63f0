"""The adversary study's bookkeeping: per-round verdicts and the fold across seeds."""

import pytest

from ml.adversaries import ClientRound, StudyRun, across_seeds, summarize


def study(rewards: dict[int, list[int]], behaviours: list[str], split: str = "dirichlet") -> StudyRun:
    """A run whose client i earned rewards[round][i]."""
    run = StudyRun("consensus", split, behaviours, accuracy=[0.5, 0.6])
    for r, row in rewards.items():
        run.rows.extend(ClientRound(r, i, b, reward_wei=w) for i, (b, w) in enumerate(zip(behaviours, row)))
    return run


POP = ["honest", "honest", "copier", "free_rider"]


def test_a_cheater_tied_with_the_lowest_honest_client_in_one_round_fails():
    run = study({1: [8, 5, 4, 0], 2: [8, 5, 5, 0]}, POP)
    recs = {r["behaviour"]: r for r in summarize(run, seed=3)}
    assert recs["copier"]["strictly_less_than_every_honest_every_round"] is False
    assert recs["copier"]["worst_round_ratio"] == pytest.approx(1.0)
    assert recs["free_rider"]["strictly_less_than_every_honest_every_round"] is True
    assert recs["free_rider"]["worst_round_ratio"] == 0.0
    assert recs["honest"]["strictly_less_than_every_honest_every_round"] is None
    assert recs["copier"]["seed"] == 3
    assert recs["copier"]["share_of_honest"] == pytest.approx(4.5 / 6.5)


def test_an_unpaid_honest_client_makes_any_paid_cheater_fail_with_a_finite_sentinel():
    recs = {r["behaviour"]: r for r in summarize(study({1: [8, 0, 1, 0]}, POP))}
    assert recs["copier"]["worst_round_ratio"] == 1e9
    assert recs["free_rider"]["worst_round_ratio"] == 1.0  # 0 vs 0 is not strictly less
    assert recs["free_rider"]["strictly_less_than_every_honest_every_round"] is False


def test_across_seeds_counts_passing_seeds_and_keeps_the_worst_ratio():
    good = summarize(study({1: [8, 5, 4, 0]}, POP), seed=0)
    bad = summarize(study({1: [8, 5, 7, 0]}, POP), seed=1)
    rows = {r["behaviour"]: r for r in across_seeds(good + bad)}
    assert set(rows) == {"copier", "free_rider"}  # honest clients are the yardstick, not a row
    assert rows["copier"]["seeds"] == [0, 1] and rows["copier"]["seeds_strictly_less"] == [0]
    assert rows["copier"]["worst_round_ratio"] == pytest.approx(7 / 5)
    assert rows["free_rider"]["seeds_strictly_less"] == [0, 1]
