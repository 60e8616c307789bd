"""Hostile request bodies on API endpoints get a clear JSON 4xx, and nothing unexpected is ever an HTML 500."""

from __future__ import annotations

import base64
import json
import struct

import pytest
from django.test import Client
from django.urls import path

from accounts.services import token_create
from conftest import make_repo
from models_hub.hub_api.common import hub_endpoint
from models_hub.models import Commit, Repository

pytestmark = pytest.mark.django_db


def bearer(user) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token_create(user=user, name='t', scope='write').secret}"}


def safetensors_with_header(header: bytes) -> bytes:
    return struct.pack("<Q", len(header)) + header


DEEP_HEADER = b"[" * 200_000 + b"]" * 200_000
DEEP_OBJECT_HEADER = b'{"a":' * 200_000 + b"1" + b"}" * 200_000


@pytest.mark.parametrize("header", [DEEP_HEADER, DEEP_OBJECT_HEADER], ids=["arrays", "objects"])
def test_deeply_nested_safetensors_header_is_a_clear_400_on_raw_upload(alice, header):
    repo = make_repo(owner=alice, name="tiny")
    commits_before = Commit.objects.filter(repository=repo).count()
    response = Client().put(
        "/api/v1/repos/model/alice/tiny/files/main/model.safetensors",
        safetensors_with_header(header),
        content_type="application/octet-stream",
        **bearer(alice),
    )

    assert response.status_code == 400, response.content[:200]
    assert "model.safetensors is not a valid safetensors file" in response.json()["error"]
    assert "nest" in response.json()["error"]
    assert Commit.objects.filter(repository=repo).count() == commits_before


def test_deeply_nested_safetensors_header_is_a_clear_400_on_hub_commit(alice):
    repo = make_repo(owner=alice, name="tiny")
    commits_before = Commit.objects.filter(repository=repo).count()
    content = base64.b64encode(safetensors_with_header(DEEP_HEADER)).decode()
    body = b"".join(
        json.dumps(line).encode() + b"\n"
        for line in (
            {"key": "header", "value": {"summary": "Add", "description": ""}},
            {"key": "file", "value": {"path": "model.safetensors", "content": content, "encoding": "base64"}},
        )
    )

    response = Client().post(
        "/api/models/alice/tiny/commit/main", body, content_type="application/x-ndjson", **bearer(alice)
    )

    assert response.status_code == 400, response.content[:200]
    assert "not a valid safetensors file" in response.json()["error"]
    assert Commit.objects.filter(repository=repo).count() == commits_before


@pytest.mark.parametrize(
    "tensor",
    [
        {"dtype": ["F32"], "shape": [2], "data_offsets": [0, 8]},  # unhashable dtype
        {"dtype": "F32", "shape": 2, "data_offsets": [0, 8]},
    ],
)
def test_malformed_tensor_entries_are_a_clear_400(alice, tensor):
    make_repo(owner=alice, name="tiny")
    header = json.dumps({"w": tensor}).encode()
    response = Client().put(
        "/api/v1/repos/model/alice/tiny/files/main/model.safetensors",
        safetensors_with_header(header) + b"\0" * 8,
        content_type="application/octet-stream",
        **bearer(alice),
    )

    assert response.status_code == 400, response.content[:200]
    assert "not a valid safetensors file" in response.json()["error"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"name": "tiny", "type": ["model"]}, "Unknown repository type"),
        ({"name": "tiny", "type": {"model": 1}}, "Unknown repository type"),
        ({"name": "tiny", "visibility": ["private"]}, "Unknown visibility"),
        ({"name": "tiny", "private": "yes"}, "'private' must be true or false"),
        ({"name": ["tiny"]}, "'name' must be a string"),
        ({"name": "tiny", "organization": 7}, "'organization' must be a string"),
        ({"name": 5}, "'name' must be a string"),
    ],
)
def test_repo_create_with_wrongly_typed_fields_is_a_clear_400(alice, body, message):
    response = Client().post("/api/repos/create", body, content_type="application/json", **bearer(alice))

    assert response.status_code == 400, response.content[:200]
    assert response["Content-Type"] == "application/json"
    assert message in response.json()["error"]
    assert not Repository.objects.exists()


def test_repo_move_and_settings_with_wrongly_typed_fields_are_a_clear_400(alice):
    make_repo(owner=alice, name="tiny")
    client = Client()
    move = client.post(
        "/api/repos/move",
        {"fromRepo": "alice/tiny", "toRepo": "alice/other", "type": ["model"]},
        content_type="application/json",
        **bearer(alice),
    )
    settings = client.put(
        "/api/models/alice/tiny/settings", {"gated": ["auto"]}, content_type="application/json", **bearer(alice)
    )

    assert move.status_code == 400 and "Unknown repository type" in move.json()["error"]
    assert settings.status_code == 400 and "Unknown gate" in settings.json()["error"]


# The safety net: whatever goes wrong under /api/, the answer is JSON, never Django's HTML page.


def _boom(request):
    raise RuntimeError("an unexpected bug")


urlpatterns = [
    path("api/boom", _boom),
    path("api/v1/boom", _boom),
    path("alice/tiny/resolve/main/boom", hub_endpoint(_boom)),  # a Hub protocol view outside /api/
    path("not-api/boom", _boom),
]


@pytest.mark.urls(__name__)
@pytest.mark.parametrize("url", ["/api/boom", "/api/v1/boom", "/alice/tiny/resolve/main/boom"])
def test_unhandled_exception_under_api_is_a_json_500(url):
    response = Client(raise_request_exception=False).get(url)

    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert "Internal server error" in response.json()["error"]
    assert response["X-Request-Id"] in response.json()["error"]


@pytest.mark.urls(__name__)
def test_unhandled_exception_on_a_page_is_still_an_html_500():
    response = Client(raise_request_exception=False).get("/not-api/boom")

    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("url", ["/api/no-such-endpoint", "/api/v1/no-such-endpoint"])
def test_unknown_api_url_is_a_json_404(url):
    response = Client().get(url)

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]
