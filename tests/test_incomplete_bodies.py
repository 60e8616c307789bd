"""A request body that ends early (the client's connection drops) never changes a branch.

Every write path is driven over a raw socket against a live server: the headers promise more bytes
(Content-Length, or chunks without the final zero-length chunk) than are sent before the client
half-closes its side of the connection.
"""

from __future__ import annotations

import io
import json
import socket
from urllib.parse import urlsplit

import pytest

from accounts.services import token_create
from conftest import make_commit, make_repo
from models_hub.models import Blob, Repository
from models_hub.selectors import revision_resolve
from tests.test_hub_write import file_line, header_line, ndjson

pytestmark = pytest.mark.django_db(transaction=True)

NEW_WEIGHTS = b"the new weights, longer than the old ones"


def send_and_hang_up(server_url: str, head: str, body: bytes) -> tuple[int, dict | str]:
    """Send `head` and `body`, half-close the connection, and return the answer's status and payload."""
    parts = urlsplit(server_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(head.encode("latin-1") + body)
        sock.shutdown(socket.SHUT_WR)  # what the server sees when the client's connection drops
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    _, _, payload = rest.partition(b"\r\n\r\n")
    try:
        return int(status_line.split()[1]), json.loads(payload)
    except ValueError:
        return int(status_line.split()[1]), payload.decode(errors="replace")


def request_head(method: str, path: str, headers: dict[str, str]) -> str:
    lines = [f"{method} {path} HTTP/1.1", "Host: localhost", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return "\r\n".join(lines) + "\r\n\r\n"


def chunked(body: bytes, *, terminated: bool) -> bytes:
    encoded = b"".join(b"%x\r\n%s\r\n" % (len(line), line) for line in body.splitlines(keepends=True))
    return encoded + (b"0\r\n\r\n" if terminated else b"")


@pytest.fixture
def repo_with_a_file(alice) -> Repository:
    repo = make_repo(owner=alice, name="tiny")
    make_commit(repo=repo, author=alice, files={"weights.bin": b"old weights", "README.md": b"# Tiny\n"})
    return repo


def commit_head(alice, content_length: int | None = None, **extra: str) -> str:
    token = token_create(user=alice, name="write", scope="write").secret
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson", **extra}
    if content_length is not None:
        headers["Content-Length"] = str(content_length)
    return request_head("POST", "/api/models/alice/tiny/commit/main", headers)


def replace_weights_body() -> tuple[bytes, bytes]:
    """A commit that deletes weights.bin and adds new bytes in its place; and the part before the file line."""
    before_file = ndjson(header_line("Replace the weights"), {"key": "deletedFile", "value": {"path": "weights.bin"}})
    return before_file + ndjson(file_line("weights.bin", NEW_WEIGHTS)), before_file


def test_commit_cut_after_a_delete_line_changes_nothing(live_server, alice, repo_with_a_file):
    head = revision_resolve(repo_with_a_file, "main")
    whole, cut = replace_weights_body()

    status, payload = send_and_hang_up(live_server.url, commit_head(alice, len(whole)), cut)

    assert status == 400, payload
    assert "cut short" in payload["error"] and "Nothing was committed" in payload["error"]
    assert revision_resolve(repo_with_a_file, "main") == head
    assert head.entries.filter(path="weights.bin").exists()


def test_whole_commit_over_a_raw_socket_is_applied(live_server, alice, repo_with_a_file):
    whole, _ = replace_weights_body()

    status, payload = send_and_hang_up(live_server.url, commit_head(alice, len(whole)), whole)

    assert status == 200, payload
    new_head = revision_resolve(repo_with_a_file, "main")
    assert new_head.oid == payload["commitOid"]
    assert new_head.entries.get(path="weights.bin").blob.size == len(NEW_WEIGHTS)


def test_chunked_commit_is_refused_where_the_server_cannot_decode_chunks(live_server, alice, repo_with_a_file):
    head = revision_resolve(repo_with_a_file, "main")
    whole, _ = replace_weights_body()

    status, payload = send_and_hang_up(
        live_server.url, commit_head(alice, **{"Transfer-Encoding": "chunked"}), chunked(whole, terminated=True)
    )

    assert status == 400, payload
    assert "Content-Length" in payload["error"]
    assert revision_resolve(repo_with_a_file, "main") == head
    assert not Blob.objects.filter(size=len(NEW_WEIGHTS)).exists()


def test_chunked_commit_needs_its_last_chunk_under_gunicorn():
    """gunicorn decodes chunked bodies: a whole one is committed, one without its final chunk changes nothing."""
    from bench.bench_hub_upload import USERNAME, HubServer

    with HubServer(workers=1) as server:
        auth = {"Authorization": f"Bearer {server.token}"}
        create = json.dumps({"name": "tiny", "type": "model"}).encode()
        head = request_head("POST", "/api/repos/create", {**auth, "Content-Length": str(len(create))})
        assert send_and_hang_up(server.url, head, create)[0] == 200

        def commit(body: bytes, **headers: str) -> tuple[int, dict | str]:
            path = f"/api/models/{USERNAME}/tiny/commit/main"
            return send_and_hang_up(server.url, request_head("POST", path, {**auth, **headers}), body)

        def main_head() -> str:
            status, info = send_and_hang_up(
                server.url, request_head("GET", f"/api/models/{USERNAME}/tiny/revision/main", auth), b""
            )
            assert status == 200
            return info["sha"]

        first = ndjson(header_line("Add weights"), file_line("weights.bin", b"old weights"))
        assert commit(first, **{"Content-Length": str(len(first))})[0] == 200
        before = main_head()
        whole, cut = replace_weights_body()

        for body in (
            chunked(cut, terminated=False),
            chunked(whole, terminated=False),
            chunked(whole, terminated=True)[:-7],
        ):
            status, payload = commit(body, **{"Transfer-Encoding": "chunked"})
            assert status == 400, payload
            assert "Nothing was committed" in payload["error"]
            assert main_head() == before

        status, payload = commit(chunked(whole, terminated=True), **{"Transfer-Encoding": "chunked"})
        assert status == 200, payload
        assert main_head() == payload["commitOid"] != before


def multipart(boundary: str, parts: list[tuple[str, str | None, bytes]]) -> bytes:
    """A multipart/form-data body: (field, file name or None, content) per part."""
    body = b""
    for field, filename, content in parts:
        disposition = f'form-data; name="{field}"' + (f'; filename="{filename}"' if filename else "")
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + content + b"\r\n"
    return body + f"--{boundary}--\r\n".encode()


def test_multipart_upload_cut_between_two_files_stores_and_commits_nothing(live_server, alice, repo_with_a_file):
    head = revision_resolve(repo_with_a_file, "main")
    blobs = Blob.objects.count()
    boundary = "cut-here-boundary"
    first = [("message", None, b"Two files"), ("paths", None, b"a.txt"), ("files", "a.txt", b"first file")]
    whole = multipart(boundary, [*first, ("paths", None, b"b.txt"), ("files", "b.txt", b"second file")])
    cut = multipart(boundary, first)[: -len(f"--{boundary}--\r\n")]  # every byte of the first file arrived
    token = token_create(user=alice, name="write", scope="write").secret
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Content-Length": str(len(whole)),
    }

    status, payload = send_and_hang_up(
        live_server.url, request_head("POST", "/api/v1/repos/model/alice/tiny/upload/main/", headers), cut
    )

    assert status == 400, payload
    assert "cut short" in payload["error"]
    assert revision_resolve(repo_with_a_file, "main") == head
    assert Blob.objects.count() == blobs


def test_browser_commit_form_cut_short_commits_nothing(live_server, alice, repo_with_a_file, client):
    from models_hub.storage import streaming, uploads

    head = revision_resolve(repo_with_a_file, "main")
    sessions = []
    for path in ("a.txt", "b.txt"):
        session = uploads.upload_create(user=alice, repo=repo_with_a_file, path=path, size=5)
        uploads.upload_append(session=session, offset=0, source=streaming.StreamSource(io.BytesIO(b"bytes")), length=5)
        sessions.append(session)
    client.force_login(alice)
    csrf = "c" * 32
    form = f"summary=Two&upload_id={sessions[0].pk}&path=a.txt&upload_id={sessions[1].pk}&path=b.txt".encode()
    headers = {
        "Cookie": f"sessionid={client.cookies['sessionid'].value}; csrftoken={csrf}",
        "X-CSRFToken": csrf,
        "Accept": "application/json",
        "Content-Type": "application/x-www-form-urlencoded",
        "Content-Length": str(len(form)),
    }

    cut = form[: form.index(b"&upload_id=", form.index(b"a.txt"))]  # the first file, not the second
    status, payload = send_and_hang_up(
        live_server.url, request_head("POST", "/alice/tiny/upload/main/commit", headers), cut
    )

    assert status == 400, payload
    assert revision_resolve(repo_with_a_file, "main") == head
