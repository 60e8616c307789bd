"""The home page and the /models and /datasets listings: search, facets, sort, pages, htmx, privacy."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from accounts.services import membership_set, organization_create
from conftest import make_commit, make_repo
from models_hub.models import Repository
from models_hub.search import CappedPaginator, RepoQuery, prefix_tsquery, repo_search

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()  # facets are cached for a minute; every test starts from its own data


def card(**fields) -> bytes:
    lines = []
    for key, value in fields.items():
        lines.append(f"{key}: [{', '.join(value)}]" if isinstance(value, list) else f"{key}: {value}")
    return ("---\n" + "\n".join(lines) + "\n---\nA model card.\n").encode()


def make_carded_repo(owner, name: str, kind: str = "model", private: bool = False, **fields) -> Repository:
    repo = make_repo(owner=owner, name=name, kind=kind, private=private)
    make_commit(repo=repo, author=owner, files={"README.md": card(**fields)})
    repo.refresh_from_db()
    return repo


def names(response) -> list[str]:
    return [repo.repo_id for repo in response.context["page"].object_list]


# Search, filters, sort, pages


def test_models_page_lists_public_models_only(client, alice):
    make_repo(owner=alice, name="tiny")
    make_repo(owner=alice, name="corpus", kind="dataset")

    response = client.get("/models")

    assert response.status_code == 200
    assert names(response) == ["alice/tiny"]
    assert names(client.get("/datasets")) == ["alice/corpus"]


def test_search_matches_words_and_prefixes(client, alice):
    make_carded_repo(alice, "tiny-gpt2", tags=["story"])
    make_carded_repo(alice, "big-bert")

    assert names(client.get("/models", {"search": "tin"})) == ["alice/tiny-gpt2"]
    assert names(client.get("/models", {"search": "gpt2"})) == ["alice/tiny-gpt2"]
    assert names(client.get("/models", {"search": "alice bert"})) == ["alice/big-bert"]
    assert names(client.get("/models", {"search": "story"})) == ["alice/tiny-gpt2"]
    assert names(client.get("/models", {"search": "nothing-like-it"})) == []


def test_filters_by_task_library_license_tag_and_owner(client, alice, bob):
    make_carded_repo(
        alice, "gen", pipeline_tag="text-generation", library_name="transformers", license="mit", tags=["chat"]
    )
    make_carded_repo(bob, "cls", pipeline_tag="text-classification", library_name="sklearn", license="apache-2.0")

    assert names(client.get("/models", {"task": "text-generation"})) == ["alice/gen"]
    assert names(client.get("/models", {"library": "sklearn"})) == ["bob/cls"]
    assert names(client.get("/models", {"license": "mit"})) == ["alice/gen"]
    assert names(client.get("/models", {"tag": "chat"})) == ["alice/gen"]
    assert names(client.get("/models", {"owner": "Bob"})) == ["bob/cls"]
    assert names(client.get("/models", {"task": "text-generation", "owner": "bob"})) == []


def test_facets_show_common_values_as_links(client, alice, bob):
    make_carded_repo(alice, "a", pipeline_tag="text-generation", tags=["chat"])
    make_carded_repo(bob, "b", pipeline_tag="text-generation")
    make_carded_repo(bob, "c", pipeline_tag="fill-mask")

    response = client.get("/models")

    groups = {g["name"]: g["links"] for g in response.context["facet_groups"]}
    assert [(link.value, link.count) for link in groups["task"]] == [("text-generation", 2), ("fill-mask", 1)]
    assert groups["task"][0].href == "?task=text-generation"
    assert ("chat", 1) in [(link.value, link.count) for link in groups["tag"]]
    assert b'href="?task=text-generation"' in response.content


def test_facets_name_private_repositories_only_to_those_who_see_them(client, alice, charlie):
    make_carded_repo(alice, "secret", private=True, pipeline_tag="secret-task", tags=["classified"])
    make_carded_repo(alice, "open", pipeline_tag="fill-mask")

    for visitor in (None, charlie):
        if visitor:
            client.force_login(visitor)
        values = [link.value for group in client.get("/models").context["facet_groups"] for link in group["links"]]
        assert "fill-mask" in values
        assert "secret-task" not in values and "classified" not in values

    client.force_login(alice)  # after the public facets were cached by the visits above
    groups = facet_counts(client.get("/models"))
    assert groups["owner"] == [("alice", 2)]
    assert ("secret-task", 1) in groups["task"] and ("classified", 1) in groups["tag"]


def test_tag_facet_leaves_out_the_task_and_library_that_have_their_own(client, alice):
    make_carded_repo(alice, "a", pipeline_tag="text-generation", library_name="transformers", tags=["chat"])

    groups = facet_counts(client.get("/models"))

    assert groups["task"] == [("text-generation", 1)] and groups["library"] == [("transformers", 1)]
    assert groups["tag"] == [("chat", 1)]
    assert names(client.get("/models", {"tag": "transformers"})) == ["alice/a"]  # still a filter that works


def facet_counts(response) -> dict[str, list[tuple[str, int]]]:
    return {g["name"]: [(link.value, link.count) for link in g["links"]] for g in response.context["facet_groups"]}


def test_sorts_by_downloads_likes_and_recent_updates(client, alice):
    first, second, third = (make_repo(owner=alice, name=n) for n in ("first", "second", "third"))
    Repository.objects.filter(pk=second.pk).update(downloads=10, likes_count=1)
    Repository.objects.filter(pk=third.pk).update(downloads=5, likes_count=7)
    make_commit(repo=first, author=alice, files={"a.txt": b"a"})  # the latest update

    assert names(client.get("/models", {"sort": "downloads"}))[:2] == ["alice/second", "alice/third"]
    assert names(client.get("/models", {"sort": "likes"}))[:2] == ["alice/third", "alice/second"]
    assert names(client.get("/models", {"sort": "updated"}))[0] == "alice/first"
    assert client.get("/models", {"sort": "'; DROP TABLE x"}).status_code == 200


def test_pages_of_thirty(client, alice):
    for i in range(35):
        make_repo(owner=alice, name=f"m{i:02}")

    first = client.get("/models")
    second = client.get("/models", {"page": 2})

    assert len(names(first)) == 30 and len(names(second)) == 5
    assert set(names(first)).isdisjoint(names(second))
    assert b'rel="next"' in first.content and b"page=2" in first.content
    assert client.get("/models", {"page": "999"}).status_code == 200  # the last page, not an error
    assert client.get("/models", {"page": "x"}).status_code == 200


def test_capped_paginator_stops_counting_and_pages_on(alice):
    for i in range(7):
        make_repo(owner=alice, name=f"m{i}")
    paginator = CappedPaginator(repo_search(user=None, query=RepoQuery(sort="name")), 2)
    paginator.cap = 3

    assert paginator.count == 4 and paginator.capped
    last = paginator.page(4)
    assert [r.name for r in last.object_list] == ["m6"] and not last.has_next()
    assert paginator.page(3).has_next()
    assert paginator.get_page(99).number == 1


def test_listing_beyond_the_cap_says_more_than(client, alice, monkeypatch):
    monkeypatch.setattr(CappedPaginator, "cap", 3)
    for i in range(5):
        make_repo(owner=alice, name=f"m{i}")

    response = client.get("/models", {"per_page": 2, "page": 2})

    assert b"More than 3 models" in response.content
    assert b'rel="next"' in response.content and b'rel="prev"' in response.content


# One URL, two answers


def test_htmx_request_gets_only_the_results_fragment(client, alice):
    make_repo(owner=alice, name="tiny")

    full = client.get("/models", {"search": "tiny"})
    fragment = client.get("/models", {"search": "tiny"}, HTTP_HX_REQUEST="true")

    assert b"<html" in full.content and b'id="results"' in full.content
    assert b"<html" not in fragment.content and b'id="results"' not in fragment.content
    assert b"alice/tiny" in fragment.content
    assert "HX-Request" in fragment["Vary"]


def test_history_restore_gets_the_full_page(client):
    response = client.get("/models", HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true")

    assert b"<html" in response.content


def test_page_works_without_javascript(client):
    content = client.get("/models").content.decode()

    assert '<form method="get" action="/models"' in content
    assert 'hx-trigger="input changed delay:300ms, search"' in content
    assert 'hx-push-url="true"' in content
    assert '<button type="submit">' in content


# Privacy


def test_private_repos_absent_for_strangers_present_for_owners(client, alice, charlie):
    make_carded_repo(alice, "secret-model", private=True, tags=["hidden"])

    assert names(client.get("/models", {"search": "secret"})) == []
    client.force_login(charlie)
    assert names(client.get("/models", {"search": "secret"})) == []
    assert names(client.get("/models", {"tag": "hidden"})) == []
    assert b"secret-model" not in client.get("/").content
    client.force_login(alice)
    assert names(client.get("/models", {"search": "secret"})) == ["alice/secret-model"]
    assert b"secret-model" in client.get("/").content


def test_org_members_see_the_orgs_private_repos(client, alice, bob, charlie):
    org = organization_create(creator=alice, name="acme")
    membership_set(org=org, actor=alice, username="bob", role="read")
    make_repo(owner=alice, namespace="acme", name="internal", private=True)

    client.force_login(bob)
    assert names(client.get("/models")) == ["acme/internal"]
    client.force_login(charlie)
    assert names(client.get("/models")) == []


# Hostile input


@pytest.mark.parametrize(
    "text",
    ['"', "'", "\\", "&|!():*", "a & | b", "!!!", ":*", "(((", "x" * 10_000, "🙂", "%", "_", "' OR 1=1 --"],
)
def test_hostile_search_strings_never_fail(client, alice, text):
    make_repo(owner=alice, name="tiny")

    for params in ({"search": text}, {"task": text, "tag": text, "owner": text, "license": text}):
        assert client.get("/models", params).status_code == 200
        assert client.get("/models", params, HTTP_HX_REQUEST="true").status_code == 200


def test_a_nul_character_in_a_search_is_a_400_that_says_so(client, alice):
    make_repo(owner=alice, name="tiny")

    for params in ({"search": "a\x00b"}, {"task": "a\x00b", "tag": "\x00"}):
        response = client.get("/models", params)
        assert response.status_code == 400 and "NUL character" in response.json()["error"]


def test_prefix_tsquery_keeps_only_words():
    assert prefix_tsquery("tiny gp") == "tiny & gp:*"
    assert prefix_tsquery("a:* & !b | (c)") == "a & b & c:*"
    assert prefix_tsquery("'\"\\\x00") == ""
    assert prefix_tsquery("tiny-gpt2") == "tiny & gpt2:*"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the GIN index exists only on PostgreSQL")
def test_search_uses_the_gin_index_on_postgresql(alice):
    # The stored vector of migration 0003 and its GIN index, not a to_tsvector() per row.
    now = timezone.now()
    Repository.objects.bulk_create(
        Repository(
            kind="model",
            namespace="alice",
            name=f"m{i}",
            owner=alice,
            created_at=now,
            updated_at=now,
            search_text=f"alice m{i} word{i % 50}",
        )
        for i in range(5000)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE models_hub_repository")
        # On a few thousand rows the planner may rightly prefer a scan; this asks whether the index CAN serve.
        cursor.execute("SET LOCAL enable_seqscan = off")

    plan = repo_search(user=None, query=RepoQuery(search="word7 m4")).explain()

    assert "models_hub_repository_search_vector_gin" in plan
    assert "to_tsvector" not in plan


# Query counts


@pytest.mark.parametrize("per_page", [5, 30])
def test_models_page_query_count_is_constant(client, alice, django_assert_max_num_queries, per_page):
    for i in range(30):
        make_carded_repo(alice, f"model-{i}", pipeline_tag="text-generation", tags=["a", "b"])
    client.force_login(alice)
    client.get("/models")  # fill the facet cache, as any earlier visitor would

    # session, user, count, page, whether alice may see private models (their facets are never cached)
    with django_assert_max_num_queries(5):
        response = client.get("/models", {"per_page": per_page})

    assert len(names(response)) == per_page


def test_facets_cost_one_query_each_when_cold(client, alice, django_assert_max_num_queries):
    make_carded_repo(alice, "a", pipeline_tag="text-generation", tags=["x"])

    # count, page, then task, library, license, owner, tag
    with django_assert_max_num_queries(7):
        client.get("/models")


# Home


def test_home_shows_trending_and_recent(client, alice):
    liked = make_repo(owner=alice, name="liked-model")
    make_repo(owner=alice, name="new-dataset", kind="dataset")
    Repository.objects.filter(pk=liked.pk).update(likes_count=5)

    response = client.get("/")

    assert response.status_code == 200
    assert [r.repo_id for r in response.context["trending_models"]] == ["alice/liked-model"]
    assert [r.repo_id for r in response.context["trending_datasets"]] == ["alice/new-dataset"]
    assert "alice/new-dataset" in [r.repo_id for r in response.context["recent"]]
    assert b'href="/models"' in response.content and b"Sign up" in response.content
