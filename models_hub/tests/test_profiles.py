"""Profile pages: a user's or an organisation's repositories, as the visitor may see them."""

from __future__ import annotations

import re

import pytest

from accounts.services import membership_set, organization_create
from conftest import make_repo

pytestmark = pytest.mark.django_db


def test_profile_shows_name_bio_repos_and_orgs(client, alice, bob):
    alice.full_name = "Alice Liddell"
    alice.bio = "Falls down rabbit holes."
    alice.save()
    make_repo(owner=alice, name="public-model")
    make_repo(owner=alice, name="hidden", private=True)
    org = organization_create(creator=bob, name="wonderland")
    membership_set(org=org, actor=bob, username="alice", role="read")
    page = client.get("/alice").content.decode()
    assert "Alice Liddell" in page and "Falls down rabbit holes." in page
    assert "public-model" in page and "hidden" not in page
    assert 'href="/wonderland"' in page


def test_owner_sees_their_private_repos_and_an_edit_link(client, alice):
    make_repo(owner=alice, name="hidden", private=True)
    client.force_login(alice)
    page = client.get("/alice").content.decode()
    assert "hidden" in page and "Edit profile" in page


def test_unknown_profile_is_404(client):
    assert client.get("/nobody-here").status_code == 404


def test_profile_page_query_count_is_bounded(client, alice, django_assert_max_num_queries):
    for i in range(8):
        make_repo(owner=alice, name=f"model-{i}")
    with django_assert_max_num_queries(8):
        assert client.get("/alice").status_code == 200


def repo_names(html: str) -> list[str]:
    return re.findall(r'<h3><a href="/alice/([^"]+)">', html)


def test_profile_lists_repositories_thirty_a_page(client, alice):
    for i in range(33):
        make_repo(owner=alice, name=f"model-{i:02}")
    make_repo(owner=alice, name="data", kind="dataset")

    first = client.get("/alice").content.decode()
    assert len(repo_names(first)) == 30 and "model-32" in first and "model-02" not in first
    assert 'href="?models_page=2#models"' in first and "Page 1 of 2" in first

    second = client.get("/alice", {"models_page": 2}).content.decode()
    assert repo_names(second) == ["model-02", "model-01", "model-00"]
    assert "/datasets/alice/data" in second  # the other list keeps its own page
    assert client.get("/alice", {"models_page": "junk"}).status_code == 200


def test_profile_query_count_does_not_grow_with_repositories(client, alice, bob, django_assert_max_num_queries):
    for i in range(40):
        make_repo(owner=alice, name=f"model-{i}", private=i % 2 == 0)
    client.force_login(bob)
    # session, user, profile user, models count and rows, datasets count and rows, organisations
    with django_assert_max_num_queries(8):
        page = client.get("/alice").content.decode()
    assert len(repo_names(page)) == 20  # bob sees the public half
