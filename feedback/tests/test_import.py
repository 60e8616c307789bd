"""Bulk import of external feedback: who may import, what a line becomes, and hostile bodies refused cheaply."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from accounts.services import token_create
from conftest import client_for, make_commit, make_repo
from feedback import imports
from feedback.models import Rating
from feedback.tests.test_dashboards import ensure_tags
from inference.models import Generation
from models_hub import services as hub_services

pytestmark = pytest.mark.django_db

URL = "/api/v1/models/alice/tiny/feedback/import"


def line(**overrides) -> dict:
    return {
        "prompt": "Once upon a time",
        "output": "there was a cat.",
        "rating": {"thumb": "up", "stars": 4, "tags": ["helpful"], "comment": "Nice.", "correction": ""},
        "rater": "app-user-1",
    } | overrides


def jsonl(*lines: dict | str | bytes) -> bytes:
    encoded = [
        item if isinstance(item, bytes) else (item if isinstance(item, str) else json.dumps(item)).encode()
        for item in lines
    ]
    return b"\n".join(encoded) + b"\n"


def bearer(user, scope: str = "write") -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token_create(user=user, name='t', scope=scope).secret}"}


def post(body: bytes, *, user=None, scope: str = "write", query: str = "", client=None):
    client = client or Client()
    headers = bearer(user, scope) if user is not None else {}
    return client.post(URL + query, body, content_type="application/x-ndjson", **headers)


@pytest.fixture
def model(alice):
    ensure_tags()
    repo = make_repo(owner=alice)
    first = make_commit(repo=repo, author=alice, files={"a.txt": b"one"})
    hub_services.tag_create(repo=repo, name="v0.1", revision=first.oid)
    second = make_commit(repo=repo, author=alice, files={"a.txt": b"two"})
    return repo, first, second


def test_valid_lines_become_finished_generations_with_the_importers_ratings(model, alice):
    repo, first, _second = model
    body = jsonl(
        line(),
        line(rating={"thumb": "down", "tags": ["incorrect", "too-long", "incorrect"]}, rater=None),
        line(output="a dog.", rating={"stars": 2, "correction": "a cat."}, rater=" app-user-2 "),
    )

    response = post(body, user=alice, query="?revision=v0.1")

    assert response.status_code == 200, response.json()
    assert response.json() == {"imported": 3, "rejected": [], "rejected_count": 0, "commit": first.oid}
    generations = Generation.objects.order_by("text", "created_at")
    assert {(g.status, g.commit_id, g.revision, g.source, g.user_id) for g in generations} == {
        ("done", first.pk, "v0.1", "api", alice.pk)
    }
    assert sorted(g.text for g in generations) == ["a dog.", "there was a cat.", "there was a cat."]
    ratings = {r.external_rater: r for r in Rating.objects.all()}
    assert set(ratings) == {"app-user-1", "app-user-2", None}
    assert (ratings["app-user-1"].thumb, ratings["app-user-1"].stars, ratings["app-user-1"].tags) == (
        "up", 4, ["helpful"]
    )  # fmt: skip
    assert ratings[None].tags == ["incorrect", "too-long"]
    assert ratings["app-user-2"].correction == "a cat."
    assert {(r.user_id, r.by_maintainer) for r in ratings.values()} == {(alice.pk, False)}


def test_imported_feedback_shows_on_the_dashboard_with_each_external_rater_counted(model, alice):
    post(jsonl(line(), line(rater="app-user-2"), line(rater=None)), user=alice)

    summary = client_for(alice).get("/alice/tiny/feedback?revision=main").context["summary"]

    assert (summary.ratings, summary.raters, summary.up) == (3, 3, 3)


def test_rejected_lines_are_numbered_with_the_reason_and_the_rest_is_imported(model, alice):
    body = jsonl(
        line(),
        "",  # blank lines are skipped, not rejected
        b'{"prompt": "caf\xe9", "output": "x", "rating": {"thumb": "up"}}',
        "[1, 2]",
        "{not json",
        line(rating={"thumb": "sideways"}),
        line(rating={"stars": True}),
        line(rating={"stars": 6}),
        line(rating={"tags": ["brilliant"]}),
        line(rating={}),
        line(output=""),
        line(prompt=None),
        line(output={"text": "nested"}),
        line(extra="field"),
        line(rating={"thumb": "up", "score": 3}),
        line(model="bob/other"),
        line(revision="v0.1"),
        line(output="x" * (imports.MAX_OUTPUT_CHARS + 1)),
        line(rating={"comment": "a\x00b"}),
        line(rater=""),
        line(rating={"tags": ["helpful"] * 21}),
        line(model="alice/tiny", revision="main"),
    )

    response = post(body, user=alice)

    assert response.status_code == 200
    rejected = {r["line"]: r["error"] for r in response.json()["rejected"]}
    assert response.json()["imported"] == 2 and response.json()["rejected_count"] == len(rejected) == 19
    expected = {
        3: "Not valid UTF-8 (byte 16 of the line)",
        4: "must be a JSON object",
        5: "Not valid JSON",
        6: "'thumb' must be 'up' or 'down'",
        7: "'stars' must be a whole number",
        8: "'stars' must be a whole number",
        9: "Unknown tag 'brilliant'",
        10: "The rating needs at least",
        11: "'output' must not be empty",
        12: "'prompt' must be a string",
        13: "'output' must be a string",
        14: "Unknown field 'extra' in the line",
        15: "Unknown field 'score' in 'rating'",
        16: "'model' is 'bob/other'",
        17: "'revision' is 'v0.1'",
        18: "'output' is too long",
        19: "'comment' contains a NUL",
        20: "'rater' must not be empty",
        21: "Too many tags",
    }
    assert set(rejected) == set(expected)
    for number, message in expected.items():
        assert message in rejected[number], (number, rejected[number])
    assert Generation.objects.count() == Rating.objects.count() == 2


def test_deep_nesting_is_refused_cheaply(model, alice):
    deep_within_line_cap = "[" * (imports.MAX_LINE_BYTES - 10)
    too_deep_to_use = {"prompt": "p", "output": "o", "rating": {"tags": [[[[[[[[["x"]]]]]]]]]}}
    body = jsonl(deep_within_line_cap, json.dumps(too_deep_to_use), line())

    response = post(body, user=alice)

    rejected = response.json()["rejected"]
    assert [r["line"] for r in rejected] == [1, 2]
    assert all("nested too deeply" in r["error"] for r in rejected)
    assert response.json()["imported"] == 1


def test_a_line_over_the_line_cap_is_refused_without_being_parsed(model, alice):
    long_line = json.dumps(line(output="x" * imports.MAX_LINE_BYTES))

    response = post(jsonl(long_line, line()), user=alice)

    assert response.json()["rejected"] == [{"line": 1, "error": "The line is too long: at most 1,048,576 bytes."}]


def test_a_body_over_the_cap_is_413_and_nothing_is_imported(model, alice):
    body = jsonl(line()) * (imports.MAX_BODY_BYTES // len(jsonl(line())) + 1)

    response = post(body, user=alice)

    assert response.status_code == 413 and "too large" in response.json()["error"]
    assert not Generation.objects.exists()


def test_too_many_lines_is_refused_whole(model, alice):
    response = post(b"{}\n" * (imports.MAX_LINES + 1), user=alice)

    assert response.status_code == 400 and "Too many lines" in response.json()["error"]


def test_a_body_with_no_usable_line_is_400_with_the_reasons(model, alice):
    assert "empty" in post(b"", user=alice).json()["error"]
    response = post(jsonl("{}", "nope"), user=alice)

    assert response.status_code == 400
    assert response.json()["imported"] == 0 and [r["line"] for r in response.json()["rejected"]] == [1, 2]


def test_only_writers_may_import(model, alice, bob, charlie):
    body = jsonl(line())

    assert post(body).status_code == 401
    assert post(body, user=alice, scope="read").status_code == 403
    assert post(body, user=charlie).status_code == 403
    assert post(body, user=alice, query="?revision=nope").status_code == 404
    make_repo(owner=alice, name="secret", private=True)
    hidden = Client().post(
        "/api/v1/models/alice/secret/feedback/import", body, content_type="application/x-ndjson", **bearer(charlie)
    )
    assert hidden.status_code == 404
    assert not Generation.objects.exists()


def test_a_browser_session_needs_the_csrf_token(model, alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)

    refused = post(jsonl(line()), client=client)
    client.get("/alice/tiny")  # sets the CSRF cookie
    accepted = client.post(
        URL, jsonl(line()), content_type="application/x-ndjson", HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value
    )

    assert refused.status_code == 403
    assert accepted.status_code == 200 and accepted.json()["imported"] == 1


def test_the_import_is_in_the_openapi_schema(client):
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()

    operation = schema["paths"]["/api/v1/models/{namespace}/{name}/feedback/import"]["post"]
    assert (
        operation["operationId"] == "feedback_import" and "application/x-ndjson" in operation["requestBody"]["content"]
    )
