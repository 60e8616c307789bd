"""One access decision per request: selectors.repo_access_for, what it decides and what it costs."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Membership, Organization, User
from conftest import client_for, make_commit, make_repo, make_user
from models_hub import selectors, services
from models_hub.errors import Forbidden, RepoNotFound
from models_hub.models import AccessRequest, Repository

pytestmark = pytest.mark.django_db

FILES = {"README.md": b"# Shared\n", "config.json": b'{"n_layer": 2}\n'}
# The tables behind "who is this user to this repository": read at most twice per request.
ACCESS_TABLES = (Membership._meta.db_table, AccessRequest._meta.db_table)


def _access_lookups(queries: list[dict]) -> list[str]:
    return [q["sql"] for q in queries if any(f'"{table}"' in q["sql"] for table in ACCESS_TABLES)]


@pytest.fixture
def org(alice, bob) -> Organization:
    org = Organization.objects.create(name="lab")
    Membership.objects.create(organization=org, user=alice, role=Membership.Role.ADMIN)
    Membership.objects.create(organization=org, user=bob, role=Membership.Role.READ)
    return org


def _org_repo(alice: User, *, private: bool = False, gated: str = Repository.Gate.OFF) -> Repository:
    repo = make_repo(owner=alice, name="shared", namespace="lab", private=private)
    make_commit(repo=repo, author=alice, files=FILES)
    return services.repo_update_settings(repo=repo, gated=gated)


def _access(user: User | None, repo: Repository) -> selectors.RepoAccess:
    return selectors.repo_access_for(user, kind=repo.kind, namespace=repo.namespace, name=repo.name)


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        (Membership.Role.ADMIN, (True, True, True)),
        (Membership.Role.WRITE, (True, True, False)),
        (Membership.Role.READ, (True, False, False)),
    ],
)
def test_organisation_roles_decide_read_write_admin(org, alice, bob, role, expected):
    Membership.objects.filter(user=bob).update(role=role)
    access = _access(bob, _org_repo(alice, private=True))
    assert (access.can_read, access.can_write, access.can_admin) == expected
    assert access.role == role and access.member


def test_owner_and_staff_may_do_everything(alice):
    repo = make_repo(owner=alice, name="mine", private=True)
    staff = make_user("root", is_superuser=True)
    for user in (alice, staff):
        access = _access(user, repo)
        assert access.can_read and access.can_write and access.can_admin and access.can_download and access.member


def test_stranger_gets_404_on_private_repo_and_403_on_writing_a_public_one(alice, charlie):
    private = make_repo(owner=alice, name="secret", private=True)
    with pytest.raises(RepoNotFound):
        _access(charlie, private)
    with pytest.raises(RepoNotFound):
        _access(None, private)
    public = _access(charlie, make_repo(owner=alice, name="open"))
    assert public.can_read and public.can_download and not public.member
    with pytest.raises(Forbidden, match="write access"):
        public.require_write()
    with pytest.raises(Forbidden):
        public.require_admin()


def test_gated_repo_needs_an_accepted_request_from_outsiders(org, alice, bob, charlie):
    repo = _org_repo(alice, gated=Repository.Gate.MANUAL)
    assert _access(bob, repo).can_download  # any member role passes the gate
    outsider = _access(charlie, repo)
    assert not outsider.can_download and outsider.access_request is None
    assert outsider.gate_refusal("README.md") is None
    assert "not in the authorized list" in outsider.gate_refusal("config.json")
    assert "Please log in" in _access(None, repo).gate_refusal("config.json")

    services.access_request_submit(repo=repo, user=charlie)
    asked = _access(charlie, repo)
    assert asked.access_request.status == AccessRequest.Status.PENDING and not asked.can_download
    assert "awaiting a review" in asked.gate_refusal("config.json")

    services.access_request_decide(repo=repo, actor=alice, status="accepted", username="charlie")
    accepted = _access(charlie, repo)
    assert accepted.can_download and accepted.gate_refusal("config.json") is None


def test_repo_access_decides_for_a_repository_in_hand(org, alice, bob, charlie):
    repo = _org_repo(alice, private=True)
    assert selectors.repo_access(repo, bob).can_read
    assert not selectors.repo_access(repo, charlie).can_read
    assert not selectors.repo_access(repo, None).can_read


# What it costs


def test_one_query_decides_everything_on_an_open_repository(org, alice, bob, django_assert_num_queries):
    repo = _org_repo(alice)
    with django_assert_num_queries(1):
        _access(bob, repo)


# Before this selector, a member's view of this card read the membership 7 times.
PAGES = ("/lab/shared", "/lab/shared/tree/main", "/lab/shared/blob/main/config.json")


def test_gated_org_repo_page_reads_membership_and_request_at_most_twice(org, alice, bob, django_assert_max_num_queries):
    _org_repo(alice, gated=Repository.Gate.MANUAL)
    client = client_for(bob)
    client.get("/lab/shared")  # the session is read once logged in; count what every later view costs
    for url in PAGES:
        with CaptureQueriesContext(connection) as captured, django_assert_max_num_queries(10):
            response = client.get(url)
        assert response.status_code == 200
        assert len(_access_lookups(captured.captured_queries)) <= 2, url


def test_gated_org_repo_page_for_an_outsider_reads_membership_and_request_at_most_twice(
    org, alice, charlie, django_assert_max_num_queries
):
    repo = _org_repo(alice, gated=Repository.Gate.MANUAL)
    services.access_request_submit(repo=repo, user=charlie)
    client = client_for(charlie)
    client.get("/lab/shared")
    for url, status in zip(PAGES, (200, 200, 403), strict=True):
        with CaptureQueriesContext(connection) as captured, django_assert_max_num_queries(10):
            response = client.get(url)
        assert response.status_code == status
        assert len(_access_lookups(captured.captured_queries)) <= 2, url


def test_hub_resolve_of_a_gated_org_repo_reads_membership_and_request_at_most_twice(
    org, alice, bob, charlie, django_assert_max_num_queries
):
    repo = _org_repo(alice, gated=Repository.Gate.MANUAL)
    services.access_request_submit(repo=repo, user=charlie)
    services.access_request_decide(repo=repo, actor=alice, status="accepted", username="charlie")
    for user in (bob, charlie):
        client = client_for(user)
        client.get("/lab/shared")
        with CaptureQueriesContext(connection) as captured, django_assert_max_num_queries(10):
            response = client.get("/lab/shared/resolve/main/config.json")
        assert response.status_code == 200
        assert len(_access_lookups(captured.captured_queries)) <= 2, user.username
