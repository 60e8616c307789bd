"""Cached filter lists must forget a repository the moment it turns private or goes away."""

import pytest
from django.core.cache import cache

from models_hub import services
from models_hub.search import repo_facets
from models_hub.tests.test_discovery import make_carded_repo

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()


def test_tags_of_a_repo_made_private_vanish_from_cached_facets(client, alice):
    repo = make_carded_repo(alice, "zebrafish", pipeline_tag="zebra-task", tags=["zebra"])
    assert b"zebra-task" in client.get("/models").content  # now cached for everyone

    services.repo_update_settings(repo=repo, private=True)

    assert b"zebra-task" not in client.get("/models").content
    assert "zebra-task" not in [value for value, _ in repo_facets(kind="model")["task"]]


def test_deleted_repo_vanishes_from_cached_facets(client, alice):
    repo = make_carded_repo(alice, "gone", pipeline_tag="gone-task")
    assert b"gone-task" in client.get("/models").content

    services.repo_delete(repo=repo)

    assert b"gone-task" not in client.get("/models").content
