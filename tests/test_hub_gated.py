"""Gated repositories through the stock huggingface_hub client against a live server.

Readers see a gated repo, its card and its file list, but downloading a file needs an accepted
access request; maintainers handle requests with the client's access-request calls.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from urllib.parse import quote, urlsplit

import pytest
from huggingface_hub import HfApi, hf_hub_download, snapshot_download
from huggingface_hub.errors import BadRequestError, GatedRepoError, HfHubHTTPError

from conftest import make_commit, make_repo
from models_hub import services
from models_hub.models import AccessRequest, Repository, TreeEntry
from tests.hub_fixtures import child_env
from tests.test_hub_write import api_for, header_line, hub_env, lfs_batch, ndjson, raw_request, token_for

_ = hub_env  # autouse: a private HF_HOME and no stray token or endpoint for every test here

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.hub_client]

FILES = {"README.md": b"---\nlicense: mit\n---\n# Gated\n", "config.json": b'{"model_type": "gpt2"}'}


@pytest.fixture
def gated_repo(live_server, alice):
    repo = make_repo(owner=alice, name="gated")
    make_commit(repo=repo, author=alice, files=FILES)
    api_for(live_server, alice).update_repo_settings("alice/gated", gated="manual")
    repo.refresh_from_db()
    return repo


def download(live_server, token, tmp_path, filename="config.json", repo_type=None, repo_id="alice/gated") -> bytes:
    path = hf_hub_download(
        repo_id, filename, repo_type=repo_type, endpoint=live_server.url, token=token, cache_dir=tmp_path / "cache"
    )
    with open(path, "rb") as handle:
        return handle.read()


def ask_for_access(live_server, token: str, repo: str = "model/alice/gated") -> dict:
    """What the repository page's button does, through the REST API."""
    status, body, _ = raw_request(
        live_server, "POST", f"/api/v1/repos/{repo}/access-request/", headers={"Authorization": f"Bearer {token}"}
    )
    assert status == 200, body
    return body


def test_gate_shows_in_repo_info_and_blocks_downloads_for_outsiders(live_server, gated_repo, bob, tmp_path):
    info = HfApi(endpoint=live_server.url).model_info("alice/gated")
    assert info.gated == "manual"
    assert {s.rfilename for s in info.siblings} == {".gitattributes", *FILES}

    with pytest.raises(GatedRepoError) as anonymous:
        download(live_server, False, tmp_path)
    assert anonymous.value.response.status_code == 401
    assert "Please log in" in str(anonymous.value)

    with pytest.raises(GatedRepoError) as stranger:
        download(live_server, token_for(bob), tmp_path)
    assert stranger.value.response.status_code == 403
    assert "not in the authorized list" in str(stranger.value)

    # The card is public on the page, so its file is too.
    assert download(live_server, False, tmp_path, "README.md") == FILES["README.md"]
    with pytest.raises(GatedRepoError):
        snapshot_download("alice/gated", endpoint=live_server.url, token=token_for(bob), cache_dir=tmp_path / "s")


def test_gitattributes_is_gated_like_every_file_but_the_card(live_server, gated_repo, bob, tmp_path):
    for token in (False, token_for(bob)):
        with pytest.raises(GatedRepoError):
            download(live_server, token, tmp_path, ".gitattributes")
    assert download(live_server, False, tmp_path, "README.md") == FILES["README.md"]


def test_owner_downloads_without_asking(live_server, gated_repo, alice, tmp_path):
    assert download(live_server, token_for(alice, "read"), tmp_path) == FILES["config.json"]


def test_request_accept_reject_cancel_round_trip(live_server, gated_repo, alice, bob, tmp_path):
    bob_token = token_for(bob, "read")
    maintainer = api_for(live_server, alice)
    assert ask_for_access(live_server, token_for(bob))["status"] == "pending"
    with pytest.raises(GatedRepoError) as waiting:
        download(live_server, bob_token, tmp_path)
    assert "awaiting a review" in str(waiting.value)

    pending = list(maintainer.list_pending_access_requests("alice/gated"))
    # The requester's e-mail address is never shown to maintainers, as on the public hub.
    assert [(r.username, r.email, r.status) for r in pending] == [("bob", None, "pending")]

    maintainer.accept_access_request("alice/gated", "bob")
    assert download(live_server, bob_token, tmp_path) == FILES["config.json"]
    HfApi(endpoint=live_server.url, token=bob_token).auth_check("alice/gated")
    assert [r.username for r in maintainer.list_accepted_access_requests("alice/gated")] == ["bob"]

    maintainer.reject_access_request("alice/gated", "bob", rejection_reason="Research use only")
    with pytest.raises(GatedRepoError):
        download(live_server, bob_token, tmp_path / "again")
    with pytest.raises(GatedRepoError):
        HfApi(endpoint=live_server.url, token=bob_token).auth_check("alice/gated")
    assert AccessRequest.objects.get(user=bob).rejection_reason == "Research use only"

    # Cancelling moves the request back to pending (and keeps access closed).
    maintainer.cancel_access_request("alice/gated", "bob")
    assert [r.username for r in maintainer.list_pending_access_requests("alice/gated")] == ["bob"]
    with pytest.raises(HfHubHTTPError) as twice:
        maintainer.cancel_access_request("alice/gated", "bob")
    assert twice.value.response.status_code == 404


def test_grant_access_without_a_request(live_server, gated_repo, alice, charlie, tmp_path):
    maintainer = api_for(live_server, alice)
    maintainer.grant_access("alice/gated", "charlie")
    assert download(live_server, token_for(charlie, "read"), tmp_path) == FILES["config.json"]
    with pytest.raises(BadRequestError):
        maintainer.grant_access("alice/gated", "charlie")
    with pytest.raises(HfHubHTTPError) as unknown:
        maintainer.grant_access("alice/gated", "nobody-by-that-name")
    assert unknown.value.response.status_code == 404
    with pytest.raises(HfHubHTTPError) as missing:
        maintainer.accept_access_request("alice/gated", "alice-does-not-exist")
    assert missing.value.response.status_code == 404


def test_only_maintainers_with_a_write_token_handle_requests(live_server, gated_repo, alice, bob):
    ask_for_access(live_server, token_for(bob))
    for api in (api_for(live_server, bob), api_for(live_server, alice, "read")):
        with pytest.raises(HfHubHTTPError) as refused:
            list(api.list_pending_access_requests("alice/gated"))
        assert refused.value.response.status_code == 403
        with pytest.raises(HfHubHTTPError):
            api.accept_access_request("alice/gated", "bob")
    assert AccessRequest.objects.get(user=bob).status == "pending"


def test_automatic_gate_accepts_at_once_and_ungating_opens_downloads(live_server, gated_repo, alice, bob, tmp_path):
    maintainer = api_for(live_server, alice)
    ask_for_access(live_server, token_for(bob))
    maintainer.update_repo_settings("alice/gated", gated="auto")  # what was pending is accepted
    assert download(live_server, token_for(bob), tmp_path) == FILES["config.json"]

    maintainer.update_repo_settings("alice/gated", gated=False)
    assert Repository.objects.get(pk=gated_repo.pk).gated == ""
    assert download(live_server, False, tmp_path / "open") == FILES["config.json"]
    with pytest.raises(BadRequestError):
        list(maintainer.list_pending_access_requests("alice/gated"))


def test_gated_dataset(live_server, alice, bob, tmp_path):
    repo = make_repo(owner=alice, name="rows", kind="dataset")
    make_commit(repo=repo, author=alice, files={"data.jsonl": b'{"text": "hi"}\n'})
    api_for(live_server, alice).update_repo_settings("alice/rows", repo_type="dataset", gated="auto")
    with pytest.raises(GatedRepoError):
        download(live_server, token_for(bob), tmp_path, "data.jsonl", "dataset", "alice/rows")
    assert ask_for_access(live_server, token_for(bob), "dataset/alice/rows")["status"] == "accepted"
    assert download(live_server, token_for(bob), tmp_path, "data.jsonl", "dataset", "alice/rows").startswith(b"{")


@pytest.mark.parametrize(
    "body",
    [b'{"gated": "sometimes"}', b'{"gated": 1}', b'{"gated": true}', b'{"gated": ["auto"]}'],
)
def test_hostile_gate_values_are_refused(live_server, gated_repo, alice, body):
    headers = {"Authorization": f"Bearer {token_for(alice)}", "Content-Type": "application/json"}
    status, payload, _ = raw_request(live_server, "PUT", "/api/models/alice/gated/settings", body, headers)
    assert status == 400 and "gate" in payload["error"]
    assert Repository.objects.get(pk=gated_repo.pk).gated == "manual"


@pytest.mark.parametrize(
    "body",
    [
        {"status": "accepted"},
        {"user": "bob", "requestId": "1", "status": "accepted"},
        {"user": "bob", "status": "maybe"},
        {"user": ["bob"], "status": "accepted"},
        {"requestId": "1 OR 1=1", "status": "accepted"},
        {"requestId": "99999999999999999999999", "status": "accepted"},
        {"requestId": "²", "status": "accepted"},
        {"requestId": "١", "status": "accepted"},  # an Arabic-Indic 1: not request 1
        {"user": "bob", "status": "rejected", "rejectionReason": "x" * 501},
    ],
)
def test_hostile_handle_bodies_get_clear_errors(live_server, gated_repo, alice, bob, body):
    ask_for_access(live_server, token_for(bob))
    headers = {"Authorization": f"Bearer {token_for(alice)}", "Content-Type": "application/json"}
    path = "/api/models/alice/gated/user-access-request/handle"
    status, payload, _ = raw_request(live_server, "POST", path, json.dumps(body).encode(), headers)
    assert status in (400, 404), (status, payload)
    assert payload["error"]
    assert AccessRequest.objects.get(user=bob).status == "pending"


def test_a_known_hash_does_not_copy_a_gated_or_private_file(live_server, gated_repo, alice, bob, settings):
    """Blobs are shared by content: committing one by its sha256 needs the bytes, or access to them."""
    secret = make_repo(owner=alice, name="secret", private=True)
    make_commit(repo=secret, author=alice, files={"key.txt": b"private bytes"})
    make_repo(owner=bob, name="steal")
    headers = {"Authorization": f"Bearer {token_for(bob)}", "Content-Type": "application/x-ndjson"}
    for data in (FILES["config.json"], b"private bytes"):
        oid = hashlib.sha256(data).hexdigest()
        body = ndjson(header_line(), {"key": "lfsFile", "value": {"path": "x", "algo": "sha256", "oid": oid}})
        status, payload, _ = raw_request(live_server, "POST", "/api/models/bob/steal/commit/main", body, headers)
        assert status == 400 and "never uploaded" in payload["error"]
    assert not TreeEntry.objects.filter(commit__repository__name="steal", path="x").exists()

    # With Git LFS on, the batch asks bob to send the bytes even though the server has them...
    settings.FLYWHEEL_LFS_UPLOAD_THRESHOLD = 1
    oid = hashlib.sha256(b"private bytes").hexdigest()
    status, payload, _ = lfs_batch(live_server, token_for(bob), "bob/steal", [{"oid": oid, "size": 13}])
    href = urlsplit(payload["objects"][0]["actions"]["upload"]["href"])
    assert raw_request(live_server, "PUT", f"{href.path}?{href.query}", b"wrong bytes!!")[0] == 400
    # ...and once he has sent them, he holds them and may commit them.
    assert raw_request(live_server, "PUT", f"{href.path}?{href.query}", b"private bytes")[0] == 200
    body = ndjson(header_line(), {"key": "lfsFile", "value": {"path": "x", "algo": "sha256", "oid": oid}})
    assert raw_request(live_server, "POST", "/api/models/bob/steal/commit/main", body, headers)[0] == 200


@pytest.mark.parametrize("cursor", ["²", "-1", "abc", "9" * 30])
def test_hostile_list_cursors_are_refused(live_server, gated_repo, alice, cursor):
    headers = {"Authorization": f"Bearer {token_for(alice)}"}
    path = f"/api/models/alice/gated/user-access-request/pending?cursor={quote(cursor)}"
    status, payload, _ = raw_request(live_server, "GET", path, headers=headers)
    assert status == 400 and "cursor" in payload["error"]


def test_transformers_explains_a_gated_repo_then_loads_it_once_accepted(live_server, gated_repo, alice, bob, tmp_path):
    """What a user sees from `from_pretrained` with only HF_ENDPOINT and HF_TOKEN set."""
    script = "from transformers import AutoConfig; print(AutoConfig.from_pretrained('alice/gated').model_type)"
    env = child_env(endpoint=live_server.url, home=tmp_path / "hf") | {"HF_TOKEN": token_for(bob, "read")}

    refused = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert refused.returncode != 0
    assert "You are trying to access a gated repo" in refused.stderr

    services.access_grant(repo=gated_repo, actor=alice, username="bob")
    loaded = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    assert loaded.stdout.strip() == "gpt2"
