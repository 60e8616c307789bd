"""REST API v1 for repositories: listing, CRUD, trees, commits, refs, uploads, likes, the schema."""

from __future__ import annotations

import json
import os
import struct

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client, override_settings
from drf_spectacular.validation import validate_schema

from accounts.services import membership_set, organization_create, token_create
from conftest import make_commit, make_repo, make_user
from models_hub.models import Repository
from models_hub.search import CappedPaginator

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()


def bearer(user, scope: str = "write") -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token_create(user=user, name='t', scope=scope).secret}"}


def repo_url(repo: Repository, rest: str = "") -> str:
    return f"/api/v1/repos/{repo.kind}/{repo.namespace}/{repo.name}/{rest}"


def safetensors_bytes() -> bytes:
    header = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
    return struct.pack("<Q", len(header)) + header + b"\0" * 8


def upload(client: Client, repo: Repository, files: dict[str, bytes], headers: dict, branch: str = "main", **fields):
    data = {
        "files": [SimpleUploadedFile(path.rsplit("/", 1)[-1], content) for path, content in files.items()],
        "paths": list(files),
        **fields,
    }
    return client.post(repo_url(repo, f"upload/{branch}/"), data, **headers)


# Listing


def test_list_shows_public_models_with_tags(client, alice):
    repo = make_repo(owner=alice, name="tiny-gpt2")
    make_commit(repo=repo, author=alice, files={"README.md": b"---\ntags: [gpt2]\nlicense: mit\n---\nTiny."})
    make_repo(owner=alice, name="hidden", private=True)
    make_repo(owner=alice, name="corpus", kind="dataset")

    body = client.get("/api/v1/models/").json()

    assert [r["id"] for r in body["results"]] == ["alice/tiny-gpt2"]
    assert body["count"] == 1 and body["count_capped"] is False
    assert "gpt2" in body["results"][0]["tags"]
    assert body["results"][0]["license"] == "mit"
    assert [r["id"] for r in client.get("/api/v1/datasets/").json()["results"]] == ["alice/corpus"]


def test_owner_sees_their_private_models_in_the_list(client, alice):
    make_repo(owner=alice, name="hidden", private=True)

    body = client.get("/api/v1/models/", **bearer(alice, "read")).json()

    assert [r["id"] for r in body["results"]] == ["alice/hidden"]


def test_list_filters_search_and_sorts(client, alice, bob):
    popular = make_repo(owner=alice, name="llama-small")
    make_commit(repo=popular, author=alice, files={"README.md": b"---\npipeline_tag: text-generation\n---\n"})
    make_repo(owner=bob, name="vision-net")
    Repository.objects.filter(pk=popular.pk).update(downloads=100)

    assert [r["id"] for r in client.get("/api/v1/models/?search=lla").json()["results"]] == ["alice/llama-small"]
    assert [r["id"] for r in client.get("/api/v1/models/?task=text-generation").json()["results"]] == [
        "alice/llama-small"
    ]
    assert [r["id"] for r in client.get("/api/v1/models/?owner=BOB").json()["results"]] == ["bob/vision-net"]
    ranked = [r["id"] for r in client.get("/api/v1/models/?sort=downloads").json()["results"]]
    assert ranked == ["alice/llama-small", "bob/vision-net"]


def test_list_pages(client, alice):
    for i in range(7):
        make_repo(owner=alice, name=f"m{i}")

    first = client.get("/api/v1/models/?per_page=5").json()
    second = client.get(first["next"]).json()

    assert first["count"] == 7 and len(first["results"]) == 5
    assert len(second["results"]) == 2 and second["next"] is None
    assert client.get("/api/v1/models/?page=9").status_code == 404


def test_list_beyond_the_count_cap_pages_on(client, alice, monkeypatch):
    monkeypatch.setattr(CappedPaginator, "cap", 3)
    for i in range(5):
        make_repo(owner=alice, name=f"m{i}")

    first = client.get("/api/v1/models/?per_page=2&sort=downloads").json()
    last = client.get("/api/v1/models/?per_page=2&page=3").json()

    assert first["count"] == 3 and first["count_capped"] is True and first["next"]
    assert len(last["results"]) == 1 and last["next"] is None and last["previous"]
    assert client.get("/api/v1/models/?per_page=2&page=4").status_code == 404


def test_list_rejects_bad_parameters_with_400(client):
    assert client.get("/api/v1/models/?sort=nonsense").status_code == 400
    assert client.get("/api/v1/models/?search=a%00b").status_code == 400
    assert client.get("/api/v1/models/?per_page=1000").status_code == 400


@pytest.mark.parametrize("text", ['"', "\\", "&|!():*", "a:* & !b", "' OR 1=1 --", "x" * 10_000, "🙂 ünïcode"])
def test_hostile_search_strings_never_fail(client, alice, text):
    make_repo(owner=alice, name="tiny")

    response = client.get("/api/v1/models/", {"search": text[:200]})

    assert response.status_code == 200


@pytest.mark.parametrize("per_page", [5, 30])
def test_list_query_count_does_not_grow_with_the_page(client, alice, django_assert_max_num_queries, per_page):
    for i in range(30):
        repo = make_repo(owner=alice, name=f"model-{i}")
        make_commit(repo=repo, author=alice, files={"README.md": b"---\ntags: [a, b]\n---\n"})
    headers = bearer(alice, "read")

    # token lookup (+ last-used update), count, page, tags
    with django_assert_max_num_queries(6):
        body = client.get(f"/api/v1/models/?per_page={per_page}", **headers).json()

    assert len(body["results"]) == per_page


# Creating, reading, changing and deleting


def test_anonymous_cannot_create_a_repo(client):
    response = client.post("/api/v1/repos/", {"name": "x"}, content_type="application/json")

    assert response.status_code == 401
    assert "token" in response.json()["error"]


def test_read_token_cannot_create_a_repo(client, alice):
    response = client.post("/api/v1/repos/", {"name": "x"}, content_type="application/json", **bearer(alice, "read"))

    assert response.status_code == 403
    assert "read-only" in response.json()["error"]


def test_write_token_creates_a_repo(client, alice):
    response = client.post(
        "/api/v1/repos/",
        {"kind": "dataset", "name": "corpus", "private": True},
        content_type="application/json",
        **bearer(alice),
    )

    assert response.status_code == 201
    assert response.json()["id"] == "alice/corpus" and response.json()["private"] is True
    assert Repository.objects.get(name="corpus").kind == "dataset"


def test_creating_twice_is_a_conflict_and_bad_names_are_refused(client, alice):
    headers = bearer(alice)
    client.post("/api/v1/repos/", {"name": "tiny"}, content_type="application/json", **headers)

    again = client.post("/api/v1/repos/", {"name": "tiny"}, content_type="application/json", **headers)
    bad = client.post("/api/v1/repos/", {"name": "../etc"}, content_type="application/json", **headers)

    assert again.status_code == 409
    assert bad.status_code == 400 and "error" in bad.json()


def test_cannot_create_in_someone_elses_namespace(client, alice, bob):
    response = client.post(
        "/api/v1/repos/", {"namespace": "alice", "name": "mine"}, content_type="application/json", **bearer(bob)
    )

    assert response.status_code == 403


def test_org_writer_creates_in_the_org(client, alice, bob):
    org = organization_create(creator=alice, name="acme")
    membership_set(org=org, actor=alice, username="bob", role="write")

    response = client.post(
        "/api/v1/repos/", {"namespace": "acme", "name": "shared"}, content_type="application/json", **bearer(bob)
    )

    assert response.status_code == 201 and response.json()["id"] == "acme/shared"


def test_session_needs_csrf_to_write(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)

    refused = client.post("/api/v1/repos/", {"name": "x"}, content_type="application/json")
    client.get("/")  # sets the CSRF cookie, as any page does
    accepted = client.post(
        "/api/v1/repos/",
        {"name": "x"},
        content_type="application/json",
        HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value,
    )

    assert refused.status_code == 403
    assert accepted.status_code == 201


def test_get_repo_detail(client, alice):
    repo = make_repo(owner=alice, name="tiny")

    body = client.get(repo_url(repo)).json()

    assert body["id"] == "alice/tiny" and body["kind"] == "model" and body["card_data"] == {}


def test_stranger_gets_404_on_private_repo(client, alice, charlie):
    repo = make_repo(owner=alice, name="secret", private=True)

    for headers in ({}, bearer(charlie)):
        assert client.get(repo_url(repo), **headers).status_code == 404
        assert client.get(repo_url(repo, "tree/main/"), **headers).status_code == 404
        assert client.get(repo_url(repo, "commits/main/"), **headers).status_code == 404
        assert client.get(repo_url(repo, "refs/"), **headers).status_code == 404
        assert client.patch(repo_url(repo), {}, content_type="application/json", **headers).status_code in (401, 404)
    assert client.delete(repo_url(repo), **bearer(charlie)).status_code == 404
    assert upload(client, repo, {"a.txt": b"a"}, bearer(charlie)).status_code == 404
    assert client.post(repo_url(repo, "like/"), **bearer(charlie)).status_code == 404
    assert client.get(repo_url(repo), **bearer(alice, "read")).status_code == 200


def test_unknown_kind_is_404(client, alice):
    make_repo(owner=alice, name="tiny")

    assert client.get("/api/v1/repos/space/alice/tiny/").status_code == 404


def test_owner_makes_repo_private_and_renames_it(client, alice):
    repo = make_repo(owner=alice, name="tiny")
    headers = bearer(alice)

    private = client.patch(repo_url(repo), {"private": True}, content_type="application/json", **headers)
    renamed = client.patch(repo_url(repo), {"name": "tiny-v2"}, content_type="application/json", **headers)

    assert private.status_code == 200 and private.json()["private"] is True
    assert renamed.status_code == 200 and renamed.json()["id"] == "alice/tiny-v2"


def test_bob_cannot_change_or_delete_alices_public_repo(client, alice, bob):
    repo = make_repo(owner=alice, name="tiny")
    headers = bearer(bob)

    patched = client.patch(repo_url(repo), {"private": True}, content_type="application/json", **headers)
    deleted = client.delete(repo_url(repo), **headers)

    assert patched.status_code == 403 and "error" in patched.json()
    assert deleted.status_code == 403
    assert Repository.objects.filter(pk=repo.pk, private=False).exists()


def test_read_token_cannot_delete(client, alice):
    repo = make_repo(owner=alice, name="tiny")

    assert client.delete(repo_url(repo), **bearer(alice, "read")).status_code == 403


def test_owner_deletes_repo(client, alice):
    repo = make_repo(owner=alice, name="tiny")

    assert client.delete(repo_url(repo), **bearer(alice)).status_code == 204
    assert not Repository.objects.filter(pk=repo.pk).exists()


# Trees, commits, refs


def test_tree_lists_files_with_size_hash_and_unsafe_flag(client, alice):
    repo = make_repo(owner=alice, name="tiny")
    files = {"weights/model.bin": b"\x80\x04pickle", "random.bin": b"\x00\x01 random", "config.json": b"{}"}
    commit = make_commit(repo=repo, author=alice, files=files)

    body = client.get(repo_url(repo, "tree/main/")).json()

    files = {f["path"]: f for f in body["files"]}
    assert body["commit"] == commit.oid
    assert files["weights/model.bin"]["unsafe"] is True and files["weights/model.bin"]["size"] == 8
    assert files["config.json"]["unsafe"] is False and files["random.bin"]["unsafe"] is False
    assert len(files["config.json"]["sha256"]) == 64
    assert client.get(repo_url(repo, "tree/nope/")).status_code == 404


def test_commits_and_refs(client, alice):
    repo = make_repo(owner=alice, name="tiny")
    second = make_commit(repo=repo, author=alice, files={"a.txt": b"a"}, title="Add a")

    commits = client.get(repo_url(repo, "commits/main/")).json()
    refs = client.get(repo_url(repo, "refs/")).json()

    assert [c["title"] for c in commits] == ["Add a", "initial commit"]
    assert commits[0]["parent"] == commits[1]["id"] and commits[1]["parent"] is None
    assert commits[0]["author"] == "alice"
    assert refs["branches"] == [{"name": "main", "ref": "refs/heads/main", "target_commit": second.oid}]
    assert refs["tags"] == []


def test_commits_page_with_offset_and_limit(client, alice):
    repo = make_repo(owner=alice, name="tiny")
    for i in range(5):
        make_commit(repo=repo, author=alice, files={"n.txt": str(i).encode()}, title=f"Commit {i}")

    page = client.get(repo_url(repo, "commits/main/") + "?offset=2&limit=2").json()
    assert [c["title"] for c in page] == ["Commit 2", "Commit 1"]
    for hostile in ("offset=-1", "offset=abc", "offset=" + "9" * 40, "limit=²", "limit=0", "offset=٣"):
        response = client.get(repo_url(repo, "commits/main/") + "?" + hostile)
        assert response.status_code == 200, hostile


# Upload


def test_upload_commits_files_at_their_paths(client, alice):
    repo = make_repo(owner=alice, name="tiny")

    response = upload(
        client,
        repo,
        {"weights/model.safetensors": safetensors_bytes(), "README.md": b"# hi"},
        bearer(alice),
        message="Add weights",
    )

    assert response.status_code == 201, response.content
    tree = client.get(repo_url(repo, "tree/main/")).json()
    assert tree["commit"] == response.json()["commit"]
    assert {f["path"] for f in tree["files"]} == {".gitattributes", "weights/model.safetensors", "README.md"}
    assert repo.commits.first().title == "Add weights"


def test_upload_with_path_n_fields_and_file_names(client, alice):
    repo = make_repo(owner=alice, name="tiny")
    data = {
        "files": [SimpleUploadedFile("a.txt", b"a"), SimpleUploadedFile("b.txt", b"b")],
        "path_0": "docs/a.txt",
    }

    response = client.post(repo_url(repo, "upload/main/"), data, **bearer(alice))

    assert response.status_code == 201
    assert [f["path"] for f in response.json()["files"]] == ["docs/a.txt", "b.txt"]
    assert repo.commits.first().title == "Upload 2 files"


def test_pickle_upload_is_stored_and_flagged(client, alice):
    repo = make_repo(owner=alice, name="tiny")

    upload(client, repo, {"model.pt": b"\x80\x04pickle"}, bearer(alice))

    files = {f["path"]: f for f in client.get(repo_url(repo, "tree/main/")).json()["files"]}
    assert files["model.pt"]["unsafe"] is True
    assert client.get(repo_url(repo)).json()["has_unsafe_files"] is True


@pytest.mark.parametrize("path", ["../escape.txt", "/etc/passwd", "a/../../b", "a\\b", "nul\x00.txt", ".git/config"])
def test_upload_refuses_hostile_paths(client, alice, path):
    repo = make_repo(owner=alice, name="tiny")

    response = upload(client, repo, {path: b"x"}, bearer(alice))

    assert response.status_code == 400
    assert response.json()["error"]
    assert repo.commits.count() == 1


def test_upload_file_name_cannot_escape_either(client, alice):
    repo = make_repo(owner=alice, name="tiny")

    response = client.post(
        repo_url(repo, "upload/main/"), {"files": [SimpleUploadedFile("../../evil.txt", b"x")]}, **bearer(alice)
    )

    assert response.status_code == 201
    assert [f["path"] for f in response.json()["files"]] == ["evil.txt"]


def test_upload_refuses_corrupt_safetensors(client, alice):
    repo = make_repo(owner=alice, name="tiny")

    response = upload(client, repo, {"model.safetensors": b"\xff" * 64}, bearer(alice))

    assert response.status_code == 400
    assert "safetensors" in response.json()["error"]


@pytest.mark.parametrize("fields", [{"message": "Add\x00"}, {"description": "line\x00"}])
def test_a_nul_character_in_the_commit_message_is_refused_and_nothing_is_committed(client, alice, fields):
    repo = make_repo(owner=alice, name="tiny")

    response = upload(client, repo, {"a.txt": b"a"}, bearer(alice), **fields)

    assert response.status_code == 400 and "NUL character" in response.json()["error"]
    assert repo.commits.count() == 1


@override_settings(FLYWHEEL_MAX_UPLOAD_BYTES=2048)
def test_upload_over_the_limit_is_413(client, alice):
    repo = make_repo(owner=alice, name="tiny")

    response = upload(client, repo, {"big.bin": b"x" * 5000}, bearer(alice))

    assert response.status_code == 413
    assert "2,048" in response.json()["error"]
    assert repo.commits.count() == 1


def test_upload_permissions(client, alice, bob):
    repo = make_repo(owner=alice, name="tiny")

    assert upload(client, repo, {"a.txt": b"a"}, {}).status_code == 401
    assert upload(client, repo, {"a.txt": b"a"}, bearer(alice, "read")).status_code == 403
    assert upload(client, repo, {"a.txt": b"a"}, bearer(bob)).status_code == 403
    assert repo.commits.count() == 1


def test_upload_errors_are_clear(client, alice):
    repo = make_repo(owner=alice, name="tiny")
    headers = bearer(alice)

    empty = client.post(repo_url(repo, "upload/main/"), {"message": "nothing"}, **headers)
    mismatch = client.post(
        repo_url(repo, "upload/main/"), {"files": [SimpleUploadedFile("a", b"a")], "paths": ["a", "b"]}, **headers
    )
    no_branch = upload(client, repo, {"a.txt": b"a"}, headers, branch="nope")
    json_body = client.post(repo_url(repo, "upload/main/"), {}, content_type="application/json", **headers)

    assert empty.status_code == 400 and "files" in empty.json()["error"]
    assert mismatch.status_code == 400
    assert no_branch.status_code == 404
    assert json_body.status_code == 415


def test_upload_to_stale_parent_is_412(client, alice):
    repo = make_repo(owner=alice, name="tiny")
    old_head = repo.commits.first().oid
    make_commit(repo=repo, author=alice, files={"a.txt": b"a"})

    response = upload(client, repo, {"b.txt": b"b"}, bearer(alice), parent_commit=old_head)

    assert response.status_code == 412


# Likes


def test_like_and_unlike(client, alice, bob):
    repo = make_repo(owner=alice, name="tiny")
    headers = bearer(bob)

    liked = client.post(repo_url(repo, "like/"), **headers)
    twice = client.post(repo_url(repo, "like/"), **headers)
    unliked = client.delete(repo_url(repo, "like/"), **headers)

    assert liked.json() == {"liked": True, "likes": 1}
    assert twice.json()["likes"] == 1
    assert unliked.json() == {"liked": False, "likes": 0}
    assert client.post(repo_url(repo, "like/")).status_code == 401
    assert client.post(repo_url(repo, "like/"), **bearer(bob, "read")).status_code == 403


# Schema


def test_schema_is_a_valid_openapi_document(client):
    response = client.get("/api/v1/schema/", HTTP_ACCEPT="application/json")

    assert response.status_code == 200
    schema = response.json()
    validate_schema(schema)
    assert "/api/v1/models/" in schema["paths"]
    assert "/api/v1/repos/{kind}/{namespace}/{name}/upload/{branch}/" in schema["paths"]


def test_schema_generation_warns_of_nothing():
    """drf-spectacular warns when two serializers share a component name (one then describes both endpoints,
    wrongly) or an enum name collides; the documented shapes are only right without warnings."""
    call_command("spectacular", "--fail-on-warn", "--file", os.devnull)


def test_each_endpoint_s_body_is_its_own_component(client):
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()

    def request_fields(path: str) -> set[str]:
        body = schema["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
        return set(schema["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]["properties"])

    assert {"model", "revision", "prompt", "max_new_tokens", "temperature", "seed"} <= request_fields(
        "/api/v1/generations/"
    )
    assert request_fields("/api/v1/battles") == {"prompt", "models", "pin"}
    assert request_fields("/api/v1/tokens/") == {"name", "scope"}


def test_make_user_helper_still_works_for_orgs():
    assert make_user("dora").username == "dora"
