"""Every upload path makes the same checks (services.upload_checks) and refuses with the same words.

The Hub commit, the raw PUT, the multipart upload and the browser's resumable upload each get a bad
path, a corrupt .safetensors file and a stale parent commit: each is refused, the branch does not
move, and a refused file's bytes are not left in the blob store.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Callable

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import HttpResponse
from django.test import Client

from accounts.models import User
from accounts.services import token_create
from conftest import client_for, make_commit, make_repo
from models_hub import selectors
from models_hub.models import Blob, Repository
from models_hub.tests.test_upload import create, patch

pytestmark = pytest.mark.django_db

CORRUPT = b"\xff" * 64  # says its header is ~18 EB long
BAD_PATH = "weights\\model.bin"


def _bearer(user: User) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token_create(user=user, name='t', scope='write').secret}"}


def hub_commit(user: User, path: str, data: bytes, parent: str | None = None) -> HttpResponse:
    header = {"summary": "Add", "description": "", **({"parentCommit": parent} if parent else {})}
    content = base64.b64encode(data).decode()
    lines = [
        {"key": "header", "value": header},
        {"key": "file", "value": {"path": path, "content": content, "encoding": "base64"}},
    ]
    body = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
    return Client().post(
        "/api/models/alice/tiny/commit/main", body, content_type="application/x-ndjson", **_bearer(user)
    )


def raw_put(user: User, path: str, data: bytes, parent: str | None = None) -> HttpResponse:
    headers = {**_bearer(user), **({"HTTP_X_PARENT_COMMIT": parent} if parent else {})}
    url = "/api/v1/repos/model/alice/tiny/files/main/" + path.replace("\\", "%5C")
    return Client().put(url, data, content_type="application/octet-stream", **headers)


def multipart(user: User, path: str, data: bytes, parent: str | None = None) -> HttpResponse:
    fields = {
        "files": [SimpleUploadedFile("file", data)],
        "paths": [path],
        **({"parent_commit": parent} if parent else {}),
    }
    return Client().post("/api/v1/repos/model/alice/tiny/upload/main/", fields, **_bearer(user))


def resumable(user: User, path: str, data: bytes, parent: str | None = None) -> HttpResponse:
    """The browser's path: a tus upload, then a commit of it from the upload page."""
    assert parent is None, "the upload page commits onto the head"
    client = client_for(user)
    created = create(client, size=len(data), path=path)
    if created.status_code != 201:
        return created
    assert patch(client, created["Location"], offset=0, data=data).status_code == 204
    upload_id = created["Location"].rstrip("/").rsplit("/", 1)[-1]
    form = {"summary": "Upload", "upload_id": [upload_id], "path": [path]}
    return client.post("/alice/tiny/upload/main/commit", form, headers={"Accept": "application/json"})


SURFACES: list[Callable[..., HttpResponse]] = [hub_commit, raw_put, multipart, resumable]


@pytest.fixture
def repo(alice) -> Repository:
    repo = make_repo(owner=alice, name="tiny")
    make_commit(repo=repo, author=alice, files={"README.md": b"# tiny\n"})
    return repo


def _error(response: HttpResponse) -> str:
    """The error's text: JSON everywhere, but plain text from the tus protocol's own endpoints."""
    if response["Content-Type"].startswith("application/json"):
        return response.json()["error"]
    return response.content.decode()


def _temp_files() -> set[str]:
    folder = settings.FILE_UPLOAD_TEMP_DIR
    return set(os.listdir(folder)) if os.path.isdir(folder) else set()


@pytest.mark.parametrize("surface", SURFACES, ids=lambda s: s.__name__)
def test_corrupt_safetensors_is_refused_and_never_stored(surface, alice, repo):
    head = selectors.head_commit(repo)
    temp_before = _temp_files()

    response = surface(alice, "model.safetensors", CORRUPT)

    assert response.status_code == 400, response.content[:300]
    assert "model.safetensors is not a valid safetensors file" in _error(response)
    assert selectors.head_commit(repo) == head
    assert not Blob.objects.filter(sha256=hashlib.sha256(CORRUPT).hexdigest()).exists()
    assert _temp_files() <= temp_before


@pytest.mark.parametrize("surface", SURFACES, ids=lambda s: s.__name__)
def test_bad_path_is_refused_with_the_same_reason(surface, alice, repo):
    head = selectors.head_commit(repo)

    response = surface(alice, BAD_PATH, b"weights")

    # The Hub protocol answers an invalid path with 422, as the public hub does; the site's own API with 400.
    assert response.status_code == (422 if surface is hub_commit else 400), response.content[:300]
    assert f"Invalid path {BAD_PATH!r}: The file path contains a backslash" in _error(response)
    assert selectors.head_commit(repo) == head


def test_preupload_refuses_a_bad_path_with_the_same_reason(alice, repo):
    body = json.dumps({"files": [{"path": BAD_PATH, "size": 7}]})
    response = Client().post(
        "/api/models/alice/tiny/preupload/main", body, content_type="application/json", **_bearer(alice)
    )
    assert response.status_code == 422
    assert f"Invalid path {BAD_PATH!r}: The file path contains a backslash" in response.json()["error"]


@pytest.mark.parametrize("surface", [hub_commit, raw_put, multipart], ids=lambda s: s.__name__)
def test_stale_parent_is_refused_with_the_same_reason(surface, alice, repo):
    stale = selectors.head_commit(repo).oid
    make_commit(repo=repo, author=alice, files={"a.txt": b"a"})
    head = selectors.head_commit(repo)

    response = surface(alice, "b.txt", b"b", parent=stale)

    assert response.status_code == 412, response.content[:300]
    assert (
        f"A commit has happened since {stale[:7]}: the head of main is now {head.oid[:7]}" in response.json()["error"]
    )
    assert selectors.head_commit(repo) == head
    assert surface(alice, "b.txt", b"b", parent=head.oid[:7]).status_code in (200, 201)
