"""Card metadata through the Hub protocol: /api/validate-yaml and the NDJSON commit, against a live
server, with raw requests for hostile bodies and the stock huggingface_hub client for the rest."""

from __future__ import annotations

import base64
import http.client
import json
import warnings
from urllib.parse import urlsplit

import pytest
from huggingface_hub import HfApi

from accounts.services import token_create
from conftest import make_commit, make_repo
from models_hub import selectors

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.hub_client]

HANG_GUARD = pytest.mark.timeout(30, func_only=True)  # before the fix these held a worker for minutes


@pytest.fixture(autouse=True)
def hub_env(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HF_ENDPOINT", raising=False)


def token_for(user) -> str:
    return token_create(user=user, name="write-token", scope="write").secret


def post(server, path: str, body: bytes, headers: dict | None = None) -> tuple[int, object, str]:
    """A plain POST (no client-side checks); returns (status, JSON or text, content type)."""
    parts = urlsplit(server.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        connection.request("POST", path, body=body, headers=headers or {})
        response = connection.getresponse()
        text = response.read().decode()
        try:
            payload = json.loads(text)
        except ValueError:
            payload = text
        return response.status, payload, response.getheader("Content-Type", "")
    finally:
        connection.close()


def validate(server, content) -> tuple[int, object, str]:
    return post(server, "/api/validate-yaml", json.dumps({"content": content, "repoType": "model"}).encode())


HOSTILE_CARDS = {
    "unclosed flow sequences": "---\nlicense: " + "[" * 13_000 + "\n---\n",
    "deeply nested list": "---\ntags: " + "[" * 3_000 + "]" * 3_000 + "\n---\n",
    "deep block nesting": "---\na:\n" + "- " * 20_000 + "x\n---\n",
    "billion laughs": "---\na: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n---\n",
}


@HANG_GUARD
@pytest.mark.parametrize("content", HOSTILE_CARDS.values(), ids=HOSTILE_CARDS.keys())
def test_validate_yaml_answers_hostile_yaml_with_a_json_400(live_server, content):
    status, payload, content_type = validate(live_server, content)
    assert status == 400 and content_type == "application/json", payload
    assert payload["errors"][0]["message"].startswith(("The YAML metadata", "Invalid YAML"))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "The request body must be JSON."),
        (b"[" * 100_000 + b"]" * 100_000, "The request body must be JSON."),
        (b'["content"]', "The request body must be a JSON object."),
        (b'{"content": 42}', "'content' must be a string"),
        (b'{"content": ["---", "a: b"]}', "'content' must be a string"),
        (b'{"content": "---\\na: b\\n---\\n", "repoType": ["model"]}', "'repoType' must be"),
    ],
    ids=["not JSON", "deeply nested JSON", "a JSON list", "a number", "a list", "a list as repoType"],
)
def test_validate_yaml_answers_bad_bodies_with_a_json_400(live_server, body, message):
    status, payload, content_type = post(live_server, "/api/validate-yaml", body)
    assert status == 400 and content_type == "application/json", payload
    assert payload["errors"][0]["message"].startswith(message) and payload["warnings"] == []


def test_validate_yaml_lists_every_field_error(live_server):
    status, payload, _ = validate(live_server, "---\nlicense: 3\nmodel-index: foo\n---\n")
    assert status == 400
    assert [e["message"] for e in payload["errors"]] == ['"license" must be a string', '"model-index" must be an array']


def test_stock_client_shows_the_empty_metadata_warning_and_still_commits(live_server, alice):
    repo = make_repo(owner=alice, name="tiny")
    api = HfApi(endpoint=live_server.url, token=token_for(alice))
    with pytest.warns(UserWarning, match="Warnings while validating metadata in README.md:\n- empty or missing yaml"):
        api.upload_file(path_or_fileobj=b"# No metadata\n", path_in_repo="README.md", repo_id="alice/tiny")
    assert "README.md" in {e.path for e in selectors.tree_entries(selectors.head_commit(repo))}


def test_stock_client_commits_a_valid_card_without_warnings(live_server, alice):
    make_repo(owner=alice, name="tiny")
    api = HfApi(endpoint=live_server.url, token=token_for(alice))
    card = b"---\nlicense: mit\nmodel-index:\n- name: tiny\n  results: []\n---\n# Tiny\n"
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        api.upload_file(path_or_fileobj=card, path_in_repo="README.md", repo_id="alice/tiny")


def test_stock_client_refuses_an_invalid_model_index_with_the_field_named(live_server, alice):
    make_repo(owner=alice, name="tiny")
    api = HfApi(endpoint=live_server.url, token=token_for(alice))
    with pytest.raises(ValueError, match='Invalid metadata in README.md.\n- "model-index" must be an array'):
        api.upload_file(path_or_fileobj=b"---\nmodel-index: foo\n---\n", path_in_repo="README.md", repo_id="alice/tiny")


def commit_body(path: str, data: bytes) -> bytes:
    lines = [
        {"key": "header", "value": {"summary": "Card", "description": ""}},
        {"key": "file", "value": {"path": path, "content": base64.b64encode(data).decode(), "encoding": "base64"}},
    ]
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


@HANG_GUARD
@pytest.mark.parametrize(
    ("card", "message"),
    [
        (b"---\nlicense: [mit\n---\n", "Invalid metadata in README.md: Invalid YAML: while parsing a flow sequence"),
        (HOSTILE_CARDS["unclosed flow sequences"].encode(), "Invalid metadata in README.md: The YAML metadata nests"),
        (HOSTILE_CARDS["billion laughs"].encode(), "Invalid metadata in README.md: The YAML metadata uses aliases"),
    ],
    ids=["invalid", "hostile", "billion laughs"],
)
def test_hub_commit_of_an_invalid_card_is_400_and_leaves_the_branch(live_server, alice, card, message):
    # A client that skips /api/validate-yaml (or an old one) meets the same check at the commit.
    repo = make_repo(owner=alice, name="tiny")
    head = make_commit(repo=repo, author=alice, files={"README.md": b"---\nlicense: mit\n---\n"})
    status, payload, content_type = post(
        live_server,
        "/api/models/alice/tiny/commit/main",
        commit_body("README.md", card),
        {"Authorization": f"Bearer {token_for(alice)}", "Content-Type": "application/x-ndjson"},
    )
    assert status == 400 and content_type == "application/json", payload
    assert payload["error"].startswith(message)
    assert selectors.head_commit(repo) == head
