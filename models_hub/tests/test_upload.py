import base64
import hashlib
import io
import json
import os
import struct
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.http import UnreadablePostError
from django.test import Client, override_settings
from django.utils import timezone
from rehashes import PySha256

from conftest import client_for, make_repo
from models_hub import selectors
from models_hub.errors import BadRequest
from models_hub.models import Blob, Commit, UploadSession
from models_hub.storage import streaming, uploads
from models_hub.storage.uploads import upload_file

pytestmark = pytest.mark.django_db

TUS = {"Tus-Resumable": "1.0.0"}
OCTETS = "application/offset+octet-stream"


def metadata(**values: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


def create(client: Client, *, size: int, path: str = "data.bin", repo: str = "alice/tiny", kind: str = "model"):
    headers = {**TUS, "Upload-Length": str(size), "Upload-Metadata": metadata(path=path, repo=repo, kind=kind)}
    return client.post("/uploads/", headers=headers)


def patch(client: Client, location: str, *, offset: int, data: bytes):
    headers = {**TUS, "Upload-Offset": str(offset)}
    return client.generic("PATCH", location, data=data, content_type=OCTETS, headers=headers)


def upload(client: Client, path: str, data: bytes, *, chunk: int = 4, repo: str = "alice/tiny") -> str:
    """Upload `data` in chunks; returns the upload id."""
    location = create(client, size=len(data), path=path, repo=repo)["Location"]
    for offset in range(0, len(data), chunk):
        assert patch(client, location, offset=offset, data=data[offset : offset + chunk]).status_code == 204
    return location.rstrip("/").rsplit("/", 1)[-1]


def commit(client: Client, uploads: dict[str, str], *, summary: str = "Upload", repo: str = "alice/tiny"):
    data = {"summary": summary, "upload_id": list(uploads.values()), "path": list(uploads.keys())}
    return client.post(f"/{repo}/upload/main/commit", data, headers={"Accept": "application/json"})


def head_files(repo) -> dict[str, bytes]:
    from models_hub.storage.blobs import blob_open

    files = {}
    for entry in selectors.tree_entries(selectors.head_commit(repo)):
        with blob_open(entry.blob) as handle:
            files[entry.path] = handle.read()
    return files


@pytest.fixture
def repo(alice):
    return make_repo(owner=alice, name="tiny")


def test_options_advertises_the_protocol(alice):
    response = client_for(alice).options("/uploads/")
    assert response.status_code == 204
    assert response["Tus-Version"] == "1.0.0"
    assert "creation" in response["Tus-Extension"]
    assert int(response["Tus-Max-Size"]) > 0


def test_chunked_upload_resumes_after_an_interruption_and_commits(alice, repo):
    client = client_for(alice)
    data = bytes(range(256)) * 40  # 10,240 bytes
    created = create(client, size=len(data), path="weights/data.bin")
    assert created.status_code == 201 and created["Tus-Resumable"] == "1.0.0"
    location = created["Location"]
    assert location.startswith("http://testserver/uploads/")
    assert patch(client, location, offset=0, data=data[:4096])["Upload-Offset"] == "4096"
    # The connection drops here; a new page asks where the upload stands and continues from there.
    client = client_for(alice)
    status = client.head(location, headers=TUS)
    assert status.status_code == 200
    assert (status["Upload-Offset"], status["Upload-Length"]) == ("4096", str(len(data)))
    assert status["Cache-Control"] == "no-store"
    assert patch(client, location, offset=4096, data=data[4096:8192]).status_code == 204
    finished = patch(client, location, offset=8192, data=data[8192:])
    assert finished["Upload-Offset"] == str(len(data))
    upload_id = location.rsplit("/", 1)[-1]

    response = commit(client, {"weights/data.bin": upload_id}, summary="Add weights")
    assert response.status_code == 201
    body = response.json()
    assert body["tree_url"] == "/alice/tiny/tree/main"
    assert head_files(repo)["weights/data.bin"] == data
    assert selectors.head_commit(repo).title == "Add weights"
    assert not UploadSession.objects.exists()
    assert not upload_file(UploadSession(pk=upload_id)).exists()


def test_two_files_land_in_one_commit(alice, repo):
    client = client_for(alice)
    first = upload(client, "a.txt", b"first file")
    second = upload(client, "dir/b.txt", b"second file")
    before = Commit.objects.filter(repository=repo).count()
    assert commit(client, {"a.txt": first, "dir/b.txt": second}).status_code == 201
    assert Commit.objects.filter(repository=repo).count() == before + 1
    files = head_files(repo)
    assert files["a.txt"] == b"first file" and files["dir/b.txt"] == b"second file"


def test_commit_titles_without_a_summary_read_as_english(alice, repo):
    client = client_for(alice)
    three = {name: upload(client, name, b"x" + name.encode()) for name in ("a.txt", "b.txt", "c.txt")}
    assert commit(client, three, summary="").json()["title"] == "Upload 3 files"
    one = upload(client, "config.json", b"{}")
    assert commit(client, {"config.json": one}, summary="").json()["title"] == "Upload config.json"

    page = client.post("/alice/tiny/upload/main/commit", {"upload_id": upload(client, "d.txt", b"d")}, follow=True)
    assert "Committed 1 file as" in page.content.decode()


def test_commit_without_javascript_redirects_to_the_commit(alice, repo):
    client = client_for(alice)
    upload_id = upload(client, "a.txt", b"hello")
    response = client.post("/alice/tiny/upload/main/commit", {"summary": "s", "upload_id": upload_id})
    assert response.status_code == 302 and "/alice/tiny/commit/" in response["Location"]


def test_offset_mismatch_is_409(alice, repo):
    client = client_for(alice)
    location = create(client, size=10)["Location"]
    assert patch(client, location, offset=0, data=b"12345").status_code == 204
    conflict = patch(client, location, offset=2, data=b"xxx")
    assert conflict.status_code == 409 and "stands at 5" in conflict.content.decode()
    assert client.head(location, headers=TUS)["Upload-Offset"] == "5"


def test_more_bytes_than_announced_are_refused(alice, repo):
    client = client_for(alice)
    location = create(client, size=4)["Location"]
    response = patch(client, location, offset=0, data=b"123456")
    assert response.status_code == 400 and "Upload-Length" in response.content.decode()
    assert client.head(location, headers=TUS)["Upload-Offset"] == "4"


@override_settings(FLYWHEEL_MAX_UPLOAD_BYTES=1000)
def test_over_the_limit_is_413_at_creation(alice, repo):
    response = create(client_for(alice), size=1001)
    assert response.status_code == 413 and "limit" in response.content.decode()
    assert not UploadSession.objects.exists()


def test_protocol_errors_are_clear(alice, repo):
    client = client_for(alice)
    no_version = client.post(
        "/uploads/", headers={"Upload-Length": "1", "Upload-Metadata": metadata(path="a", repo="alice/tiny")}
    )
    assert no_version.status_code == 412
    no_length = client.post("/uploads/", headers={**TUS, "Upload-Metadata": metadata(path="a", repo="alice/tiny")})
    assert no_length.status_code == 400 and "Upload-Length" in no_length.content.decode()
    bad_meta = client.post("/uploads/", headers={**TUS, "Upload-Length": "1", "Upload-Metadata": "path !!!"})
    assert bad_meta.status_code == 400
    no_repo = client.post("/uploads/", headers={**TUS, "Upload-Length": "1", "Upload-Metadata": metadata(path="a")})
    assert no_repo.status_code == 400
    location = create(client, size=3)["Location"]
    wrong_type = client.generic(
        "PATCH", location, data=b"abc", content_type="text/plain", headers={**TUS, "Upload-Offset": "0"}
    )
    assert wrong_type.status_code == 415
    assert client.generic("PATCH", location, data=b"abc", content_type=OCTETS, headers=TUS).status_code == 400
    assert client.head("/uploads/00000000-0000-0000-0000-000000000000", headers=TUS).status_code == 404


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("../x", "'..'"),
        ("/etc/passwd", "absolute"),
        ("a/../../b", "'..'"),
        ("nul\x00byte", "control character"),
        ("a\\b", "backslash"),
        ("x" * 300, "longer than"),
        ("", "empty"),
    ],
)
def test_hostile_paths_are_400_with_a_reason(alice, repo, path, message):
    response = create(client_for(alice), size=1, path=path)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not UploadSession.objects.exists()


def test_upload_to_someone_elses_repo_is_refused(alice, bob, charlie):
    make_repo(owner=alice, name="tiny")
    make_repo(owner=alice, name="secret", private=True)
    assert create(client_for(bob), size=1, repo="alice/tiny").status_code == 403
    assert create(client_for(charlie), size=1, repo="alice/secret").status_code == 404
    assert create(client_for(), size=1, repo="alice/tiny").status_code == 401
    nul = create(client_for(alice), size=1, repo="ali\x00ce/tiny")  # was a 500 on PostgreSQL
    assert nul.status_code == 404 and b"cannot contain a NUL character" in nul.content
    assert not UploadSession.objects.exists()


def test_someone_elses_upload_is_invisible_to_them(alice, bob, repo):
    location = create(client_for(alice), size=3)["Location"]
    bob_client = client_for(bob)
    assert bob_client.head(location, headers=TUS).status_code == 404
    assert patch(bob_client, location, offset=0, data=b"abc").status_code == 404
    upload_id = location.rsplit("/", 1)[-1]
    response = commit(bob_client, {"data.bin": upload_id})
    assert response.status_code == 403  # bob cannot write to alice/tiny at all


def test_interrupted_upload_leaves_nothing_visible_and_commit_is_refused(alice, repo):
    client = client_for(alice)
    complete = upload(client, "done.txt", b"complete")
    location = create(client, size=100, path="half.bin")["Location"]
    patch(client, location, offset=0, data=b"x" * 40)
    before = selectors.head_commit(repo)
    assert "half.bin" not in client.get("/alice/tiny/tree/main").content.decode()
    response = commit(client, {"done.txt": complete, "half.bin": location.rsplit("/", 1)[-1]})
    assert response.status_code == 400
    assert "not fully uploaded" in response.json()["error"]
    assert selectors.head_commit(repo) == before
    tree = client.get("/alice/tiny/tree/main").content.decode()
    assert "half.bin" not in tree and "done.txt" not in tree


def test_unknown_upload_id_is_refused_atomically(alice, repo):
    client = client_for(alice)
    good = upload(client, "a.txt", b"a")
    response = commit(client, {"a.txt": good, "b.txt": "00000000-0000-0000-0000-000000000000"})
    assert response.status_code == 400 and "does not exist" in response.json()["error"]
    assert commit(client, {"a.txt": good, "b.txt": "not-a-uuid"}).status_code == 400
    assert "a.txt" not in head_files(repo)


def test_corrupt_safetensors_is_refused_at_commit_and_the_rest_can_be_retried(alice, repo):
    client = client_for(alice)
    corrupt = upload(client, "model.safetensors", struct.pack("<Q", 10**12) + b"{not json")
    readme = upload(client, "README.md", b"# hi\n")
    before = selectors.head_commit(repo)
    response = commit(client, {"model.safetensors": corrupt, "README.md": readme})
    assert response.status_code == 400
    assert "model.safetensors is not a valid safetensors file" in response.json()["error"]
    assert selectors.head_commit(repo) == before
    # The good upload is still there: committing it alone works without uploading it again.
    assert commit(client, {"README.md": readme}).status_code == 201
    assert "README.md" in head_files(repo)


def test_valid_safetensors_is_accepted(alice, repo):
    header = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
    data = struct.pack("<Q", len(header)) + header + b"\x00" * 8
    client = client_for(alice)
    assert commit(client, {"model.safetensors": upload(client, "model.safetensors", data, chunk=16)}).status_code == 201


def test_pickle_file_is_stored_but_flagged_on_the_tree_page(alice, repo):
    client = client_for(alice)
    assert (
        commit(client, {"pytorch_model.bin": upload(client, "pytorch_model.bin", b"\x80\x04pickle")}).status_code == 201
    )
    repo.refresh_from_db()
    assert repo.has_unsafe_files
    html = client.get("/alice/tiny/tree/main").content.decode()
    assert "pytorch_model.bin" in html and "pickle format: not loaded" in html


def test_empty_file_can_be_uploaded(alice, repo):
    client = client_for(alice)
    location = create(client, size=0, path="empty.txt")["Location"]
    assert client.head(location, headers=TUS)["Upload-Offset"] == "0"
    assert commit(client, {"empty.txt": location.rsplit("/", 1)[-1]}).status_code == 201
    assert head_files(repo)["empty.txt"] == b""


def test_termination_removes_the_upload(alice, repo):
    client = client_for(alice)
    location = create(client, size=5)["Location"]
    assert client.delete(location, headers=TUS).status_code == 204
    assert not UploadSession.objects.exists()


def test_cleanup_command_removes_stale_uploads(alice, repo):
    client = client_for(alice)
    stale = create(client, size=5)["Location"].rsplit("/", 1)[-1]
    fresh = create(client, size=5)["Location"].rsplit("/", 1)[-1]
    UploadSession.objects.filter(pk=stale).update(updated_at=timezone.now() - timedelta(hours=25))
    call_command("cleanup_uploads")
    assert list(UploadSession.objects.values_list("pk", flat=True)) == [UploadSession.objects.get(pk=fresh).pk]
    assert not upload_file(UploadSession(pk=stale)).exists()


def test_identical_uploads_share_one_blob(alice, repo):
    client = client_for(alice)
    first, second = upload(client, "a.bin", b"same bytes"), upload(client, "b.bin", b"same bytes")
    assert commit(client, {"a.bin": first, "b.bin": second}).status_code == 201
    entries = {e.path: e.blob_id for e in selectors.tree_entries(selectors.head_commit(repo))}
    assert entries["a.bin"] == entries["b.bin"]
    assert Blob.objects.filter(sha256=entries["a.bin"]).count() == 1


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000)
def test_patch_bodies_are_streamed_not_loaded_whole(alice, repo):
    client = client_for(alice)
    data = b"z" * 5 * 1024 * 1024
    location = create(client, size=len(data), path="big.bin")["Location"]
    assert patch(client, location, offset=0, data=data)["Upload-Offset"] == str(len(data))


def test_concurrent_write_to_the_same_upload_is_423(alice, repo):
    import fcntl

    client = client_for(alice)
    location = create(client, size=3)["Location"]
    session = UploadSession.objects.get()
    with open(upload_file(session), "r+b") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        assert patch(client, location, offset=0, data=b"abc").status_code == 423
    assert patch(client, location, offset=0, data=b"abc").status_code == 204


def test_hostile_target_path_at_commit_is_refused(alice, repo):
    client = client_for(alice)
    upload_id = upload(client, "a.txt", b"a")
    response = commit(client, {"../escape.txt": upload_id})
    assert response.status_code == 400 and "'..'" in response.json()["error"]
    assert "a.txt" not in head_files(repo)


def test_commit_page_refuses_a_reader(alice, bob, repo):
    upload_id = upload(client_for(alice), "a.txt", b"a")
    assert commit(client_for(bob), {"a.txt": upload_id}).status_code == 403


def saved_hash(upload_id: str) -> str:
    state = UploadSession.objects.get(pk=upload_id).hash_state
    return PySha256.deserialize(bytes(state)).finalize()


def test_each_chunk_saves_the_hash_of_the_bytes_so_far(alice, repo):
    client = client_for(alice)
    data = os.urandom(3 * 1024 * 1024 + 7)  # the second chunk goes through the pipelined receiver
    location = create(client, size=len(data), path="big.bin")["Location"]
    upload_id = location.rsplit("/", 1)[-1]
    assert patch(client, location, offset=0, data=data[:1000]).status_code == 204
    assert saved_hash(upload_id) == hashlib.sha256(data[:1000]).hexdigest()
    # A resumed chunk that does not start on a disk block boundary still lands byte for byte.
    assert patch(client, location, offset=1000, data=data[1000:])["Upload-Offset"] == str(len(data))
    assert saved_hash(upload_id) == hashlib.sha256(data).hexdigest()
    assert upload_file(UploadSession(pk=upload_id)).read_bytes() == data
    assert commit(client, {"big.bin": upload_id}).status_code == 201
    assert head_files(repo)["big.bin"] == data


def test_commit_reads_the_file_again_when_no_hash_state_was_saved(alice, repo):
    client = client_for(alice)
    upload_id = upload(client, "old.bin", b"uploaded before hash states were kept")
    UploadSession.objects.filter(pk=upload_id).update(hash_state=None)
    assert commit(client, {"old.bin": upload_id}).status_code == 201
    entry = selectors.file_entry(selectors.head_commit(repo), "old.bin")
    assert entry.blob.sha256 == hashlib.sha256(b"uploaded before hash states were kept").hexdigest()


def test_a_chunk_after_a_lost_hash_state_continues_the_right_hash(alice, repo):
    client = client_for(alice)
    location = create(client, size=10, path="a.bin")["Location"]
    upload_id = location.rsplit("/", 1)[-1]
    patch(client, location, offset=0, data=b"01234")
    UploadSession.objects.filter(pk=upload_id).update(hash_state=b"not a state")
    patch(client, location, offset=5, data=b"56789")
    assert saved_hash(upload_id) == hashlib.sha256(b"0123456789").hexdigest()


class DroppingBody(io.RawIOBase):
    """A request body whose client goes away after `data` (Django raises UnreadablePostError, an OSError)."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def read(self, size: int = -1) -> bytes:
        if not self.data:
            raise UnreadablePostError("the client went away")
        piece, self.data = self.data[:size], self.data[size:]
        return piece


@pytest.mark.parametrize("sent", [1000, 3 * 1024 * 1024 + 5])
def test_a_dropped_chunk_keeps_what_arrived_with_its_hash(alice, repo, sent):
    client = client_for(alice)
    data = os.urandom(5 * 1024 * 1024)
    location = create(client, size=len(data), path="big.bin")["Location"]
    session = UploadSession.objects.get()
    new_offset = uploads.upload_append(
        session=session, offset=0, source=streaming.StreamSource(DroppingBody(data[:sent])), length=len(data)
    )
    assert new_offset == sent
    assert client.head(location, headers=TUS)["Upload-Offset"] == str(sent)
    assert saved_hash(str(session.pk)) == hashlib.sha256(data[:sent]).hexdigest()
    assert patch(client, location, offset=sent, data=data[sent:]).status_code == 204
    assert commit(client, {"big.bin": str(session.pk)}).status_code == 201
    assert head_files(repo)["big.bin"] == data


def test_a_chunked_patch_body_is_read_to_its_end(alice, repo):
    client = client_for(alice)
    location = create(client, size=6, path="a.bin")["Location"]
    session = UploadSession.objects.get()
    source = streaming.StreamSource(io.BytesIO(b"abc"))
    assert uploads.upload_append(session=session, offset=0, source=source, length=None) == 3
    overflow = streaming.StreamSource(io.BytesIO(b"defgh"))
    with pytest.raises(BadRequest, match="More bytes were sent than the Upload-Length of 6"):
        uploads.upload_append(session=session, offset=3, source=overflow, length=None)
    assert client.head(location, headers=TUS)["Upload-Offset"] == "6"


def test_commit_moves_the_uploaded_file_into_the_blob_store(alice, repo):
    client = client_for(alice)
    upload_id = upload(client, "a.bin", b"moved, not copied")
    part = upload_file(UploadSession(pk=upload_id))
    inode = part.stat().st_ino
    assert commit(client, {"a.bin": upload_id}).status_code == 201
    blob = selectors.file_entry(selectors.head_commit(repo), "a.bin").blob
    assert os.stat(default_storage.path(blob.storage_key)).st_ino == inode


def create_part(client: Client, parent_location: str, *, start: int, size: int):
    parent = parent_location.rsplit("/", 1)[-1]
    headers = {**TUS, "Upload-Length": str(size), "Upload-Metadata": metadata(parent=parent, start=str(start))}
    return client.post("/uploads/", headers=headers)


def test_a_file_sent_in_parts_is_hashed_as_its_parts_arrive_and_committed_whole(alice, repo):
    data = os.urandom(3 * 1024 * 1024 + 100)  # big enough for the pipelined receiver
    third = 1024 * 1024
    parent = uploads.upload_create(user=alice, repo=repo, path="weights/big.bin", size=len(data))
    parts = [
        uploads.upload_part_create(user=alice, parent=parent, start=start, size=len(piece))
        for start, piece in ((0, data[:third]), (third, data[third : 2 * third]), (2 * third, data[2 * third :]))
    ]

    def send(part: UploadSession, offset: int, piece: bytes) -> None:
        uploads.upload_append(session=part, offset=offset, source=streaming.StreamSource(io.BytesIO(piece)))
        uploads.upload_hash_parts(parent_id=parent.pk)
        parent.refresh_from_db()

    send(parts[1], 0, data[third : 2 * third])  # ahead of the first: nothing to hash yet
    assert parent.offset == 0
    send(parts[0], 0, data[:third])  # the first part, and the second after it
    assert parent.offset == 2 * third
    assert saved_hash(str(parent.pk)) == hashlib.sha256(data[: 2 * third]).hexdigest()
    send(parts[2], 0, data[2 * third : 2 * third + 5000])  # the last part, half way
    assert parent.offset == 2 * third + 5000
    send(parts[2], 5000, data[2 * third + 5000 :])
    assert parent.is_complete
    assert saved_hash(str(parent.pk)) == hashlib.sha256(data).hexdigest()

    assert commit(client_for(alice), {"weights/big.bin": str(parent.pk)}).status_code == 201
    assert head_files(repo)["weights/big.bin"] == data
    assert not UploadSession.objects.exists()
    assert not any(upload_file(upload).exists() for upload in [parent, *parts])


def test_parts_are_created_sent_and_committed_through_tus(alice, repo):
    client = client_for(alice)
    data = os.urandom(10_000)
    parent = create(client, size=len(data), path="model.bin")["Location"]
    locations = []
    for start in range(0, len(data), 4096):
        created = create_part(client, parent, start=start, size=len(data[start : start + 4096]))
        assert created.status_code == 201
        locations.append((start, created["Location"]))
    for start, location in reversed(locations):  # in any order
        assert patch(client, location, offset=0, data=data[start : start + 4096]).status_code == 204
    assert client.head(locations[1][1], headers=TUS)["Upload-Offset"] == "4096"

    # The parts' hashing runs after each answer; the commit finishes whatever is left of it.
    response = commit(client, {"model.bin": parent.rsplit("/", 1)[-1]})
    assert response.status_code == 201, response.content
    assert head_files(repo)["model.bin"] == data
    entry = selectors.file_entry(selectors.head_commit(repo), "model.bin")
    assert entry.blob.sha256 == hashlib.sha256(data).hexdigest()


def test_parts_that_do_not_fit_are_refused(alice, bob, repo):
    client = client_for(alice)
    parent = create(client, size=100, path="a.bin")["Location"]
    first = create_part(client, parent, start=0, size=60)["Location"]
    assert create_part(client, parent, start=50, size=20).status_code == 409  # overlaps the first
    assert create_part(client, parent, start=60, size=41).status_code == 400  # past the end
    assert create_part(client, parent, start=60, size=0).status_code == 400
    assert create_part(client, first, start=0, size=10).status_code == 400  # a part of a part
    no_start = client.post(
        "/uploads/", headers={**TUS, "Upload-Length": "5", "Upload-Metadata": metadata(parent=parent[-36:])}
    )
    assert no_start.status_code == 400 and "start" in no_start.content.decode()
    assert create_part(client_for(bob), parent, start=60, size=40).status_code == 404  # not bob's upload
    unknown = client.post(
        "/uploads/", headers={**TUS, "Upload-Length": "5", "Upload-Metadata": metadata(parent="x", start="0")}
    )
    assert unknown.status_code == 404
    sent_in_parts = patch(client, parent, offset=0, data=b"x" * 10)
    assert sent_in_parts.status_code == 409 and "parts" in sent_in_parts.content.decode()
    response = commit(client, {"a.bin": first.rsplit("/", 1)[-1]})  # a part is not a file to commit
    assert response.status_code == 400 and "does not exist" in response.json()["error"]
    response = commit(client, {"a.bin": parent.rsplit("/", 1)[-1]})
    assert response.status_code == 400 and "not fully uploaded" in response.json()["error"]

    whole = create(client, size=10, path="b.bin")["Location"]
    patch(client, whole, offset=0, data=b"12345")
    assert create_part(client, whole, start=5, size=5).status_code == 409  # already sent in one piece


def test_a_part_asked_again_with_the_same_bounds_is_the_same_part_with_what_arrived(alice, repo):
    """A page that reloads before it keeps a part's address asks for the part again: it must get that part
    (a 409 there left the file unable to finish until the upload expired)."""
    client = client_for(alice)
    data = os.urandom(100)
    parent = create(client, size=len(data), path="a.bin")["Location"]
    first = create_part(client, parent, start=0, size=60)["Location"]
    assert patch(client, first, offset=0, data=data[:25]).status_code == 204

    again = create_part(client, parent, start=0, size=60)

    assert again.status_code == 201
    assert again["Location"] == first
    assert again["Upload-Offset"] == "25"
    assert patch(client, first, offset=25, data=data[25:60]).status_code == 204
    rest = create_part(client, parent, start=60, size=40)["Location"]
    assert patch(client, rest, offset=0, data=data[60:]).status_code == 204
    assert commit(client, {"a.bin": parent.rsplit("/", 1)[-1]}).status_code == 201
    assert head_files(repo)["a.bin"] == data


def test_cleanup_removes_an_abandoned_upload_with_its_parts(alice, repo):
    client = client_for(alice)
    parent = create(client, size=20, path="a.bin")["Location"]
    part = create_part(client, parent, start=0, size=10)["Location"]
    patch(client, part, offset=0, data=b"0123456789")
    sessions = list(UploadSession.objects.all())
    UploadSession.objects.update(updated_at=timezone.now() - timedelta(hours=25))
    call_command("cleanup_uploads")
    assert not UploadSession.objects.exists()
    assert not any(upload_file(upload).exists() for upload in sessions)


def test_a_file_sent_in_parts_reserves_its_size_once(alice, repo):
    from models_hub.services.quotas import storage_usage

    client = client_for(alice)
    parent = create(client, size=100, path="a.bin")["Location"]
    create_part(client, parent, start=0, size=50)
    create_part(client, parent, start=50, size=50)
    assert storage_usage(alice).reserved == 100
