"""Fitting the leaderboard from the votes that count, flagging voters, and the head-to-head of two revisions.

What counts: votes on battles that were open (not dropped or failed), not by a maintainer of either model,
not by a voter staff excluded or a rater staff hid. A tie and "both bad" are half a win each. Battles on a
prompt that many battles share are down-weighted: each distinct prompt weighs at most
FLYWHEEL_ARENA_PROMPT_REPEATS battles in total.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from feedback.arena.models import Battle, BattleVote, LeaderboardEntry, LeaderboardFit, VoterReview
from feedback.models import HiddenRater
from models_hub.models import Commit

SCORES = {Battle.Winner.A: 1.0, Battle.Winner.B: 0.0, Battle.Winner.TIE: 0.5, Battle.Winner.BOTH_BAD: 0.5}


@dataclass(frozen=True)
class VoteRows:
    """Counted votes as parallel lists (one entry per vote)."""

    users: list[int]
    commit_a: list[int]
    commit_b: list[int]
    repo_a: list[int]
    repo_b: list[int]
    scores: list[float]
    weights: list[float]
    left_out: int


def counted_votes(extra: Q | None = None) -> VoteRows:
    """Every vote that counts, with its prompt-repeat weight; `extra` narrows the battles (a pair)."""
    votes = BattleVote.objects.filter(battle__status=Battle.Status.READY)
    if extra is not None:
        votes = votes.filter(extra)
    votes = votes.order_by("created_at", "pk")  # the voter test reads each voter's votes oldest first
    excluded = set(VoterReview.objects.filter(status=VoterReview.Status.EXCLUDED).values_list("user_id", flat=True))
    excluded |= set(HiddenRater.objects.values_list("user_id", flat=True))
    rows = list(
        votes.values_list(
            "user_id",
            "winner",
            "by_member",
            "battle_id",
            "battle__prompt_hash",
            "battle__commit_a_id",
            "battle__commit_b_id",
            "battle__repository_a_id",
            "battle__repository_b_id",
        ).iterator(chunk_size=10_000)
    )
    kept = [r for r in rows if not r[2] and r[0] not in excluded]
    battles_per_prompt: dict[str, set] = defaultdict(set)
    for row in kept:
        battles_per_prompt[row[4]].add(row[3])
    repeats = settings.FLYWHEEL_ARENA_PROMPT_REPEATS
    return VoteRows(
        users=[r[0] for r in kept],
        commit_a=[r[5] for r in kept],
        commit_b=[r[6] for r in kept],
        repo_a=[r[7] for r in kept],
        repo_b=[r[8] for r in kept],
        scores=[SCORES[r[1]] for r in kept],
        weights=[min(1.0, repeats / len(battles_per_prompt[r[4]])) for r in kept],
        left_out=len(rows) - len(kept),
    )


def leaderboard_refit(*, rounds: int | None = None, seed: int | None = None) -> dict[str, int]:
    """Refit the overall leaderboard and each model's own (battles between its revisions), store them, and
    flag voters; returns {scope: revisions}. Safe to run twice or at once: each scope is replaced in one
    transaction under a row lock."""
    import numpy as np

    from feedback.arena import bradley_terry as bt

    rounds = settings.FLYWHEEL_ARENA_BOOTSTRAP_ROUNDS if rounds is None else rounds
    votes = counted_votes()
    fitted: dict[str, int] = {}
    scopes: dict[str, list[int]] = {"": list(range(len(votes.users)))}
    for index, (a, b) in enumerate(zip(votes.repo_a, votes.repo_b, strict=True)):
        if a == b:
            scopes.setdefault(str(a), []).append(index)
    overall = None
    for scope, indexes in scopes.items():
        started = time.perf_counter()
        pick = np.asarray(indexes, dtype=np.int64)
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
    own_wins, own_games = np.zeros((len(tested), size, size)), np.zeros((len(tested), size, size))
    for row, user in enumerate(tested):
        mine = users == user
        theirs = bt.pair_counts(i[mine], j[mine], scores[mine], weights[mine], size)
        w, g = bt._matrices(theirs, theirs.outcomes[None])
        own_wins[row], own_games[row] = w[0], g[0]
    theta = bt.fit_strengths(wins - own_wins, games - own_games)
    flagged = []
    now = timezone.now()
    for row, user in enumerate(tested):
        mine = (users == user) & decisive
        p_a = bt.win_probability(theta[row], i[mine], j[mine])
        p_chosen = np.where(scores[mine] == 1.0, p_a, 1 - p_a)
        result = bt.voter_test(p_chosen)
        stats = {
            "log_likelihood_ratio": result.statistic,
            "votes_tested": result.votes,
            "agreement": result.agreement,
            "expected_agreement": result.expected_agreement,
        }
        if result.flagged:
            _, created = VoterReview.objects.update_or_create(
                user_id=user, defaults=stats, create_defaults={**stats, "flagged_at": now}
            )
            flagged.append(user)
        else:
            VoterReview.objects.filter(user_id=user, status=VoterReview.Status.FLAGGED).update(**stats)
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
    new_side = np.asarray([a == new.pk for a in votes.commit_a], dtype=bool)
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
