"""A refused upload leaves nothing behind: no blob row and no file in the blob store.

Blobs are shared by content, so only a blob that the refused request itself created, and that
nothing refers to, is removed; the same bytes already committed elsewhere stay.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.services import token_create
from conftest import make_commit, make_repo
from models_hub import services
from models_hub.errors import Conflict
from models_hub.models import Blob, Repository
from models_hub.storage.blobs import NewBlobs, blob_delete_if_unreferenced, write_stream_to_temp

pytestmark = pytest.mark.django_db

NOT_SAFETENSORS = b"\xff" * 64 + b"refused-upload-marker"


def stored_files() -> set[str]:
    root = Path(settings.STORAGES["default"]["OPTIONS"]["location"])
    return {str(path) for path in root.rglob("*") if path.is_file()}


def bearer(user) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token_create(user=user, name='t', scope='write').secret}"}


def api(repo: Repository, rest: str) -> str:
    return f"/api/v1/repos/{repo.kind}/{repo.namespace}/{repo.name}/{rest}"


def raw_put(client, repo: Repository, path: str, data: bytes, headers: dict):
    return client.put(api(repo, f"files/main/{path}"), data, content_type="application/octet-stream", **headers)


def multipart_post(client, repo: Repository, files: dict[str, bytes], headers: dict, **fields):
    data = {"files": [SimpleUploadedFile(p.rsplit("/", 1)[-1], b) for p, b in files.items()], "paths": list(files)}
    return client.post(api(repo, "upload/main/"), {**data, **fields}, **headers)


def hub_commit(client, repo: Repository, lines: list[dict], headers: dict):
    body = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
    return client.post(f"/api/models/{repo.repo_id}/commit/main", body, content_type="application/x-ndjson", **headers)


@pytest.fixture
def repo(alice) -> Repository:
    return make_repo(owner=alice, name="tiny")


def test_raw_put_of_an_invalid_safetensors_stores_nothing(client, alice, repo):
    files, blobs = stored_files(), Blob.objects.count()

    response = raw_put(client, repo, "model.safetensors", NOT_SAFETENSORS, bearer(alice))

    assert response.status_code == 400
    assert "safetensors" in response.json()["error"]
    assert Blob.objects.count() == blobs
    assert stored_files() == files


def test_raw_put_refused_by_the_commit_stores_nothing(client, alice, repo):
    make_commit(repo=repo, author=alice, files={"docs": b"a file where a folder would go"})
    files, blobs = stored_files(), Blob.objects.count()

    response = raw_put(client, repo, "docs/guide.md", b"# A guide\n" * 10, bearer(alice))

    assert response.status_code == 400
    assert "both a file and a folder" in response.json()["error"]
    assert Blob.objects.count() == blobs
    assert stored_files() == files


def test_multipart_upload_refused_stores_none_of_its_files(client, alice, repo):
    files, blobs = stored_files(), Blob.objects.count()

    response = multipart_post(
        client, repo, {"notes.txt": b"fine on its own", "model.safetensors": NOT_SAFETENSORS}, bearer(alice)
    )

    assert response.status_code == 400
    assert Blob.objects.count() == blobs
    assert stored_files() == files


def test_hub_commit_refused_after_its_files_arrived_stores_nothing(client, alice, repo):
    files, blobs = stored_files(), Blob.objects.count()
    lines = [
        {"key": "header", "value": {"summary": "Replace", "description": ""}},
        {"key": "file", "value": {"path": "new.txt", "content": base64.b64encode(b"new bytes").decode()}},
        {"key": "deletedFile", "value": {"path": "no-such-file.txt"}},
    ]

    response = hub_commit(client, repo, lines, bearer(alice))

    assert response.status_code == 404
    assert response["X-Error-Code"] == "EntryNotFound"
    assert Blob.objects.count() == blobs
    assert stored_files() == files


def test_refused_upload_keeps_the_same_bytes_committed_elsewhere(client, alice, repo):
    other = make_repo(owner=alice, name="other")
    make_commit(repo=other, author=alice, files={"copy.bin": NOT_SAFETENSORS[:64]})
    shared = Blob.objects.get(size=64)
    make_commit(repo=repo, author=alice, files={"docs": b"a file"})

    response = raw_put(client, repo, "docs/model.bin", NOT_SAFETENSORS[:64], bearer(alice))

    assert response.status_code == 400
    assert Blob.objects.filter(sha256=shared.sha256).exists()
    assert os.path.exists(Path(settings.STORAGES["default"]["OPTIONS"]["location"]) / shared.storage_key)


def test_a_blob_in_use_is_never_deleted(alice, repo):
    make_commit(repo=repo, author=alice, files={"a.txt": b"in use"})
    blob = Blob.objects.get(size=len(b"in use"))

    assert blob_delete_if_unreferenced(blob.sha256) is False
    assert Blob.objects.filter(sha256=blob.sha256).exists()


def test_commit_refuses_a_blob_removed_while_it_was_committed(alice, repo):
    """A failed upload of the same bytes removed the blob between storing and committing: say so, store nothing."""
    path, sha256, size = write_stream_to_temp([b"short-lived bytes"])
    blob = NewBlobs().from_temp_file(path=path, sha256=sha256, size=size)
    assert blob_delete_if_unreferenced(sha256) is True
    head = repo.refs.get(name="main").commit

    with pytest.raises(Conflict, match="upload it again"):
        services.commit_create(repo=repo, author=alice, title="Add", additions=[services.FileAddition("a.txt", blob)])

    assert repo.refs.get(name="main").commit == head
