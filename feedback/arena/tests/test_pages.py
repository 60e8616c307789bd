"""Arena pages without JavaScript: start a battle from the form, read it, vote, see the reveal; the leaderboard."""

from __future__ import annotations

import pytest

from conftest import client_for
from feedback.arena.leaderboard import leaderboard_refit
from feedback.arena.models import ArenaPin, Battle, BattleVote
from feedback.arena.services import Side, pin_create
from feedback.arena.tests.conftest import finish
from feedback.services import prompt_set_create

pytestmark = pytest.mark.django_db


def test_the_arena_page_offers_a_prompt_box_and_asks_strangers_to_log_in(model, bob):
    assert 'name="prompt"' in client_for(bob).get("/arena").content.decode()
    assert "Log in to play" in client_for().get("/arena").content.decode()


def test_a_battle_played_through_the_forms_reveals_the_names_only_after_the_vote(model, bob):
    client = client_for(bob)

    response = client.post(
        "/arena", {"prompt": "Once upon a time", "model_a": "alice/tiny@v1", "model_b": "alice/tiny"}
    )

    battle = Battle.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/arena/{battle.pk}"
    waiting = client.get(f"/arena/{battle.pk}").content.decode()
    assert 'hx-trigger="every 500ms"' in waiting and "vote opens" in waiting
    finish(battle, text_a="<b>bold</b> cat", text_b="A dog ran.")
    page = client.get(f"/arena/{battle.pk}").content.decode()
    assert "&lt;b&gt;bold&lt;/b&gt; cat" in page and "A dog ran." in page
    assert "alice/tiny" not in page and 'value="a"' in page and "every 500ms" not in page

    voted = client.post(f"/arena/{battle.pk}/vote", {"winner": "b"}, follow=True).content.decode()

    assert "You voted <strong>B is better</strong>" in voted
    assert "alice/tiny" in voted and battle.commit_a.short_oid in voted and battle.commit_b.short_oid in voted
    assert "(v1)" in voted and "(main)" in voted  # the revisions as they were asked for
    assert BattleVote.objects.get().winner == "b"


def test_a_refused_vote_is_shown_in_place_with_its_status(model, bob):
    client = client_for(bob)
    client.post("/arena", {"prompt": "Hi", "model_a": "alice/tiny@v1", "model_b": "alice/tiny"})
    battle = Battle.objects.get()

    response = client.post(f"/arena/{battle.pk}/vote", {"winner": "a"}, HTTP_HX_REQUEST="true")

    assert response.status_code == 409 and "Both outputs must finish" in response.content.decode()


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"prompt": ""}, "The prompt is empty"),
        ({"prompt": "Hi", "model_a": "alice/tiny"}, "Name both models"),
        ({"prompt": "Hi", "model_a": "alice/tiny", "model_b": "alice/tiny"}, "two different revisions"),
    ],
)
def test_a_refused_battle_keeps_what_was_typed_and_says_why(model, bob, form, message):
    response = client_for(bob).post("/arena", form)

    assert response.status_code == 400 and message in response.content.decode()
    assert not Battle.objects.exists()


def test_a_pinned_comparison_battles_on_its_own_prompts(model, alice, bob):
    prompts = prompt_set_create(
        user=alice, repo=model, name="held out", data=b'{"prompt": "Tell a story about a fox."}\n', filename="p.jsonl"
    )
    v1, main = model.refs.get(name="v1").commit, model.refs.get(name="main").commit
    pin = pin_create(name="main vs v1", a=Side(model, main, "main"), b=Side(model, v1, "v1"), prompt_set=prompts)
    client = client_for(bob)
    assert f'data-pin="{pin.pk}"' in client.get("/arena").content.decode()

    response = client.post("/arena", {"pin": pin.pk})

    battle = Battle.objects.get()
    assert response.status_code == 302 and battle.pin == pin and battle.prompt == "Tell a story about a fox."
    assert client.post("/arena", {"pin": pin.pk})["Location"] == f"/arena/{battle.pk}"  # the open one again
    ArenaPin.objects.filter(pk=pin.pk).update(active=False)
    assert client.post("/arena", {"pin": pin.pk}).status_code == 404


def test_the_leaderboard_page_draws_its_chart_from_json_and_lists_every_revision(model, bob):
    client = client_for(bob)
    client.post("/arena", {"prompt": "Hi", "model_a": "alice/tiny@v1", "model_b": "alice/tiny"})
    battle = Battle.objects.get()
    finish(battle)
    client.get(f"/arena/{battle.pk}")
    client.post(f"/arena/{battle.pk}/vote", {"winner": "a"})
    leaderboard_refit(rounds=20)

    page = client.get("/arena/leaderboard").content.decode()

    assert 'id="leaderboard-data"' in page and "chart.umd.min.js" in page and "<script>" not in page
    assert page.count('data-model="alice/tiny"') == 2 and "unranked" in page
    assert client.get("/arena/leaderboard?model=alice/tiny").status_code == 200
    assert client.get("/arena/leaderboard?model=alice/nothing").status_code == 404


def test_an_empty_leaderboard_says_so(db):
    assert "No battles have been voted on yet" in client_for().get("/arena/leaderboard").content.decode()
