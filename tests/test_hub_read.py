"""The read side of the Hub protocol, driven by the real huggingface_hub client against a live server.

Repositories are built with the real services (make_repo, make_commit); every assertion goes through
HTTP, mostly through the unmodified client, and once through transformers and datasets in a child
process with HF_ENDPOINT set.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import httpx2
import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from huggingface_hub import HfApi, HfFileSystem, constants, hf_hub_download, hf_hub_url, snapshot_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from accounts.services import token_create
from conftest import make_commit, make_repo
from models_hub import services
from models_hub.models import Repository
from models_hub.storage.blobs import blob_store_bytes
from tests.hub_fixtures import child_env

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.hub_client]

ROOT = Path(__file__).resolve().parent.parent
BIG = bytes(range(256)) * 8  # 2048 bytes: "LFS" once the display threshold is lowered to 1000


@pytest.fixture(autouse=True)
def hf_home(tmp_path, monkeypatch, settings) -> Path:
    """A private HF_HOME per test, no stray token, and a low LFS display threshold."""
    home = tmp_path / "hf"
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_CACHE", str(home / "hub"))
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("HF_HUB_ETAG_TIMEOUT", "30")
    monkeypatch.setenv("DISABLE_SAFETENSORS_CONVERSION", "1")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    # The client read these when it was imported: point them at the per-test folder too.
    monkeypatch.setattr(constants, "HF_HOME", str(home))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(home / "hub"))
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(home / "token"))
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", True)
    settings.FLYWHEEL_LFS_DISPLAY_THRESHOLD = 1000
    return home


def git_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def api_for(live_server, token: str | bool = False) -> HfApi:
    return HfApi(endpoint=live_server.url, token=token)


def alice_model(alice, **kwargs) -> Repository:
    repo = make_repo(owner=alice, **kwargs)
    make_commit(
        repo=repo,
        author=alice,
        title="Add weights",
        files={
            "README.md": b"---\nlicense: mit\ntags: [tiny]\npipeline_tag: text-generation\n---\n# Tiny\n",
            "config.json": b'{"model_type": "gpt2"}',
            "weights.bin": BIG,
            "sub/a.txt": b"alpha",
            "sub/deep/b.txt": b"beta",
        },
    )
    return repo


# --- Repo info -----------------------------------------------------------------------------------


def test_model_info_reports_files_sizes_and_lfs(live_server, alice):
    repo = alice_model(alice)
    head = repo.refs.get(name="main").commit.oid

    info = api_for(live_server).model_info("alice/tiny", files_metadata=True)

    assert info.id == "alice/tiny"
    assert info.sha == head
    assert info.private is False
    assert info.pipeline_tag == "text-generation"
    assert "tiny" in info.tags and "license:mit" in info.tags
    assert info.card_data["license"] == "mit"
    files = {s.rfilename: s for s in info.siblings}
    assert set(files) == {".gitattributes", "README.md", "config.json", "weights.bin", "sub/a.txt", "sub/deep/b.txt"}
    assert files["config.json"].size == 22
    assert files["config.json"].blob_id == git_oid(b'{"model_type": "gpt2"}')
    assert files["config.json"].lfs is None
    assert files["weights.bin"].lfs.sha256 == sha256(BIG)
    assert files["weights.bin"].lfs.size == len(BIG)
    assert info.last_modified is not None and info.created_at is not None


def test_repo_info_at_a_revision_and_dataset_info(live_server, alice):
    repo = alice_model(alice)
    first = repo.refs.get(name="main").commit
    make_commit(repo=repo, author=alice, files={"later.txt": b"later"})
    services.tag_create(repo=repo, name="v1", revision=first.oid)
    dataset = make_repo(owner=alice, name="rows", kind="dataset")
    make_commit(repo=dataset, author=alice, files={"data/train.jsonl": b'{"x": 1}\n'})
    api = api_for(live_server)

    tagged = api.repo_info("alice/tiny", revision="v1")
    by_sha = api.model_info("alice/tiny", revision=first.oid[:8])
    data = api.dataset_info("alice/rows", files_metadata=True)

    assert tagged.sha == by_sha.sha == first.oid
    assert "later.txt" not in {s.rfilename for s in tagged.siblings}
    assert data.id == "alice/rows"
    assert [s.rfilename for s in data.siblings] == [".gitattributes", "data/train.jsonl"]
    assert api.repo_exists("alice/rows", repo_type="dataset")
    assert not api.repo_exists("alice/rows")  # it is a dataset, not a model
    assert api.revision_exists("alice/tiny", "v1")
    assert not api.revision_exists("alice/tiny", "v2")


def test_missing_private_and_single_segment_repos_are_not_found(live_server, alice, charlie):
    make_repo(owner=alice, name="secret", private=True)
    make_commit(repo=Repository.objects.get(name="secret"), author=alice, files={"a.txt": b"a"})
    stranger = token_create(user=charlie, name="laptop").secret
    owner = token_create(user=alice, name="laptop").secret

    for token in (False, stranger):
        api = api_for(live_server, token)
        with pytest.raises(RepositoryNotFoundError):
            api.model_info("alice/secret")
        with pytest.raises(RepositoryNotFoundError):
            api.list_repo_files("alice/secret")
        with pytest.raises(RepositoryNotFoundError):
            hf_hub_download("alice/secret", "a.txt", endpoint=live_server.url, token=token)
        with pytest.raises(RepositoryNotFoundError):
            api.model_info("alice/nothing-here")
    assert not api_for(live_server).repo_exists("gpt2")
    assert api_for(live_server, owner).model_info("alice/secret").private is True
    assert api_for(live_server, owner).list_repo_files("alice/secret") == [".gitattributes", "a.txt"]
    anonymous = httpx2.get(f"{live_server.url}/api/models/alice/secret")
    assert anonymous.status_code == 401 and anonymous.headers["X-Error-Code"] == "RepoNotFound"
    signed_in = httpx2.get(
        f"{live_server.url}/api/models/alice/secret", headers={"authorization": f"Bearer {stranger}"}
    )
    assert signed_in.status_code == 404 and signed_in.headers["X-Error-Code"] == "RepoNotFound"
    unknown = httpx2.get(f"{live_server.url}/api/no/such/thing")
    assert unknown.status_code == 404 and unknown.json()["error"]


def test_an_id_without_owner_is_repo_not_found_on_every_endpoint(live_server, alice, hf_home):
    token = token_create(user=alice, name="laptop", scope="write").secret
    api = api_for(live_server, token)
    calls = [
        lambda: api.model_info("gpt2"),
        lambda: api.dataset_info("squad"),
        lambda: api.model_info("gpt2", revision="main"),
        lambda: list(api.list_repo_tree("gpt2")),
        lambda: api.get_paths_info("gpt2", ["config.json"]),
        lambda: api.list_repo_refs("gpt2"),
        lambda: api.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id="gpt2"),
        lambda: hf_hub_download("gpt2", "config.json", endpoint=live_server.url, token=token, cache_dir=hf_home),
        lambda: hf_hub_download("squad", "x", repo_type="dataset", endpoint=live_server.url, cache_dir=hf_home),
    ]
    for call in calls:
        with pytest.raises(RepositoryNotFoundError):
            call()
    for method, url in [
        ("HEAD", "/gpt2/resolve/main/config.json"),
        ("GET", "/gpt2/resolve/main/config.json"),
        ("POST", "/gpt2.git/info/lfs/objects/batch"),
        ("POST", "/api/models/gpt2/commit/main"),
        ("POST", "/api/models/gpt2/preupload/main"),
    ]:
        response = httpx2.request(method, f"{live_server.url}{url}", headers={"authorization": f"Bearer {token}"})
        assert response.status_code == 404 and response.headers["X-Error-Code"] == "RepoNotFound", url
        assert response.headers["Content-Type"] == "application/json"

    script = "from transformers import AutoConfig; AutoConfig.from_pretrained('gpt2')"
    env = child_env(endpoint=live_server.url, home=hf_home)
    loaded = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert loaded.returncode != 0
    assert "RepositoryNotFoundError" in loaded.stderr
    assert "gpt2 is not a local folder and is not a valid model identifier" in loaded.stderr


def test_revision_and_entry_errors_map_to_client_exceptions(live_server, alice):
    alice_model(alice)
    api = api_for(live_server)

    with pytest.raises(RevisionNotFoundError):
        api.model_info("alice/tiny", revision="nope")
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download("alice/tiny", "config.json", revision="nope", endpoint=live_server.url, token=False)
    with pytest.raises(EntryNotFoundError):
        hf_hub_download("alice/tiny", "missing.json", endpoint=live_server.url, token=False)
    with pytest.raises(EntryNotFoundError):
        list(api.list_repo_tree("alice/tiny", path_in_repo="no-such-folder"))
    assert api.file_exists("alice/tiny", "sub/a.txt")
    assert not api.file_exists("alice/tiny", "sub/zzz.txt")


def _safetensors(tensors: dict[str, tuple[str, list[int], int]]) -> bytes:
    """A valid safetensors file: a JSON header, then the zeroed tensor data it describes."""
    header, offset = {}, 0
    for name, (dtype, shape, item_bytes) in tensors.items():
        size = item_bytes
        for dim in shape:
            size *= dim
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    encoded = json.dumps(header).encode()
    return len(encoded).to_bytes(8, "little") + encoded + bytes(offset)


def test_model_info_reports_safetensors_parameters(live_server, alice):
    from models_hub.analysis import commit_analyze

    repo = make_repo(owner=alice)
    weights = _safetensors({"w": ("F32", [4, 8], 4), "b": ("F16", [8], 2)})
    commit = make_commit(repo=repo, author=alice, files={"model.safetensors": weights})
    commit_analyze(commit_id=commit.pk)  # what the Celery task runs after a commit

    info = api_for(live_server).model_info("alice/tiny")

    assert info.safetensors.total == 40
    assert info.safetensors.parameters == {"F32": 32, "F16": 8}
    listed = next(iter(api_for(live_server).list_models(author="alice")))
    assert listed.safetensors.total == 40


# --- Trees, paths-info, refs, commits ----------------------------------------------------------------


def test_tree_listing_recursive_expanded_and_in_a_folder(live_server, alice):
    repo = alice_model(alice)
    head = repo.refs.get(name="main").commit
    api = api_for(live_server)

    top = {e.path: e for e in api.list_repo_tree("alice/tiny")}
    everything = {e.path: e for e in api.list_repo_tree("alice/tiny", recursive=True, expand=True)}
    folder = [e.path for e in api.list_repo_tree("alice/tiny", path_in_repo="sub")]

    assert set(top) == {"sub", ".gitattributes", "README.md", "config.json", "weights.bin"}
    assert set(everything) == set(top) | {"sub/a.txt", "sub/deep", "sub/deep/b.txt"}
    assert folder == ["sub/deep", "sub/a.txt"]
    assert everything["sub/a.txt"].blob_id == git_oid(b"alpha")
    weights = everything["weights.bin"]
    pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256(BIG)}\nsize {len(BIG)}\n".encode()
    assert weights.lfs.sha256 == sha256(BIG) and weights.lfs.pointer_size == len(pointer)
    assert weights.blob_id == git_oid(pointer)
    assert everything["sub"].last_commit.oid == head.oid
    assert len(everything["sub"].tree_id) == 40
    assert not any(getattr(e, "xet_hash", None) for e in everything.values())
    assert api.list_repo_files("alice/tiny") == sorted(p for p, e in everything.items() if hasattr(e, "blob_id"))


def test_tree_pages_follow_link_headers(live_server, alice):
    repo = make_repo(owner=alice)
    make_commit(repo=repo, author=alice, files={f"odd dir?/{i:03d}.txt": str(i).encode() for i in range(60)})
    api = api_for(live_server)

    expanded = list(api.list_repo_tree("alice/tiny", recursive=True, expand=True))
    in_folder = list(api.list_repo_tree("alice/tiny", path_in_repo="odd dir?", expand=True))
    first = httpx2.get(f"{live_server.url}/api/models/alice/tiny/tree/main?recursive=true&expand=true")

    assert len(expanded) == 62  # .gitattributes, the folder and 60 files
    assert [e.path for e in in_folder] == [f"odd dir?/{i:03d}.txt" for i in range(60)]
    assert len(first.json()) == 50
    assert first.links["next"]["url"].startswith(live_server.url)


def test_paths_info_returns_existing_files_and_folders(live_server, alice):
    alice_model(alice)

    found = api_for(live_server).get_paths_info("alice/tiny", ["sub", "config.json", "nope.txt"], expand=True)

    assert [(e.path, type(e).__name__) for e in found] == [("sub", "RepoFolder"), ("config.json", "RepoFile")]
    assert found[1].size == 22 and found[1].last_commit is not None


def lfs_pointer(data: bytes) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256(data)}\nsize {len(data)}\n".encode()


def test_files_tracked_by_gitattributes_are_lfs_in_every_answer(live_server, alice):
    make_repo(owner=alice)
    weights = _safetensors({"w": ("F32", [2, 2], 4)})  # far below the size threshold
    api = api_for(live_server, token_create(user=alice, name="laptop", scope="write").secret)
    api.upload_file(path_or_fileobj=weights, path_in_repo="model.safetensors", repo_id="alice/tiny")
    api.upload_file(path_or_fileobj=b'{"a": 1}', path_in_repo="config.json", repo_id="alice/tiny")

    (info,) = api.get_paths_info("alice/tiny", ["model.safetensors"])
    listed = {e.path: e for e in api.list_repo_tree("alice/tiny")}["model.safetensors"]
    sibling = {s.rfilename: s for s in api.model_info("alice/tiny", files_metadata=True).siblings}["model.safetensors"]
    metadata = api.get_hf_file_metadata(url=hf_hub_url("alice/tiny", "model.safetensors", endpoint=live_server.url))
    config = api.get_hf_file_metadata(url=hf_hub_url("alice/tiny", "config.json", endpoint=live_server.url))
    pointer = lfs_pointer(weights)

    for entry in (info, listed):
        assert entry.lfs.sha256 == sha256(weights) and entry.lfs.size == len(weights)
        assert entry.lfs.pointer_size == len(pointer)
        assert entry.blob_id == git_oid(pointer)
    assert sibling.lfs.sha256 == sha256(weights) and sibling.blob_id == git_oid(pointer)
    assert metadata.etag == sha256(weights) and metadata.size == len(weights)
    assert config.etag == git_oid(b'{"a": 1}') and config.size == 8  # not tracked: the git blob id
    api.upload_file(path_or_fileobj=b"", path_in_repo="empty.txt", repo_id="alice/tiny")
    empty = api.get_hf_file_metadata(url=hf_hub_url("alice/tiny", "empty.txt", endpoint=live_server.url))
    assert empty.etag == git_oid(b"") and empty.size == 0  # known even where a HEAD's Content-Length: 0 is dropped
    head = httpx2.head(f"{live_server.url}/alice/tiny/resolve/main/model.safetensors")
    assert head.headers["X-Linked-Etag"] == f'"{sha256(weights)}"'
    assert head.headers["X-Linked-Size"] == str(len(weights))


def test_own_gitattributes_decides_and_the_default_applies_without_one(live_server, alice):
    repo = make_repo(owner=alice)
    make_commit(
        repo=repo,
        author=alice,
        files={".gitattributes": b"*.txt filter=lfs diff=lfs merge=lfs -text\n", "a.txt": b"alpha", "b.bin": b"bb"},
    )
    other = make_repo(owner=alice, name="bare")
    services.commit_create(repo=other, author=alice, title="No attributes", deletions=[".gitattributes"])
    make_commit(repo=other, author=alice, files={"deep/x.bin": b"xx", "y.txt": b"yy"})
    api = api_for(live_server)

    own = {e.path: e for e in api.list_repo_tree("alice/tiny")}
    bare = {e.path: e for e in api.list_repo_tree("alice/bare", recursive=True)}

    assert own["a.txt"].lfs.sha256 == sha256(b"alpha") and own["b.bin"].lfs is None
    assert bare["deep/x.bin"].lfs.sha256 == sha256(b"xx") and bare["y.txt"].lfs is None


def test_refs_and_commits_agree_on_commit_ids(live_server, alice):
    repo = alice_model(alice)
    services.branch_create(repo=repo, name="feature/x")
    make_commit(repo=repo, author=alice, branch="feature/x", title="Feature work", files={"f.txt": b"f"})
    services.tag_create(repo=repo, name="v1")
    api = api_for(live_server)

    refs = api.list_repo_refs("alice/tiny", include_pull_requests=True)
    history = api.list_repo_commits("alice/tiny", revision="feature/x", formatted=True)

    branches = {b.name: b.target_commit for b in refs.branches}
    assert set(branches) == {"main", "feature/x"}
    assert [t.name for t in refs.tags] == ["v1"] and refs.tags[0].target_commit == branches["main"]
    assert refs.converts == [] and refs.pull_requests == []
    assert [c.title for c in history] == ["Feature work", "Add weights", "initial commit"]
    assert history[0].commit_id == branches["feature/x"] and history[1].commit_id == branches["main"]
    assert history[0].authors == ["alice"] and history[0].formatted_title == "Feature work"
    assert api.model_info("alice/tiny", revision="feature/x").sha == branches["feature/x"]
    head = httpx2.head(f"{live_server.url}/alice/tiny/resolve/feature%2Fx/f.txt")
    assert head.headers["X-Repo-Commit"] == branches["feature/x"]


def test_commit_history_is_paginated(live_server, alice):
    repo = make_repo(owner=alice)
    for i in range(51):
        make_commit(repo=repo, author=alice, title=f"step {i}", files={"n.txt": str(i).encode()})

    history = api_for(live_server).list_repo_commits("alice/tiny")
    first = httpx2.get(f"{live_server.url}/api/models/alice/tiny/commits/main")

    assert len(history) == 52
    assert history[0].title == "step 50" and history[-1].title == "initial commit"
    assert len(first.json()) == 50 and "next" in first.links


# --- Identity ------------------------------------------------------------------------------------


def test_whoami_and_auth_check(live_server, alice, charlie):
    from accounts.services import organization_create

    organization_create(name="acme", creator=alice)
    make_repo(owner=alice, name="secret", private=True)
    secret = token_create(user=alice, name="laptop", scope="write").secret

    me = api_for(live_server, secret).whoami()

    assert me["name"] == "alice" and me["type"] == "user"
    assert [o["name"] for o in me["orgs"]] == ["acme"]
    assert me["auth"]["accessToken"] == {"displayName": "laptop", "role": "write"}
    with pytest.raises(HfHubHTTPError, match="Invalid user token") as bad:
        api_for(live_server, "hf_not_a_token").whoami()
    assert bad.value.response.status_code == 401
    assert bad.value.response.headers["X-Error-Message"] == "Invalid credentials in Authorization header"
    anonymous = httpx2.get(f"{live_server.url}/api/whoami-v2")
    assert anonymous.status_code == 401
    api_for(live_server, secret).auth_check("alice/secret", write=True)
    with pytest.raises(RepositoryNotFoundError):
        api_for(live_server, token_create(user=charlie, name="x").secret).auth_check("alice/secret")


def test_hf_cli_login_then_whoami_shows_the_user(live_server, alice, hf_home):
    secret = token_create(user=alice, name="cli").secret
    env = child_env(endpoint=live_server.url, home=hf_home)
    hf = str(Path(sys.executable).parent / "hf")

    login = subprocess.run(
        [hf, "auth", "login", "--token", secret], env=env, capture_output=True, text=True, timeout=60
    )
    whoami = subprocess.run([hf, "auth", "whoami"], env=env, capture_output=True, text=True, timeout=60)

    assert login.returncode == 0, login.stderr
    assert (hf_home / "token").read_text().strip() == secret
    assert whoami.returncode == 0, whoami.stderr
    assert "alice" in whoami.stdout


# --- Listings ------------------------------------------------------------------------------------


def test_list_models_filters_sorts_and_pages(live_server, alice, bob, settings):
    settings.FLYWHEEL_HUB_LIST_PAGE_SIZE = 2
    for name, card in [
        ("llama-tiny", b"---\ntags: [chat]\npipeline_tag: text-generation\n---\nA tiny llama.\n"),
        ("bert-tiny", b"---\ntags: [encoder]\npipeline_tag: fill-mask\n---\nA tiny bert.\n"),
        ("gpt-tiny", b"---\ntags: [chat]\npipeline_tag: text-generation\n---\nA tiny gpt.\n"),
    ]:
        make_commit(repo=make_repo(owner=alice, name=name), author=alice, files={"README.md": card})
    make_repo(owner=bob, name="bob-model")
    make_repo(owner=bob, name="bob-private", private=True)
    make_repo(owner=alice, name="table", kind="dataset")
    Repository.objects.filter(name="gpt-tiny").update(downloads=50)
    Repository.objects.filter(name="bert-tiny").update(downloads=10)
    api = api_for(live_server)

    everything = [m.id for m in api.list_models()]
    chat = [m.id for m in api.list_models(filter="chat", sort="downloads")]
    by_author = [m.id for m in api.list_models(author="bob")]
    searched = [m.id for m in api.list_models(search="bert")]
    limited = list(api.list_models(sort="downloads", limit=1, full=True))
    pipeline = [m.id for m in api.list_models(pipeline_tag="fill-mask")]
    datasets_ = [d.id for d in api.list_datasets(author="alice")]
    newest = [m.id for m in api.list_models(sort="created_at", limit=2)]
    liked = [m.id for m in api.list_models(sort="likes", author="alice")]
    modified = [m.id for m in api.list_models(sort="last_modified", author="alice")]

    assert sorted(everything) == ["alice/bert-tiny", "alice/gpt-tiny", "alice/llama-tiny", "bob/bob-model"]
    assert chat == ["alice/gpt-tiny", "alice/llama-tiny"]
    assert by_author == ["bob/bob-model"]
    assert searched == ["alice/bert-tiny"]
    assert [m.id for m in limited] == ["alice/gpt-tiny"]
    assert [s.rfilename for s in limited[0].siblings] == [".gitattributes", "README.md"] and len(limited[0].sha) == 40
    assert pipeline == ["alice/bert-tiny"]
    assert datasets_ == ["alice/table"]
    assert newest == ["bob/bob-model", "alice/gpt-tiny"]
    assert sorted(liked) == sorted(modified) == ["alice/bert-tiny", "alice/gpt-tiny", "alice/llama-tiny"]
    assert modified[0] == "alice/gpt-tiny"
    owner_sees = [m.id for m in api_for(live_server, token_create(user=bob, name="t").secret).list_models(author="bob")]
    assert sorted(owner_sees) == ["bob/bob-model", "bob/bob-private"]
    first_page = httpx2.get(f"{live_server.url}/api/models")
    assert len(first_page.json()) == 2 and "next" in first_page.links


def test_list_models_runs_a_constant_number_of_queries(client, alice, settings):
    def queries_for_listing() -> int:
        with CaptureQueriesContext(connection) as captured:
            response = client.get("/api/models", {"full": "true", "limit": "50"})
        assert response.status_code == 200
        return len(captured)

    make_commit(repo=make_repo(owner=alice, name="one"), author=alice, files={"README.md": b"---\ntags: [a]\n---\n"})
    queries_for_listing()  # the process's first listing also fills caches (content types): not counted
    few = queries_for_listing()
    for i in range(6):
        repo = make_repo(owner=alice, name=f"more-{i}")
        make_commit(repo=repo, author=alice, files={"README.md": b"---\ntags: [a, b]\n---\n"})
    assert queries_for_listing() == few


# --- Downloads -----------------------------------------------------------------------------------


def test_hf_hub_download_by_branch_tag_sha_short_sha_and_slashed_branch(live_server, alice, hf_home):
    repo = alice_model(alice)
    main_oid = repo.refs.get(name="main").commit.oid
    services.tag_create(repo=repo, name="v1")
    services.branch_create(repo=repo, name="feature/x")
    feature = make_commit(repo=repo, author=alice, branch="feature/x", files={"sub/a.txt": b"changed"})
    cache = hf_home / "hub"

    def fetch(revision: str, filename: str = "sub/a.txt") -> bytes:
        path = hf_hub_download(
            "alice/tiny", filename, revision=revision, endpoint=live_server.url, token=False, cache_dir=cache
        )
        return Path(path).read_bytes()

    assert fetch("main") == b"alpha"
    assert fetch("v1") == b"alpha"
    assert fetch(main_oid) == b"alpha"
    assert fetch(main_oid[:7]) == b"alpha"
    assert fetch("feature/x") == b"changed"
    assert fetch("main", "weights.bin") == BIG
    snapshots = {p.name for p in (cache / "models--alice--tiny" / "snapshots").iterdir()}
    assert snapshots == {main_oid, feature.oid}
    assert (cache / "models--alice--tiny" / "refs" / "feature" / "x").read_text() == feature.oid


def test_snapshot_download_with_allow_patterns(live_server, alice, hf_home):
    repo = alice_model(alice)

    folder = Path(
        snapshot_download(
            "alice/tiny",
            allow_patterns=["*.json", "sub/*"],
            endpoint=live_server.url,
            token=False,
            cache_dir=hf_home / "hub",
        )
    )

    assert folder.name == repo.refs.get(name="main").commit.oid
    found = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    assert found == ["config.json", "sub/a.txt", "sub/deep/b.txt"]
    assert (folder / "sub/deep/b.txt").read_bytes() == b"beta"


def test_hf_file_system_reads(live_server, alice):
    alice_model(alice)
    fs = HfFileSystem(endpoint=live_server.url, token=False)

    assert fs.cat("alice/tiny/sub/a.txt") == b"alpha"
    with fs.open("alice/tiny/weights.bin", "rb", block_size=256) as handle:
        handle.seek(1000)
        assert handle.read(100) == BIG[1000:1100]
    assert sorted(fs.ls("alice/tiny/sub", detail=False)) == ["alice/tiny/sub/a.txt", "alice/tiny/sub/deep"]
    assert fs.glob("alice/tiny/**/*.txt") == ["alice/tiny/sub/a.txt", "alice/tiny/sub/deep/b.txt"]
    assert fs.exists("alice/tiny/config.json") and not fs.exists("alice/tiny/none.json")


def test_private_repo_downloads_with_the_owners_token(live_server, alice, hf_home):
    repo = make_repo(owner=alice, name="secret", private=True)
    make_commit(repo=repo, author=alice, files={"a.txt": b"hidden"})
    secret = token_create(user=alice, name="t").secret

    path = hf_hub_download("alice/secret", "a.txt", endpoint=live_server.url, token=secret, cache_dir=hf_home / "hub")

    assert Path(path).read_bytes() == b"hidden"


def test_browser_session_downloads_private_files(live_server, alice, bob, client):
    repo = make_repo(owner=alice, name="secret", private=True)
    make_commit(repo=repo, author=alice, files={"notes/a b.txt": b"for alice"})
    url = "/alice/secret/resolve/main/notes/a%20b.txt?download=true"

    client.force_login(bob)
    refused = client.get(url)
    client.force_login(alice)
    allowed = client.get(url)

    assert refused.status_code == 404 and refused.headers["X-Error-Code"] == "RepoNotFound"
    assert allowed.status_code == 200 and b"".join(allowed.streaming_content) == b"for alice"
    assert allowed.headers["Content-Disposition"] == 'attachment; filename="a b.txt"'


def test_renamed_repo_redirects_relatively(live_server, alice, hf_home):
    repo = alice_model(alice)
    services.repo_move(repo=repo, new_namespace="alice", new_name="renamed", user=alice)

    raw = httpx2.head(f"{live_server.url}/alice/tiny/resolve/main/config.json?x=1")
    path = hf_hub_download("alice/tiny", "config.json", endpoint=live_server.url, token=False, cache_dir=hf_home)

    assert raw.status_code == 307 and raw.headers["Location"] == "/alice/renamed/resolve/main/config.json?x=1"
    assert Path(path).read_bytes() == b'{"model_type": "gpt2"}'
    assert api_for(live_server).model_info("alice/tiny").id == "alice/renamed"


def test_repo_ids_in_another_letter_case_redirect_to_the_repo(live_server, alice, hf_home):
    alice_model(alice)
    raw = httpx2.head(f"{live_server.url}/Alice/Tiny/resolve/main/config.json")
    path = hf_hub_download("Alice/TINY", "config.json", endpoint=live_server.url, token=False, cache_dir=hf_home)

    assert raw.status_code == 307 and raw.headers["Location"] == "/alice/tiny/resolve/main/config.json"
    assert Path(path).read_bytes() == b'{"model_type": "gpt2"}'
    assert api_for(live_server).model_info("ALICE/tiny").id == "alice/tiny"
    with pytest.raises(RepositoryNotFoundError):
        api_for(live_server).model_info("alice/tiny2")


def test_range_requests_etags_and_headers(live_server, alice):
    repo = alice_model(alice)
    url = f"{live_server.url}/alice/tiny/resolve/main/weights.bin"
    etag = f'"{sha256(BIG)}"'

    head = httpx2.head(url)
    middle = httpx2.get(url, headers={"Range": "bytes=100-199"})
    tail = httpx2.get(url, headers={"Range": "bytes=-48"})
    open_ended = httpx2.get(url, headers={"Range": "bytes=2000-"})
    beyond = httpx2.get(url, headers={"Range": "bytes=5000-"})
    cached = httpx2.get(url, headers={"If-None-Match": etag})

    assert head.status_code == 200
    assert head.headers["X-Repo-Commit"] == repo.refs.get(name="main").commit.oid
    assert head.headers["ETag"] == head.headers["X-Linked-Etag"] == etag
    assert head.headers["X-Linked-Size"] == head.headers["Content-Length"] == str(len(BIG))
    assert head.headers["Accept-Ranges"] == "bytes"
    assert not [h for h in head.headers if h.lower().startswith("x-xet")] and "link" not in head.headers
    assert middle.status_code == 206 and middle.content == BIG[100:200]
    assert middle.headers["Content-Range"] == f"bytes 100-199/{len(BIG)}"
    assert tail.status_code == 206 and tail.content == BIG[-48:]
    assert open_ended.status_code == 206 and open_ended.content == BIG[2000:]
    assert beyond.status_code == 416 and beyond.headers["Content-Range"] == f"bytes */{len(BIG)}"
    assert cached.status_code == 304 and cached.content == b""
    text = httpx2.get(f"{live_server.url}/alice/tiny/resolve/main/config.json?download=true")
    assert text.headers["Content-Disposition"] == 'attachment; filename="config.json"'
    assert text.headers["X-Content-Type-Options"] == "nosniff"
    assert "gzip" not in text.headers.get("Content-Encoding", "")


def test_download_counts_once_per_downloader_per_window(live_server, alice, bob):
    repo = alice_model(alice)
    url = f"{live_server.url}/alice/tiny/resolve/main/weights.bin"
    bob_auth = {"Authorization": f"Bearer {token_create(user=bob, name='t', scope='read').secret}"}

    httpx2.head(url)
    httpx2.get(url, headers={"Range": "bytes=100-"})
    assert Repository.objects.get(pk=repo.pk).downloads == 0  # metadata and resumed transfers
    httpx2.get(url)
    httpx2.get(f"{live_server.url}/alice/tiny/resolve/main/config.json")
    httpx2.get(url, headers={"Range": "bytes=0-10"})
    assert Repository.objects.get(pk=repo.pk).downloads == 1  # one downloader, several files
    httpx2.get(url, headers=bob_auth)
    assert Repository.objects.get(pk=repo.pk).downloads == 2
    with time_machine.travel(timezone.now() + timedelta(minutes=6)):
        httpx2.get(url)
    assert Repository.objects.get(pk=repo.pk).downloads == 3


def test_snapshot_download_counts_as_one_download(live_server, alice, hf_home):
    repo = alice_model(alice)
    snapshot_download("alice/tiny", endpoint=live_server.url, token=False, cache_dir=hf_home)
    assert Repository.objects.get(pk=repo.pk).downloads == 1


def test_reading_the_card_is_not_a_download(live_server, alice, settings):
    settings.FLYWHEEL_DOWNLOAD_COUNT_WINDOW = 0
    repo = alice_model(alice)
    services.commit_create(
        repo=repo,
        author=alice,
        title="Card",
        additions=[services.FileAddition("README.md", blob_store_bytes(b"# Tiny"))],
    )
    httpx2.get(f"{live_server.url}/alice/tiny/resolve/main/README.md")
    httpx2.get(f"{live_server.url}/alice/tiny/resolve/main/.gitattributes")
    assert Repository.objects.get(pk=repo.pk).downloads == 0


def test_every_file_request_counts_when_the_window_is_zero(live_server, alice, settings):
    settings.FLYWHEEL_DOWNLOAD_COUNT_WINDOW = 0
    repo = alice_model(alice)
    for _ in range(3):
        httpx2.get(f"{live_server.url}/alice/tiny/resolve/main/config.json")
    assert Repository.objects.get(pk=repo.pk).downloads == 3


def test_misc_endpoints_answer_json(live_server):
    harnesses = httpx2.get(f"{live_server.url}/api/agent-harnesses")
    xet = httpx2.get(f"{live_server.url}/api/models/alice/tiny/xet-read-token/main")

    assert harnesses.status_code == 200 and harnesses.json() == {"standardEnvVars": [], "harnesses": {}}
    assert xet.status_code == 404 and xet.headers["Content-Type"] == "application/json"


# --- transformers and datasets, unmodified, in a child process ---------------------------------------


def _commit_folder(repo: Repository, author, folder: Path) -> None:
    files = {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
    make_commit(repo=repo, author=author, title="Add tiny GPT-2", files=files)


def _parquet_bytes(rows: list[dict]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), buffer)
    return buffer.getvalue()


def test_transformers_and_datasets_load_from_the_live_server(live_server, alice, tmp_path):
    jsonl = make_repo(owner=alice, name="jsonl-rows", kind="dataset")
    make_commit(repo=jsonl, author=alice, files={"train.jsonl": b'{"text": "a", "n": 1}\n{"text": "b", "n": 2}\n'})
    csv = make_repo(owner=alice, name="csv-rows", kind="dataset")
    make_commit(repo=csv, author=alice, files={"data/train.csv": b"text,n\nx,10\ny,20\nz,30\n"})
    parquet = make_repo(owner=alice, name="parquet-rows", kind="dataset")
    rows = [{"text": "p", "n": 7}, {"text": "q", "n": 8}]
    make_commit(repo=parquet, author=alice, files={"data/train-00000-of-00001.parquet": _parquet_bytes(rows)})
    model = make_repo(owner=alice, name="tiny-gpt2")
    command = [sys.executable, "-m", "tests.hub_fixtures", str(tmp_path), "alice/tiny-gpt2", "v1"]
    command += ["alice/jsonl-rows", "alice/csv-rows", "alice/parquet-rows"]

    child = subprocess.Popen(
        command,
        cwd=ROOT,
        env=child_env(endpoint=live_server.url, home=tmp_path / "client"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout.readline().strip() == "BUILT", child.stderr.read()
        _commit_folder(model, alice, tmp_path / "model")
        services.tag_create(repo=model, name="v1")
        make_commit(repo=model, author=alice, title="Break main", files={"config.json": b"{}"})
        stdout, stderr = child.communicate("GO\n", timeout=240)
    finally:
        child.kill()
    result_lines = [line for line in stdout.splitlines() if line.startswith("RESULT ")]
    assert result_lines, stderr[-3000:]
    result = json.loads(result_lines[0][len("RESULT ") :])

    assert result["hub"]["generated"] == result["expected"]
    cached = tmp_path / "client" / "hub" / "models--alice--tiny-gpt2"
    v1 = model.refs.get(name="v1").commit.oid
    assert (cached / "refs" / "v1").read_text() == v1
    assert {p.name for p in (cached / "snapshots").iterdir()} == {v1}
    assert result["datasets"]["alice/jsonl-rows"] == [{"text": "a", "n": 1}, {"text": "b", "n": 2}]
    assert result["datasets"]["alice/csv-rows"] == [
        {"text": "x", "n": 10},
        {"text": "y", "n": 20},
        {"text": "z", "n": 30},
    ]
    assert result["datasets"]["alice/parquet-rows"] == rows
    assert Repository.objects.get(pk=model.pk).downloads > 0
    assert os.environ.get("HF_ENDPOINT") != live_server.url  # the test process itself was left alone


def test_hostile_input_gets_clear_4xx(client, alice):
    alice_model(alice)

    answers = {
        url: client.get(url)
        for url in [
            "/alice/tiny/resolve/main/a%00b.txt",
            "/alice/tiny/resolve/main/../../etc/passwd",
            "/api/models/alice/tiny/tree/ma%00in",
            "/api/models/alice/tiny/revision/%00",
            "/api/models/alice/tiny/commits/main?p=-1",
            "/api/models/alice/tiny/commits/main?p=99999999999",
            "/api/models/alice/tiny/tree/main?cursor=abc",
            "/api/models?limit=lots",
            "/api/models?sort=random",
            "/api/models?search=%00",
            "/api/models/alice/tiny/refs?x=" + "y" * 5000,
            "/api/no%0D%0Asuch",  # echoed in X-Error-Message, which must hold no line break
        ]
    }
    bad_range = client.get("/alice/tiny/resolve/main/weights.bin", HTTP_RANGE="bytes=99999999999999999999-")
    nonsense_range = client.get("/alice/tiny/resolve/main/weights.bin", HTTP_RANGE="bytes=5-2,7-9")
    wrong_method = client.delete("/api/models/alice/tiny")
    nul_paths = client.post("/api/models/alice/tiny/paths-info/main", {"paths": ["a\x00b"]})

    statuses = {url: response.status_code for url, response in answers.items()}
    assert statuses == {
        "/alice/tiny/resolve/main/a%00b.txt": 400,
        "/alice/tiny/resolve/main/../../etc/passwd": 404,
        "/api/models/alice/tiny/tree/ma%00in": 400,
        "/api/models/alice/tiny/revision/%00": 400,
        "/api/models/alice/tiny/commits/main?p=-1": 400,
        "/api/models/alice/tiny/commits/main?p=99999999999": 200,
        "/api/models/alice/tiny/tree/main?cursor=abc": 400,
        "/api/models?limit=lots": 400,
        "/api/models?sort=random": 400,
        "/api/models?search=%00": 400,
        "/api/models/alice/tiny/refs?x=" + "y" * 5000: 200,
        "/api/no%0D%0Asuch": 404,
    }
    assert all(r.headers["Content-Type"] == "application/json" for r in answers.values())
    assert bad_range.status_code == 416
    assert nonsense_range.status_code == 200  # a range we do not serve is ignored, never a 500
    assert wrong_method.status_code == 405 and wrong_method.json()["error"]
    assert nul_paths.status_code == 400
