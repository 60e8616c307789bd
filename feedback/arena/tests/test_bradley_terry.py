"""The leaderboard's statistics on synthetic battles drawn from known strengths (pure numpy, no database)."""

from __future__ import annotations

import numpy as np
import pytest

from feedback.arena import bradley_terry as bt


def draw_battles(rng, strengths, n, *, tie_share=0.1):
    """n battles between random pairs; the outcome from the Bradley–Terry model with some ties."""
    size = len(strengths)
    i = rng.integers(0, size, n)
    j = (i + rng.integers(1, size, n)) % size
    p = bt.win_probability(strengths, i, j)
    u = rng.random(n)
    score = np.where(u < tie_share, 0.5, np.where(rng.random(n) < p, 1.0, 0.0))
    return i, j, score


def test_fitted_order_and_ratings_follow_the_true_strengths():
    rng = np.random.default_rng(7)
    strengths = np.array([-1.0, -0.5, 0.0, 0.4, 0.9, 1.5])
    i, j, score = draw_battles(rng, strengths, 6000)

    board = bt.fit_leaderboard(bt.pair_counts(i, j, score, None, len(strengths)), rounds=300, seed=1)

    assert list(np.argsort(board.ratings)) == list(range(len(strengths)))
    assert np.allclose(board.ratings, bt.to_ratings(strengths), atol=40)
    assert board.ratings.mean() == pytest.approx(bt.BASE_RATING)
    assert (board.ci_low < board.ratings).all() and (board.ratings < board.ci_high).all()
    assert board.battles.sum() == 2 * 6000


def test_95_percent_intervals_cover_the_true_ratings_about_95_percent_of_the_time():
    """100 independent arenas of 8 revisions x 1,500 battles; each revision's interval either covers its true
    (mean-anchored) rating or not: over 800 intervals the share must be near 0.95. (No ties here: a tie drawn
    regardless of strength would pull every true rating towards the mean, which is a different truth.)"""
    rng = np.random.default_rng(2026)
    covered = []
    for _ in range(100):
        strengths = rng.normal(0, 0.7, 8)
        i, j, score = draw_battles(rng, strengths, 1500, tie_share=0.0)
        board = bt.fit_leaderboard(bt.pair_counts(i, j, score, None, 8), rounds=200, seed=int(rng.integers(1 << 30)))
        truth = bt.to_ratings(strengths)
        covered.extend((board.ci_low <= truth) & (truth <= board.ci_high))

    share = float(np.mean(covered))
    # Binomial sd over 800 intervals is 0.8 points; the percentile bootstrap runs a little narrow on small samples.
    assert 0.91 <= share <= 0.98, share


def test_ties_count_half_a_win_and_both_sides_of_a_pair_agree():
    i, j = np.array([0, 1, 0, 1]), np.array([1, 0, 1, 0])
    score = np.array([1.0, 1.0, 0.5, 0.5])  # one win each, two ties: even

    board = bt.fit_leaderboard(bt.pair_counts(i, j, score, None, 2), rounds=50)

    assert board.ratings == pytest.approx([bt.BASE_RATING, bt.BASE_RATING])


def test_a_400_point_gap_means_ten_to_one_odds():
    counts = bt.PairCounts(2, np.array([0]), np.array([1]), np.array([[1000.0, 0.0, 100.0]]), np.array([1100]))

    board = bt.fit_leaderboard(counts, rounds=0)

    assert board.ratings[0] - board.ratings[1] == pytest.approx(400.0, abs=1.0)  # the weak prior costs < 1 point


def test_a_revision_that_never_lost_gets_a_finite_rating():
    i, j, score = np.zeros(30, int), np.ones(30, int), np.ones(30)

    board = bt.fit_leaderboard(bt.pair_counts(i, j, score, None, 2), rounds=100)

    assert np.isfinite(board.ratings).all() and board.ratings[0] > board.ratings[1] + 400


def test_ranks_only_separate_revisions_whose_intervals_do_not_overlap():
    low = np.array([1100.0, 1050.0, 900.0, 800.0])
    high = np.array([1200.0, 1150.0, 1000.0, 1200.0])

    ranks = bt.interval_ranks(low, high, np.array([True, True, True, True]))

    # 0 and 1 overlap (both first); 2 is below both; 3 is so uncertain that nobody is surely better.
    assert list(ranks) == [1, 1, 3, 1]
    assert list(bt.interval_ranks(low, high, np.array([True, True, True, False]))) == [1, 1, 3, 0]


def test_weights_down_weight_battles():
    i, j = np.array([0, 0, 0]), np.array([1, 1, 1])
    score = np.array([1.0, 1.0, 0.0])

    heavy = bt.pair_counts(i, j, score, np.array([1.0, 1.0, 1.0]), 2)
    light = bt.pair_counts(i, j, score, np.array([0.5, 0.5, 1.0]), 2)

    assert heavy.outcomes.tolist() == [[2.0, 0.0, 1.0]] and light.outcomes.tolist() == [[1.0, 0.0, 1.0]]
    assert light.battles.tolist() == [3]


def test_a_revision_against_itself_is_refused():
    with pytest.raises(ValueError):
        bt.pair_counts(np.array([1]), np.array([1]), np.array([1.0]), None, 2)


def test_the_naive_per_battle_loop_gives_the_same_ratings():
    rng = np.random.default_rng(3)
    strengths = rng.normal(0, 1, 5)
    i, j, score = draw_battles(rng, strengths, 800)

    vectorised = bt.fit_leaderboard(bt.pair_counts(i, j, score, None, 5), rounds=0).ratings

    assert np.allclose(bt.to_ratings(bt.naive_fit(i, j, score, 5)), vectorised, atol=1e-6)


def test_the_sequential_test_flags_a_reversed_voter_and_rarely_a_random_one():
    rng = np.random.default_rng(11)
    p = rng.uniform(0.6, 0.9, 80)  # the consensus's probability for the side it favours, per vote

    def voter(agrees):
        return bt.voter_test(np.where(agrees, p, 1 - p))

    honest = [voter(rng.random(80) < p).flagged for _ in range(300)]
    random_voters = [voter(rng.random(80) < 0.5).flagged for _ in range(300)]
    reversed_voter = voter(rng.random(80) > p)

    assert reversed_voter.flagged and reversed_voter.agreement < 0.4 < reversed_voter.expected_agreement
    assert sum(honest) == 0
    assert sum(random_voters) <= 6  # at chance is noise, not "far below chance"


def test_a_voter_who_turns_adversarial_late_is_still_flagged():
    p = np.full(200, 0.8)
    agrees = np.r_[np.ones(150, bool), np.zeros(50, bool)]

    assert bt.voter_test(np.where(agrees, p, 1 - p)).flagged
    assert not bt.voter_test(np.where(agrees[:150], p[:150], 1 - p[:150])).flagged


def test_votes_on_near_even_pairs_are_not_evidence():
    assert bt.voter_test(np.full(500, 0.45)).votes == 0


def test_a_handful_of_votes_never_looks_precise():
    """Resampling one battle always gives the same outcome; the interval is still that of one battle."""
    one = bt.fit_leaderboard(bt.pair_counts(np.array([0]), np.array([1]), np.array([1.0]), None, 2), rounds=200)
    many = bt.fit_leaderboard(
        bt.pair_counts(np.zeros(400, int), np.ones(400, int), np.r_[np.ones(240), np.zeros(160)], None, 2), rounds=200
    )

    assert (one.ci_high - one.ci_low > 600).all()
    assert (many.ci_high - many.ci_low < 100).all()
