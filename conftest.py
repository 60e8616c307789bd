"""The shared cast and helpers: alice owns things, bob collaborates, charlie has no access."""

from __future__ import annotations

import pytest

from accounts.models import User
from models_hub import services
from models_hub.blobs import blob_store_bytes
from models_hub.models import Repository


def make_user(username: str, **fields) -> User:
    return User.objects.create_user(
        username=username, email=f"{username}@example.com", password="pw-" + username, **fields
    )


def make_repo(
    *, owner: User, name: str = "tiny", kind: str = "model", private: bool = False, namespace: str | None = None
) -> Repository:
    return services.repo_create(
        kind=kind, namespace=namespace or owner.username, name=name, creator=owner, private=private
    )


def make_commit(
    *, repo: Repository, author: User, files: dict[str, bytes], title: str = "Add files", branch: str = "main"
):
    additions = [services.FileAddition(path, blob_store_bytes(data)) for path, data in files.items()]
    return services.commit_create(repo=repo, author=author, title=title, branch=branch, additions=additions)


@pytest.fixture
def alice(db) -> User:
    return make_user("alice")


@pytest.fixture
def bob(db) -> User:
    return make_user("bob")


@pytest.fixture
def charlie(db) -> User:
    return make_user("charlie")
