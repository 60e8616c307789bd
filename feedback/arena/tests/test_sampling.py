"""Which revisions battle when nobody chose: few battles first, close ratings together."""

from __future__ import annotations

import random

import pytest
from django.utils import timezone

from conftest import make_commit
from feedback.arena.models import LeaderboardEntry, LeaderboardFit
from feedback.arena.sampling import candidates_for, choose_pair, pair_sample
from models_hub.services.refs import branch_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def three(model, alice):
    branch_create(repo=model, name="exp", start_revision="main")
    make_commit(repo=model, author=alice, files={"notes.txt": b"exp"}, title="exp", branch="exp")
    return [model.refs.get(name=name).commit for name in ("v1", "main", "exp")]


def cached(model, commits, ratings, battles) -> None:
    fit = LeaderboardFit.objects.create(scope="", computed_at=timezone.now())
    for commit, rating, count in zip(commits, ratings, battles, strict=True):
        LeaderboardEntry.objects.create(
            fit=fit, repository=model, commit=commit, rating=rating, ci_low=rating, ci_high=rating, battles=count
        )


def draws(user, n: int = 400) -> list[frozenset]:
    """n draws with the pool and the cached ratings read once, as pair_sample reads them for each battle."""
    pool = candidates_for(user)
    stats = {e.commit_id: (e.rating, e.battles) for e in LeaderboardEntry.objects.all()}
    rng = random.Random(4)
    assert frozenset(c.commit.pk for c in pair_sample(user, rng=rng)) <= {c.commit.pk for c in pool}
    return [frozenset((a.commit.pk, b.commit.pk)) for a, b in (choose_pair(pool, stats, rng) for _ in range(n))]


def test_revisions_with_few_battles_are_drawn_more(model, three, bob):
    cached(model, three, [1000, 1000, 1000], [10_000, 0, 0])

    pairs = draws(bob)

    assert sum(three[0].pk in p for p in pairs) < 0.2 * len(pairs)
    assert all(len(p) == 2 for p in pairs)


def test_revisions_with_close_ratings_are_paired_more(model, three, bob):
    cached(model, three, [1000, 1010, 1800], [100, 100, 100])

    pairs = draws(bob)

    assert pairs.count(frozenset((three[0].pk, three[1].pk))) > 0.55 * len(pairs)
