"""Branches and tags."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from models_hub.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    RevisionNotFound,
)
from models_hub.models import (
    Ref,
    Repository,
)
from models_hub.refnames import validate_ref_name


def _check_new_ref_name(name: str) -> None:
    problem = validate_ref_name(name)
    if problem:
        raise BadRequest(problem)


def branch_create(*, repo: Repository, name: str, start_revision: str | None = None) -> Ref:
    from models_hub.selectors import revision_resolve

    _check_new_ref_name(name)
    start = revision_resolve(repo, start_revision or "main")
    try:
        with transaction.atomic():
            return Ref.objects.create(repository=repo, kind=Ref.Kind.BRANCH, name=name, commit=start)
    except IntegrityError:
        raise Conflict(f"Reference refs/heads/{name} already exists") from None


def branch_delete(*, repo: Repository, name: str) -> None:
    if name == "main":
        raise Forbidden("Cannot delete refs/heads/main")
    deleted, _ = Ref.objects.filter(repository=repo, kind=Ref.Kind.BRANCH, name=name).delete()
    if not deleted:
        raise RevisionNotFound(f"Invalid rev id: {name}")


def tag_create(*, repo: Repository, name: str, revision: str = "main") -> Ref:
    from models_hub.selectors import revision_resolve

    _check_new_ref_name(name)
    target = revision_resolve(repo, revision)
    try:
        with transaction.atomic():
            return Ref.objects.create(repository=repo, kind=Ref.Kind.TAG, name=name, commit=target)
    except IntegrityError:
        raise Conflict(f"Reference refs/tags/{name} already exists") from None


def tag_delete(*, repo: Repository, name: str) -> None:
    deleted, _ = Ref.objects.filter(repository=repo, kind=Ref.Kind.TAG, name=name).delete()
    if not deleted:
        raise RevisionNotFound(f"Invalid rev id: {name}")
