"""Rating outputs through the REST API: one rating per person per output, changed in place, never duplicated."""

from __future__ import annotations

import json
import threading

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.models import Membership, Organization
from accounts.services import token_create
from conftest import client_for, make_commit, make_repo, make_user
from feedback.models import HiddenRater, Rating
from feedback.services import rater_hide
from inference.models import Generation
from inference.tests.conftest import make_model_repo

pytestmark = pytest.mark.django_db


def finished_generation(*, user, repo, text: str = "A story.", source: str = "api") -> Generation:
    """A generation as the worker leaves it (the worker itself is exercised in inference/tests)."""
    from django.utils import timezone

    commit = repo.refs.get(name="main").commit
    now = timezone.now()
    return Generation.objects.create(
        user=user,
        repository=repo,
        commit=commit,
        revision="main",
        source=source,
        prompt="Once",
        text=text,
        status="done",
        max_new_tokens=8,
        temperature=0.8,
        top_p=1.0,
        top_k=0,
        repetition_penalty=1.0,
        seed=1,
        created_at=now,
        finished_at=now,
    )


def put(client, generation, body: dict):
    return client.put(f"/api/v1/generations/{generation.pk}/rating", json.dumps(body), content_type="application/json")


@pytest.fixture
def model(alice, tiny_model_files):
    return make_model_repo(owner=alice, files=tiny_model_files)


def test_rating_twice_changes_the_rating_instead_of_adding_one(model, bob):
    generation = finished_generation(user=bob, repo=model)
    client = client_for(bob)

    first = put(client, generation, {"thumb": "up", "stars": 4, "tags": ["helpful"], "correction": "Better."})
    second = put(client, generation, {"thumb": "down", "tags": ["incorrect", "too-long"]})

    assert first.status_code == 200 and first.json()["created"] is True
    assert second.status_code == 200 and second.json()["created"] is False
    rating = Rating.objects.get()
    assert (rating.thumb, rating.stars, rating.tags, rating.correction) == ("down", None, ["incorrect", "too-long"], "")
    assert client.get(f"/api/v1/generations/{generation.pk}/rating").json()["thumb"] == "down"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"thumb": "sideways"}, "'thumb'"),
        ({"stars": 6}, "'stars'"),
        ({"stars": "five"}, "'stars'"),
        ({"tags": ["brilliant"]}, "Unknown tag 'brilliant'"),
        ({"tags": "helpful"}, "'tags'"),
        ({}, "A rating needs at least"),
        ({"thumb": "up", "comment": "x" * 20_001}, "'comment' is too long"),
        ({"thumb": "up", "comment": "a\x00b"}, "'comment': Null characters are not allowed"),  # PostgreSQL refuses them
        ({"thumb": "up", "correction": "\x00"}, "'correction': Null characters are not allowed"),
        ({"thumb": "up", "tags": ["help\x00ful"]}, "'tags' item 1: Null characters are not allowed"),
    ],
)
def test_bad_ratings_are_refused_with_a_reason(model, bob, body, message):
    generation = finished_generation(user=bob, repo=model)

    response = put(client_for(bob), generation, body)

    assert response.status_code == 400
    assert message in response.json()["error"]
    assert not Rating.objects.exists()


def test_outputs_you_cannot_see_cannot_be_rated(model, bob, charlie):
    generation = finished_generation(user=bob, repo=model)

    assert put(client_for(charlie), generation, {"thumb": "up"}).status_code == 404
    assert (
        put(client_for(bob), Generation(pk="00000000-0000-0000-0000-000000000000"), {"thumb": "up"}).status_code == 404
    )
    assert put(client_for(), generation, {"thumb": "up"}).status_code == 401


def test_outputs_generated_for_the_rating_queue_can_be_rated_by_anyone_who_sees_the_model(model, bob, charlie):
    generation = finished_generation(user=bob, repo=model, source="batch")

    assert put(client_for(charlie), generation, {"thumb": "up"}).status_code == 200


def test_an_unfinished_output_cannot_be_rated(model, bob):
    generation = finished_generation(user=bob, repo=model)
    Generation.objects.filter(pk=generation.pk).update(status="running")

    response = put(client_for(bob), generation, {"thumb": "up"})

    assert response.status_code == 400 and "running" in response.json()["error"]


def test_ratings_by_the_models_maintainers_are_marked_and_left_out_of_statistics(model, alice, bob):
    generation = finished_generation(user=alice, repo=model, source="batch")
    put(client_for(alice), generation, {"thumb": "up"})
    put(client_for(bob), generation, {"thumb": "down"})

    assert Rating.objects.get(user=alice).by_maintainer is True
    assert list(Rating.objects.counted().values_list("user__username", flat=True)) == ["bob"]


def test_a_hidden_raters_ratings_are_kept_but_not_counted(model, alice, bob):
    generation = finished_generation(user=bob, repo=model)
    put(client_for(bob), generation, {"thumb": "up"})

    rater_hide(user=bob, staff=alice, reason="spam")

    assert Rating.objects.count() == 1 and not Rating.objects.counted().exists()
    assert HiddenRater.objects.get().reason == "spam"


def test_the_rating_rate_limit_answers_429_with_retry_after(model, bob, settings):
    settings.FLYWHEEL_RATINGS_PER_MINUTE = 2
    generation = finished_generation(user=bob, repo=model)
    client = client_for(bob)

    statuses = [put(client, generation, {"thumb": "up"}) for _ in range(3)]

    assert [r.status_code for r in statuses] == [200, 200, 429]
    assert 1 <= int(statuses[2]["Retry-After"]) <= 60


@pytest.mark.django_db(transaction=True)
def test_twenty_raters_at_once_leave_exactly_one_rating_each(model):
    """Concurrent PUTs (each person twice at the same moment) on the configured database: no duplicates, none lost."""
    raters = [make_user(f"rater{i}") for i in range(20)]
    generation = finished_generation(user=raters[0], repo=model, source="batch")
    start = threading.Barrier(40)
    statuses: list[int] = []

    def rate(user, thumb: str) -> None:
        try:
            client = client_for(user)
            start.wait()
            statuses.append(put(client, generation, {"thumb": thumb}).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=rate, args=(u, t)) for u in raters for t in ("up", "down")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert statuses.count(200) == 40, statuses
    assert Rating.objects.filter(generation=generation).count() == 20
    assert set(Rating.objects.values_list("user__username", flat=True)) == {u.username for u in raters}


def test_a_batch_output_of_a_private_model_cannot_be_rated_by_who_cannot_see_the_model(alice, bob, tiny_model_files):
    private = make_model_repo(owner=alice, files=tiny_model_files, name="secret", private=True)
    generation = finished_generation(user=alice, repo=private, source="batch")

    assert put(client_for(bob), generation, {"thumb": "up"}).status_code == 404
    assert put(client_for(alice), generation, {"thumb": "up"}).status_code == 200
    assert list(Rating.objects.values_list("user__username", flat=True)) == ["alice"]


def test_changing_a_rating_through_the_api_costs_at_most_four_statements(model, alice, bob):
    """Token lookup, the output, and the write (one upsert on PostgreSQL; a locked read and an update elsewhere):
    no visibility query for a public model, no tag list for an untagged rating. Savepoints are not counted."""
    generation = finished_generation(user=alice, repo=model, source="batch")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token_create(user=bob, name='t', scope='write').secret}")
    put(client, generation, {"thumb": "up"})  # also records when the token was last used

    with CaptureQueriesContext(connection) as queries:
        response = put(client, generation, {"thumb": "down", "stars": 2, "comment": "Too short."})

    statements = [q["sql"] for q in queries.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    assert response.status_code == 200 and response.json()["created"] is False, response.content
    # PostgreSQL: the token, then one INSERT ... SELECT that checks the output and writes the rating.
    assert len(statements) <= (2 if connection.vendor == "postgresql" else 4), statements
    rating = Rating.objects.get()
    assert (rating.thumb, rating.stars, rating.comment, rating.user) == ("down", 2, "Too short.", bob)
    assert response.json()["updated_at"] == rating.updated_at.isoformat().replace("+00:00", "Z")


def test_an_organisation_members_rating_of_its_model_is_marked_as_by_a_maintainer(
    alice, bob, charlie, tiny_model_files
):
    org = Organization.objects.create(name="lab")
    Membership.objects.create(organization=org, user=alice, role=Membership.Role.ADMIN)
    Membership.objects.create(organization=org, user=bob, role=Membership.Role.READ)
    repo = make_repo(owner=alice, name="shared", namespace="lab")
    make_commit(repo=repo, author=alice, files=tiny_model_files, title="Add the model")
    generation = finished_generation(user=alice, repo=repo, source="batch")

    for user in (bob, charlie):
        assert put(client_for(user), generation, {"thumb": "up"}).json()["by_maintainer"] is (user == bob)

    assert dict(Rating.objects.values_list("user__username", "by_maintainer")) == {"bob": True, "charlie": False}


def test_a_private_models_queue_output_can_be_rated_by_an_organisation_reader(alice, bob, charlie, tiny_model_files):
    """Readers of a private model through its organisation pass the slow path's visibility query."""
    org = Organization.objects.create(name="lab")
    Membership.objects.create(organization=org, user=alice, role=Membership.Role.ADMIN)
    Membership.objects.create(organization=org, user=bob, role=Membership.Role.READ)
    repo = make_repo(owner=alice, name="secret", namespace="lab", private=True)
    make_commit(repo=repo, author=alice, files=tiny_model_files, title="Add the model")
    generation = finished_generation(user=alice, repo=repo, source="batch")

    assert put(client_for(bob), generation, {"thumb": "up"}).status_code == 200
    assert put(client_for(charlie), generation, {"thumb": "up"}).status_code == 404
    assert list(Rating.objects.values_list("user__username", flat=True)) == ["bob"]


@pytest.mark.parametrize("generation_id", ["not-an-id", "00000000-0000-0000-0000-000000000000"])
def test_rating_an_output_that_does_not_exist_answers_404(bob, generation_id):
    response = Client().put(
        f"/api/v1/generations/{generation_id}/rating",
        json.dumps({"thumb": "up"}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token_create(user=bob, name='t', scope='write').secret}",
    )

    assert response.status_code == 404 and "There is no generation" in response.json()["error"]
    assert not Rating.objects.exists()
