"""Reads for the arena that check who may see what: a battle, the next open battle, pins, the leaderboard."""

from __future__ import annotations

import bisect
import uuid

from django.db.models import Count, F, Q, QuerySet

from accounts.models import User
from feedback.arena.models import ArenaPin, Battle, BattleVote, LeaderboardEntry, LeaderboardFit
from models_hub.errors import NotFound
from models_hub.models import Repository


def _visible_pair(user: User | None) -> Q:
    visible = Repository.objects.visible_to(user).values("pk")
    return Q(repository_a__in=visible) & Q(repository_b__in=visible)


def battle_get_for_user(*, battle_id: str, user: User | None) -> Battle:
    """A battle whose two models `user` can read; anything else is NotFound, as if it did not exist."""
    try:
        pk = uuid.UUID(str(battle_id))
    except ValueError:
        raise NotFound(f"There is no battle '{battle_id}'.") from None
    battle = (
        Battle.objects.filter(_visible_pair(user), pk=pk)
        .select_related("generation_a", "generation_b", "repository_a", "repository_b", "commit_a", "commit_b", "pin")
        .first()
    )
    if battle is None:
        raise NotFound(f"There is no battle '{battle_id}'.")
    return battle


def vote_of(*, battle: Battle, user: User | None) -> BattleVote | None:
    if user is None or not user.is_authenticated:
        return None
    return BattleVote.objects.filter(battle=battle, user=user).first()


def battle_next_for_user(*, user: User) -> Battle | None:
    """An open battle of a pinned comparison `user` has not voted on (fewest votes first), or None."""
    return (
        Battle.objects.filter(
            _visible_pair(user),
            pin__active=True,
            status__in=(Battle.Status.GENERATING, Battle.Status.READY),
        )
        .exclude(votes__user=user)
        .annotate(vote_count=Count("votes"))
        .order_by("vote_count", "created_at")
        .first()
    )


def pins_for_user(user: User | None) -> QuerySet[ArenaPin]:
    return ArenaPin.objects.filter(_visible_pair(user), active=True).select_related("prompt_set")


def pin_get_for_user(*, pin_id, user: User | None) -> ArenaPin:
    pin = pins_for_user(user).filter(pk=pin_id).first() if str(pin_id).isdigit() else None
    if pin is None:
        raise NotFound(f"There is no open comparison {pin_id!r}.")
    return pin


def leaderboard_for_user(*, user: User | None, repo: Repository | None = None) -> tuple[LeaderboardFit | None, list]:
    """The cached leaderboard (overall, or of one model's revisions) with what `user` may see: ranked
    revisions by rank and rating, then the unranked."""
    fit = LeaderboardFit.objects.filter(scope="" if repo is None else str(repo.pk)).first()
    if fit is None:
        return None, []
    entries = list(
        LeaderboardEntry.objects.filter(fit=fit, repository__in=Repository.objects.visible_to(user).values("pk"))
        .select_related("repository", "commit")
        .order_by(F("rank").asc(nulls_last=True), "-rating")
    )
    _rank_among(entries)
    return fit, entries


def _rank_among(entries: list[LeaderboardEntry]) -> None:
    """Rank `entries` among themselves, as the fit ranks (1 + how many are surely better): ranks counted over
    revisions the viewer cannot see would leave gaps that tell a private revision is there, and above whom."""
    ranked = [e for e in entries if e.rank is not None]
    lows = sorted(e.ci_low for e in ranked)
    for entry in ranked:
        entry.rank = 1 + len(lows) - bisect.bisect_right(lows, entry.ci_high)
    entries.sort(key=lambda e: (e.rank is None, e.rank or 0, -e.rating))
