"""Arena leaderboard fit: Bradley–Terry ratings with 1,000 bootstrap rounds over 1,000,000 battles between 100
revisions, against a naive per-battle loop measured in the same run.

What is timed (feedback.arena.bradley_terry, the code the refit task runs, no database):
  aggregate   battles -> per-pair outcome counts (np.unique + bincount)
  fit         the maximum-likelihood ratings plus 1,000 bootstrap rounds (per-pair multinomial resampling,
              all rounds fitted by batched Newton steps) and the interval-respecting ranks
Baseline: `naive_fit`, the same estimate computed battle by battle in Python loops, timed on a sample
(BENCH_LEADERBOARD_SAMPLE battles, one fit); its cost grows with battles x rounds, so the full job's naive time
is extrapolated from the sample: per-battle-per-fit seconds x battles x (1 + rounds). Both ratios are printed:
against the extrapolated naive job, and against the vectorised fit of the same sample.
Target: the full fit (aggregate + fit) <= 30 s on this machine's cores.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

from feedback.arena import bradley_terry as bt

TARGET_SECONDS = 30.0


def synthetic(rng: np.random.Generator, size: int, battles: int):
    strengths = rng.normal(0, 0.8, size)
    i = rng.integers(0, size, battles)
    j = (i + rng.integers(1, size, battles)) % size
    p = bt.win_probability(strengths, i, j)
    # Ties that keep each battle's expected score at p (a tie is half a win), so the truth is the model's.
    tie = 0.2 * np.minimum(p, 1 - p)
    win = (p - tie / 2) / (1 - tie)
    score = np.where(rng.random(battles) < tie, 0.5, np.where(rng.random(battles) < win, 1.0, 0.0))
    return strengths, i, j, score


def main() -> int:
    battles = int(os.environ.get("BENCH_LEADERBOARD_BATTLES", 1_000_000))
    size = int(os.environ.get("BENCH_LEADERBOARD_REVISIONS", 100))
    rounds = int(os.environ.get("BENCH_LEADERBOARD_ROUNDS", 1000))
    sample = int(os.environ.get("BENCH_LEADERBOARD_SAMPLE", 20_000))
    rng = np.random.default_rng(0)
    strengths, i, j, score = synthetic(rng, size, battles)
    print(f"{battles:,} battles, {size} revisions, {rounds:,} bootstrap rounds, {os.cpu_count()} cores")

    started = time.perf_counter()
    counts = bt.pair_counts(i, j, score, None, size)
    aggregated = time.perf_counter()
    board = bt.fit_leaderboard(counts, rounds=rounds, min_battles=10, seed=1)
    finished = time.perf_counter()
    total = finished - started
    print(
        f"  vectorised: aggregate {aggregated - started:6.2f} s, fit + bootstrap {finished - aggregated:6.2f} s, total {total:6.2f} s"
    )
    truth = bt.to_ratings(strengths)
    covered = float(np.mean((board.ci_low <= truth) & (truth <= board.ci_high)))
    print(
        f"  check: rating error max {np.abs(board.ratings - truth).max():.1f} points, "
        f"95% intervals cover {covered:.0%} of the true ratings, mean width {np.mean(board.ci_high - board.ci_low):.1f}"
    )

    si, sj, ss = i[:sample], j[:sample], score[:sample]
    t0 = time.perf_counter()
    naive = bt.naive_fit(si, sj, ss, size)
    naive_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    same = bt.fit_leaderboard(bt.pair_counts(si, sj, ss, None, size), rounds=0)
    vector_sample_seconds = time.perf_counter() - t0
    agree = np.abs(bt.to_ratings(naive) - same.ratings).max()
    extrapolated = naive_seconds / sample * battles * (1 + rounds)
    print(
        f"  naive per-battle loop: {naive_seconds:6.2f} s for one fit of {sample:,} battles "
        f"(vectorised, same sample: {vector_sample_seconds:.3f} s, {naive_seconds / vector_sample_seconds:,.0f}x; "
        f"ratings agree within {agree:.1e})"
    )
    print(
        f"  naive, extrapolated to {battles:,} battles x {1 + rounds:,} fits: {extrapolated:,.0f} s "
        f"({extrapolated / 3600:,.1f} h) -> vectorised is {extrapolated / total:,.0f}x faster"
    )
    met = total <= TARGET_SECONDS
    print(f"  target: total <= {TARGET_SECONDS:.0f} s: {'met' if met else 'NOT met'} ({total:.2f} s)")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
