"""Bradley–Terry ratings from pairwise battles, with bootstrap intervals; pure numpy, no ORM.

Battles are first aggregated into per-pair outcome counts (i won, tie, j won), so every step after that costs
O(pairs), not O(battles): a million battles between 100 revisions are 4,950 pairs. The bootstrap resamples
each pair's outcomes (a multinomial draw of its battle count), which is the per-battle bootstrap stratified by
pair, and all rounds are fitted at once by batched Newton steps.

Scale: an Elo-like one, 400/ln(10) rating points per unit of log-strength (a 400-point gap is 10:1 odds),
anchored so that the revisions' mean rating is BASE_RATING.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SCALE = 400.0 / math.log(10.0)
BASE_RATING = 1000.0
# A weak Gaussian prior on log-strengths (as if each revision had drawn a fraction of a tie with the
# average): keeps a revision that never lost at a finite rating; negligible once it has a few battles.
PRIOR = 0.05
CHUNK_ROUNDS = 200  # bootstrap rounds fitted together (memory: 5 arrays of rounds x K x K floats)


@dataclass(frozen=True)
class PairCounts:
    """Per unordered pair (first[p] < second[p]): weighted outcome counts and the raw number of battles."""

    size: int  # number of revisions
    first: np.ndarray  # (P,) int
    second: np.ndarray  # (P,) int
    outcomes: np.ndarray  # (P, 3) float: first won, tie, second won (weighted)
    battles: np.ndarray  # (P,) int: battles of the pair, unweighted


def pair_counts(i: np.ndarray, j: np.ndarray, score: np.ndarray, weight: np.ndarray | None, size: int) -> PairCounts:
    """Aggregate battles: i[k] vs j[k] with `score` 1 (i won), 0.5 (tie) or 0 (j won), each weighted."""
    i, j = np.asarray(i, dtype=np.int64), np.asarray(j, dtype=np.int64)
    score = np.asarray(score, dtype=np.float64)
    weight = np.ones_like(score) if weight is None else np.asarray(weight, dtype=np.float64)
    if np.any(i == j):
        raise ValueError("a revision cannot battle itself")
    swap = i > j
    low, high = np.where(swap, j, i), np.where(swap, i, j)
    score = np.where(swap, 1.0 - score, score)  # now from `low`'s side
    outcome = np.where(score > 0.75, 0, np.where(score < 0.25, 2, 1))
    key = low * size + high
    pairs, inverse = np.unique(key, return_inverse=True)
    flat = np.bincount(inverse * 3 + outcome, weights=weight, minlength=3 * len(pairs))
    outcomes = flat.reshape(len(pairs), 3)
    battles = np.bincount(inverse, minlength=len(pairs))
    return PairCounts(size, pairs // size, pairs % size, outcomes, battles)


def _matrices(counts: PairCounts, outcomes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Win and battle matrices, (R, K, K), from outcomes (R, P, 3); a tie is half a win for each side."""
    rounds, size = outcomes.shape[0], counts.size
    wins = np.zeros((rounds, size, size))
    games = np.zeros((rounds, size, size))
    a, b = counts.first, counts.second
    half_tie = 0.5 * outcomes[:, :, 1]
    wins[:, a, b] = outcomes[:, :, 0] + half_tie
    wins[:, b, a] = outcomes[:, :, 2] + half_tie
    total = outcomes.sum(axis=2)
    games[:, a, b] = total
    games[:, b, a] = total
    return wins, games


def _gradient_and_curvature(theta: np.ndarray, total_wins, games, prior: float):
    p = 1.0 / (1.0 + np.exp(theta[:, None, :] - theta[:, :, None]))  # P(i beats j)
    gradient = total_wins - np.einsum("rij,rij->ri", games, p) - prior * theta
    return gradient, p


def _newton_matrix(games: np.ndarray, p: np.ndarray, prior: float) -> np.ndarray:
    """Minus the Hessian of the log-posterior: a weighted graph Laplacian plus the prior, positive definite."""
    v = games * p * (1.0 - p)
    matrix = -v
    index = np.arange(v.shape[1])
    matrix[:, index, index] += v.sum(axis=2) + prior
    return matrix


def _capped(step: np.ndarray, cap: float = 3.0) -> np.ndarray:
    largest = np.abs(step).max(axis=1, keepdims=True)
    return step * np.minimum(1.0, cap / np.maximum(largest, 1e-300))


def fit_strengths(
    wins: np.ndarray,
    games: np.ndarray,
    *,
    prior: float = PRIOR,
    tol: float = 1e-9,
    start: np.ndarray | None = None,
    inverse: np.ndarray | None = None,
) -> np.ndarray:
    """Maximum a-posteriori log-strengths (R, K) for R independent win matrices at once.

    wins[r, i, j]: (weighted) wins of i over j; games[r, i, j]: battles between them. The log-likelihood is
    concave and the prior makes it strictly so. Without `inverse`: Newton steps (capped in size), one batched
    solve each. With `inverse` (the inverse Newton matrix at a nearby solution, K x K) and `start`: chord
    steps that reuse it, which need no linear solve at all; the bootstrap starts every round from the full
    fit, where this converges in a few steps, and rounds that do not are finished by Newton steps.
    """
    rounds, size, _ = wins.shape
    theta = np.zeros((rounds, size)) if start is None else np.array(start, dtype=np.float64)
    total_wins = wins.sum(axis=2)
    if inverse is not None:
        for _ in range(30):
            gradient, _p = _gradient_and_curvature(theta, total_wins, games, prior)
            step = _capped(np.einsum("rk,kl->rl", gradient, inverse))
            theta += step
            if np.abs(step).max() < tol:
                return theta
        left = np.abs(step).max(axis=1) >= tol
        theta[left] = fit_strengths(wins[left], games[left], prior=prior, tol=tol, start=theta[left])
        return theta
    for _ in range(100):
        gradient, p = _gradient_and_curvature(theta, total_wins, games, prior)
        step = _capped(np.linalg.solve(_newton_matrix(games, p, prior), gradient[:, :, None])[:, :, 0])
        theta += step
        if np.abs(step).max() < tol:
            break
    return theta


def newton_inverse(wins: np.ndarray, games: np.ndarray, theta: np.ndarray, *, prior: float = PRIOR) -> np.ndarray:
    """The inverse Newton matrix (K x K) of one win matrix at `theta`, for fit_strengths' chord steps."""
    _gradient, p = _gradient_and_curvature(theta[None], wins.sum(axis=1)[None], games[None], prior)
    return np.linalg.inv(_newton_matrix(games[None], p, prior)[0])


def to_ratings(theta: np.ndarray) -> np.ndarray:
    """Log-strengths to the Elo-like scale, each row anchored at a mean of BASE_RATING."""
    return BASE_RATING + SCALE * (theta - theta.mean(axis=-1, keepdims=True))


def bootstrap_outcomes(counts: PairCounts, rounds: int, rng: np.random.Generator) -> np.ndarray:
    """(rounds, P, 3) resampled outcome counts: each pair's battles redrawn from its own outcome shares, the
    weighted total kept (a multinomial drawn as two binomials, vectorised over rounds and pairs)."""
    totals = counts.outcomes.sum(axis=1)
    safe = np.where(totals > 0, totals, 1.0)
    share = counts.outcomes / safe[:, None]
    n = np.broadcast_to(counts.battles, (rounds, len(totals)))
    first = rng.binomial(n, share[:, 0])
    rest = n - first
    p_tie = np.divide(share[:, 1], 1.0 - share[:, 0], out=np.zeros_like(share[:, 1]), where=share[:, 0] < 1.0)
    tie = rng.binomial(rest, np.clip(p_tie, 0.0, 1.0))
    second = rest - tie
    scale = np.divide(totals, counts.battles, out=np.zeros_like(totals), where=counts.battles > 0)
    return np.stack([first, tie, second], axis=2) * scale[None, :, None]


@dataclass(frozen=True)
class Leaderboard:
    ratings: np.ndarray  # (K,) Elo-like, mean BASE_RATING
    ci_low: np.ndarray  # (K,) 2.5th percentile of the bootstrap
    ci_high: np.ndarray  # (K,) 97.5th percentile
    battles: np.ndarray  # (K,) int, unweighted
    ranks: np.ndarray  # (K,) int, 0 for revisions below the minimum number of battles
    theta: np.ndarray  # (K,) log-strengths, for predictions


def fit_leaderboard(
    counts: PairCounts,
    *,
    rounds: int = 1000,
    min_battles: int = 0,
    seed: int | None = 0,
    prior: float = PRIOR,
    level: float = 0.95,
) -> Leaderboard:
    """Ratings, (level) bootstrap intervals, battle counts and interval-respecting ranks."""
    size = counts.size
    wins, games = _matrices(counts, counts.outcomes[None])
    theta = fit_strengths(wins, games, prior=prior)[0]
    inverse = newton_inverse(wins[0], games[0], theta, prior=prior) if rounds else None
    rng = np.random.default_rng(seed)
    samples = []
    for first in range(0, rounds, CHUNK_ROUNDS):
        chunk = min(CHUNK_ROUNDS, rounds - first)
        outcomes = bootstrap_outcomes(counts, chunk, rng)
        start = np.broadcast_to(theta, (chunk, size))
        fitted = fit_strengths(*_matrices(counts, outcomes), prior=prior, start=start, inverse=inverse)
        samples.append(to_ratings(fitted))
    ratings = to_ratings(theta)
    if samples:
        boot = np.concatenate(samples)
        tail = 100 * (1 - level) / 2
        low, high = np.percentile(boot, [tail, 100 - tail], axis=0)
        # Never narrower than the normal approximation from the curvature: resampling one battle always gives
        # the same outcome, so a bootstrap alone would show a handful of votes as a precise rating.
        spread = _normal_quantile(level) * SCALE * _centred_sd(inverse)
        low, high = np.minimum(low, ratings - spread), np.maximum(high, ratings + spread)
    else:
        low, high = ratings.copy(), ratings.copy()
    battles = np.bincount(counts.first, weights=counts.battles, minlength=size) + np.bincount(
        counts.second, weights=counts.battles, minlength=size
    )
    battles = battles.astype(np.int64)
    return Leaderboard(ratings, low, high, battles, interval_ranks(low, high, battles >= max(min_battles, 1)), theta)


def _centred_sd(inverse: np.ndarray) -> np.ndarray:
    """Standard deviations of log-strengths measured from their mean, from the inverse Newton matrix."""
    size = inverse.shape[0]
    centre = np.eye(size) - 1.0 / size
    return np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", centre, inverse, centre), 0.0))


def _normal_quantile(level: float) -> float:
    """The two-sided standard normal quantile for `level` (1.96 for 0.95), by bisection on erf."""
    low, high = 0.0, 10.0
    for _ in range(80):
        middle = (low + high) / 2
        low, high = (middle, high) if math.erf(middle / math.sqrt(2)) < level else (low, middle)
    return (low + high) / 2


def interval_ranks(low: np.ndarray, high: np.ndarray, ranked: np.ndarray) -> np.ndarray:
    """1 + how many ranked revisions are surely better (their lower bound above this one's upper bound);
    revisions whose intervals overlap share a rank. 0 for the unranked."""
    better = (low[None, :] > high[:, None]) & ranked[None, :]
    return np.where(ranked, 1 + better.sum(axis=1), 0)


def win_probability(theta: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """P(i beats j) under log-strengths theta."""
    return 1.0 / (1.0 + np.exp(theta[j] - theta[i]))


# Voters who disagree with the consensus far beyond chance: Page's sequential test (CUSUM of Wald's
# log-likelihood ratios) of "agrees with the consensus at chance, 1/2" against "agrees at BELOW_CHANCE", over
# the voter's decisive votes in time order, on pairs where the consensus clearly favours one side. It flags
# a voter who turns adversarial late too, and an honest or merely random voter rarely (about 1 in 200 random
# voters of 60 votes, 1 in 20 of 500; honest ones almost never).

BELOW_CHANCE = 0.25
MIN_MARGIN = 0.1  # the consensus must give the favoured side at least 0.6 for a vote to say anything


@dataclass(frozen=True)
class VoterTest:
    statistic: float  # the CUSUM's highest value (flagged at or above the threshold)
    votes: int  # informative votes tested
    agreement: float  # share of them for the side the consensus favours
    expected_agreement: float  # what an honest voter would show on the same pairs
    flagged: bool


def voter_test(p_chosen: np.ndarray, *, alpha: float = 0.001) -> VoterTest:
    """`p_chosen`: the consensus probability of the side this voter picked, one per decisive vote, oldest first.
    Flagged when the statistic reaches log(1 / alpha)."""
    q = np.asarray(p_chosen, dtype=np.float64)
    q = q[np.abs(q - 0.5) >= MIN_MARGIN]
    agree = q > 0.5
    steps = np.where(agree, math.log(BELOW_CHANCE / 0.5), math.log((1 - BELOW_CHANCE) / 0.5))
    # CUSUM: S_k = max(0, S_(k-1) + step_k) = cumsum_k - min(0, min over j <= k of cumsum_j)
    walk = np.cumsum(steps)
    cusum = walk - np.minimum(0.0, np.minimum.accumulate(walk)) if len(walk) else np.zeros(1)
    highest = float(cusum.max())
    return VoterTest(
        statistic=highest,
        votes=len(q),
        agreement=float(agree.mean()) if len(q) else 0.0,
        expected_agreement=float(np.maximum(q, 1 - q).mean()) if len(q) else 0.0,
        flagged=highest >= math.log(1 / alpha),
    )


def naive_fit(i: np.ndarray, j: np.ndarray, score: np.ndarray, size: int, *, prior: float = PRIOR) -> np.ndarray:
    """The same estimate computed battle by battle in Python loops (the benchmark's baseline; also a check)."""
    theta = np.zeros(size)
    for _ in range(100):
        gradient = [-prior * t for t in theta]
        hessian = [[0.0] * size for _ in range(size)]
        for a, b, s in zip(i.tolist(), j.tolist(), score.tolist(), strict=True):
            p = 1.0 / (1.0 + math.exp(theta[b] - theta[a]))
            gradient[a] += s - p
            gradient[b] -= s - p
            v = p * (1 - p)
            hessian[a][a] += v
            hessian[b][b] += v
            hessian[a][b] -= v
            hessian[b][a] -= v
        matrix = np.array(hessian) + prior * np.eye(size)
        step = np.linalg.solve(matrix, np.array(gradient))
        step *= min(1.0, 3.0 / max(np.abs(step).max(), 1e-300))
        theta += step
        if np.abs(step).max() < 1e-9:
            break
    return theta
