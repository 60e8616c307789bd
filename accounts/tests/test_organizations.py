"""Organisations: creation, members and roles. alice is the admin, bob a member, charlie a stranger."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from accounts.models import Membership, Organization
from accounts.services import membership_remove, membership_set, organization_create
from conftest import make_repo, make_user
from models_hub.errors import HubError

pytestmark = pytest.mark.django_db


@pytest.fixture
def acme(alice, bob) -> Organization:
    org = organization_create(creator=alice, name="acme", full_name="Acme Corp")
    membership_set(org=org, actor=alice, username="bob", role="write")
    return org


def role_of(org: Organization, username: str) -> str | None:
    return Membership.objects.filter(organization=org, user__username=username).values_list("role", flat=True).first()


def test_create_an_organisation_makes_the_creator_admin(client, alice):
    client.force_login(alice)
    assert client.get("/organizations/new").status_code == 200
    response = client.post("/organizations/new", {"name": "deepthought", "full_name": "Deep Thought"})
    assert response.status_code == 302 and response["Location"] == "/deepthought"
    org = Organization.objects.get(name="deepthought")
    assert role_of(org, "alice") == "admin"
    page = client.get("/deepthought").content.decode()
    assert "Deep Thought" in page and "Organisation settings" in page


def test_creating_an_organisation_needs_login(client):
    response = client.get("/organizations/new")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("alice", "already taken"),
        ("ALICE", "already taken"),
        ("models", "reserved by the site"),
        ("settings", "reserved by the site"),
        ("a--b", "cannot contain"),
        ("with space", "Use letters, digits"),
        ("x" * 97, "at most 96 characters"),
    ],
)
def test_organisation_names_are_validated(client, alice, name, message):
    client.force_login(alice)
    response = client.post("/organizations/new", {"name": name})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Organization.objects.exists()


def test_organisation_name_cannot_reuse_another_organisation(client, alice, acme):
    client.force_login(alice)
    response = client.post("/organizations/new", {"name": "Acme"})
    assert response.status_code == 400 and "already taken" in response.content.decode()


def test_org_profile_lists_members_and_hides_settings_link_from_non_admins(client, acme, bob, charlie):
    page = client.get("/acme").content.decode()
    assert "alice" in page and "bob" in page and "Members" in page
    assert "Organisation settings" not in page
    client.force_login(bob)
    page = client.get("/acme").content.decode()
    assert "Organisation settings" not in page and "Leave acme" in page


def test_settings_page_is_for_admins_only(client, acme, alice, bob, charlie):
    client.force_login(alice)
    assert client.get("/organizations/acme/settings").status_code == 200
    client.force_login(bob)
    assert client.get("/organizations/acme/settings").status_code == 403
    client.force_login(charlie)
    assert client.get("/organizations/acme/settings").status_code == 403
    assert client.post("/organizations/acme/settings", {"username": "charlie", "role": "admin"}).status_code == 403
    assert role_of(acme, "charlie") is None


def test_missing_organisation_is_404(client, alice):
    client.force_login(alice)
    assert client.get("/organizations/nope/settings").status_code == 404
    assert client.get("/nope").status_code == 404


def test_admin_adds_a_member(client, acme, alice, charlie):
    client.force_login(alice)
    response = client.post("/organizations/acme/settings", {"username": "charlie", "role": "read"})
    assert response.status_code == 302
    assert role_of(acme, "charlie") == "read"
    assert "charlie" in client.get("/organizations/acme/settings").content.decode()


def test_adding_an_unknown_user_shows_an_error(client, acme, alice):
    client.force_login(alice)
    response = client.post("/organizations/acme/settings", {"username": "ghost", "role": "read"})
    assert response.status_code == 400
    assert "There is no user named &#x27;ghost&#x27;." in response.content.decode()


def test_admin_changes_a_role(client, acme, alice):
    client.force_login(alice)
    response = client.post("/organizations/acme/members/bob/role", {"role": "admin"})
    assert response.status_code == 302
    assert role_of(acme, "bob") == "admin"


def test_a_bad_role_is_refused(client, acme, alice):
    client.force_login(alice)
    response = client.post("/organizations/acme/members/bob/role", {"role": "owner"}, follow=True)
    assert "Choose admin, write or read." in response.content.decode()
    assert role_of(acme, "bob") == "write"


def test_non_admins_cannot_change_roles_or_remove(client, acme, bob, charlie):
    client.force_login(bob)
    assert client.post("/organizations/acme/members/bob/role", {"role": "admin"}).status_code == 403
    assert client.post("/organizations/acme/members/alice/remove").status_code == 403
    client.force_login(charlie)
    assert client.post("/organizations/acme/members/bob/role", {"role": "read"}).status_code == 403
    assert client.post("/organizations/acme/members/bob/remove").status_code == 403
    assert role_of(acme, "bob") == "write" and role_of(acme, "alice") == "admin"


def test_admin_removes_a_member(client, acme, alice):
    client.force_login(alice)
    assert client.post("/organizations/acme/members/bob/remove").status_code == 302
    assert role_of(acme, "bob") is None


def test_a_member_can_leave(client, acme, bob):
    client.force_login(bob)
    response = client.post("/organizations/acme/members/bob/remove")
    assert response.status_code == 302 and response["Location"] == "/acme"
    assert role_of(acme, "bob") is None


def test_the_last_admin_cannot_leave(client, acme, alice):
    client.force_login(alice)
    response = client.post("/organizations/acme/members/alice/remove", follow=True)
    assert "needs at least one admin" in response.content.decode()
    assert role_of(acme, "alice") == "admin"


def test_the_last_admin_cannot_demote_themselves(client, acme, alice):
    client.force_login(alice)
    response = client.post("/organizations/acme/members/alice/role", {"role": "read"}, follow=True)
    assert "needs at least one admin" in response.content.decode()
    assert role_of(acme, "alice") == "admin"


def test_an_admin_can_leave_once_there_is_another_admin(client, acme, alice):
    client.force_login(alice)
    client.post("/organizations/acme/members/bob/role", {"role": "admin"})
    response = client.post("/organizations/acme/members/alice/remove")
    assert response["Location"] == "/acme"
    assert role_of(acme, "alice") is None and role_of(acme, "bob") == "admin"


def test_services_enforce_the_same_rules(acme, alice, bob, charlie):
    with pytest.raises(PermissionDenied):
        membership_set(org=acme, actor=bob, username="charlie", role="admin")
    with pytest.raises(PermissionDenied):
        membership_remove(org=acme, actor=charlie, username="bob")
    with pytest.raises(ValidationError):
        membership_remove(org=acme, actor=alice, username="alice")
    with pytest.raises(ValidationError, match="not a member"):
        membership_remove(org=acme, actor=alice, username="charlie")


def test_organisation_named_like_a_user_is_refused_by_the_service(acme):
    with pytest.raises(ValidationError):
        organization_create(creator=make_user("dave"), name="bob")


def test_members_with_write_create_org_repos_and_readers_cannot(acme, alice, bob, charlie):
    membership_set(org=acme, actor=alice, username="charlie", role="read")
    repo = make_repo(owner=bob, namespace="acme", name="shared")
    assert repo.organization == acme and repo.namespace == "acme"
    with pytest.raises(HubError) as excinfo:
        make_repo(owner=charlie, namespace="acme", name="nope")
    assert excinfo.value.status == 403


def test_org_profile_shows_private_repos_to_members_only(client, acme, alice, bob, charlie):
    make_repo(owner=alice, namespace="acme", name="secret-model", private=True)
    assert "secret-model" not in client.get("/acme").content.decode()
    client.force_login(charlie)
    assert "secret-model" not in client.get("/acme").content.decode()
    client.force_login(bob)
    assert "secret-model" in client.get("/acme").content.decode()


def test_settings_page_query_count_is_bounded(client, acme, alice, django_assert_max_num_queries):
    for i in range(15):
        make_user(f"member{i}")
        membership_set(org=acme, actor=alice, username=f"member{i}", role="read")
    client.force_login(alice)
    with django_assert_max_num_queries(8):
        assert client.get("/organizations/acme/settings").status_code == 200
    with django_assert_max_num_queries(10):
        assert client.get("/acme").status_code == 200


def test_the_403_page_explains_why(client, acme, charlie):
    client.force_login(charlie)
    response = client.get("/organizations/acme/settings")
    assert response.status_code == 403
    html = response.content.decode()
    assert "Only organisation admins can change its settings." in html and "Flywheel" in html


def test_settings_lists_my_organisations_with_links_by_role(client, acme, alice, bob, django_assert_max_num_queries):
    organization_create(creator=bob, name="bobcorp")
    client.force_login(bob)
    with django_assert_max_num_queries(5):
        html = client.get("/settings/organizations").content.decode()
    assert 'href="/acme"' in html and 'href="/bobcorp"' in html
    assert "/organizations/bobcorp/settings" in html  # bob is admin there
    assert "/organizations/acme/settings" not in html and "/organizations/acme/members/bob/remove" in html
