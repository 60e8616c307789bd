"""Which two revisions battle when the person did not choose: revisions with few battles first, and of
those, pairs whose ratings are close (a close pair's outcome says the most)."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from django.db.models import Exists, OuterRef

from accounts.models import User
from feedback.arena.models import LeaderboardEntry
from models_hub.errors import BadRequest
from models_hub.models import Commit, Ref, Repository, TreeEntry

MAX_CANDIDATES = 1000
RATING_SPREAD = 200.0  # rating points: a pair this far apart is drawn e^-0.5 as often as an even pair


@dataclass(frozen=True)
class Candidate:
    repository: Repository
    commit: Commit
    revision: str  # the branch or tag it was found under


def candidates_for(user: User | None) -> list[Candidate]:
    """Branch and tag heads of the models `user` may run, one per commit, whose files look runnable."""
    runnable = Exists(TreeEntry.objects.filter(commit=OuterRef("commit"), path="config.json")) & Exists(
        TreeEntry.objects.filter(commit=OuterRef("commit"), path__endswith=".safetensors")
    )
    refs = (
        Ref.objects.filter(
            repository__in=Repository.objects.downloadable_by(user).filter(kind=Repository.Kind.MODEL).values("pk")
        )
        .filter(runnable)
        .select_related("repository", "commit")
        .order_by("repository_id", "-kind", "name")[:MAX_CANDIDATES]
    )
    seen: dict[int, Candidate] = {}
    for ref in refs:
        seen.setdefault(ref.commit_id, Candidate(ref.repository, ref.commit, ref.name))
    return list(seen.values())


def pair_sample(user: User | None, *, rng: random.Random | None = None) -> tuple[Candidate, Candidate]:
    """Two revisions for a battle, drawn among those `user` may run (see choose_pair)."""
    pool = candidates_for(user)
    stats = {
        commit_id: (rating, battles)
        for commit_id, rating, battles in LeaderboardEntry.objects.filter(
            fit__scope="", commit_id__in=[c.commit.pk for c in pool]
        ).values_list("commit_id", "rating", "battles")
    }
    return choose_pair(pool, stats, rng or random.SystemRandom())


def choose_pair(
    pool: list[Candidate], stats: dict[int, tuple[float, int]], rng: random.Random
) -> tuple[Candidate, Candidate]:
    """The first revision weighted towards few battles, the second towards few battles and a rating close to
    the first's; both of one model or of models with the same task (pipeline tag). `stats`: commit id ->
    (rating, battles) from the cached leaderboard; a revision without is new (no battles, no rating)."""

    def battles(c: Candidate) -> int:
        return stats.get(c.commit.pk, (0.0, 0))[1]

    def rating(c: Candidate) -> float | None:
        return stats.get(c.commit.pk, (None, 0))[0]

    def opponents(c: Candidate) -> list[Candidate]:
        return [
            o
            for o in pool
            if o.commit.pk != c.commit.pk
            and (o.repository.pk == c.repository.pk or o.repository.pipeline_tag == c.repository.pipeline_tag != "")
        ]

    firsts = [c for c in pool if opponents(c)]
    if not firsts:
        raise BadRequest("The arena needs two revisions that can run (of one model, or two models with the same task).")
    first = rng.choices(firsts, weights=[1 / math.sqrt(1 + battles(c)) for c in firsts])[0]
    rivals = opponents(first)
    weights = []
    for rival in rivals:
        weight = 1 / math.sqrt(1 + battles(rival))
        if rating(first) is not None and rating(rival) is not None:
            weight *= math.exp(-0.5 * ((rating(first) - rating(rival)) / RATING_SPREAD) ** 2)
        weights.append(weight)
    return first, rng.choices(rivals, weights=weights)[0]
