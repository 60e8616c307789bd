"""Storage quotas of users and organisations: what counts, the one check, and the REST, browser and page surfaces.

The Hub protocol (stock client, Git LFS) and the browser's upload page are in tests/test_quotas.py.
"""

from __future__ import annotations

import io
from importlib import import_module

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from accounts.services import membership_set, organization_create, token_create
from conftest import client_for, make_commit, make_repo, make_user
from models_hub import services
from models_hub.errors import QuotaExceeded
from models_hub.models import Blob, RepositoryBlob, UploadSession
from models_hub.selectors import revision_resolve
from models_hub.services.quotas import human_size, quota_check, storage_usage
from models_hub.storage import streaming, uploads
from models_hub.storage.blobs import blob_store_bytes
from models_hub.tests.test_refused_uploads import stored_files

pytestmark = pytest.mark.django_db

KIB = 1024
GITATTRIBUTES = len(services.DEFAULT_GITATTRIBUTES)
NEW_REPO_USAGE = human_size(GITATTRIBUTES)  # what a new repository holds: its .gitattributes


def set_quota(account, size: int | None) -> None:
    account.storage_quota_bytes = size
    account.save(update_fields=["storage_quota_bytes"])


def bearer(user) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token_create(user=user, name='t', scope='write').secret}"}


def append(session: UploadSession, data: bytes) -> None:
    uploads.upload_append(session=session, offset=0, source=streaming.StreamSource(io.BytesIO(data)), length=len(data))


@pytest.fixture
def repo(alice):
    return make_repo(owner=alice, name="tiny")


# What counts


def test_usage_counts_each_distinct_file_of_public_and_private_repos_once(alice, bob, repo):
    secret = make_repo(owner=alice, name="secret", private=True)
    make_commit(repo=repo, author=alice, files={"a.bin": b"a" * 1000, "b.bin": b"b" * 2000})
    make_commit(repo=secret, author=alice, files={"copy-of-a.bin": b"a" * 1000, "c.bin": b"c" * 4000})
    make_commit(repo=repo, author=alice, files={"b.bin": b"B" * 3000})  # the old b.bin stays in the history
    make_commit(repo=make_repo(owner=bob, name="bobs"), author=bob, files={"d.bin": b"d" * 8000})

    usage = storage_usage(alice)

    assert usage.used == GITATTRIBUTES + 1000 + 2000 + 4000 + 3000
    assert (usage.limit, usage.reserved, usage.namespace) == (100 * 1024**3, 0, "alice")
    assert storage_usage(bob).used == GITATTRIBUTES + 8000


def test_deleting_a_repository_frees_what_only_it_used(alice, repo):
    other = make_repo(owner=alice, name="other")
    make_commit(repo=repo, author=alice, files={"shared.bin": b"s" * 500, "own.bin": b"o" * 700})
    make_commit(repo=other, author=alice, files={"shared.bin": b"s" * 500})

    services.repo_delete(repo=repo)

    assert storage_usage(alice).used == GITATTRIBUTES + 500


def test_organisation_quota_counts_its_repositories_not_its_members(alice, bob):
    org = organization_create(name="lab", creator=alice)
    lab_repo = make_repo(owner=alice, namespace="lab", name="shared")
    make_commit(repo=lab_repo, author=alice, files={"w.bin": b"w" * 5000})

    assert storage_usage(org).used == GITATTRIBUTES + 5000
    assert storage_usage(org).limit == 1024**4
    assert storage_usage(alice).used == 0


@override_settings(FLYWHEEL_USER_QUOTA_BYTES=3 * KIB, FLYWHEEL_ORG_QUOTA_BYTES=5 * KIB)
def test_defaults_come_from_settings_and_an_account_may_have_its_own(alice):
    org = organization_create(name="lab", creator=alice)
    assert (storage_usage(alice).limit, storage_usage(org).limit) == (3 * KIB, 5 * KIB)

    set_quota(alice, 7 * KIB)
    set_quota(org, 0)

    assert (storage_usage(alice).limit, storage_usage(org).limit) == (7 * KIB, 0)


# The check in commit_create, which every upload path ends in


def test_commit_over_the_quota_is_refused_and_changes_nothing(alice, repo):
    make_commit(repo=repo, author=alice, files={"a.bin": b"a" * 3000})
    set_quota(alice, 4 * KIB + GITATTRIBUTES)
    head = revision_resolve(repo, "main")

    with pytest.raises(QuotaExceeded) as refused:
        make_commit(repo=repo, author=alice, files={"b.bin": b"b" * 2000})

    assert refused.value.status == 413
    assert refused.value.message == (
        f"Storage quota exceeded for alice: {(3000 + GITATTRIBUTES) / 1024:.1f} KB used of "
        f"{(4096 + GITATTRIBUTES) / 1024:.1f} KB; this upload needs 2.0 KB."
    )
    assert revision_resolve(repo, "main") == head


def test_what_fits_exactly_is_accepted(alice, repo):
    set_quota(alice, GITATTRIBUTES + 2000)

    make_commit(repo=repo, author=alice, files={"b.bin": b"b" * 2000})

    assert storage_usage(alice).room == 0


def test_bytes_already_stored_cost_nothing_and_deleting_is_always_allowed(alice, repo):
    make_commit(repo=repo, author=alice, files={"a.bin": b"a" * 3000})
    set_quota(alice, 0)  # an administrator took the room away

    make_commit(repo=repo, author=alice, files={"again/a.bin": b"a" * 3000})
    services.commit_create(repo=repo, author=alice, title="Remove", deletions=["a.bin"])
    make_commit(repo=make_repo(owner=alice, name="other"), author=alice, files={"a.bin": b"a" * 3000})

    with pytest.raises(QuotaExceeded):
        make_commit(repo=repo, author=alice, files={"new.bin": b"n"})


def test_quota_check_before_the_bytes_arrive_counts_unknown_files_as_new(alice, repo):
    make_commit(repo=repo, author=alice, files={"a.bin": b"a" * 3000})
    set_quota(alice, GITATTRIBUTES + 3000 + 100)
    stored = Blob.objects.get(size=3000)

    quota_check(repo=repo, files=[(stored.sha256, 3000), (None, 100)])
    with pytest.raises(QuotaExceeded, match="this upload needs 101 bytes"):
        quota_check(repo=repo, files=[(None, 101)])


def test_moving_a_repository_needs_room_in_the_namespace_it_moves_to(alice, repo):
    make_commit(repo=repo, author=alice, files={"w.bin": b"w" * 3000})
    org = organization_create(name="lab", creator=alice)
    set_quota(org, 1000)
    set_quota(alice, 0)  # over its quota already: a rename is still fine

    services.repo_move(repo=repo, new_namespace="alice", new_name="renamed", user=alice)
    with pytest.raises(QuotaExceeded, match=r"^Storage quota exceeded for lab: .*; moving alice/renamed there needs "):
        services.repo_move(repo=repo, new_namespace="lab", new_name="renamed", user=alice)

    repo.refresh_from_db()
    assert repo.repo_id == "alice/renamed"
    set_quota(org, GITATTRIBUTES + 3000)
    services.repo_move(repo=repo, new_namespace="lab", new_name="renamed", user=alice)
    assert storage_usage(org).room == 0


# REST v1: raw PUT and multipart


def test_raw_put_over_the_quota_is_413_and_stores_nothing(client, alice, repo):
    set_quota(alice, GITATTRIBUTES + 1000)
    files, blobs = stored_files(), Blob.objects.count()

    response = client.put(
        "/api/v1/repos/model/alice/tiny/files/main/big.bin",
        b"x" * 1001,
        content_type="application/octet-stream",
        **bearer(alice),
    )

    assert response.status_code == 413
    assert response.json()["error"] == (
        f"Storage quota exceeded for alice: {NEW_REPO_USAGE} used of {human_size(GITATTRIBUTES + 1000)}; this upload needs 1001 bytes."
    )
    assert (stored_files(), Blob.objects.count()) == (files, blobs)
    assert repo.commits.count() == 1


def test_multipart_upload_over_the_quota_is_413_and_stores_nothing(client, alice, repo):
    set_quota(alice, GITATTRIBUTES + 1000)
    files, blobs = stored_files(), Blob.objects.count()
    data = {"files": [SimpleUploadedFile("a.bin", b"a" * 600), SimpleUploadedFile("b.bin", b"b" * 600)]}

    response = client.post("/api/v1/repos/model/alice/tiny/upload/main/", data, **bearer(alice))

    assert response.status_code == 413
    assert response.json()["error"].startswith(
        f"Storage quota exceeded for alice: {NEW_REPO_USAGE} used of {human_size(GITATTRIBUTES + 1000)};"
    )
    assert (stored_files(), Blob.objects.count()) == (files, blobs)
    assert repo.commits.count() == 1


def test_multipart_upload_that_fits_is_committed(client, alice, repo):
    set_quota(alice, GITATTRIBUTES + 10 * KIB)

    response = client.post(
        "/api/v1/repos/model/alice/tiny/upload/main/",
        {"files": [SimpleUploadedFile("a.bin", b"a" * 600)]},
        **bearer(alice),
    )

    assert response.status_code == 201
    assert storage_usage(alice).used == GITATTRIBUTES + 600


def test_organisation_member_uploads_against_the_organisations_quota(client, alice, bob):
    org = organization_create(name="lab", creator=alice)
    membership_set(org=org, actor=alice, username="bob", role="write")
    make_repo(owner=alice, namespace="lab", name="shared")
    set_quota(org, GITATTRIBUTES + 100)

    response = client.put(
        "/api/v1/repos/model/lab/shared/files/main/w.bin",
        b"w" * 200,
        content_type="application/octet-stream",
        **bearer(bob),
    )

    assert response.status_code == 413
    assert "Storage quota exceeded for lab:" in response.json()["error"]


# Resumable (tus) uploads reserve their declared size


def test_an_open_resumable_upload_reserves_its_size(client, alice, repo):
    set_quota(alice, GITATTRIBUTES + 10 * KIB)
    session = uploads.upload_create(user=alice, repo=repo, path="big.bin", size=8 * KIB)

    assert storage_usage(alice).reserved == 8 * KIB
    with pytest.raises(
        QuotaExceeded, match=r"\(8\.0 KB more reserved by uploads in progress\); this upload needs 3\.0 KB\.$"
    ):
        uploads.upload_create(user=alice, repo=repo, path="other.bin", size=3 * KIB)
    response = client.put(
        "/api/v1/repos/model/alice/tiny/files/main/c.bin",
        b"c" * 3 * KIB,
        content_type="application/octet-stream",
        **bearer(alice),
    )
    assert response.status_code == 413

    append(session, b"z" * 8 * KIB)
    uploads.uploads_commit(user=alice, repo=repo, uploads=[uploads.FinishedUpload(str(session.pk))], title="Add")

    usage = storage_usage(alice)
    assert (usage.used, usage.reserved) == (GITATTRIBUTES + 8 * KIB, 0)


def test_tus_creation_over_the_quota_answers_413_with_the_reason(alice, repo):
    set_quota(alice, GITATTRIBUTES + 1000)
    client = client_for(alice)

    response = client.post(
        "/uploads/",
        headers={
            "Tus-Resumable": "1.0.0",
            "Upload-Length": "5000",
            "Upload-Metadata": "path YS5iaW4=,repo YWxpY2UvdGlueQ==,kind bW9kZWw=",
        },
    )

    assert response.status_code == 413
    assert response.content.decode().startswith(
        f"Storage quota exceeded for alice: {NEW_REPO_USAGE} used of {human_size(GITATTRIBUTES + 1000)};"
    )
    assert not UploadSession.objects.exists()


def test_committing_finished_uploads_over_a_quota_lowered_meanwhile_is_refused(alice, repo):
    session = uploads.upload_create(user=alice, repo=repo, path="big.bin", size=4000)
    append(session, b"z" * 4000)
    set_quota(alice, GITATTRIBUTES + 1000)
    blobs = Blob.objects.count()

    with pytest.raises(QuotaExceeded):
        uploads.uploads_commit(user=alice, repo=repo, uploads=[uploads.FinishedUpload(str(session.pk))], title="Add")

    assert repo.commits.count() == 1
    assert Blob.objects.count() <= blobs + 1  # kept with the upload for a retry, and reaped with it


# Where people see it


def test_settings_page_shows_used_of_available(alice, repo):
    make_commit(repo=repo, author=alice, files={"a.bin": b"a" * 2048})
    set_quota(alice, 10 * 1024**3)

    page = client_for(alice).get("/settings/profile").content.decode()

    assert f"{(2048 + GITATTRIBUTES) / 1024:.1f}\xa0KB used of 10.0\xa0GB" in page
    assert "<progress" in page


def test_organisation_settings_show_the_organisations_usage(alice):
    org = organization_create(name="lab", creator=alice)
    make_commit(repo=make_repo(owner=alice, namespace="lab", name="m"), author=alice, files={"w.bin": b"w" * 3072})

    page = client_for(alice).get("/organizations/lab/settings").content.decode()

    assert f"{(3072 + GITATTRIBUTES) / 1024:.1f}\xa0KB used of 1.0\xa0TB" in page
    assert org.name in page


def test_an_administrator_sets_an_accounts_quota_in_the_admin(alice):
    admin = make_user("root", is_staff=True, is_superuser=True)
    org = organization_create(name="lab", creator=alice)
    client = client_for(admin)

    user_form = client.get(f"/admin/accounts/user/{alice.pk}/change/").content.decode()
    response = client.post(
        f"/admin/accounts/organization/{org.pk}/change/",
        {
            "name": "lab",
            "full_name": "",
            "description": "",
            "storage_quota_bytes": "5000",
            "memberships-TOTAL_FORMS": "1",
            "memberships-INITIAL_FORMS": "1",
            "memberships-MIN_NUM_FORMS": "0",
            "memberships-MAX_NUM_FORMS": "1000",
            "memberships-0-id": str(org.memberships.get().pk),
            "memberships-0-organization": str(org.pk),
            "memberships-0-role": "admin",
        },
    )

    assert 'name="storage_quota_bytes"' in user_form
    assert response.status_code == 302, response.content.decode()[:2000]
    org.refresh_from_db()
    assert org.storage_quota_bytes == 5000
    assert storage_usage(org).limit == 5000


def test_blob_store_helper_is_not_counted_until_committed(alice, repo):
    blob_store_bytes(b"stored but in no commit" * 100)

    assert storage_usage(alice).used == GITATTRIBUTES


def test_usage_costs_two_queries_however_long_the_history(alice, repo, django_assert_num_queries):
    for n in range(5):
        make_commit(repo=repo, author=alice, files={f"f{n}.bin": bytes([n]) * 100, "same.bin": b"s"})

    with django_assert_num_queries(2):
        usage = storage_usage(alice)

    assert usage.used == GITATTRIBUTES + 5 * 100 + 1


def test_migration_fills_in_what_existing_repositories_store(alice, repo):
    from django.apps import apps

    make_commit(repo=repo, author=alice, files={"a.bin": b"a" * 700})
    make_commit(repo=repo, author=alice, files={"a.bin": b"A" * 300})
    RepositoryBlob.objects.all().delete()
    assert storage_usage(alice).used == 0

    import_module("models_hub.migrations.0011_repository_blob").backfill(apps, None)

    assert storage_usage(alice).used == GITATTRIBUTES + 700 + 300
