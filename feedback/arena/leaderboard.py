"""Fitting the leaderboard from the votes that count, flagging voters, and the head-to-head of two revisions.

What counts: votes on battles that were open (not dropped or failed), not by a maintainer of either model,
not by a voter staff excluded or a rater staff hid. A tie and "both bad" are half a win each. Battles on a
prompt that many battles share are down-weighted: each distinct prompt weighs at most
FLYWHEEL_ARENA_PROMPT_REPEATS battles in total.
"""

from __future__ import annotations

import time
from array import array
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from feedback.arena.models import Battle, BattleVote, LeaderboardEntry, LeaderboardFit, VoterReview
from feedback.models import HiddenRater
from models_hub.models import Commit

VOTERS_PER_CHUNK = 100  # leave-one-voter-out fits done together (memory: 4 arrays of 100 x K x K floats)
SCORES = {Battle.Winner.A: 1.0, Battle.Winner.B: 0.0, Battle.Winner.TIE: 0.5, Battle.Winner.BOTH_BAD: 0.5}


@dataclass(frozen=True)
class VoteRows:
    """Counted votes as parallel compact arrays (one entry per vote, oldest first)."""

    users: array
    commit_a: array
    commit_b: array
    repo_a: array
    repo_b: array
    scores: array
    weights: array
    left_out: int


def prompt_weights() -> dict[str, float]:
    """The weight of each battle on a prompt that more than FLYWHEEL_ARENA_PROMPT_REPEATS voted battles share
    (case and spacing folded); every other battle weighs 1. One aggregate query, so only repeats are held."""
    repeats = settings.FLYWHEEL_ARENA_PROMPT_REPEATS
    shared = (
        Battle.objects.filter(status=Battle.Status.READY, votes__isnull=False)
        .values("prompt_hash")
        .annotate(n=Count("id", distinct=True))
        .filter(n__gt=repeats)
        .values_list("prompt_hash", "n")
    )
    return {prompt: repeats / n for prompt, n in shared}


def counted_votes(extra: Q | None = None) -> VoteRows:
    """Every vote that counts, with its prompt-repeat weight; `extra` narrows the battles (a pair). Streamed
    into typed arrays: a million votes take tens of megabytes, not a list of tuples."""
    votes = BattleVote.objects.filter(battle__status=Battle.Status.READY)
    if extra is not None:
        votes = votes.filter(extra)
    votes = votes.order_by("created_at", "pk")  # the voter test reads each voter's votes oldest first
    excluded = set(VoterReview.objects.filter(status=VoterReview.Status.EXCLUDED).values_list("user_id", flat=True))
    excluded |= set(HiddenRater.objects.values_list("user_id", flat=True))
    weights_of = prompt_weights()
    columns = {name: array("q") for name in ("users", "commit_a", "commit_b", "repo_a", "repo_b")}
    scores, weights, left_out = array("d"), array("d"), 0
    rows = votes.values_list(
        "user_id",
        "winner",
        "by_member",
        "battle__prompt_hash",
        "battle__commit_a_id",
        "battle__commit_b_id",
        "battle__repository_a_id",
        "battle__repository_b_id",
    )
    for user, winner, by_member, prompt, commit_a, commit_b, repo_a, repo_b in rows.iterator(chunk_size=10_000):
        if by_member or user in excluded:
            left_out += 1
            continue
        for name, value in zip(columns, (user, commit_a, commit_b, repo_a, repo_b), strict=True):
            columns[name].append(value)
        scores.append(SCORES[winner])
        weights.append(weights_of.get(prompt, 1.0))
    return VoteRows(**columns, scores=scores, weights=weights, left_out=left_out)


def leaderboard_refit(*, rounds: int | None = None, seed: int | None = None) -> dict[str, int]:
    """Refit the overall leaderboard and each model's own (battles between its revisions), store them, and
    flag voters; returns {scope: revisions}. Safe to run twice or at once: each scope is replaced in one
    transaction under a row lock."""
    import numpy as np

    from feedback.arena import bradley_terry as bt

    rounds = settings.FLYWHEEL_ARENA_BOOTSTRAP_ROUNDS if rounds is None else rounds
    votes = counted_votes()
    fitted: dict[str, int] = {}
    repo_a, repo_b = np.asarray(votes.repo_a, dtype=np.int64), np.asarray(votes.repo_b, dtype=np.int64)
    scopes = {"": np.arange(len(repo_a))}
    within = np.flatnonzero(repo_a == repo_b)  # battles between one model's revisions: that model's own board
    for repo in np.unique(repo_a[within]):
        scopes[str(int(repo))] = within[repo_a[within] == repo]
    overall = None
    for scope, pick in scopes.items():
        started = time.perf_counter()
        commits_a = np.asarray(votes.commit_a, dtype=np.int64)[pick]
        commits_b = np.asarray(votes.commit_b, dtype=np.int64)[pick]
        commit_ids, inverse = np.unique(np.concatenate([commits_a, commits_b]), return_inverse=True)
        if len(commit_ids) < 2:
            continue
        i, j = inverse[: len(pick)], inverse[len(pick) :]
        counts = bt.pair_counts(i, j, np.asarray(votes.scores)[pick], np.asarray(votes.weights)[pick], len(commit_ids))
        board = bt.fit_leaderboard(counts, rounds=rounds, min_battles=settings.FLYWHEEL_ARENA_MIN_BATTLES, seed=seed)
        _store(scope, commit_ids, board, len(pick), votes.left_out if scope == "" else 0, rounds, started)
        fitted[scope] = len(commit_ids)
        if scope == "":
            overall = (commit_ids, board, i, j, pick)
    LeaderboardFit.objects.exclude(scope__in=list(fitted)).delete()
    if overall is not None:
        voters_flag(votes, *overall)
    return fitted


def _store(scope, commit_ids, board, votes: int, left_out: int, rounds: int, started: float) -> None:
    repos = dict(Commit.objects.filter(pk__in=commit_ids.tolist()).values_list("pk", "repository_id"))
    with transaction.atomic():
        fit, _ = LeaderboardFit.objects.select_for_update().get_or_create(
            scope=scope, defaults={"computed_at": timezone.now()}
        )
        fit.entries.all().delete()
        LeaderboardEntry.objects.bulk_create(
            [
                LeaderboardEntry(
                    fit=fit,
                    repository_id=repos[int(commit_id)],
                    commit_id=int(commit_id),
                    rating=float(board.ratings[k]),
                    ci_low=float(board.ci_low[k]),
                    ci_high=float(board.ci_high[k]),
                    rank=int(board.ranks[k]) or None,
                    battles=int(board.battles[k]),
                )
                for k, commit_id in enumerate(commit_ids)
                if int(commit_id) in repos
            ]
        )
        fit.computed_at = timezone.now()
        fit.votes, fit.votes_left_out, fit.rounds = votes, left_out, rounds
        fit.seconds = round(time.perf_counter() - started, 3)
        fit.save()


def voters_flag(votes: VoteRows, commit_ids, board, i, j, pick) -> list[int]:
    """Test each voter with enough decisive votes against the consensus fitted WITHOUT their own votes (so a
    prolific adversary cannot drag the consensus towards themselves); flag those the test rejects. Voters
    staff already cleared or excluded are left alone. Returns the ids of the voters flagged now."""
    import numpy as np

    from feedback.arena import bradley_terry as bt

    scores = np.asarray(votes.scores)[pick]
    weights = np.asarray(votes.weights)[pick]
    users = np.asarray(votes.users, dtype=np.int64)[pick]
    decisive = scores != 0.5
    user_ids, per_user = np.unique(users[decisive], return_counts=True)
    reviewed = set(VoterReview.objects.exclude(status=VoterReview.Status.FLAGGED).values_list("user_id", flat=True))
    tested = [int(u) for u, n in zip(user_ids, per_user, strict=True) if n >= settings.FLYWHEEL_ARENA_VOTER_MIN_VOTES]
    tested = [u for u in tested if u not in reviewed]
    if not tested:
        return []
    size = len(commit_ids)
    full = bt.pair_counts(i, j, scores, weights, size)
    wins, games = bt._matrices(full, full.outcomes[None])
    # Leaving one voter out moves the fit a little: chord steps from the full fit, with its inverse Newton matrix.
    inverse = bt.newton_inverse(wins[0], games[0], board.theta)
    order = np.argsort(users, kind="stable")  # each voter's votes together, still oldest first
    starts = np.searchsorted(users[order], tested)
    ends = np.searchsorted(users[order], tested, side="right")
    flagged = []
    now = timezone.now()
    for first in range(0, len(tested), VOTERS_PER_CHUNK):
        chunk = range(first, min(first + VOTERS_PER_CHUNK, len(tested)))
        own = [order[starts[k] : ends[k]] for k in chunk]
        own_wins, own_games = np.zeros((len(own), size, size)), np.zeros((len(own), size, size))
        for row, mine in enumerate(own):
            theirs = bt.pair_counts(i[mine], j[mine], scores[mine], weights[mine], size)
            w, g = bt._matrices(theirs, theirs.outcomes[None])
            own_wins[row], own_games[row] = w[0], g[0]
        start = np.broadcast_to(board.theta, (len(own), size))
        theta = bt.fit_strengths(wins - own_wins, games - own_games, start=start, inverse=inverse)
        for row, (k, mine) in enumerate(zip(chunk, own, strict=True)):
            mine = mine[decisive[mine]]
            p_a = bt.win_probability(theta[row], i[mine], j[mine])
            result = bt.voter_test(np.where(scores[mine] == 1.0, p_a, 1 - p_a))
            stats = {
                "log_likelihood_ratio": result.statistic,
                "votes_tested": result.votes,
                "agreement": result.agreement,
                "expected_agreement": result.expected_agreement,
            }
            if result.flagged:
                VoterReview.objects.update_or_create(
                    user_id=tested[k], defaults=stats, create_defaults={**stats, "flagged_at": now}
                )
                flagged.append(tested[k])
            else:
                VoterReview.objects.filter(user_id=tested[k], status=VoterReview.Status.FLAGGED).update(**stats)
    return flagged


@dataclass(frozen=True)
class HeadToHead:
    """`new` against `old` from the battles between exactly these two commits."""

    battles: int
    wins: int
    ties: int
    losses: int
    difference: float | None  # rating points, new minus old
    ci_low: float | None
    ci_high: float | None
    enough: bool  # at least FLYWHEEL_ARENA_MIN_BATTLES battles

    @property
    def recommend(self) -> bool:
        """People prefer `new`: enough battles and the whole 95% interval above zero ("no better" excluded)."""
        return self.enough and self.ci_low is not None and self.ci_low > 0

    def as_evidence(self) -> dict:
        return {
            "battles": self.battles,
            "wins": self.wins,
            "ties": self.ties,
            "losses": self.losses,
            "rating_difference": self.difference,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "recommend": self.recommend,
        }


def head_to_head(*, new: Commit, old: Commit, rounds: int = 1000, seed: int | None = 0) -> HeadToHead:
    import numpy as np

    from feedback.arena import bradley_terry as bt

    pair = Q(battle__commit_a=new, battle__commit_b=old) | Q(battle__commit_a=old, battle__commit_b=new)
    votes = counted_votes(pair)
    new_side = np.asarray(votes.commit_a, dtype=np.int64) == new.pk
    score_new = np.where(new_side, votes.scores, 1 - np.asarray(votes.scores, dtype=float))
    n = len(score_new)
    wins, ties = int((score_new == 1).sum()), int((score_new == 0.5).sum())
    enough = n >= settings.FLYWHEEL_ARENA_MIN_BATTLES
    if n == 0:
        return HeadToHead(0, 0, 0, 0, None, None, None, False)
    counts = bt.pair_counts(np.zeros(n, int), np.ones(n, int), score_new, np.asarray(votes.weights), 2)
    board = bt.fit_leaderboard(counts, rounds=rounds, seed=seed)
    # Two revisions anchored at a mean of BASE_RATING: new = BASE + difference / 2 in every bootstrap round.
    half = board.ratings[0] - bt.BASE_RATING
    return HeadToHead(
        n,
        wins,
        ties,
        n - wins - ties,
        round(float(2 * half), 1),
        round(float(2 * (board.ci_low[0] - bt.BASE_RATING)), 1),
        round(float(2 * (board.ci_high[0] - bt.BASE_RATING)), 1),
        enough,
    )
