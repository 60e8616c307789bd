"""Every query parameter the pages and APIs read, given values nobody should send, and a NUL byte in every
part of a path: an answer below 500 each time.

PostgreSQL (CI) refuses the NUL byte in any text it is given: a name, path or revision that reached a query with
one answered 500. Now the address is refused with 400 before any view (models_hub.middleware.RefuseNulMiddleware),
and a revision with one read from a JSON body is an unknown revision.
"""

from __future__ import annotations

import pytest

from accounts.services import token_create
from conftest import client_for, make_commit, make_repo, make_user
from models_hub.models import DatasetValidation
from models_hub.services.dataset_validation import dataset_validation_run

pytestmark = pytest.mark.django_db

HOSTILE = ["", "abc", "-1", "99999999999999999999999", "\x00", "main\x00", "x" * 5000, "NaN", "[]"]
PARAMETERS = {
    "/api/v1/models/": ["library", "license", "owner", "page", "per_page", "search", "sort", "tag", "task"],
    "/api/v1/datasets/alice/ds/rows": ["config", "limit", "offset", "revision", "search", "split"],
    "/api/v1/datasets/alice/ds/validation": ["revision"],
    "/api/v1/leaderboard": ["model"],
    "/api/v1/models/alice/tiny/promotions": ["page", "per_page"],
    "/api/v1/repos/model/alice/tiny/commits/main/": ["limit", "offset"],
    "/api/models": ["search", "author", "limit", "sort", "direction", "filter", "full", "cardData"],
    "/models": ["search", "sort", "page", "per_page", "task", "tag", "owner"],
    "/alice/tiny/commits/main": ["page"],
    "/alice/tiny/feedback": ["revision", "a", "b", "days"],
    "/alice/tiny/feedback/compare": ["a", "b"],
    "/arena/leaderboard": ["model"],
    "/datasets/alice/ds/viewer": ["config", "split", "offset", "search", "revision"],
    "/rate": ["campaign"],
    "/alice/tiny/playground": ["revision"],
    "/arena": ["pin"],
}


def test_hostile_query_strings_never_answer_500():
    alice = make_user("alice", is_staff=True)
    model = make_repo(owner=alice, name="tiny")
    make_commit(repo=model, author=alice, files={"README.md": b"# Tiny\n"})
    dataset = make_repo(owner=alice, name="ds", kind="dataset")
    commit = make_commit(repo=dataset, author=alice, files={"train.jsonl": b'{"text": "a"}\n'})
    dataset_validation_run(validation_id=DatasetValidation.objects.get(commit=commit).pk)  # the rows need it
    secret = token_create(user=alice, name="t", scope="read").secret
    client = client_for(alice)

    failures = []
    for url, names in PARAMETERS.items():
        assert client.get(url).status_code < 400, url  # the page itself answers, so each value is what is tried
        for name in names:
            for value in HOSTILE:
                response = client.get(url, {name: value}, HTTP_AUTHORIZATION=f"Bearer {secret}")
                if response.status_code >= 500:
                    failures.append(f"{url}?{name}={value[:12]!r}: {response.status_code}")

    assert not failures, "\n".join(failures)


NUL_PATHS = [
    "/ali%00ce",
    "/ali%00ce/tiny",
    "/alice/ti%00ny",
    "/datasets/alice/d%00s",
    "/alice/tiny/blob/main/READ%00ME.md",
    "/alice/tiny/blob/ma%00in/README.md",
    "/alice/tiny/tree/main/a%00",
    "/alice/tiny/edit/main/README%00.md",
    "/alice/tiny/commits/ma%00in",
    "/alice/tiny/resolve/ma%00in/README.md",
    "/api/models/alice/tiny/revision/ma%00in",
    "/api/v1/repos/model/ali%00ce/tiny/",
    "/api/v1/models/alice/ti%00ny/promotions",
    "/v1/models/alice/ti%00ny",
    "/models?sea%00rch=x",
]


def test_a_nul_byte_anywhere_in_the_address_is_a_400_that_says_so():
    alice = make_user("alice")
    model = make_repo(owner=alice, name="tiny")
    make_commit(repo=model, author=alice, files={"README.md": b"# Tiny\n"})
    client = client_for(alice)

    for url in NUL_PATHS:
        response = client.get(url)
        assert response.status_code == 400, url
        assert "NUL character" in response.json()["error"] and "NUL character" in response["X-Error-Message"]
    assert client.get("/alice/tiny/blob/main/README.md").status_code == 200
