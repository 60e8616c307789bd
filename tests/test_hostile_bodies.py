"""JSON bodies nobody should send, to every REST endpoint that reads one: a 400 with a reason, never a 500.

Python's JSON decoder raises RecursionError (not ValueError) on arrays or objects nested a few thousand deep,
which DRF's parser let through as a 500; models_hub.api.parsers.BoundedJSONParser answers 400.
"""

from __future__ import annotations

import pytest

from accounts.services import token_create
from conftest import client_for, make_commit, make_repo, make_user

pytestmark = pytest.mark.django_db

ENDPOINTS = [
    "/api/v1/generations/",
    "/api/v1/battles",
    "/api/v1/tokens/",
    "/api/v1/repos/",
    "/api/v1/training-runs",
    "/api/v1/feedback-snapshots",
    "/api/v1/models/alice/tiny/rollback",
]
BODIES = {
    "arrays nested 100,000 deep": "[" * 100_000 + "]" * 100_000,
    "objects nested 100,000 deep": '{"a":' * 100_000 + "1" + "}" * 100_000,
    "NaN": '{"prompt": NaN}',
    "not UTF-8": b"\xff\xfe{}",
    "cut short": '{"prompt": "a',
}


def test_hostile_json_bodies_are_400_with_a_reason():
    alice = make_user("alice", is_staff=True)
    model = make_repo(owner=alice, name="tiny")
    make_commit(repo=model, author=alice, files={"README.md": b"# Tiny\n"})
    secret = token_create(user=alice, name="t", scope="write").secret
    client = client_for(None)

    failures = []
    for url in ENDPOINTS:
        for name, body in BODIES.items():
            response = client.post(url, body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {secret}")
            if response.status_code != 400 or not response.json().get("error"):
                failures.append(f"{url} with {name}: {response.status_code} {response.content[:80]!r}")

    assert not failures, "\n".join(failures)
