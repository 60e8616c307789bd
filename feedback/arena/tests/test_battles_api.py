"""Battles through the REST API: start, read blind, vote once, reveal; every refusal with its status and reason."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime

import pytest
import time_machine
from django.db import connection

from accounts.models import Membership, Organization
from conftest import client_for, make_commit, make_repo, make_user
from feedback.arena import services
from feedback.arena.models import Battle, BattleVote, LeaderboardFit
from feedback.arena.tests.conftest import finish, two_revision_model
from inference.tests.conftest import make_model_repo
from models_hub.services.refs import tag_create
from tests.conftest import wait_for

pytestmark = pytest.mark.django_db


def post(client, path: str, body: dict):
    return client.post(path, json.dumps(body), content_type="application/json")


def start(client, **body) -> str:
    response = post(client, "/api/v1/battles", {"prompt": "Once upon a time", **body})
    assert response.status_code == 202, response.content
    return response.json()["id"]


def ready_battle(client, model) -> Battle:
    battle = Battle.objects.get(pk=start(client, models=["alice/tiny@v1", "alice/tiny"]))
    finish(battle)
    return battle


def test_starting_a_battle_queues_two_outputs_on_the_two_commits(model, bob):
    client = client_for(bob)

    response = post(
        client, "/api/v1/battles", {"prompt": "Once upon a time", "models": ["alice/tiny@v1", "alice/tiny"]}
    )

    assert response.status_code == 202 and set(response.json()) >= {"id", "status"}
    battle = Battle.objects.get(pk=response.json()["id"])
    v1, main = model.refs.get(name="v1").commit, model.refs.get(name="main").commit
    assert {battle.commit_a, battle.commit_b} == {v1, main}
    assert battle.generation_a.commit == battle.commit_a and battle.generation_b.commit == battle.commit_b
    assert battle.generation_a.seed == battle.generation_b.seed and battle.status == "generating"


def test_reading_shows_both_outputs_without_names_and_the_vote_reveals_them(model, bob):
    client = client_for(bob)
    battle = ready_battle(client, model)

    body = client.get(f"/api/v1/battles/{battle.pk}").json()

    assert body["status"] == "ready" and body["a"]["text"] == "The cat sat." and body["b"]["text"] == "A dog ran."
    assert "alice" not in json.dumps(body) and "tiny" not in json.dumps(body)
    assert battle.commit_a.oid not in json.dumps(body) and battle.commit_b.oid not in json.dumps(body)

    vote = post(client, f"/api/v1/battles/{battle.pk}/vote", {"winner": "a"})

    assert vote.status_code == 200, vote.content
    revealed = vote.json()
    assert revealed["winner"] == "a" and revealed["counted"] is True
    assert revealed["a"]["model"] == "alice/tiny" and revealed["a"]["commit"] == battle.commit_a.oid
    assert revealed["b"]["commit"] == battle.commit_b.oid
    assert {revealed["a"]["revision"], revealed["b"]["revision"]} == {"v1", "main"}
    assert client.get(f"/api/v1/battles/{battle.pk}").json()["b"]["commit"] == battle.commit_b.oid


def test_a_second_vote_by_the_same_person_is_a_conflict(model, bob):
    client = client_for(bob)
    battle = ready_battle(client, model)
    client.get(f"/api/v1/battles/{battle.pk}")

    first = post(client, f"/api/v1/battles/{battle.pk}/vote", {"winner": "a"})
    second = post(client, f"/api/v1/battles/{battle.pk}/vote", {"winner": "b"})

    assert (first.status_code, second.status_code) == (200, 409)
    assert "already voted" in second.json()["error"]
    assert list(BattleVote.objects.values_list("winner", flat=True)) == ["a"]


def test_voting_before_both_outputs_are_done_is_a_conflict(model, bob):
    client = client_for(bob)
    battle_id = start(client, models=["alice/tiny@v1", "alice/tiny"])
    client.get(f"/api/v1/battles/{battle_id}")

    response = post(client, f"/api/v1/battles/{battle_id}/vote", {"winner": "a"})

    assert response.status_code == 409 and "finish" in response.json()["error"]
    assert not BattleVote.objects.exists()


def test_voting_on_a_battle_you_never_opened_is_refused(model, bob, charlie):
    battle = ready_battle(client_for(bob), model)

    response = post(client_for(charlie), f"/api/v1/battles/{battle.pk}/vote", {"winner": "a"})

    assert response.status_code == 409 and "Open the battle" in response.json()["error"]


@pytest.mark.parametrize("battle_id", ["00000000-0000-0000-0000-000000000000", "not-a-uuid"])
def test_a_battle_that_does_not_exist_is_404(bob, battle_id):
    client = client_for(bob)

    assert client.get(f"/api/v1/battles/{battle_id}").status_code == 404
    assert post(client, f"/api/v1/battles/{battle_id}/vote", {"winner": "a"}).status_code == 404


def test_a_battle_on_a_private_model_is_404_to_strangers(alice, bob, tiny_model_files):
    private = two_revision_model(owner=alice, files=tiny_model_files, name="secret")
    private.private = True
    private.save()
    battle = Battle.objects.get(pk=start(client_for(alice), models=["alice/secret@v1", "alice/secret"]))
    finish(battle)

    assert client_for(bob).get(f"/api/v1/battles/{battle.pk}").status_code == 404
    refused = post(client_for(bob), "/api/v1/battles", {"prompt": "Hi", "models": ["alice/secret@v1", "alice/secret"]})
    assert refused.status_code == 404


@pytest.mark.parametrize("winner", ["c", "A", "", "<script>alert(1)</script>", None])
def test_an_unknown_winner_is_400(model, bob, winner):
    client = client_for(bob)
    battle = ready_battle(client, model)
    client.get(f"/api/v1/battles/{battle.pk}")

    response = post(client, f"/api/v1/battles/{battle.pk}/vote", {"winner": winner})

    assert response.status_code == 400 and "winner" in response.json()["error"]
    assert not BattleVote.objects.exists()


def test_a_revision_against_itself_is_400(model, bob):
    head = model.refs.get(name="main").commit.oid

    response = post(
        client_for(bob), "/api/v1/battles", {"prompt": "Hi", "models": ["alice/tiny", f"alice/tiny@{head}"]}
    )

    assert response.status_code == 400 and "two different revisions" in response.json()["error"]
    assert not Battle.objects.exists()


def test_a_prompt_over_the_cap_is_400_and_nothing_is_queued(model, bob, settings):
    settings.FLYWHEEL_ARENA_MAX_PROMPT_CHARS = 100

    response = post(
        client_for(bob), "/api/v1/battles", {"prompt": "x" * 101, "models": ["alice/tiny@v1", "alice/tiny"]}
    )

    assert response.status_code == 400 and "at most 100 characters" in response.json()["error"]
    assert not Battle.objects.exists()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"prompt": "   "}, "prompt is empty"),
        ({"prompt": "Hi", "models": ["alice/tiny"]}, "two models"),
        ({"prompt": "Hi", "models": ["nobody", "alice/tiny"]}, "owner/name"),
        ({"prompt": "Hi", "models": "alice/tiny"}, "models"),
    ],
)
def test_malformed_battle_requests_are_400(model, bob, body, message):
    response = post(client_for(bob), "/api/v1/battles", body)

    assert response.status_code == 400 and message in response.json()["error"], response.content


def test_models_of_different_tasks_cannot_battle(model, alice, bob, tiny_model_files):
    other = make_model_repo(owner=alice, files=tiny_model_files, name="other")
    other.pipeline_tag = "text-classification"
    other.save()

    response = post(client_for(bob), "/api/v1/battles", {"prompt": "Hi", "models": ["alice/tiny", "alice/other"]})

    assert response.status_code == 400 and "different tasks" in response.json()["error"]


def test_without_models_two_different_revisions_are_drawn(model, bob):
    ids = {start(client_for(bob)) for _ in range(3)}

    for battle in Battle.objects.filter(pk__in=ids):
        assert battle.commit_a != battle.commit_b
        assert {battle.commit_a.oid, battle.commit_b.oid} == {
            model.refs.get(name="v1").commit.oid,
            model.refs.get(name="main").commit.oid,
        }


def test_anonymous_visitors_cannot_start_or_vote(model, bob):
    battle = ready_battle(client_for(bob), model)
    anonymous = client_for()

    assert post(anonymous, "/api/v1/battles", {"prompt": "Hi"}).status_code == 401
    assert post(anonymous, f"/api/v1/battles/{battle.pk}/vote", {"winner": "a"}).status_code == 401


def test_an_output_that_names_a_model_or_vendor_drops_the_battle(model, bob):
    client = client_for(bob)
    named = Battle.objects.get(pk=start(client, models=["alice/tiny@v1", "alice/tiny"]))
    finish(named, text_a="I am Tiny, a model by Alice.")
    vendor = Battle.objects.get(pk=start(client, models=["alice/tiny@v1", "alice/tiny"]))
    finish(vendor, text_b="As an AI made by OpenAI, I cannot.")

    for battle in (named, vendor):
        body = client.get(f"/api/v1/battles/{battle.pk}").json()
        response = post(client, f"/api/v1/battles/{battle.pk}/vote", {"winner": "a"})
        assert body["status"] == "dropped" and "names a model or vendor" in body["drop_reason"]
        assert response.status_code == 409
    assert not BattleVote.objects.exists()


def test_votes_past_the_daily_cap_are_429_with_the_reset_time(model, bob, settings):
    settings.FLYWHEEL_ARENA_VOTES_PER_DAY = 2
    client = client_for(bob)
    battles = [ready_battle(client, model) for _ in range(3)]
    with time_machine.travel(datetime(2026, 12, 3, 22, 0, tzinfo=UTC), tick=False):
        statuses = []
        for battle in battles:
            client.get(f"/api/v1/battles/{battle.pk}")
            statuses.append(post(client, f"/api/v1/battles/{battle.pk}/vote", {"winner": "tie"}))

    assert [r.status_code for r in statuses] == [200, 200, 429]
    assert statuses[2]["Retry-After"] == str(2 * 3600)
    assert "resets at 2026-12-04 00:00 UTC" in statuses[2].json()["error"]
    assert BattleVote.objects.count() == 2


def test_votes_by_a_models_maintainers_are_kept_but_not_counted(alice, bob, charlie, tiny_model_files):
    org = Organization.objects.create(name="lab")
    Membership.objects.create(organization=org, user=alice, role=Membership.Role.ADMIN)
    Membership.objects.create(organization=org, user=charlie, role=Membership.Role.READ)
    repo = make_repo(owner=alice, namespace="lab", name="tiny")
    make_commit(repo=repo, author=alice, files=tiny_model_files, title="Add the model")
    tag_create(repo=repo, name="v1", revision="main")
    make_commit(repo=repo, author=alice, files={"notes.txt": b"2"}, title="v2")
    battle = Battle.objects.get(pk=start(client_for(bob), models=["lab/tiny@v1", "lab/tiny"]))
    finish(battle)
    outsider = make_user("dora")

    counted = {}
    for user in (alice, charlie, outsider):
        client = client_for(user)
        client.get(f"/api/v1/battles/{battle.pk}")
        counted[user.username] = post(client, f"/api/v1/battles/{battle.pk}/vote", {"winner": "a"}).json()["counted"]

    assert counted == {"alice": False, "charlie": False, "dora": True}


@pytest.mark.django_db(transaction=True)
def test_twenty_voters_at_once_leave_exactly_one_vote_each(model):
    """20 people each send their vote twice at the same moment, on the configured database (PostgreSQL in CI):
    20 votes recorded, 20 answers 200, 20 answers 409, no error."""
    voters = [make_user(f"voter{i}") for i in range(20)]
    battle = Battle.objects.get(pk=start(client_for(voters[0]), models=["alice/tiny@v1", "alice/tiny"]))
    finish(battle)
    for voter in voters:
        services.battle_seen(battle=services.battle_refresh(battle), user=voter)
    gate = threading.Barrier(40)
    statuses: list[int] = []

    def vote(user, winner: str) -> None:
        try:
            client = client_for(user)
            gate.wait()
            statuses.append(post(client, f"/api/v1/battles/{battle.pk}/vote", {"winner": winner}).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=vote, args=(u, w)) for u in voters for w in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert sorted(statuses) == [200] * 20 + [409] * 20, statuses
    assert BattleVote.objects.filter(battle=battle).count() == 20
    assert set(BattleVote.objects.values_list("user__username", flat=True)) == {u.username for u in voters}


@pytest.mark.django_db(transaction=True)
def test_a_burst_of_votes_stops_exactly_at_the_daily_cap(model, bob, settings, monkeypatch):
    """One voter sends 8 votes on 8 battles at the same moment with 3 allowed a day, on the configured
    database (PostgreSQL in CI): exactly 3 are recorded, the rest are 429."""
    settings.FLYWHEEL_ARENA_VOTES_PER_DAY = 3
    check_cap = services._check_daily_cap

    def slow_check(user, now) -> None:  # widens the gap between counting and writing, where a burst slips in
        check_cap(user, now)
        time.sleep(0.05)

    monkeypatch.setattr(services, "_check_daily_cap", slow_check)
    client = client_for(bob)
    battles = [ready_battle(client, model) for _ in range(8)]
    for battle in battles:
        client.get(f"/api/v1/battles/{battle.pk}")
    gate = threading.Barrier(len(battles))
    statuses: list[int] = []

    def vote(battle) -> None:
        try:
            own_client = client_for(bob)
            gate.wait()
            statuses.append(post(own_client, f"/api/v1/battles/{battle.pk}/vote", {"winner": "a"}).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=vote, args=(battle,)) for battle in battles]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert sorted(statuses) == [200] * 3 + [429] * 5, statuses
    assert BattleVote.objects.filter(user=bob).count() == 3


def test_the_battle_api_is_in_the_openapi_schema(client):
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/json").content.decode()

    for path in (
        "/api/v1/battles",
        "/api/v1/battles/{battle_id}",
        "/api/v1/battles/{battle_id}/vote",
        "/api/v1/leaderboard",
    ):
        assert path in schema, path


@pytest.mark.django_db(transaction=True)
def test_votes_queue_leaderboard_refits_on_the_real_worker(model, bob, celery_worker, settings):
    """The first vote of a burst queues a refit at once and another after the window, so whatever the timing the
    burst's last vote is counted."""
    settings.FLYWHEEL_ARENA_REFIT_DEBOUNCE_SECONDS = 2
    client = client_for(bob)
    battles = [ready_battle(client, model) for _ in range(3)]
    for battle in battles:
        client.get(f"/api/v1/battles/{battle.pk}")
        assert post(client, f"/api/v1/battles/{battle.pk}/vote", {"winner": "a"}).status_code == 200

    assert wait_for(lambda: LeaderboardFit.objects.filter(scope="", votes=3).exists(), timeout=30)
