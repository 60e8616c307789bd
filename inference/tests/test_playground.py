"""The playground pages through the Django test client: who may see and use them, what a POST makes,
and how refusals read. The browser test (streaming, keyboard rating) is test_playground_browser.py."""

from __future__ import annotations

import pytest

from conftest import client_for, make_commit, make_repo
from feedback.models import Rating
from inference import selectors, services
from inference.models import Generation
from inference.tests.conftest import make_model_repo
from models_hub import services as hub_services

pytestmark = pytest.mark.django_db

PARAMS = {"revision": "main", "prompt": "The cat", "max_new_tokens": "8", "temperature": "0.7", "seed": "3"}


def generate(client, repo_id: str = "alice/tiny", **fields):
    headers = {k: v for k, v in fields.items() if k.startswith("HTTP_")}
    data = {k: v for k, v in fields.items() if not k.startswith("HTTP_")}
    return client.post(f"/{repo_id}/playground", {**PARAMS, **data}, **headers)


def test_the_playground_shows_the_form_and_the_revisions(alice, tiny_model_files):
    repo = make_model_repo(owner=alice, files=tiny_model_files)
    hub_services.tag_create(repo=repo, name="v0.1", revision="main")

    response = client_for(alice).get("/alice/tiny/playground")

    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="prompt"' in html and 'name="temperature"' in html and 'name="seed"' in html
    assert '<option value="main">branch</option>' in html and '<option value="v0.1">tag</option>' in html
    assert 'max="512"' in html  # max_new_tokens is capped by FLYWHEEL_MAX_NEW_TOKENS
    assert 'name="system_prompt"' not in html  # no chat template: plain continuation


def test_the_system_prompt_is_offered_when_the_tokenizer_has_a_chat_template(alice, tiny_chat_model_files):
    make_model_repo(owner=alice, files=tiny_chat_model_files)

    html = client_for(alice).get("/alice/tiny/playground").content.decode()

    assert 'name="system_prompt"' in html


def test_the_system_prompt_follows_the_revision_picked(alice, tiny_model_files):
    repo = make_model_repo(owner=alice, files=tiny_model_files)
    base = repo.refs.get(name="main").commit.oid
    make_commit(repo=repo, author=alice, files={"chat_template.jinja": b"{{ messages }}"}, title="Add a chat template")
    client = client_for(alice)

    # What the revision box asks for when it changes (htmx keeps only #revision-state of the answer).
    old = client.get(f"/alice/tiny/playground?revision={base[:10]}", HTTP_HX_REQUEST="true").content.decode()
    new = client.get("/alice/tiny/playground?revision=main", HTTP_HX_REQUEST="true").content.decode()
    missing = client.get("/alice/tiny/playground?revision=nope").content.decode()

    assert 'name="system_prompt"' not in old and f">{base[:7]}</a>" in old and "No chat template" in old
    assert 'name="system_prompt"' in new and "A chat model" in new
    assert "Invalid rev id: nope" in missing


def test_a_chat_template_in_tokenizer_config_counts_and_junk_does_not(alice, tiny_model_files):
    repo = make_model_repo(owner=alice, files=tiny_model_files)
    with_template = make_commit(
        repo=repo, author=alice, files={"tokenizer_config.json": b'{"chat_template": "{{ messages }}"}'}
    )
    assert selectors.has_chat_template(with_template)
    broken = make_commit(repo=repo, author=alice, files={"tokenizer_config.json": b"\xff{not json"})
    assert not selectors.has_chat_template(broken)


def test_max_new_tokens_follows_the_setting(alice, tiny_model_files, settings):
    settings.FLYWHEEL_MAX_NEW_TOKENS = 40
    make_model_repo(owner=alice, files=tiny_model_files)

    assert 'max="40"' in client_for(alice).get("/alice/tiny/playground").content.decode()
    response = generate(client_for(alice), max_new_tokens="41")

    assert response.status_code == 400
    assert "&#x27;max_new_tokens&#x27; must be between 1 and 40, got 41" in response.content.decode()


def test_anonymous_visitors_see_the_playground_and_are_invited_to_log_in(alice, tiny_model_files):
    make_model_repo(owner=alice, files=tiny_model_files)

    html = client_for().get("/alice/tiny/playground").content.decode()

    assert "Log in to generate" in html and "/accounts/login/?next=/alice/tiny/playground" in html


def test_an_anonymous_post_is_sent_to_log_in(alice, tiny_model_files):
    make_model_repo(owner=alice, files=tiny_model_files)

    response = generate(client_for())

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/alice/tiny/playground")
    assert not Generation.objects.exists()


def test_a_post_queues_a_playground_generation_and_redirects_to_its_page(alice, tiny_model_files):
    make_model_repo(owner=alice, files=tiny_model_files)

    response = generate(client_for(alice))

    generation = Generation.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/alice/tiny/playground/{generation.pk}"
    assert generation.source == Generation.Source.PLAYGROUND and generation.user == alice
    assert generation.prompt == "The cat" and generation.messages is None
    assert generation.seed == 3 and generation.max_new_tokens == 8 and generation.temperature == 0.7
    page = client_for(alice).get(response["Location"]).content.decode()
    assert "1st in the queue" in page
    assert f"/api/v1/generations/{generation.pk}/stream" in page
    assert f'href="/alice/tiny/playground/{generation.pk}"' in page  # the no-JS "Refresh" link
    assert f'action="/alice/tiny/playground/{generation.pk}/stop"' in page


def test_a_chat_model_gets_the_prompt_as_a_message_with_the_system_prompt(alice, tiny_chat_model_files):
    make_model_repo(owner=alice, files=tiny_chat_model_files)

    generate(client_for(alice), system_prompt="Be brief.")

    generation = Generation.objects.get()
    assert generation.messages == [{"role": "user", "content": "The cat"}]
    assert generation.system_prompt == "Be brief."


def test_a_blank_seed_is_drawn_at_random_and_shown(alice, tiny_model_files):
    make_model_repo(owner=alice, files=tiny_model_files)

    generate(client_for(alice), seed="")

    generation = Generation.objects.get()
    assert 0 <= generation.seed < 2**31
    Generation.objects.filter(pk=generation.pk).update(status="done", text=" sat", finished_at=generation.created_at)
    page = client_for(alice).get(f"/alice/tiny/playground/{generation.pk}").content.decode()
    assert f"data-seed>{generation.seed}<" in page


def test_htmx_gets_the_output_panel_and_the_generation_url_to_push(alice, tiny_model_files):
    make_model_repo(owner=alice, files=tiny_model_files)

    response = generate(client_for(alice), HTTP_HX_REQUEST="true")

    generation = Generation.objects.get()
    assert response.status_code == 200
    assert response["HX-Push-Url"] == f"/alice/tiny/playground/{generation.pk}"
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="output"') and "<html" not in html


@pytest.mark.parametrize(
    ("fields", "status", "message"),
    [
        ({"temperature": "5"}, 400, "&#x27;temperature&#x27; must be between 0.0 and 2.0, got 5.0."),
        ({"temperature": "hot"}, 400, "Temperature: Enter a number."),
        ({"top_p": "0"}, 400, "&#x27;top_p&#x27; must be between 0.01 and 1.0"),
        ({"prompt": "   "}, 400, "The prompt is empty."),
        ({"revision": "nope"}, 404, "Invalid rev id: nope"),
    ],
)
def test_bad_parameters_are_refused_with_a_message(alice, tiny_model_files, fields, status, message):
    make_model_repo(owner=alice, files=tiny_model_files)

    for headers in ({}, {"HTTP_HX_REQUEST": "true"}):
        response = generate(client_for(alice), **fields, **headers)

        assert response.status_code == status
        assert message in response.content.decode()
    assert not Generation.objects.exists()


def test_a_model_that_cannot_run_says_why(alice):
    repo = make_repo(owner=alice)
    make_commit(repo=repo, author=alice, files={"config.json": b"{}", "pytorch_model.bin": b"\x80\x04"})

    page = client_for(alice).get("/alice/tiny/playground").content.decode()
    response = generate(client_for(alice))

    assert "only has pickle-based weights (pytorch_model.bin)" in page
    assert response.status_code == 400
    assert "only has pickle-based weights (pytorch_model.bin)" in response.content.decode()


def test_the_rate_limit_is_shown_with_retry_after(alice, tiny_model_files, settings):
    settings.FLYWHEEL_GENERATIONS_PER_MINUTE = 1
    make_model_repo(owner=alice, files=tiny_model_files)
    client = client_for(alice)

    generate(client)
    response = generate(client, HTTP_HX_REQUEST="true")

    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 61
    assert "Rate limit: 1 generations a minute" in response.content.decode()


def test_stranger_gets_404_on_a_private_models_playground(alice, charlie, tiny_model_files):
    make_model_repo(owner=alice, files=tiny_model_files, private=True)

    assert client_for(charlie).get("/alice/tiny/playground").status_code == 404
    assert generate(client_for(charlie)).status_code == 404
    assert client_for(charlie).get("/alice/tiny/playground/widget").status_code == 404
    assert client_for(alice).get("/alice/tiny/playground").status_code == 200
    assert not Generation.objects.exists()


def test_a_gated_model_needs_access_to_generate(alice, bob, tiny_model_files):
    repo = make_model_repo(owner=alice, files=tiny_model_files)
    hub_services.repo_update_settings(repo=repo, gated="manual")

    page = client_for(bob).get("/alice/tiny/playground").content.decode()
    refused = generate(client_for(bob))
    hub_services.access_grant(repo=repo, actor=alice, username="bob")
    allowed = generate(client_for(bob))

    assert "is restricted" in page
    assert refused.status_code == 403 and "is restricted" in refused.content.decode()
    assert allowed.status_code == 302
    assert Generation.objects.get().user == bob


def test_another_persons_generation_page_is_not_found(alice, charlie, tiny_model_files):
    repo = make_model_repo(owner=alice, files=tiny_model_files)
    generation = services.generation_request(user=alice, repo=repo, prompt="Hi")

    assert client_for(charlie).get(f"/alice/tiny/playground/{generation.pk}").status_code == 404
    assert client_for().get(f"/alice/tiny/playground/{generation.pk}").status_code == 404
    assert client_for(charlie).post(f"/alice/tiny/playground/{generation.pk}/stop").status_code == 404


def test_stop_without_javascript_cancels_and_comes_back(alice, tiny_model_files):
    repo = make_model_repo(owner=alice, files=tiny_model_files)
    generation = services.generation_request(user=alice, repo=repo, prompt="Hi")

    response = client_for(alice).post(f"/alice/tiny/playground/{generation.pk}/stop")

    assert response.status_code == 302 and response["Location"] == f"/alice/tiny/playground/{generation.pk}"
    generation.refresh_from_db()
    assert generation.status == "cancelled"


def finish(generation: Generation, text: str = " sat on the mat") -> Generation:
    Generation.objects.filter(pk=generation.pk).update(
        status="done", text=text, completion_tokens=4, prompt_tokens=2, finished_at=generation.created_at
    )
    generation.refresh_from_db()
    return generation


def test_a_finished_generation_shows_the_commit_seed_tokens_and_a_rating_panel(alice, tiny_model_files):
    repo = make_model_repo(owner=alice, files=tiny_model_files)
    generation = finish(services.generation_request(user=alice, repo=repo, prompt="The cat", params={"seed": 9}))
    oid = generation.commit.oid

    html = client_for(alice).get(f"/alice/tiny/playground/{generation.pk}").content.decode()

    assert f'href="/alice/tiny/commit/{oid}"' in html and f">{oid[:7]}</a>" in html
    assert "data-seed>9<" in html and "2 in, 4 out" in html
    assert f'action="/generations/{generation.pk}/rate"' in html
    assert 'value="helpful"' in html and "sat on the mat</textarea>" in html
    assert '<textarea name="prompt"' in html and "\nThe cat</textarea>" in html  # the form, ready to run again


def test_the_try_it_panel_is_on_text_generation_model_cards_only(alice, tiny_model_files):
    make_model_repo(owner=alice, files=tiny_model_files)
    other = make_repo(owner=alice, name="plain")
    make_commit(repo=other, author=alice, files={"README.md": b"# Plain\n"})

    card = client_for().get("/alice/tiny").content.decode()
    plain = client_for().get("/alice/plain").content.decode()

    assert 'hx-get="/alice/tiny/playground/widget"' in card
    assert "playground/widget" not in plain


def test_the_try_it_panel_invites_anonymous_visitors_to_log_in(alice, tiny_model_files):
    make_model_repo(owner=alice, files=tiny_model_files)

    anonymous = client_for().get("/alice/tiny/playground/widget", HTTP_HX_REQUEST="true").content.decode()
    signed_in = client_for(alice).get("/alice/tiny/playground/widget", HTTP_HX_REQUEST="true").content.decode()

    assert "Log in to try it" in anonymous and "/accounts/login/?next=/alice/tiny" in anonymous
    assert 'hx-post="/alice/tiny/playground"' in signed_in and "Log in to try it" not in signed_in


def test_the_try_it_panel_posts_without_pushing_a_url(alice, tiny_model_files):
    make_model_repo(owner=alice, files=tiny_model_files)

    response = generate(client_for(alice), widget="1", HTTP_HX_REQUEST="true")

    assert response.status_code == 200 and "HX-Push-Url" not in response
    assert response.content.decode().lstrip().startswith('<section id="try-it-output"')


def test_rating_from_the_panel_creates_then_updates_one_row(alice, bob, tiny_model_files):
    repo = make_model_repo(owner=alice, files=tiny_model_files)
    generation = finish(services.generation_request(user=bob, repo=repo, prompt="The cat"))
    url = f"/generations/{generation.pk}/rate"
    client = client_for(bob)

    first = client.post(url, {"thumb": "up", "stars": "4", "tags": ["helpful"], "correction": generation.text})
    second = client.post(
        url, {"thumb": "down", "stars": "", "correction": " sat on a hat", "comment": "meh"}, HTTP_HX_REQUEST="true"
    )

    assert first.status_code == 302 and first["Location"] == "/alice/tiny"
    assert second.status_code == 200 and "Saved." in second.content.decode()
    rating = Rating.objects.get()
    assert (rating.thumb, rating.stars, rating.tags) == ("down", None, [])
    assert rating.correction == " sat on a hat" and rating.comment == "meh"


def test_an_untouched_correction_is_not_saved_as_one(alice, bob, tiny_model_files):
    repo = make_model_repo(owner=alice, files=tiny_model_files)
    generation = finish(services.generation_request(user=bob, repo=repo, prompt="The cat"))

    client_for(bob).post(f"/generations/{generation.pk}/rate", {"thumb": "up", "correction": generation.text})

    assert Rating.objects.get().correction == ""


def test_an_untouched_multi_line_correction_sent_with_crlf_is_not_saved(alice, bob, tiny_model_files):
    repo = make_model_repo(owner=alice, files=tiny_model_files)
    generation = finish(
        services.generation_request(user=bob, repo=repo, prompt="The cat"), text=" sat.\nThen it\rslept."
    )
    client = client_for(bob)

    # A browser sends the textarea's line breaks as CRLF.
    client.post(f"/generations/{generation.pk}/rate", {"thumb": "up", "correction": " sat.\r\nThen it\r\nslept."})
    assert Rating.objects.get().correction == ""
    client.post(f"/generations/{generation.pk}/rate", {"thumb": "up", "correction": " sat.\r\nThen it ran."})
    assert Rating.objects.get().correction == " sat.\nThen it ran."


def test_a_rating_with_nothing_in_it_is_refused_and_keeps_what_was_typed(alice, bob, tiny_model_files):
    repo = make_model_repo(owner=alice, files=tiny_model_files)
    generation = finish(services.generation_request(user=bob, repo=repo, prompt="The cat"))

    response = client_for(bob).post(
        f"/generations/{generation.pk}/rate", {"correction": generation.text, "stars": ""}, HTTP_HX_REQUEST="true"
    )

    assert response.status_code == 400
    assert "A rating needs at least a thumb" in response.content.decode()
    assert not Rating.objects.exists()


def test_a_nul_character_in_a_comment_is_refused_with_a_reason(alice, bob, tiny_model_files):
    """PostgreSQL stores no NUL character: the panel says so instead of failing with a 500."""
    repo = make_model_repo(owner=alice, files=tiny_model_files)
    generation = finish(services.generation_request(user=bob, repo=repo, prompt="The cat"))

    response = client_for(bob).post(
        f"/generations/{generation.pk}/rate", {"thumb": "up", "comment": "a\x00b"}, HTTP_HX_REQUEST="true"
    )

    assert response.status_code == 400 and "NUL character" in response.content.decode()
    assert not Rating.objects.exists()


def test_rating_someone_elses_output_is_not_found_and_anonymous_must_log_in(alice, bob, charlie, tiny_model_files):
    repo = make_model_repo(owner=alice, files=tiny_model_files)
    generation = finish(services.generation_request(user=bob, repo=repo, prompt="The cat"))
    url = f"/generations/{generation.pk}/rate"

    assert client_for(charlie).post(url, {"thumb": "up"}).status_code == 404
    anonymous = client_for().post(url, {"thumb": "up", "next": f"/alice/tiny/playground/{generation.pk}"})
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/accounts/login/")
    assert client_for(bob).post(url, {"thumb": "up", "next": "https://evil.example/"})["Location"] == "/alice/tiny"
    assert Rating.objects.count() == 1
