"""The write side of the Hub protocol, driven by the real huggingface_hub client against a live server."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.db import connection
from huggingface_hub import CommitOperationAdd, CommitOperationCopy, CommitOperationDelete, HfApi
from huggingface_hub.errors import BadRequestError, HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError

from accounts.services import membership_set, organization_create, token_create
from conftest import make_commit, make_repo, make_user
from models_hub.models import Blob, Commit, Ref, Repository, TreeEntry
from models_hub.selectors import revision_resolve
from models_hub.storage.blobs import blob_open

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.hub_client]


@pytest.fixture(autouse=True)
def hub_env(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HF_ENDPOINT", raising=False)


def token_for(user, scope: str = "write") -> str:
    return token_create(user=user, name=f"{scope}-token", scope=scope).secret


def api_for(live_server, user, scope: str = "write") -> HfApi:
    return HfApi(endpoint=live_server.url, token=token_for(user, scope))


def files_at(repo: Repository, revision: str = "main") -> dict[str, bytes]:
    commit = revision_resolve(repo, revision)
    result = {}
    for entry in TreeEntry.objects.filter(commit=commit).select_related("blob"):
        with blob_open(entry.blob) as handle:
            result[entry.path] = handle.read()
    return result


def repo_row(namespace: str, name: str, kind: str = "model") -> Repository:
    return Repository.objects.get(kind=kind, namespace=namespace, name=name)


def raw_request(server, method: str, path: str, body: bytes = b"", headers: dict | None = None):
    """A plain HTTP request (no client-side checks), for hostile input; returns (status, json or text, headers)."""
    parts = urlsplit(server.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        text = response.read().decode()
        try:
            payload = json.loads(text)
        except ValueError:
            payload = text
        return response.status, payload, dict(response.getheaders())
    finally:
        connection.close()


def ndjson(*lines: dict) -> bytes:
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


def file_line(path: str, data: bytes) -> dict:
    return {"key": "file", "value": {"content": base64.b64encode(data).decode(), "path": path, "encoding": "base64"}}


def header_line(summary: str = "Add", parent: str | None = None) -> dict:
    value = {"summary": summary, "description": ""}
    if parent:
        value["parentCommit"] = parent
    return {"key": "header", "value": value}


def post_commit(server, token: str, repo_id: str, body: bytes, revision: str = "main"):
    return raw_request(
        server,
        "POST",
        f"/api/models/{repo_id}/commit/{revision}",
        body,
        {"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"},
    )


# Repositories


def test_create_repo_private_and_exist_ok(live_server, alice):
    api = api_for(live_server, alice)

    url = api.create_repo("alice/secret", private=True)

    assert url == f"{live_server.url}/alice/secret"
    assert url.repo_id == "alice/secret"
    repo = repo_row("alice", "secret")
    assert repo.private and repo.owner == alice
    assert api.create_repo("alice/secret", exist_ok=True).repo_id == "alice/secret"
    with pytest.raises(HfHubHTTPError) as excinfo:
        api.create_repo("alice/secret")
    assert excinfo.value.response.status_code == 409
    assert "You already created this model repo" in str(excinfo.value)


def test_create_dataset_repo_url_has_the_datasets_prefix(live_server, alice):
    url = api_for(live_server, alice).create_repo("alice/corpus", repo_type="dataset")

    assert url == f"{live_server.url}/datasets/alice/corpus"
    repo = repo_row("alice", "corpus", kind="dataset")
    info = api_for(live_server, alice).upload_file(
        path_or_fileobj=b"a,b\n1,2\n", path_in_repo="data/train.csv", repo_id="alice/corpus", repo_type="dataset"
    )
    assert info.commit_url == f"{live_server.url}/datasets/alice/corpus/commit/{info.oid}"
    assert files_at(repo)["data/train.csv"] == b"a,b\n1,2\n"


def test_create_repo_in_someone_elses_namespace_is_forbidden(live_server, alice, bob):
    acme = organization_create(creator=alice, name="acme")
    membership_set(org=acme, actor=alice, username="bob", role="read")
    api = api_for(live_server, bob)

    for namespace in ("alice", "acme", "no-such-org"):  # the same words, whether the namespace exists or not
        with pytest.raises(HfHubHTTPError) as excinfo:
            api.create_repo(f"{namespace}/mine")
        assert excinfo.value.response.status_code == 403
        assert f"You don't have the rights to create repositories under '{namespace}'" in str(excinfo.value)
    assert not Repository.objects.filter(name="mine").exists()


def test_readme_snippet_creates_and_uploads_with_a_new_users_token(live_server, tmp_path):
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    block = readme.split("## Using it from Python", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    # The write part (the rest needs the demo's model and dataset).
    snippet = "from huggingface_hub import HfApi\n" + block[block.index("api = HfApi()") :]
    (tmp_path / "my-model").mkdir()
    (tmp_path / "my-model" / "config.json").write_text("{}")
    env = hub_env_for(live_server, token_for(make_user("newcomer")), tmp_path / "home")

    done = subprocess.run(
        [sys.executable, "-c", snippet], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300
    )

    assert done.returncode == 0, done.stderr[-2000:]
    assert "config.json" in done.stdout
    assert Repository.objects.filter(namespace="newcomer", name="my-model").exists()


def test_read_token_cannot_create_or_commit(live_server, alice):
    make_repo(owner=alice, name="tiny")
    api = api_for(live_server, alice, scope="read")

    with pytest.raises(HfHubHTTPError) as excinfo:
        api.create_repo("alice/other")
    assert excinfo.value.response.status_code == 403
    assert "read-only" in str(excinfo.value)
    with pytest.raises(HfHubHTTPError) as excinfo:
        api.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id="alice/tiny")
    assert excinfo.value.response.status_code == 403


def test_delete_repo_and_missing_ok(live_server, alice):
    api = api_for(live_server, alice)
    api.create_repo("alice/doomed")

    api.delete_repo("alice/doomed")

    assert not Repository.objects.filter(name="doomed").exists()
    with pytest.raises(RepositoryNotFoundError):
        api.delete_repo("alice/doomed")
    api.delete_repo("alice/doomed", missing_ok=True)


def test_update_repo_settings_toggles_visibility_for_admins_only(live_server, alice, bob):
    make_repo(owner=alice, name="tiny")
    api = api_for(live_server, alice)

    api.update_repo_settings("alice/tiny", private=True)
    assert repo_row("alice", "tiny").private
    api.update_repo_settings("alice/tiny", private=False)
    assert not repo_row("alice", "tiny").private

    with pytest.raises(HfHubHTTPError) as excinfo:
        api_for(live_server, bob).update_repo_settings("alice/tiny", private=True)
    assert excinfo.value.response.status_code == 403
    assert not repo_row("alice", "tiny").private


def test_move_repo_renames_and_leaves_a_redirect(live_server, alice, tmp_path):
    repo = make_repo(owner=alice, name="old-name")
    make_commit(repo=repo, author=alice, files={"a.txt": b"still here"})
    api = api_for(live_server, alice)

    api.move_repo("alice/old-name", "alice/new-name")

    repo = repo_row("alice", "new-name")
    assert repo.redirects.filter(namespace="alice", name="old-name").exists()
    assert not Repository.objects.filter(name="old-name").exists()
    assert Path(api.hf_hub_download("alice/old-name", "a.txt", cache_dir=tmp_path)).read_bytes() == b"still here"
    with pytest.raises(HfHubHTTPError) as excinfo:
        api_for(live_server, alice).move_repo("alice/new-name", "bob/taken")
    assert excinfo.value.response.status_code == 403


def test_move_repo_onto_an_existing_id_is_409(live_server, alice):
    make_repo(owner=alice, name="one")
    make_repo(owner=alice, name="two")
    make_repo(owner=alice, name="rows", kind="dataset")
    make_repo(owner=alice, name="table", kind="dataset")
    api = api_for(live_server, alice)

    with pytest.raises(HfHubHTTPError) as model:
        api.move_repo("alice/one", "alice/Two")
    with pytest.raises(HfHubHTTPError) as dataset:
        api.move_repo("alice/rows", "alice/table", repo_type="dataset")

    assert model.value.response.status_code == dataset.value.response.status_code == 409
    assert "A model repository called alice/Two already exists" in str(model.value)
    assert "A dataset repository called alice/table already exists" in str(dataset.value)
    assert repo_row("alice", "one") and repo_row("alice", "rows", kind="dataset")


def test_unlike_and_like(live_server, alice, bob):
    repo = make_repo(owner=alice, name="tiny")
    token = token_for(bob)
    status, body, _ = raw_request(
        live_server, "POST", "/api/models/alice/tiny/like", headers={"Authorization": f"Bearer {token}"}
    )
    assert status == 200 and body["likes"] == 1
    repo.refresh_from_db()
    assert repo.likes_count == 1

    HfApi(endpoint=live_server.url, token=token).unlike("alice/tiny")

    repo.refresh_from_db()
    assert repo.likes_count == 0


# Commits


def test_upload_file_then_unchanged_upload_makes_no_commit(live_server, alice):
    repo = make_repo(owner=alice, name="tiny")
    api = api_for(live_server, alice)

    info = api.upload_file(path_or_fileobj=b'{"a": 1}', path_in_repo="config.json", repo_id="alice/tiny")

    assert len(info.oid) == 40
    assert info.commit_url == f"{live_server.url}/alice/tiny/commit/{info.oid}"
    assert Ref.objects.get(repository=repo, name="main").commit.oid == info.oid
    assert files_at(repo)["config.json"] == b'{"a": 1}'
    commits_before = Commit.objects.filter(repository=repo).count()
    status, body, _ = raw_request(
        live_server,
        "POST",
        "/api/models/alice/tiny/preupload/main",
        json.dumps({"files": [{"path": "config.json", "size": 8, "sample": ""}]}).encode(),
        {"Authorization": f"Bearer {token_for(alice)}", "Content-Type": "application/json"},
    )
    assert status == 200
    blob_sha1 = hashlib.sha1(b"blob 8\0" + b'{"a": 1}', usedforsecurity=False).hexdigest()
    assert body["files"] == [{"path": "config.json", "uploadMode": "regular", "shouldIgnore": False, "oid": blob_sha1}]
    assert Commit.objects.filter(repository=repo).count() == commits_before


def test_upload_folder_with_patterns(live_server, alice, tmp_path):
    repo = make_repo(owner=alice, name="tiny")
    make_commit(repo=repo, author=alice, files={"logs/old.log": b"old", "keep.txt": b"keep"})
    folder = tmp_path / "model"
    (folder / "sub").mkdir(parents=True)
    (folder / "config.json").write_text('{"n": 2}')
    (folder / "sub" / "vocab.txt").write_text("a\nb\n")
    (folder / "notes.tmp").write_text("skip me")
    (folder / "README.md").write_text("---\nlicense: mit\n---\n# Tiny\n")

    api_for(live_server, alice).upload_folder(
        folder_path=folder,
        repo_id="alice/tiny",
        allow_patterns=["*.json", "sub/*", "README.md"],
        delete_patterns=["logs/*"],
        commit_message="Upload model",
    )

    assert files_at(repo) == {
        ".gitattributes": files_at(repo)[".gitattributes"],
        "config.json": b'{"n": 2}',
        "sub/vocab.txt": b"a\nb\n",
        "README.md": b"---\nlicense: mit\n---\n# Tiny\n",
        "keep.txt": b"keep",
    }
    repo.refresh_from_db()
    assert repo.license == "mit"


def test_upload_folder_skips_what_the_repos_gitignore_ignores(live_server, alice, tmp_path):
    repo = make_repo(owner=alice, name="tiny")
    make_commit(repo=repo, author=alice, files={".gitignore": b"*.log\ncheckpoints/\n!keep.log\n"})
    folder = tmp_path / "model"
    (folder / "checkpoints").mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / "train.log").write_text("noise")
    (folder / "keep.log").write_text("kept")
    (folder / "checkpoints" / "step-1.bin").write_bytes(b"weights")

    api_for(live_server, alice).upload_folder(folder_path=folder, repo_id="alice/tiny")

    assert set(files_at(repo)) == {".gitattributes", ".gitignore", "config.json", "keep.log"}


def test_gitignore_being_uploaded_decides_and_a_hostile_one_is_refused(live_server, alice, tmp_path):
    repo = make_repo(owner=alice, name="tiny")
    make_commit(repo=repo, author=alice, files={".gitignore": b"*.txt\n"})
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / ".gitignore").write_text("*.tmp\n")
    (folder / "notes.txt").write_text("now wanted")
    (folder / "scratch.tmp").write_text("ignored")

    api_for(live_server, alice).upload_folder(folder_path=folder, repo_id="alice/tiny")

    assert files_at(repo)[".gitignore"] == b"*.tmp\n" and "notes.txt" in files_at(repo)
    assert "scratch.tmp" not in files_at(repo)
    status, body, _ = raw_request(
        live_server,
        "POST",
        "/api/models/alice/tiny/preupload/main",
        json.dumps({"files": [{"path": "a.txt", "size": 1}], "gitIgnore": "*a*a*a*b\n" * 5000}).encode(),
        {"Authorization": f"Bearer {token_for(alice)}", "Content-Type": "application/json"},
    )
    assert status == 400 and "more than 1,000 patterns" in body["error"]


def test_invalid_readme_metadata_is_refused_before_upload(live_server, alice):
    make_repo(owner=alice, name="tiny")

    with pytest.raises(ValueError, match="Invalid metadata in README.md"):
        api_for(live_server, alice).upload_file(
            path_or_fileobj=b"---\nlicense: [mit\n---\n", path_in_repo="README.md", repo_id="alice/tiny"
        )


def test_create_commit_with_additions_deletions_and_copies(live_server, alice):
    repo = make_repo(owner=alice, name="tiny")
    make_commit(repo=repo, author=alice, files={"a.txt": b"alpha", "old.txt": b"old", "dir/x.txt": b"x"})
    api = api_for(live_server, alice)

    info = api.create_commit(
        repo_id="alice/tiny",
        operations=[
            CommitOperationAdd(path_in_repo="b.txt", path_or_fileobj=b"beta"),
            CommitOperationDelete(path_in_repo="old.txt"),
            CommitOperationDelete(path_in_repo="dir/"),
            CommitOperationCopy(src_path_in_repo="a.txt", path_in_repo="copy/a.txt"),
        ],
        commit_message="Mixed",
        commit_description="several operations",
    )

    files = files_at(repo)
    assert {k: v for k, v in files.items() if k != ".gitattributes"} == {
        "a.txt": b"alpha",
        "b.txt": b"beta",
        "copy/a.txt": b"alpha",
    }
    commit = Commit.objects.get(oid=info.oid)
    assert (commit.title, commit.description, commit.author) == ("Mixed", "several operations", alice)


def test_delete_file_and_folder(live_server, alice):
    repo = make_repo(owner=alice, name="tiny")
    make_commit(repo=repo, author=alice, files={"a.txt": b"a", "logs/1.log": b"1", "logs/2.log": b"2"})
    api = api_for(live_server, alice)

    api.delete_file("a.txt", repo_id="alice/tiny")
    api.delete_folder("logs", repo_id="alice/tiny")

    assert set(files_at(repo)) == {".gitattributes"}
    with pytest.raises(HfHubHTTPError) as excinfo:
        api.delete_file("missing.txt", repo_id="alice/tiny")
    assert excinfo.value.response.status_code == 404


def test_deleting_a_folder_named_without_its_slash_deletes_the_folder(live_server, alice):
    repo = make_repo(owner=alice, name="tiny")
    make_commit(
        repo=repo, author=alice, files={"logs/1.log": b"1", "logs/deep/2.log": b"2", "logs.txt": b"t", "k/x": b"x"}
    )
    api = api_for(live_server, alice)

    api.delete_file("logs", repo_id="alice/tiny")
    api.create_commit("alice/tiny", [CommitOperationDelete("k", is_folder=False)], commit_message="rm k")

    assert set(files_at(repo)) == {".gitattributes", "logs.txt"}
    with pytest.raises(HfHubHTTPError) as excinfo:
        api.delete_file("log", repo_id="alice/tiny")  # a prefix of a name is not a folder
    assert excinfo.value.response.status_code == 404


def test_commit_to_a_branch_with_a_slash(live_server, alice):
    repo = make_repo(owner=alice, name="tiny")
    api = api_for(live_server, alice)
    api.create_branch("alice/tiny", branch="feature/x")

    api.upload_file(path_or_fileobj=b"on a branch", path_in_repo="f.txt", repo_id="alice/tiny", revision="feature/x")

    assert files_at(repo, "feature/x")["f.txt"] == b"on a branch"
    assert "f.txt" not in files_at(repo, "main")


def test_parent_commit_conflict_is_412(live_server, alice):
    repo = make_repo(owner=alice, name="tiny")
    api = api_for(live_server, alice)
    first = api.upload_file(path_or_fileobj=b"1", path_in_repo="n.txt", repo_id="alice/tiny")
    api.upload_file(path_or_fileobj=b"2", path_in_repo="n.txt", repo_id="alice/tiny", parent_commit=first.oid)

    with pytest.raises(HfHubHTTPError) as excinfo:
        api.upload_file(path_or_fileobj=b"3", path_in_repo="n.txt", repo_id="alice/tiny", parent_commit=first.oid)

    assert excinfo.value.response.status_code == 412
    assert "A commit has happened since" in str(excinfo.value)
    assert files_at(repo)["n.txt"] == b"2"


def test_retried_identical_commit_returns_the_same_commit(live_server, alice):
    repo = make_repo(owner=alice, name="tiny")
    token = token_for(alice)
    body = ndjson(header_line("Same"), file_line("s.txt", b"same"))

    first = post_commit(live_server, token, "alice/tiny", body)
    again = post_commit(live_server, token, "alice/tiny", body)

    assert first[0] == again[0] == 200
    assert first[1]["commitOid"] == again[1]["commitOid"]
    assert Commit.objects.filter(repository=repo, title="Same").count() == 1


def test_commit_of_unchanged_files_under_another_title_answers_the_head(live_server, alice):
    repo = make_repo(owner=alice, name="tiny")
    api = api_for(live_server, alice)
    head = api.upload_file(path_or_fileobj=b"same", path_in_repo="s.txt", repo_id="alice/tiny").oid
    commits = Commit.objects.filter(repository=repo).count()

    status, body, _ = post_commit(
        live_server,
        token_for(alice),
        "alice/tiny",
        ndjson(header_line("Upload s.txt (retry)"), file_line("s.txt", b"same")),
    )

    assert status == 200 and body["commitOid"] == head
    assert body["commitUrl"] == f"{live_server.url}/alice/tiny/commit/{head}"
    assert Commit.objects.filter(repository=repo).count() == commits
    assert api.list_repo_commits("alice/tiny")[0].commit_id == head


def test_writes_take_the_repo_id_in_another_letter_case(live_server, alice):
    repo = make_repo(owner=alice, name="tiny")
    api = api_for(live_server, alice)

    info = api.upload_file(path_or_fileobj=b"hi", path_in_repo="a.txt", repo_id="Alice/Tiny")
    api.create_branch("ALICE/tiny", branch="dev")
    api.delete_file("a.txt", repo_id="alice/TINY", revision="dev")
    api.update_repo_settings("Alice/Tiny", private=True)

    assert info.commit_url == f"{live_server.url}/alice/tiny/commit/{info.oid}"
    assert files_at(repo)["a.txt"] == b"hi" and "a.txt" not in files_at(repo, "dev")
    assert repo_row("alice", "tiny").private
    with pytest.raises(RepositoryNotFoundError):
        api.upload_file(path_or_fileobj=b"hi", path_in_repo="a.txt", repo_id="Alice/Tiny2")


# Branches and tags


def test_branches_and_tags(live_server, alice):
    repo = make_repo(owner=alice, name="tiny")
    api = api_for(live_server, alice)
    first = api.upload_file(path_or_fileobj=b"1", path_in_repo="n.txt", repo_id="alice/tiny")
    api.upload_file(path_or_fileobj=b"2", path_in_repo="n.txt", repo_id="alice/tiny")

    api.create_branch("alice/tiny", branch="dev", revision=first.oid)
    assert Ref.objects.get(repository=repo, name="dev").commit.oid == first.oid
    with pytest.raises(HfHubHTTPError) as excinfo:
        api.create_branch("alice/tiny", branch="dev")
    assert excinfo.value.response.status_code == 409
    assert "Reference refs/heads/dev already exists" in str(excinfo.value)
    api.create_branch("alice/tiny", branch="dev", exist_ok=True)
    with pytest.raises(BadRequestError, match="Invalid reference for a branch"):
        api.create_branch("alice/tiny", branch="bad..name")

    api.create_tag("alice/tiny", tag="v1", revision="dev", tag_message="first release")
    assert Ref.objects.get(repository=repo, kind="tag", name="v1").commit.oid == first.oid
    with pytest.raises(HfHubHTTPError) as excinfo:
        api.create_tag("alice/tiny", tag="v1")
    assert excinfo.value.response.status_code == 409
    with pytest.raises(RevisionNotFoundError):
        api.create_tag("alice/tiny", tag="v2", revision="nope")

    api.delete_tag("alice/tiny", tag="v1")
    assert not Ref.objects.filter(repository=repo, kind="tag").exists()
    with pytest.raises(RevisionNotFoundError):
        api.delete_tag("alice/tiny", tag="dev")  # a branch, not a tag
    api.delete_branch("alice/tiny", branch="dev")
    assert not Ref.objects.filter(repository=repo, name="dev").exists()
    with pytest.raises(HfHubHTTPError, match="Cannot delete refs/heads/main"):
        api.delete_branch("alice/tiny", branch="main")
    with pytest.raises(HfHubHTTPError, match="Invalid rev id"):
        api.delete_branch("alice/tiny", branch="ghost")


# Permissions


def test_stranger_cannot_write_to_public_repo(live_server, alice, charlie):
    repo = make_repo(owner=alice, name="tiny")

    with pytest.raises(HfHubHTTPError) as excinfo:
        api_for(live_server, charlie).upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id="alice/tiny")

    assert excinfo.value.response.status_code == 403
    assert "x.txt" not in files_at(repo)


def test_stranger_gets_404_on_private_repo(live_server, alice, charlie):
    make_repo(owner=alice, name="hidden", private=True)
    api = api_for(live_server, charlie)

    with pytest.raises(RepositoryNotFoundError):
        api.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id="alice/hidden")
    with pytest.raises(RepositoryNotFoundError):
        api.delete_repo("alice/hidden")
    with pytest.raises(RepositoryNotFoundError):
        api.create_branch("alice/hidden", branch="dev")
    assert Repository.objects.filter(name="hidden").exists()


def test_session_user_needs_csrf_token(live_server, alice, client):
    make_repo(owner=alice, name="tiny")
    client.force_login(alice)
    cookie = client.cookies["sessionid"].value

    status, body, _ = raw_request(
        live_server,
        "POST",
        "/api/repos/move",
        b'{"fromRepo": "alice/tiny", "toRepo": "alice/stolen"}',
        {"Cookie": f"sessionid={cookie}", "Content-Type": "text/plain"},
    )

    assert status == 403
    assert "CSRF" in body["error"]
    assert repo_row("alice", "tiny")


# Hostile input


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"key": "header", "value": {"summary": "x"}}\nnot json\n', "expected '{'"),
        (
            ndjson(header_line(), {"key": "file", "value": {"path": "a.txt", "content": "QQ=$", "encoding": "base64"}}),
            "not valid base64",
        ),
        (ndjson(file_line("a.txt", b"no header")), "header line"),
        (ndjson(header_line(), {"key": "bogus", "value": {}}), "unknown key"),
        (ndjson(header_line(), file_line("bad.safetensors", b"\x08\x00\x00\x00\x00\x00\x00\x00{}")), "safetensors"),
        (
            ndjson(header_line(), {"key": "lfsFile", "value": {"path": "w.bin", "algo": "sha256", "oid": "ab" * 32}}),
            "never uploaded",
        ),
        (b'{"key": "header", "value": {"summary": "unterminated', "ends inside a string"),
    ],
)
def test_hostile_commit_bodies_get_a_clear_400_and_no_commit(live_server, alice, body, message):
    repo = make_repo(owner=alice, name="tiny")
    commits_before = Commit.objects.filter(repository=repo).count()
    blobs_before = Blob.objects.count()

    status, payload, headers = post_commit(live_server, token_for(alice), "alice/tiny", body)

    assert status == 400, payload
    assert message in payload["error"]
    assert headers["Content-Type"] == "application/json"
    assert Commit.objects.filter(repository=repo).count() == commits_before
    assert Blob.objects.count() == blobs_before


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (file_line("../x", b"escape"), "'..'"),
        (file_line("/etc/passwd", b"escape"), "absolute"),
        (file_line("a\x00b", b"nul"), "control character"),
        (file_line("a\\b", b"windows"), "backslash"),
        ({"key": "deletedFile", "value": {"path": "a/../../b"}}, "'..'"),
        ({"key": "deletedFolder", "value": {"path": "/"}}, "absolute"),
    ],
)
def test_invalid_paths_are_422_with_the_reason(live_server, alice, line, reason):
    repo = make_repo(owner=alice, name="tiny")
    token = token_for(alice)
    path = line["value"]["path"]

    status, payload, _ = post_commit(live_server, token, "alice/tiny", ndjson(header_line(), line))
    preupload = raw_request(
        live_server,
        "POST",
        "/api/models/alice/tiny/preupload/main",
        json.dumps({"files": [{"path": path, "size": 1}]}).encode(),
        {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )

    assert status == 422 and reason in payload["error"], payload
    assert preupload[0] == 422 and reason in preupload[1]["error"]
    assert Commit.objects.filter(repository=repo).count() == 1


def test_lfs_file_with_wrong_size_is_refused(live_server, alice):
    repo = make_repo(owner=alice, name="tiny")
    make_commit(repo=repo, author=alice, files={"w.bin": b"weights"})
    oid = hashlib.sha256(b"weights").hexdigest()
    body = ndjson(
        header_line(), {"key": "lfsFile", "value": {"path": "c.bin", "algo": "sha256", "oid": oid, "size": 3}}
    )

    status, payload, _ = post_commit(live_server, token_for(alice), "alice/tiny", body)

    assert status == 400
    assert "c.bin" in payload["error"] and "7 bytes" in payload["error"]


def test_lfs_file_referencing_a_stored_blob_is_committed(live_server, alice):
    repo = make_repo(owner=alice, name="tiny")
    make_commit(repo=repo, author=alice, files={"w.bin": b"weights"})
    oid = hashlib.sha256(b"weights").hexdigest()
    body = ndjson(header_line(), {"key": "lfsFile", "value": {"path": "copy.bin", "algo": "sha256", "oid": oid}})

    status, payload, _ = post_commit(live_server, token_for(alice), "alice/tiny", body)

    assert status == 200, payload
    assert files_at(repo)["copy.bin"] == b"weights"


def test_unknown_revision_is_404_revision_not_found(live_server, alice):
    make_repo(owner=alice, name="tiny")

    status, payload, headers = post_commit(
        live_server, token_for(alice), "alice/tiny", ndjson(header_line(), file_line("a", b"a")), revision="nope"
    )

    assert status == 404
    assert headers["X-Error-Code"] == "RevisionNotFound"
    assert "Invalid rev id: nope" in payload["error"]


def test_pull_requests_are_refused(live_server, alice):
    make_repo(owner=alice, name="tiny")

    with pytest.raises(BadRequestError, match="Pull requests are not supported"):
        api_for(live_server, alice).upload_file(
            path_or_fileobj=b"x", path_in_repo="x.txt", repo_id="alice/tiny", create_pr=True
        )


def test_file_over_the_size_limit_is_413(live_server, alice, settings):
    settings.FLYWHEEL_MAX_UPLOAD_BYTES = 1000
    repo = make_repo(owner=alice, name="tiny")

    status, payload, _ = post_commit(
        live_server, token_for(alice), "alice/tiny", ndjson(header_line(), file_line("big.bin", b"x" * 5000))
    )

    assert status == 413
    assert "1,000 bytes" in payload["error"]
    with pytest.raises(HfHubHTTPError) as excinfo:  # the client is stopped at preupload, before sending
        api_for(live_server, alice).upload_file(
            path_or_fileobj=b"x" * 5000, path_in_repo="big.bin", repo_id="alice/tiny"
        )
    assert excinfo.value.response.status_code == 413
    assert "preupload" in str(excinfo.value.response.url)
    assert "big.bin" not in files_at(repo)


def _concurrent_commits_scenario(server, token: str, namespace: str) -> None:
    """Two commits with the same parentCommit sent at once: one lands whole, the other gets 412."""
    auth = {"Authorization": f"Bearer {token}"}
    status, _, _ = raw_request(server, "POST", "/api/repos/create", b'{"name": "race"}', auth)
    assert status == 200
    repo_id = f"{namespace}/race"
    first = post_commit(server, token, repo_id, ndjson(header_line("Base"), file_line("base.txt", b"base")))
    parent = first[1]["commitOid"]
    results: dict[str, tuple] = {}
    bodies = {
        who: ndjson(
            header_line(f"From {who}", parent=parent), *[file_line(f"{who}/{i}.txt", b"%d" % i) for i in range(20)]
        )
        for who in ("left", "right")
    }
    start = threading.Barrier(2)

    def send(who: str) -> None:
        start.wait()
        results[who] = post_commit(server, token, repo_id, bodies[who])

    threads = [threading.Thread(target=send, args=(who,)) for who in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(result[0] for result in results.values()) == [200, 412], results
    winner = next(who for who, result in results.items() if result[0] == 200)
    loser = "right" if winner == "left" else "left"
    assert "A commit has happened since" in results[loser][1]["error"]
    for i in range(20):
        status, body, _ = raw_request(server, "GET", f"/{repo_id}/resolve/main/{winner}/{i}.txt", headers=auth)
        assert (status, body) == (200, i)  # the bytes b"%d" parse as the JSON number i
    status, _, headers = raw_request(server, "GET", f"/{repo_id}/resolve/main/{loser}/0.txt", headers=auth)
    assert status == 404 and headers["X-Error-Code"] == "EntryNotFound"


def test_concurrent_commits_with_the_same_parent_one_wins(request):
    if connection.vendor == "sqlite":
        # The in-memory SQLite test database is one connection shared by every live_server thread, so
        # concurrent transactions cannot be exercised there: use gunicorn on a SQLite file, as deployed.
        from bench.bench_hub_upload import USERNAME, HubServer

        with HubServer() as server:
            _concurrent_commits_scenario(server, server.token, USERNAME)
    else:
        alice = request.getfixturevalue("alice")
        _concurrent_commits_scenario(request.getfixturevalue("live_server"), token_for(alice), "alice")


def test_no_xet_headers_and_xet_token_points_to_the_variable(live_server, alice):
    make_repo(owner=alice, name="tiny")
    status, payload, headers = raw_request(
        live_server,
        "GET",
        "/api/models/alice/tiny/xet-write-token/main",
        headers={"Authorization": f"Bearer {token_for(alice)}"},
    )

    assert 400 <= status < 500
    assert "HF_HUB_DISABLE_XET=1" in payload["error"]
    assert not any(name.lower().startswith("x-xet") for name in headers)


def test_validate_yaml_answers_json(live_server):
    ok = raw_request(live_server, "POST", "/api/validate-yaml", b'{"content": "---\\nlicense: mit\\n---\\n"}')
    bad = raw_request(live_server, "POST", "/api/validate-yaml", b'{"content": "---\\nlicense: [mit\\n---\\n"}')

    assert ok[:2] == (200, {"errors": [], "warnings": []})
    assert bad[0] == 400 and bad[1]["errors"][0]["message"]


def test_upload_big_file_streams(live_server, alice, tmp_path):
    repo = make_repo(owner=alice, name="tiny")
    big = tmp_path / "big.dat"
    with open(big, "wb") as handle:
        for i in range(24):
            handle.write(bytes([i]) * (1024 * 1024 + 7))

    api_for(live_server, alice).upload_file(path_or_fileobj=str(big), path_in_repo="big.dat", repo_id="alice/tiny")

    entry = TreeEntry.objects.get(commit=revision_resolve(repo, "main"), path="big.dat")
    assert entry.blob.size == big.stat().st_size
    assert entry.blob.sha256 == hashlib.sha256(Path(big).read_bytes()).hexdigest()


# Git LFS (only when FLYWHEEL_LFS_UPLOAD_THRESHOLD > 0)


def lfs_batch(server, token: str, repo_id: str, objects: list[dict]):
    body = json.dumps({"operation": "upload", "transfers": ["basic", "multipart"], "objects": objects}).encode()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/vnd.git-lfs+json"}
    return raw_request(server, "POST", f"/{repo_id}.git/info/lfs/objects/batch", body, headers)


def test_lfs_batch_is_off_by_default(live_server, alice):
    make_repo(owner=alice, name="tiny")

    status, payload, _ = lfs_batch(live_server, token_for(alice), "alice/tiny", [{"oid": "ab" * 32, "size": 1}])

    assert status == 404
    assert "disabled" in payload["error"]


def test_lfs_upload_with_the_client(live_server, alice, settings, monkeypatch):
    import huggingface_hub.constants

    settings.FLYWHEEL_LFS_UPLOAD_THRESHOLD = 1000
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_DISABLE_XET", True)
    repo = make_repo(owner=alice, name="tiny")
    api = api_for(live_server, alice)
    data = bytes(range(256)) * 40

    api.upload_file(path_or_fileobj=data, path_in_repo="weights.bin", repo_id="alice/tiny")
    api.upload_file(path_or_fileobj=b"small", path_in_repo="small.txt", repo_id="alice/tiny")
    commits = Commit.objects.filter(repository=repo).count()
    api.upload_file(path_or_fileobj=data, path_in_repo="weights.bin", repo_id="alice/tiny")  # unchanged: skipped

    assert files_at(repo)["weights.bin"] == data
    assert files_at(repo)["small.txt"] == b"small"
    assert Commit.objects.filter(repository=repo).count() == commits


def test_lfs_mode_with_xet_enabled_tells_the_user_what_to_set(live_server, alice, settings, monkeypatch, caplog):
    import huggingface_hub.utils._http

    settings.FLYWHEEL_LFS_UPLOAD_THRESHOLD = 1000
    monkeypatch.setattr(huggingface_hub.utils._http, "_WARNED_TOPICS", set())
    repo = make_repo(owner=alice, name="tiny")

    # hf_xet asks for a Xet token itself and reports only the status and the URL...
    with pytest.raises(Exception, match="xet-write-token"):
        api_for(live_server, alice).upload_file(path_or_fileobj=b"x" * 5000, path_in_repo="w.bin", repo_id="alice/tiny")

    # ...so the preupload answer carries a warning header that the client logs.
    assert "HF_HUB_DISABLE_XET=1" in caplog.text
    assert "w.bin" not in files_at(repo)


def test_lfs_put_checks_signature_size_and_hash(live_server, alice, settings):
    settings.FLYWHEEL_LFS_UPLOAD_THRESHOLD = 1000
    make_repo(owner=alice, name="tiny")
    token = token_for(alice)
    data = b"lfs object bytes " * 100
    oid = hashlib.sha256(data).hexdigest()

    status, payload, _ = lfs_batch(live_server, token, "alice/tiny", [{"oid": oid, "size": len(data)}])
    assert status == 200 and payload["transfer"] == "basic"
    actions = payload["objects"][0]["actions"]
    href = urlsplit(actions["upload"]["href"])
    upload_path = f"{href.path}?{href.query}"
    verify_path = urlsplit(actions["verify"]["href"]).path
    auth = {"Authorization": f"Bearer {token}"}
    verify_body = json.dumps({"oid": oid, "size": len(data)}).encode()

    assert raw_request(live_server, "POST", verify_path, verify_body, auth)[0] == 404
    tampered = upload_path.replace("token=", "token=x")
    assert raw_request(live_server, "PUT", tampered, data)[0] == 403
    other = b"x" * len(data)
    status, payload, _ = raw_request(live_server, "PUT", upload_path, other)
    assert status == 400 and "does not match" in payload["error"]
    status, payload, _ = raw_request(live_server, "PUT", upload_path, data[:-1])
    assert status == 400 and "announced" in payload["error"]
    assert not Blob.objects.filter(sha256=oid).exists()
    assert not Blob.objects.filter(sha256=hashlib.sha256(other).hexdigest()).exists()

    assert raw_request(live_server, "PUT", upload_path, data)[0] == 200
    assert raw_request(live_server, "POST", verify_path, verify_body, auth)[0] == 200
    assert Blob.objects.get(sha256=oid).size == len(data)
    status, payload, _ = lfs_batch(live_server, token, "alice/tiny", [{"oid": oid, "size": len(data)}])
    assert "actions" not in payload["objects"][0]  # already stored: the client skips the upload
    body = ndjson(
        header_line(), {"key": "lfsFile", "value": {"path": "o.bin", "algo": "sha256", "oid": oid, "size": len(data)}}
    )
    assert post_commit(live_server, token, "alice/tiny", body)[0] == 200


def test_lfs_batch_needs_write_access(live_server, alice, charlie, settings):
    settings.FLYWHEEL_LFS_UPLOAD_THRESHOLD = 1000
    make_repo(owner=alice, name="tiny")
    make_repo(owner=alice, name="hidden", private=True)
    objects = [{"oid": "ab" * 32, "size": 5000}]

    assert lfs_batch(live_server, token_for(charlie), "alice/tiny", objects)[0] == 403
    status, _, headers = lfs_batch(live_server, token_for(charlie), "alice/hidden", objects)
    assert status == 404 and headers["X-Error-Code"] == "RepoNotFound"
    assert lfs_batch(live_server, token_for(alice, "read"), "alice/tiny", objects)[0] == 403


# The headline: a tiny causal LM pushed with the stock tools and loaded back by transformers


BUILD_TINY_MODEL = """
import json, sys
import torch
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast, pipeline

sentences = ["Hello world, this is a tiny model.", "Hello there, the model speaks.", "A tiny model is happy."]
tokenizer = Tokenizer(models.WordLevel(unk_token="[UNK]"))
tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
tokenizer.train_from_iterator(sentences, trainers.WordLevelTrainer(special_tokens=["[UNK]", "[PAD]", "<eos>"]))
fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="[UNK]", pad_token="[PAD]", eos_token="<eos>")
torch.manual_seed(1234)
config = GPT2Config(vocab_size=fast.vocab_size, n_positions=64, n_embd=32, n_layer=2, n_head=2,
                    bos_token_id=2, eos_token_id=2, pad_token_id=1)
model = GPT2LMHeadModel(config)
model.save_pretrained(sys.argv[1], safe_serialization=True)
fast.save_pretrained(sys.argv[1])
generate = pipeline("text-generation", model=sys.argv[1])
print(json.dumps([generate(p, do_sample=False, max_new_tokens=8)[0]["generated_text"] for p in PROMPTS]))
"""

LOAD_FROM_HUB = """
import json, sys
from transformers import pipeline
print(json.dumps({repo: [pipeline("text-generation", repo)(p, do_sample=False, max_new_tokens=8)[0]["generated_text"]
                         for p in PROMPTS] for repo in sys.argv[1:]}))
"""

PUSH_TO_HUB = """
import sys
from transformers import AutoModelForCausalLM, AutoTokenizer
AutoModelForCausalLM.from_pretrained(sys.argv[1]).push_to_hub(sys.argv[2])
AutoTokenizer.from_pretrained(sys.argv[1]).push_to_hub(sys.argv[2])
"""

PROMPTS = ["Hello", "A tiny model"]


def run_python(script: str, *args: str, env: dict[str, str]) -> str:
    code = f"PROMPTS = {PROMPTS!r}\n{script}"
    done = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""


def hub_env_for(live_server, token: str, home: Path, **extra: str) -> dict[str, str]:
    """Only what a user would set: the endpoint, the token and a cache folder (plus PATH and HOME)."""
    home.mkdir(parents=True, exist_ok=True)
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "HF_ENDPOINT": live_server.url,
        "HF_TOKEN": token,
        "HF_HOME": str(home / "hf"),
        **extra,
    }


@pytest.fixture
def tiny_model(tmp_path) -> tuple[Path, list[str]]:
    folder = tmp_path / "tiny-model"
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    local = json.loads(run_python(BUILD_TINY_MODEL, str(folder), env=env))
    return folder, local


def test_tiny_model_pushed_with_the_client_generates_the_same_text(live_server, alice, tiny_model, tmp_path):
    folder, local_generations = tiny_model
    token = token_for(alice)
    api = HfApi(endpoint=live_server.url, token=token)
    api.create_repo("alice/tiny")
    api.upload_folder(folder_path=folder, repo_id="alice/tiny", commit_message="Tiny GPT-2")
    assert {".gitattributes", "config.json", "model.safetensors", "tokenizer.json"} <= set(
        api.list_repo_files("alice/tiny")
    )

    run_python(PUSH_TO_HUB, str(folder), "alice/tiny-pushed", env=hub_env_for(live_server, token, tmp_path / "push"))
    loaded = json.loads(
        run_python(
            LOAD_FROM_HUB, "alice/tiny", "alice/tiny-pushed", env=hub_env_for(live_server, token, tmp_path / "load")
        )
    )

    assert loaded == {"alice/tiny": local_generations, "alice/tiny-pushed": local_generations}


def test_hf_cli_upload_and_download(live_server, alice, tiny_model, tmp_path):
    folder, _ = tiny_model
    env = hub_env_for(live_server, token_for(alice), tmp_path / "cli")
    hf = str(Path(sys.executable).parent / "hf")

    upload = subprocess.run([hf, "upload", "alice/tiny-cli", str(folder)], env=env, capture_output=True, text=True)
    assert upload.returncode == 0, upload.stderr[-3000:]
    target = tmp_path / "downloaded"
    # live_server threads share the one connection of the in-memory SQLite test database, so parallel
    # downloads only run against a real database server (PostgreSQL in CI).
    workers = "1" if connection.vendor == "sqlite" else "8"
    download = subprocess.run(
        [hf, "download", "alice/tiny-cli", "--local-dir", str(target), "--max-workers", workers],
        env=env,
        capture_output=True,
        text=True,
    )
    assert download.returncode == 0, download.stderr[-3000:]

    for path in folder.iterdir():
        assert (target / path.name).read_bytes() == path.read_bytes(), path.name


def test_tiny_model_through_git_lfs(live_server, alice, tiny_model, tmp_path, settings):
    settings.FLYWHEEL_LFS_UPLOAD_THRESHOLD = 10_000  # model.safetensors (~115 kB) goes through LFS
    folder, local_generations = tiny_model
    token = token_for(alice)
    hf = str(Path(sys.executable).parent / "hf")

    refused = subprocess.run(
        [hf, "upload", "alice/tiny-lfs", str(folder)],
        env=hub_env_for(live_server, token, tmp_path / "xet"),
        capture_output=True,
        text=True,
    )
    assert refused.returncode != 0  # hf_xet is installed: the lfs-mode file would go to Xet...
    assert "HF_HUB_DISABLE_XET=1" in refused.stdout + refused.stderr  # ...and the user is told what to set

    env = hub_env_for(live_server, token, tmp_path / "lfs", HF_HUB_DISABLE_XET="1")
    upload = subprocess.run([hf, "upload", "alice/tiny-lfs", str(folder)], env=env, capture_output=True, text=True)
    assert upload.returncode == 0, upload.stderr[-3000:]

    weights = TreeEntry.objects.get(
        commit=revision_resolve(repo_row("alice", "tiny-lfs"), "main"), path="model.safetensors"
    )
    assert weights.blob.sha256 == hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
    loaded = json.loads(
        run_python(LOAD_FROM_HUB, "alice/tiny-lfs", env=hub_env_for(live_server, token, tmp_path / "l"))
    )
    assert loaded == {"alice/tiny-lfs": local_generations}


def test_commit_parser_memory_stays_bounded_whatever_the_file_size():
    """A 48 MiB file line is parsed with a few MiB of memory: content goes to disk as it arrives."""
    import tracemalloc

    from models_hub.hub_api.commit_stream import READ_CHUNK, parse_commit_stream

    block = hashlib.sha256(b"seed").digest() * 3 * 1024  # 96 KiB, a multiple of 3 bytes
    blocks = 512  # 48 MiB of content, 64 MiB of base64

    def body():
        yield json.dumps(header_line("Big")).encode() + b"\n"
        yield b'{"key": "file", "value": {"content": "'
        encoded = base64.b64encode(block)
        for _ in range(blocks):
            yield encoded
        yield b'", "path": "big.bin", "encoding": "base64"}}\n'

    pieces = body()
    pending = bytearray()
    largest_read = 0

    def read(size: int) -> bytes:
        nonlocal largest_read
        largest_read = max(largest_read, size)
        while len(pending) < size:
            piece = next(pieces, None)
            if piece is None:
                break
            pending.extend(piece)
        data = bytes(pending[:size])
        del pending[:size]
        return data

    expected = hashlib.sha256()
    for _ in range(blocks):
        expected.update(block)
    tracemalloc.start()
    parsed = parse_commit_stream(read)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    try:
        streamed = parsed.files["big.bin"]
        assert streamed.size == len(block) * blocks
        assert streamed.sha256 == expected.hexdigest()
        assert largest_read == READ_CHUNK
        assert peak < 8 * 1024 * 1024, f"peak {peak:,} bytes"
    finally:
        parsed.discard()


@pytest.mark.parametrize("body", [b"[" * 100_000, b"not json", b"\xff\xfe", b'["a list"]', b'{"name": 7}'])
def test_hostile_json_bodies_get_400(live_server, alice, body):
    headers = {"Authorization": f"Bearer {token_for(alice)}", "Content-Type": "application/json"}

    status, payload, _ = raw_request(live_server, "POST", "/api/repos/create", body, headers)

    assert status == 400, payload
    assert payload["error"]
    assert not Repository.objects.exists()
