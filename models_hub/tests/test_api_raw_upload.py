"""REST v1 raw upload: PUT /api/v1/repos/<kind>/<ns>/<name>/files/<branch>/<path> with the bytes as body."""

from __future__ import annotations

import hashlib
import io
import json
import mmap
import os
import socket
import struct
import threading

import pytest
from django.conf import settings
from django.test import Client, override_settings
from drf_spectacular.generators import SchemaGenerator
from gunicorn.http.body import Body, LengthReader
from gunicorn.http.unreader import SocketUnreader

from accounts.services import token_create
from conftest import make_commit, make_repo
from models_hub import services
from models_hub.models import Blob, Repository
from models_hub.storage import streaming

pytestmark = pytest.mark.django_db


def bearer(user, scope: str = "write") -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token_create(user=user, name='t', scope=scope).secret}"}


def put(client: Client, repo: Repository, rest: str, data: bytes, headers: dict, query: str = ""):
    url = f"/api/v1/repos/{repo.kind}/{repo.namespace}/{repo.name}/files/{rest}{query}"
    return client.put(url, data, content_type="application/octet-stream", **headers)


def temp_files() -> list[str]:
    folder = settings.FILE_UPLOAD_TEMP_DIR
    return os.listdir(folder) if os.path.isdir(folder) else []


def test_upload_then_download_gives_the_same_bytes(client, alice):
    repo = make_repo(owner=alice, name="tiny")
    data = os.urandom(9 * 1024 * 1024 + 17)  # more than one 8 MiB buffer: the pipelined path

    response = put(client, repo, "main/weights/big.bin", data, {**bearer(alice), "HTTP_X_COMMIT_MESSAGE": "Add big"})

    assert response.status_code == 201, response.content
    body = response.json()
    assert body == {
        "commit": repo.commits.first().oid,
        "path": "weights/big.bin",
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    assert repo.commits.first().title == "Add big"
    download = client.get("/alice/tiny/resolve/main/weights/big.bin")
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == data
    assert temp_files() == []


@override_settings(FLYWHEEL_UPLOAD_DIRECT_IO=False)
def test_upload_through_the_page_cache_when_direct_io_is_off(client, alice):
    repo = make_repo(owner=alice, name="tiny")
    data = os.urandom(5 * 1024 * 1024 + 3)

    response = put(client, repo, "main/big.bin", data, bearer(alice))

    assert response.status_code == 201
    assert b"".join(client.get("/alice/tiny/resolve/main/big.bin").streaming_content) == data


def test_message_from_query_utf8_header_and_default(client, alice):
    repo = make_repo(owner=alice, name="tiny")
    headers = bearer(alice)

    put(client, repo, "main/a.txt", b"a", headers, "?message=From%20query&description=Why")
    first = repo.commits.first()
    put(client, repo, "main/b.txt", b"b", {**headers, "HTTP_X_COMMIT_MESSAGE": "Grüße".encode().decode("latin-1")})
    second = repo.commits.first()
    put(client, repo, "main/c.txt", b"c", headers)

    assert (first.title, first.description) == ("From query", "Why")
    assert second.title == "Grüße"
    assert repo.commits.first().title == "Upload c.txt"


def test_branch_with_a_slash_and_empty_file(client, alice):
    repo = make_repo(owner=alice, name="tiny")
    services.branch_create(repo=repo, name="feature/x")

    response = put(client, repo, "feature/x/docs/empty.txt", b"", bearer(alice))

    assert response.status_code == 201, response.content
    assert response.json()["path"] == "docs/empty.txt" and response.json()["size"] == 0


def test_sha256_mismatch_is_400_and_nothing_is_committed(client, alice):
    repo = make_repo(owner=alice, name="tiny")
    data = b"the real bytes"
    wrong = hashlib.sha256(b"other bytes").hexdigest()

    response = put(client, repo, "main/a.bin", data, {**bearer(alice), "HTTP_X_CONTENT_SHA256": wrong})
    malformed = put(client, repo, "main/a.bin", data, {**bearer(alice), "HTTP_X_CONTENT_SHA256": "abc"})
    right = put(client, repo, "main/a.bin", data, bearer(alice), f"?sha256={hashlib.sha256(data).hexdigest().upper()}")

    assert response.status_code == 400 and "SHA-256" in response.json()["error"]
    assert malformed.status_code == 400
    assert right.status_code == 201
    assert repo.commits.count() == 2
    assert temp_files() == []


@override_settings(FLYWHEEL_MAX_UPLOAD_BYTES=2048)
def test_over_the_limit_is_413(client, alice):
    repo = make_repo(owner=alice, name="tiny")

    response = put(client, repo, "main/big.bin", b"x" * 5000, bearer(alice))

    assert response.status_code == 413
    assert "2,048" in response.json()["error"]
    assert repo.commits.count() == 1
    assert not Blob.objects.filter(size=5000).exists()


def test_chunked_body_is_411(alice):
    repo = make_repo(owner=alice, name="tiny")
    headers = bearer(alice)
    client = Client()
    url = "/api/v1/repos/model/alice/tiny/files/main/a.bin"

    response = client.generic("PUT", url, b"", HTTP_TRANSFER_ENCODING="chunked", **headers)
    garbage = client.generic("PUT", url, b"", CONTENT_LENGTH="12abc", **headers)

    assert response.status_code == 411 and "Content-Length" in response.json()["error"]
    assert garbage.status_code == 400
    assert repo.commits.count() == 1


@pytest.mark.parametrize(
    "rest", ["main/../escape.txt", "main/a/../../b", "main/a\\b", "main/.git/config", "main/a//b", "main/"]
)
def test_hostile_paths_are_400(client, alice, rest):
    repo = make_repo(owner=alice, name="tiny")

    response = put(client, repo, rest, b"x", bearer(alice))

    assert response.status_code == 400, response.content
    assert response.json()["error"]
    assert repo.commits.count() == 1


def test_nul_in_path_is_400(client, alice):
    repo = make_repo(owner=alice, name="tiny")

    response = put(client, repo, "main/nul%00.txt", b"x", bearer(alice))

    assert response.status_code == 400
    assert repo.commits.count() == 1


def test_permissions(client, alice, bob, charlie):
    public = make_repo(owner=alice, name="tiny")
    private = make_repo(owner=alice, name="secret", private=True)

    assert put(client, public, "main/a.txt", b"a", {}).status_code == 401
    assert put(client, public, "main/a.txt", b"a", bearer(alice, "read")).status_code == 403
    assert put(client, public, "main/a.txt", b"a", bearer(bob)).status_code == 403
    assert put(client, private, "main/a.txt", b"a", bearer(charlie)).status_code == 404
    assert public.commits.count() == 1 and private.commits.count() == 1


def test_session_needs_csrf(alice):
    repo = make_repo(owner=alice, name="tiny")
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)

    refused = put(client, repo, "main/a.txt", b"a", {})
    client.get("/")  # sets the CSRF cookie, as any page does
    accepted = put(client, repo, "main/a.txt", b"a", {"HTTP_X_CSRFTOKEN": client.cookies["csrftoken"].value})

    assert refused.status_code == 403
    assert accepted.status_code == 201, accepted.content


def test_stale_parent_is_412_and_fresh_parent_commits(client, alice):
    repo = make_repo(owner=alice, name="tiny")
    old_head = repo.commits.first().oid
    new_head = make_commit(repo=repo, author=alice, files={"a.txt": b"a"}).oid

    stale = put(client, repo, "main/b.txt", b"b", {**bearer(alice), "HTTP_X_PARENT_COMMIT": old_head})
    fresh = put(client, repo, "main/b.txt", b"b", bearer(alice), f"?parent_commit={new_head[:7]}")

    assert stale.status_code == 412 and "refresh" in stale.json()["error"]
    assert fresh.status_code == 201
    assert repo.commits.count() == 3


def test_unknown_branch_is_404(client, alice):
    repo = make_repo(owner=alice, name="tiny")

    assert put(client, repo, "nope/a.txt", b"a", bearer(alice)).status_code == 404


def test_corrupt_safetensors_is_refused_clearly(client, alice):
    repo = make_repo(owner=alice, name="tiny")
    header = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
    valid = struct.pack("<Q", len(header)) + header + b"\0" * 8

    corrupt = put(client, repo, "main/model.safetensors", b"\xff" * 64, bearer(alice))
    good = put(client, repo, "main/model.safetensors", valid, bearer(alice))

    assert corrupt.status_code == 400
    assert "model.safetensors is not a valid safetensors file" in corrupt.json()["error"]
    assert good.status_code == 201


def test_pickle_is_flagged_unsafe_in_the_tree(client, alice):
    repo = make_repo(owner=alice, name="tiny")

    put(client, repo, "main/model.pt", b"\x80\x04pickle", bearer(alice))

    files = {f["path"]: f for f in client.get("/api/v1/repos/model/alice/tiny/tree/main/").json()["files"]}
    assert files["model.pt"]["unsafe"] is True
    assert client.get("/api/v1/repos/model/alice/tiny/").json()["has_unsafe_files"] is True


def test_schema_documents_a_binary_body():
    schema = SchemaGenerator().get_schema(request=None, public=True)

    operation = schema["paths"]["/api/v1/repos/{kind}/{namespace}/{name}/files/{rest}"]["put"]
    assert operation["requestBody"]["content"]["application/octet-stream"]["schema"]["format"] == "binary"
    assert {p["name"] for p in operation["parameters"]} >= {"X-Content-SHA256", "X-Parent-Commit"}
    assert {"201", "412", "413"} <= set(operation["responses"])


# The streaming module on its own, with gunicorn's real body reader over a real socket pair.


def gunicorn_body(sock: socket.socket, length: int, already_read: bytes) -> Body:
    unreader = SocketUnreader(sock)
    unreader.unread(already_read)  # what gunicorn's header parsing read past the headers
    return Body(LengthReader(unreader, length))


def send_in_thread(sock: socket.socket, data: bytes, close: bool = True) -> threading.Thread:
    def send() -> None:
        sock.sendall(data)
        if close:
            sock.shutdown(socket.SHUT_WR)

    thread = threading.Thread(target=send)
    thread.start()
    return thread


def test_gunicorn_socket_source_reads_exactly_the_body_and_leaves_the_next_request(db):
    server, client = socket.socketpair()
    payload = os.urandom(3 * 1024 * 1024 + 5)
    pipelined = b"GET /next HTTP/1.1\r\n\r\n"
    # gunicorn buffered the first 100 body bytes while parsing headers; the body's reader holds 10 more.
    body = gunicorn_body(server, len(payload), payload[:100])
    sender = send_in_thread(client, payload[100:] + pipelined)
    assert body.read(10) == payload[:10]  # leaves read-ahead in gunicorn's buffers, taken over below

    source = streaming.GunicornSocketSource(body, server)
    received = streaming.receive_to_temp(source, length=len(payload) - 10, limit=10**9, chunk_bytes=1024 * 1024)
    sender.join()

    with open(received.path, "rb") as handle:
        assert handle.read() == payload[10:]
    os.unlink(received.path)
    assert received.sha256 == hashlib.sha256(payload[10:]).hexdigest()
    assert body.reader.length == 0 and body.read(10) == b""
    assert body.reader.unreader.read() == pipelined
    server.close()
    client.close()


def test_short_body_leaves_nothing_behind(db):
    server, client = socket.socketpair()
    body = gunicorn_body(server, 5 * 1024 * 1024, b"")
    sender = send_in_thread(client, b"x" * (2 * 1024 * 1024 + 3))  # then the client hangs up
    before = temp_files()

    with pytest.raises(streaming.IncompleteBody):
        streaming.receive_to_temp(
            streaming.GunicornSocketSource(body, server), length=5 * 1024 * 1024, limit=10**9, chunk_bytes=1024 * 1024
        )
    sender.join()

    assert temp_files() == before
    server.close()
    client.close()


def test_stream_source_short_body_and_limit(db):
    with pytest.raises(streaming.IncompleteBody):
        streaming.receive_to_temp(streaming.StreamSource(io.BytesIO(b"abc")), length=10, limit=100)
    with pytest.raises(streaming.IncompleteBody):
        streaming.receive_to_temp(
            streaming.StreamSource(io.BytesIO(b"a" * 5000)), length=9000, limit=10**6, chunk_bytes=1024
        )
    with pytest.raises(streaming.BlobTooLarge):
        streaming.receive_to_temp(streaming.StreamSource(io.BytesIO(b"a" * 200)), length=200, limit=100)
    assert temp_files() == []


def test_file_writer_keeps_order_across_direct_and_cached_writes(tmp_path):
    path = tmp_path / "out.bin"
    path.write_bytes(b"")
    pieces = [os.urandom(8192), os.urandom(4096), os.urandom(100)]  # whole blocks, then a tail
    buffers = []
    for piece in pieces:
        buffer = mmap.mmap(-1, len(piece))  # page-aligned, as the pipeline's buffers are
        buffer[:] = piece
        buffers.append(buffer)

    with open(path, "r+b") as handle:
        writer = streaming._FileWriter(handle.fileno(), str(path))
        for buffer in buffers:
            writer(memoryview(buffer))
        writer.close()

    assert path.read_bytes() == b"".join(pieces)
