"""The arena in the Django admin: battles and votes, pins (open their battles), voter reviews, the leaderboard."""

from __future__ import annotations

import pytest

from conftest import client_for, make_user
from feedback.arena.leaderboard import leaderboard_refit
from feedback.arena.models import ArenaPin, Battle, BattleVote, LeaderboardFit, VoterReview
from feedback.arena.services import battle_refresh, battle_seen, battle_vote
from feedback.arena.tests.conftest import finish
from feedback.services import prompt_set_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def root(db):
    return make_user("root", is_staff=True, is_superuser=True)


@pytest.fixture
def voted(model, bob) -> Battle:
    client = client_for(bob)
    client.post("/arena", {"prompt": "Hi <script>x</script>", "model_a": "alice/tiny@v1", "model_b": "alice/tiny"})
    battle = Battle.objects.get()
    finish(battle)
    battle_seen(battle=battle_refresh(battle), user=bob)
    battle_vote(battle=battle, user=bob, winner="a")
    leaderboard_refit(rounds=20)
    return battle


@pytest.mark.parametrize("name", ["battle", "battlevote", "arenapin", "voterreview", "leaderboardfit"])
def test_every_arena_list_and_change_page_opens(root, voted, bob, name):
    VoterReview.objects.create(user=bob, flagged_at=voted.created_at)
    ArenaPin.objects.create(
        name="v1 vs main",
        repository_a=voted.repository_a,
        commit_a=voted.commit_a,
        repository_b=voted.repository_b,
        commit_b=voted.commit_b,
        created_at=voted.created_at,
    )
    client = client_for(root)
    listing = client.get(f"/admin/feedback/{name}/")
    assert listing.status_code == 200
    model = {
        "battle": Battle,
        "battlevote": BattleVote,
        "arenapin": ArenaPin,
        "voterreview": VoterReview,
        "leaderboardfit": LeaderboardFit,
    }[name]
    assert client.get(f"/admin/feedback/{name}/{model.objects.first().pk}/change/").status_code == 200
    assert "<script>x</script>" not in listing.content.decode()


def test_staff_pin_a_pair_in_the_admin_and_open_its_battles(root, model, alice):
    prompts = prompt_set_create(
        user=alice, repo=model, name="held out", data=b'{"prompt": "One"}\n{"prompt": "Two"}\n', filename="p.jsonl"
    )
    v1, main = model.refs.get(name="v1").commit, model.refs.get(name="main").commit
    client = client_for(root)

    response = client.post(
        "/admin/feedback/arenapin/add/",
        {
            "name": "main vs v1",
            "repository_a": model.pk,
            "commit_a": main.pk,
            "repository_b": model.pk,
            "commit_b": v1.pk,
            "prompt_set": prompts.pk,
            "active": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[-2000:]
    pin = ArenaPin.objects.get()
    assert pin.created_by == root

    client.post("/admin/feedback/arenapin/", {"action": "open_battles", "_selected_action": [pin.pk]})

    assert sorted(Battle.objects.filter(pin=pin).values_list("prompt", flat=True)) == ["One", "Two"]


def test_excluding_a_flagged_voter_in_the_admin_leaves_their_votes_out(root, voted, bob):
    review = VoterReview.objects.create(user=bob, flagged_at=voted.created_at)
    client = client_for(root)

    client.post("/admin/feedback/voterreview/", {"action": "exclude_selected", "_selected_action": [review.pk]})
    leaderboard_refit(rounds=20)

    review.refresh_from_db()
    assert review.status == "excluded" and review.reviewed_by == root
    assert not LeaderboardFit.objects.exists()  # bob's was the only vote
    client.post("/admin/feedback/voterreview/", {"action": "clear_selected", "_selected_action": [review.pk]})
    leaderboard_refit(rounds=20)
    assert LeaderboardFit.objects.get(scope="").votes == 1
