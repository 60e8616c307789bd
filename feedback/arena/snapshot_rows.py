"""Battle outcomes as preference pairs for feedback snapshots (feedback.snapshots.build.battle_records)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import groupby

from django.db.models import Q

from feedback.arena.models import Battle, BattleVote, VoterReview


def battle_records(model, filters, pseudonym: Callable[[int, str | None], str]) -> Iterator[dict]:
    """One record per battle on `model` whose decisive votes (a or b) have a majority: the majority's answer
    chosen, the other rejected, the majority's voters as raters. Ties, "both bad", dropped battles, votes of
    people who opted out of training data or whom staff excluded are left out; the snapshot's window, commits,
    hidden-rater and maintainer switches apply to the votes as they do to ratings."""
    votes = (
        BattleVote.objects.filter(battle__status=Battle.Status.READY, winner__in=(Battle.Winner.A, Battle.Winner.B))
        .filter(Q(battle__repository_a=model) | Q(battle__repository_b=model))
        .exclude(user__training_data_opt_out=True)
        .exclude(user__voter_review__status=VoterReview.Status.EXCLUDED)
    )
    if filters.commits:
        votes = votes.filter(battle__commit_a__oid__in=filters.commits, battle__commit_b__oid__in=filters.commits)
    if filters.since:
        votes = votes.filter(created_at__gte=filters.since)
    if filters.until:
        votes = votes.filter(created_at__lt=filters.until)
    if filters.exclude_hidden_raters:
        votes = votes.exclude(user__hidden_rater__isnull=False)
    if not filters.include_maintainers:
        votes = votes.filter(by_member=False)
    rows = votes.order_by("battle_id", "pk").values_list(
        "battle_id",
        "winner",
        "user_id",
        "battle__prompt",
        "battle__generation_a_id",
        "battle__generation_b_id",
        "battle__generation_a__text",
        "battle__generation_b__text",
        "battle__commit_a__oid",
        "battle__commit_b__oid",
    )
    for _battle_id, group in groupby(rows.iterator(chunk_size=2000), key=lambda row: row[0]):
        group = list(group)
        for_a = [row[2] for row in group if row[1] == Battle.Winner.A]
        for_b = [row[2] for row in group if row[1] == Battle.Winner.B]
        _, _, _, prompt, gen_a, gen_b, text_a, text_b, commit_a, commit_b = group[0]
        if len(for_a) == len(for_b) or text_a == text_b:
            continue  # no majority, or nothing to prefer
        chosen, rejected, majority = (text_a, text_b, for_a) if len(for_a) > len(for_b) else (text_b, text_a, for_b)
        total = len(for_a) + len(for_b)
        yield {
            "p": prompt,
            "s": "",
            "battle": {
                "chosen": chosen,
                "rejected": rejected,
                "generation_ids": [str(gen_a), str(gen_b)],
                "rating_ids": [],
                "model_commits": [commit_a, commit_b],
                "raters": [pseudonym(user_id, None) for user_id in majority],
                "agreement": round(len(majority) / total, 6) if total >= 2 else None,
            },
        }
