"""Every model in the admin: changelists and change pages answer 200 with a bounded number of queries."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import ApiToken, Membership, Organization, User
from accounts.services import membership_set, organization_create, token_create
from conftest import make_commit, make_repo, make_user
from models_hub import services as hub_services
from models_hub.models import (
    Blob,
    Commit,
    Like,
    Ref,
    RepoRedirect,
    Repository,
    RepoTag,
    TreeEntry,
    UploadSession,
)
from models_hub.storage.blobs import blob_store_bytes

pytestmark = pytest.mark.django_db

ALL_MODELS = [
    User,
    Organization,
    Membership,
    ApiToken,
    Repository,
    Commit,
    TreeEntry,
    Ref,
    Blob,
    RepoTag,
    Like,
    RepoRedirect,
    UploadSession,
]


@pytest.fixture
def hub_rows(alice, bob):
    """A few rows in every table."""
    org = organization_create(creator=alice, name="acme")
    membership_set(org=org, actor=alice, username="bob", role="write")
    for i in range(3):
        token_create(user=alice, name=f"token{i}", scope="write")
        repo = make_repo(owner=alice, name=f"model-{i}")
        make_commit(repo=repo, author=alice, files={"README.md": b"# hi", f"w{i}.bin": b"\0" * 10})
        RepoTag.objects.create(repository=repo, name=f"tag{i}")
        Like.objects.create(user=bob, repository=repo)
        RepoRedirect.objects.create(kind="model", namespace="alice", name=f"old-{i}", repository=repo)
        UploadSession.objects.create(user=alice, repository=repo, path=f"big{i}.safetensors", size=100, offset=10)
    org_repo = make_repo(owner=bob, namespace="acme", name="shared", kind="dataset")
    hub_services.tag_create(repo=org_repo, name="v1", revision="main")
    return org


def test_every_model_is_registered():
    for model in ALL_MODELS:
        assert admin.site.is_registered(model), model.__name__


@pytest.mark.parametrize("model", ALL_MODELS, ids=lambda m: m.__name__)
def test_changelist_and_change_page(admin_client, hub_rows, model, django_assert_max_num_queries):
    opts = model._meta
    changelist = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    with django_assert_max_num_queries(15):
        response = admin_client.get(changelist)
    assert response.status_code == 200
    obj = model.objects.order_by("pk").first()
    assert obj is not None
    change = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
    with django_assert_max_num_queries(25):
        response = admin_client.get(change)
    assert response.status_code == 200


@pytest.mark.parametrize("model", ALL_MODELS, ids=lambda m: m.__name__)
def test_changelist_queries_do_not_grow_with_rows(admin_client, hub_rows, model):
    """The same number of queries for a page of 3 rows as for a page of many: no N+1."""
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    with CaptureQueriesContext(connection) as few:
        admin_client.get(url)
    _more_rows(model)
    with CaptureQueriesContext(connection) as many:
        admin_client.get(url)
    assert len(many) == len(few), [q["sql"] for q in many.captured_queries]


def _more_rows(model) -> None:
    alice = User.objects.get(username="alice")
    for i in range(5):
        user = make_user(f"extra{i}")
        token_create(user=user, name="t")
        org = organization_create(creator=user, name=f"org{i}")
        repo = make_repo(owner=user, name=f"extra-{i}")
        make_commit(repo=repo, author=user, files={f"f{i}.txt": f"file {i}".encode()})
        RepoTag.objects.create(repository=repo, name="x")
        Like.objects.create(user=alice, repository=repo)
        RepoRedirect.objects.create(kind="model", namespace=user.username, name="gone", repository=repo)
        UploadSession.objects.create(user=user, repository=repo, path="x.bin", size=5)
        membership_set(org=org, actor=user, username="alice", role="read")


@pytest.mark.parametrize(
    "url",
    [
        "/admin/models_hub/repository/?kind__exact=model&private__exact=0&has_unsafe_files__exact=1",
        "/admin/models_hub/repository/?q=model",
        "/admin/models_hub/commit/?q=initial",
        "/admin/models_hub/treeentry/?q=README",
        "/admin/accounts/apitoken/?revoked_at__isempty=1",
        "/admin/accounts/user/?q=ali",
        "/admin/models_hub/blob/?q=0000",
    ],
)
def test_filters_and_search(admin_client, hub_rows, url):
    assert admin_client.get(url).status_code == 200


def test_token_admin_never_shows_the_hash(admin_client, alice):
    created = token_create(user=alice, name="ci")
    page = admin_client.get(reverse("admin:accounts_apitoken_change", args=[created.token.pk])).content.decode()
    assert created.token.key_hash not in page and created.secret not in page
    assert "key_hash" not in page
    assert admin_client.get(reverse("admin:accounts_apitoken_add")).status_code == 403


def test_token_admin_revoke_action(admin_client, alice):
    created = token_create(user=alice, name="ci")
    response = admin_client.post(
        reverse("admin:accounts_apitoken_changelist"),
        {"action": "revoke", "_selected_action": [created.token.pk]},
        follow=True,
    )
    assert "1 token revoked." in response.content.decode()
    created.token.refresh_from_db()
    assert created.token.revoked_at is not None


def test_commits_and_blobs_are_read_only(admin_client, alice):
    repo = make_repo(owner=alice)
    commit = make_commit(repo=repo, author=alice, files={"a.txt": b"a"})
    blob = blob_store_bytes(b"a")
    for url in [
        reverse("admin:models_hub_commit_change", args=[commit.pk]),
        reverse("admin:models_hub_blob_change", args=[blob.pk]),
    ]:
        page = admin_client.get(url).content.decode()
        assert 'name="_save"' not in page
    original_title = commit.title
    admin_client.post(reverse("admin:models_hub_commit_change", args=[commit.pk]), {"title": "rewritten"})
    commit.refresh_from_db()
    assert commit.title == original_title
    assert admin_client.get(reverse("admin:models_hub_commit_add")).status_code == 403


def test_user_admin_edits_full_name_and_bio(admin_client, alice):
    page = admin_client.get(reverse("admin:accounts_user_change", args=[alice.pk])).content.decode()
    assert 'name="full_name"' in page and 'name="bio"' in page


def test_organisation_admin_shows_members_inline_in_constant_queries(admin_client, alice, bob):
    org = organization_create(creator=alice, name="acme")
    url = reverse("admin:accounts_organization_change", args=[org.pk])
    admin_client.get(url)  # the process's first admin page also fills caches (content types): not counted
    with CaptureQueriesContext(connection) as one_member:
        page = admin_client.get(url).content.decode()
    assert "memberships-TOTAL_FORMS" in page and "alice" in page
    for i in range(10):
        make_user(f"member{i}")
        membership_set(org=org, actor=alice, username=f"member{i}", role="read")
    with CaptureQueriesContext(connection) as eleven_members:
        page = admin_client.get(url).content.decode()
    assert "member9" in page
    assert len(eleven_members) == len(one_member)


def test_organisation_admin_changes_a_role_inline(admin_client, alice, bob):
    org = organization_create(creator=alice, name="acme")
    membership = membership_set(org=org, actor=alice, username="bob", role="read")
    admin_membership = Membership.objects.get(organization=org, user=alice)
    url = reverse("admin:accounts_organization_change", args=[org.pk])
    data = {
        "name": "acme",
        "full_name": "",
        "description": "",
        "memberships-TOTAL_FORMS": "2",
        "memberships-INITIAL_FORMS": "2",
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
        "memberships-0-id": str(admin_membership.pk),
        "memberships-0-organization": str(org.pk),
        "memberships-0-role": "admin",
        "memberships-1-id": str(membership.pk),
        "memberships-1-organization": str(org.pk),
        "memberships-1-role": "write",
    }
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    membership.refresh_from_db()
    assert membership.role == "write"


def test_admin_is_branded_flywheel(admin_client):
    page = admin_client.get("/admin/").content.decode()
    assert "Django administration" not in page and "Django site admin" not in page
    assert "Flywheel administration" in page


def test_admin_names_read_as_english_plurals(admin_client):
    page = admin_client.get("/admin/").content.decode()
    assert "Tree entries" in page and "Tree entrys" not in page
    for model in admin.site._registry:
        plural = str(model._meta.verbose_name_plural)
        singular = str(model._meta.verbose_name)
        if singular.endswith("y") and singular[-2:-1] not in "aeiou":
            assert plural.endswith("ies"), f"{model.__name__}: {plural}"


def test_maintainers_see_and_change_the_hub_but_delete_nothing(alice):
    from django.test import Client

    from accounts.services import maintainers_group_ensure

    repo = make_repo(owner=alice, name="curated")
    maintainer = make_user("mia", is_staff=True)
    maintainer.groups.add(maintainers_group_ensure())
    maintainers_group_ensure()  # idempotent
    client = Client()
    client.force_login(maintainer)

    index = client.get("/admin/").content.decode()
    assert "You don’t have permission" not in index and "Repositories" in index
    for url in ["/admin/models_hub/repository/", "/admin/models_hub/commit/", "/admin/accounts/user/"]:
        assert client.get(url).status_code == 200, url
    change = client.get(reverse("admin:models_hub_repository_change", args=[repo.pk])).content.decode()
    assert 'name="_save"' in change
    assert client.get(reverse("admin:models_hub_repository_delete", args=[repo.pk])).status_code == 403
    assert client.get(reverse("admin:accounts_user_change", args=[alice.pk])).status_code == 200
    assert not maintainer.has_perm("accounts.change_user")  # people are seen, not edited
