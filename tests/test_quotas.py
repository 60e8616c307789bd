"""Storage quotas through real clients: the stock huggingface_hub client (regular and Git LFS uploads),
raw Git LFS requests, and the browser's upload page in headless Chromium, all against a live server.

The service, the REST API, tus and the settings pages are in models_hub/tests/test_quotas.py.
"""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit

import pytest
from huggingface_hub.errors import HfHubHTTPError

from conftest import make_commit, make_repo, make_user
from models_hub import services
from models_hub.models import Blob
from models_hub.selectors import revision_resolve
from models_hub.services.quotas import storage_usage
from models_hub.tests.test_refused_uploads import stored_files
from tests.test_browser import log_in

# hub_env: the autouse fixture that keeps the stock client away from the user's own Hugging Face settings.
from tests.test_hub_write import api_for, files_at, hub_env, lfs_batch, raw_request, token_for  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)

GITATTRIBUTES = len(services.DEFAULT_GITATTRIBUTES)


def set_quota(account, size: int) -> None:
    account.storage_quota_bytes = size
    account.save(update_fields=["storage_quota_bytes"])


@pytest.fixture
def full_repo(alice):
    """alice/tiny holding weights.bin (3,000 bytes), with 1,000 bytes of room left."""
    repo = make_repo(owner=alice, name="tiny")
    make_commit(repo=repo, author=alice, files={"weights.bin": b"w" * 3000})
    set_quota(alice, GITATTRIBUTES + 4000)
    return repo


@pytest.fixture
def lfs_on(settings, monkeypatch):
    import huggingface_hub.constants

    settings.FLYWHEEL_LFS_UPLOAD_THRESHOLD = 1000
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_DISABLE_XET", True)


def test_stock_client_upload_over_the_quota_is_refused_before_sending_it(live_server, alice, full_repo):
    head, files, blobs = revision_resolve(full_repo, "main"), stored_files(), Blob.objects.count()

    with pytest.raises(HfHubHTTPError) as refused:
        api_for(live_server, alice).upload_file(
            path_or_fileobj=b"n" * 2000, path_in_repo="new.bin", repo_id="alice/tiny"
        )

    assert refused.value.response.status_code == 413
    assert "Storage quota exceeded for alice:" in str(refused.value)
    assert "this upload needs 2.0 KB" in str(refused.value)
    assert revision_resolve(full_repo, "main") == head
    assert (stored_files(), Blob.objects.count()) == (files, blobs)


def test_stock_client_commit_over_the_quota_is_refused_and_stores_nothing(live_server, alice, full_repo):
    """The same size at the same path passes the early check; the commit itself counts the new bytes."""
    head, files, blobs = revision_resolve(full_repo, "main"), stored_files(), Blob.objects.count()
    api = api_for(live_server, alice)

    with pytest.raises(HfHubHTTPError) as refused:
        api.upload_file(path_or_fileobj=b"W" * 3000, path_in_repo="weights.bin", repo_id="alice/tiny")

    assert refused.value.response.status_code == 413
    assert "Storage quota exceeded for alice:" in str(refused.value)
    assert revision_resolve(full_repo, "main") == head
    assert (stored_files(), Blob.objects.count()) == (files, blobs)
    # What fits still goes through.
    api.upload_file(path_or_fileobj=b"s" * 900, path_in_repo="small.bin", repo_id="alice/tiny")
    assert files_at(full_repo)["small.bin"] == b"s" * 900


def test_stock_client_lfs_upload_over_the_quota_is_refused_by_the_batch(live_server, alice, full_repo, lfs_on):
    head, blobs = revision_resolve(full_repo, "main"), Blob.objects.count()

    with pytest.raises(Exception, match="Storage quota exceeded for alice") as refused:
        api_for(live_server, alice).upload_file(
            path_or_fileobj=b"W" * 3000, path_in_repo="weights.bin", repo_id="alice/tiny"
        )

    assert "LFS batch" in str(refused.value)
    assert revision_resolve(full_repo, "main") == head
    assert Blob.objects.count() == blobs


def test_lfs_batch_asks_for_nothing_when_the_objects_do_not_fit_together(live_server, alice, full_repo, lfs_on):
    token = token_for(alice)
    small, other = b"a" * 600, b"b" * 600
    objects = [{"oid": hashlib.sha256(data).hexdigest(), "size": len(data)} for data in (small, other)]

    status, payload, _ = lfs_batch(live_server, token, "alice/tiny", objects)
    alone = lfs_batch(live_server, token, "alice/tiny", objects[:1])[1]["objects"]

    assert status == 200
    assert [answer.get("actions") for answer in payload["objects"]] == [None, None]
    assert {answer["error"]["code"] for answer in payload["objects"]} == {413}
    assert "this upload needs 1.2 KB" in payload["objects"][0]["error"]["message"]
    assert "actions" in alone[0]


def test_lfs_put_is_refused_when_the_quota_shrank_after_the_batch(live_server, alice, full_repo, lfs_on):
    token = token_for(alice)
    data = b"lfs object bytes " * 50
    oid = hashlib.sha256(data).hexdigest()
    status, payload, _ = lfs_batch(live_server, token, "alice/tiny", [{"oid": oid, "size": len(data)}])
    href = urlsplit(payload["objects"][0]["actions"]["upload"]["href"])
    set_quota(alice, GITATTRIBUTES + 3000)

    status, payload, _ = raw_request(live_server, "PUT", f"{href.path}?{href.query}", data)

    assert status == 413
    assert payload["error"].startswith("Storage quota exceeded for alice:")
    assert not Blob.objects.filter(sha256=oid).exists()


def test_lfs_object_counts_once_committed(live_server, alice, full_repo, lfs_on):
    api = api_for(live_server, alice)

    api.upload_file(path_or_fileobj=b"L" * 1000, path_in_repo="fits.bin", repo_id="alice/tiny")

    assert storage_usage(alice).room == 0
    assert files_at(full_repo)["fits.bin"] == b"L" * 1000


@pytest.mark.browser
def test_browser_upload_over_the_quota_shows_why_and_commits_nothing(page, live_server, tmp_path):
    alice = make_user("alice")
    repo = make_repo(owner=alice, name="tiny")
    set_quota(alice, GITATTRIBUTES + 1000)
    log_in(page, live_server, alice)
    big = tmp_path / "big.bin"
    big.write_bytes(b"b" * 5000)

    page.goto("/alice/tiny/upload/main")
    page.set_input_files("#file-input", str(big))
    page.click("#commit-button")
    status = page.locator(".upload-row.upload-error .upload-status")
    status.wait_for()

    assert status.inner_text().startswith("Storage quota exceeded for alice:")
    assert "this upload needs 4.9 KB" in status.inner_text()
    assert repo.commits.count() == 1
    assert storage_usage(alice).reserved == 0
