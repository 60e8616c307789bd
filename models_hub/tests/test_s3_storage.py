"""Blobs in an S3 bucket (S3_BUCKET): stored, deduplicated, committed, uploaded and served through the real views.

There is no cloud bucket here. moto's S3 server, started on a free local port, is the accepted
stand-in: a real HTTP server speaking the S3 protocol, driven by the same boto3/django-storages
code as production, with the storage settings built by config/settings.py from S3_* variables.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
import struct
import subprocess
import sys

import boto3
import pytest
from django.conf import settings as django_settings
from django.core.files.storage import default_storage, storages
from django.core.files.uploadedfile import SimpleUploadedFile
from moto.server import ThreadedMotoServer
from storages.backends.s3 import S3Storage

from accounts.services import token_create
from conftest import make_repo
from models_hub import services
from models_hub.models import Blob, Repository
from models_hub.storage.blobs import blob_open, blob_store_bytes, blob_store_stream
from models_hub.tests import test_upload as tus

pytestmark = pytest.mark.django_db

REGION = "us-east-1"
MIB = 1024 * 1024
_bucket_numbers = itertools.count()


def storage_from_environment(endpoint: str, bucket: str) -> dict:
    """STORAGES["default"] exactly as config/settings.py builds it when S3_BUCKET is set."""
    env = {**os.environ, "S3_BUCKET": bucket, "S3_ENDPOINT_URL": endpoint, "S3_REGION": REGION, "SECRET_KEY": "x"}
    script = "import json; from config import settings; print(json.dumps(settings.STORAGES['default']))"
    output = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=django_settings.BASE_DIR, capture_output=True, check=True
    )
    return json.loads(output.stdout)


@pytest.fixture(scope="module")
def s3_endpoint():
    """moto's S3 server on a free port, with the dummy credentials boto3 finds in the environment."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        with pytest.MonkeyPatch.context() as env:
            env.setenv("AWS_ACCESS_KEY_ID", "testing")
            env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
            for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE"):  # a developer's own AWS setup must not leak in
                env.delenv(name, raising=False)
            yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="module")
def s3_storage(s3_endpoint) -> dict:
    return storage_from_environment(s3_endpoint, "flywheel-blobs")


@pytest.fixture
def s3(s3_endpoint):
    return boto3.client("s3", endpoint_url=s3_endpoint, region_name=REGION)


@pytest.fixture
def bucket(settings, s3, s3_storage) -> str:
    """A fresh bucket per test, made the blob store (default_storage) for that test."""
    name = f"flywheel-blobs-{next(_bucket_numbers)}"
    s3.create_bucket(Bucket=name)
    options = {**s3_storage["OPTIONS"], "bucket_name": name}
    settings.STORAGES = {**settings.STORAGES, "default": {**s3_storage, "OPTIONS": options}}
    assert isinstance(storages["default"], S3Storage)
    return name


def keys(s3, bucket: str) -> set[str]:
    return {item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}


def object_bytes(s3, bucket: str, key: str) -> bytes:
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def temp_files() -> list[str]:
    folder = django_settings.FILE_UPLOAD_TEMP_DIR
    return os.listdir(folder) if os.path.isdir(folder) else []


def bearer(user) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token_create(user=user, name='t', scope='write').secret}"}


def in_chunks(data: bytes, size: int = MIB):
    for start in range(0, len(data), size):
        yield data[start : start + size]


def api_url(repo: Repository, rest: str) -> str:
    return f"/api/v1/repos/{repo.kind}/{repo.namespace}/{repo.name}/{rest}"


def test_settings_build_an_s3_storage_from_the_environment(s3_endpoint, s3_storage):
    assert s3_storage == {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": "flywheel-blobs",
            "endpoint_url": s3_endpoint,
            "region_name": REGION,
            "file_overwrite": False,
        },
    }


def test_blobs_are_stored_in_the_bucket_under_their_content_address(s3, bucket):
    small = b"hello, bucket\n"
    big = os.urandom(3 * MIB + 5)  # streamed in 1 MiB pieces: uploaded in parts by boto3

    small_blob = blob_store_bytes(small)
    big_blob = blob_store_stream(in_chunks(big))

    assert small_blob.storage_key == f"blobs/{small_blob.sha256[:2]}/{small_blob.sha256[2:4]}/{small_blob.sha256}"
    assert keys(s3, bucket) == {small_blob.storage_key, big_blob.storage_key}
    assert object_bytes(s3, bucket, big_blob.storage_key) == big
    assert (big_blob.sha256, big_blob.size) == (hashlib.sha256(big).hexdigest(), len(big))
    with blob_open(small_blob) as handle:
        assert handle.read() == small
    with blob_open(big_blob) as handle:
        assert handle.read() == big
    with blob_open(big_blob) as handle:
        assert handle.read(10) == big[:10]  # a partial read stops early (ranged GETs)
    assert temp_files() == []


def test_identical_bytes_are_one_object(s3, bucket):
    data = os.urandom(64 * 1024)

    first = blob_store_bytes(data)
    second = blob_store_stream(in_chunks(data, 1000))
    Blob.objects.filter(pk=first.pk).delete()  # the object outlives its row: storing again reuses it
    third = blob_store_bytes(data)

    assert first.sha256 == second.sha256 == third.sha256
    assert keys(s3, bucket) == {first.storage_key}
    assert temp_files() == []


def test_reads_fetch_only_from_where_they_start(bucket):
    data = os.urandom(2 * MIB)
    blob = blob_store_bytes(data)
    requested: list[str | None] = []

    def record(params, **_) -> None:
        requested.append(params.get("Range"))

    events = default_storage.connection.meta.client.meta.events
    events.register("before-parameter-build.s3.GetObject", record)
    with blob_open(blob) as handle:
        handle.seek(MIB + 3)
        assert handle.read(100) == data[MIB + 3 : MIB + 103]
        assert handle.tell() == MIB + 103
        handle.seek(-5, os.SEEK_END)
        assert handle.read() == data[-5:]
    with blob_open(blob_store_bytes(b"")) as handle:
        assert handle.read() == b""
    events.unregister("before-parameter-build.s3.GetObject", record)

    # No whole-object download first (django-storages' S3 file would buffer it all): one ranged GET per position.
    assert requested == [f"bytes={MIB + 3}-", f"bytes={len(data) - 5}-"]


def test_local_blobs_are_still_plain_files_for_sendfile(db):
    with blob_open(blob_store_bytes(b"on local disk")) as handle:
        assert os.fstat(handle.fileno()).st_size == len(b"on local disk")


def test_commit_then_resolve_serves_the_bucket_bytes(client, alice, s3, bucket):
    repo = make_repo(owner=alice, name="tiny")
    weights = os.urandom(3 * MIB + 1)
    header = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
    safetensors = struct.pack("<Q", len(header)) + header + b"\0" * 8
    additions = [
        services.FileAddition("README.md", blob_store_bytes(b"---\nlicense: mit\n---\n# Tiny\n")),
        services.FileAddition("weights.bin", blob_store_stream(in_chunks(weights))),
        services.FileAddition("model.safetensors", blob_store_bytes(safetensors)),  # header checked from S3
    ]

    commit = services.commit_create(repo=repo, author=alice, title="Add weights", additions=additions)

    repo.refresh_from_db()
    assert repo.license == "mit"  # the card was read back from the bucket
    assert {a.blob.storage_key for a in additions} <= keys(s3, bucket)
    url = f"/alice/tiny/resolve/{commit.oid}/weights.bin"
    full = client.get(url)
    assert full.status_code == 200 and full["Content-Length"] == str(len(weights))
    assert full["X-Repo-Commit"] == commit.oid and full["ETag"] == f'"{hashlib.sha256(weights).hexdigest()}"'
    assert b"".join(full.streaming_content) == weights
    part = client.get("/alice/tiny/resolve/main/weights.bin", headers={"Range": f"bytes={2 * MIB}-{2 * MIB + 99}"})
    assert part.status_code == 206
    assert part["Content-Range"] == f"bytes {2 * MIB}-{2 * MIB + 99}/{len(weights)}"
    assert b"".join(part.streaming_content) == weights[2 * MIB : 2 * MIB + 100]
    tail = client.get(url, headers={"Range": "bytes=-7"})
    assert b"".join(tail.streaming_content) == weights[-7:]
    head = client.head(url)
    assert head.status_code == 200 and head["Content-Length"] == str(len(weights))


def test_multipart_upload_api_stores_into_the_bucket(client, alice, s3, bucket):
    repo = make_repo(owner=alice, name="tiny")
    data = os.urandom(2 * MIB + 11)
    files = [SimpleUploadedFile("a.bin", data), SimpleUploadedFile("b.bin", data)]

    response = client.post(
        api_url(repo, "upload/main/"), {"files": files, "paths": ["a.bin", "b.bin"]}, **bearer(alice)
    )

    assert response.status_code == 201, response.content
    sha256 = hashlib.sha256(data).hexdigest()
    assert [f["sha256"] for f in response.json()["files"]] == [sha256, sha256]
    # One object for the two files (and one for the .gitattributes the new repository got).
    assert keys(s3, bucket) == {blob.storage_key for blob in Blob.objects.all()}
    assert object_bytes(s3, bucket, Blob.objects.get(pk=sha256).storage_key) == data
    assert b"".join(client.get("/alice/tiny/resolve/main/b.bin").streaming_content) == data
    assert temp_files() == []


def test_raw_put_api_stores_into_the_bucket(client, alice, s3, bucket):
    repo = make_repo(owner=alice, name="tiny")
    data = os.urandom(9 * MIB + 17)  # more than one receive buffer: the pipelined path

    response = client.put(
        api_url(repo, "files/main/weights/big.bin"), data, content_type="application/octet-stream", **bearer(alice)
    )

    assert response.status_code == 201, response.content
    blob = Blob.objects.get(sha256=hashlib.sha256(data).hexdigest())
    assert response.json()["sha256"] == blob.sha256
    assert object_bytes(s3, bucket, blob.storage_key) == data
    assert b"".join(client.get("/alice/tiny/resolve/main/weights/big.bin").streaming_content) == data
    assert temp_files() == []


def test_tus_upload_completes_into_a_blob_in_the_bucket(alice, s3, bucket):
    make_repo(owner=alice, name="tiny")
    client = tus.client_for(alice)
    data = os.urandom(MIB + 123)
    location = tus.create(client, size=len(data), path="weights/data.bin")["Location"]
    for offset in range(0, len(data), 256 * 1024):
        assert tus.patch(client, location, offset=offset, data=data[offset : offset + 256 * 1024]).status_code == 204

    response = tus.commit(client, {"weights/data.bin": location.rsplit("/", 1)[-1]}, summary="Add data")

    assert response.status_code == 201, response.content
    blob = Blob.objects.get(sha256=hashlib.sha256(data).hexdigest())
    assert object_bytes(s3, bucket, blob.storage_key) == data
    assert b"".join(client.get("/alice/tiny/resolve/main/weights/data.bin").streaming_content) == data


def test_hub_commit_and_lfs_upload_store_into_the_bucket(client, alice, s3, bucket, settings):
    settings.FLYWHEEL_LFS_UPLOAD_THRESHOLD = 1000
    make_repo(owner=alice, name="tiny")
    auth = {"Authorization": f"Bearer {token_create(user=alice, name='t', scope='write').secret}"}
    inline, large = b"inline bytes\n", os.urandom(MIB + 7)
    oid = hashlib.sha256(large).hexdigest()

    batch = client.post(
        "/alice/tiny.git/info/lfs/objects/batch",
        json.dumps({"operation": "upload", "transfers": ["basic"], "objects": [{"oid": oid, "size": len(large)}]}),
        content_type="application/vnd.git-lfs+json",
        headers=auth,
    )
    href = batch.json()["objects"][0]["actions"]["upload"]["href"].removeprefix("http://testserver")
    assert client.put(href, large, content_type="application/octet-stream").status_code == 200
    lines = [
        {"key": "header", "value": {"summary": "Add", "description": ""}},
        {"key": "file", "value": {"path": "a.txt", "content": base64.b64encode(inline).decode(), "encoding": "base64"}},
        {"key": "lfsFile", "value": {"path": "w.bin", "algo": "sha256", "oid": oid, "size": len(large)}},
    ]
    body = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
    response = client.post(
        "/api/models/alice/tiny/commit/main", body, content_type="application/x-ndjson", headers=auth
    )

    assert response.status_code == 200, response.content
    assert object_bytes(s3, bucket, Blob.objects.get(pk=oid).storage_key) == large
    assert object_bytes(s3, bucket, Blob.objects.get(pk=hashlib.sha256(inline).hexdigest()).storage_key) == inline
    assert b"".join(client.get("/alice/tiny/resolve/main/w.bin").streaming_content) == large
