"""Repositories: creation, settings, rename and transfer, deletion, likes and downloads."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import Membership, Organization, User
from accounts.validators import validate_hub_name
from models_hub.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    RepoExists,
)
from models_hub.gitattributes import DEFAULT_GITATTRIBUTES
from models_hub.models import (
    AccessRequest,
    Like,
    Ref,
    RepoRedirect,
    Repository,
    RepoTag,
)
from models_hub.search import repo_facets_invalidate
from models_hub.services.commits import _search_text, _write_commit
from models_hub.services.quotas import quota_check_move
from models_hub.storage.blobs import blob_store_bytes


def _validation_message(exc: ValidationError) -> str:
    return " ".join(exc.messages)


def namespace_check_writable(*, namespace: str, user: User) -> tuple[User | None, Organization | None]:
    """Return (owner, organization) for a repository created under `namespace` by `user`.

    Every refusal reads the same, so it tells nothing about whether the namespace exists.
    """
    if namespace.lower() == user.username.lower():
        return user, None
    refusal = Forbidden(f"You don't have the rights to create repositories under '{namespace}'.")
    org = Organization.objects.filter(name__iexact=namespace).first()
    if org is None:
        raise refusal
    role = Membership.objects.filter(organization=org, user=user).values_list("role", flat=True).first()
    if role not in (Membership.Role.ADMIN, Membership.Role.WRITE) and not user.is_superuser:
        raise refusal
    return None, org


@transaction.atomic
def repo_create(*, kind: str, namespace: str, name: str, creator: User, private: bool = False) -> Repository:
    """Create a repository with its initial commit (a .gitattributes file, as on the public hub) on main."""
    if kind not in Repository.Kind.values:
        raise BadRequest(f"Unknown repository type {kind!r}: use 'model' or 'dataset'.")
    try:
        validate_hub_name(name)
    except ValidationError as exc:
        raise BadRequest(f"Invalid repository name '{name}': {_validation_message(exc)}") from None
    owner, org = namespace_check_writable(namespace=namespace, user=creator)
    canonical_namespace = owner.username if owner else org.name
    _check_repo_free(kind=kind, namespace=canonical_namespace, name=name)
    now = timezone.now()
    try:
        with transaction.atomic():
            repo = Repository.objects.create(
                kind=kind,
                namespace=canonical_namespace,
                name=name,
                owner=owner,
                organization=org,
                private=private,
                created_at=now,
                updated_at=now,
                # Searchable by its id from the start, before any README is committed.
                search_text=f"{canonical_namespace} {name}",
            )
    except IntegrityError:
        _check_repo_free(kind=kind, namespace=canonical_namespace, name=name)  # created meanwhile: name it
        raise
    RepoRedirect.objects.filter(kind=kind, namespace__iexact=canonical_namespace, name__iexact=name).delete()
    attributes = blob_store_bytes(DEFAULT_GITATTRIBUTES)
    commit = _write_commit(
        repo=repo,
        parent=None,
        tree={".gitattributes": attributes.sha256},
        title="initial commit",
        description="",
        author=creator,
        when=now,
        added_blobs=[attributes.sha256],
    )
    Ref.objects.create(repository=repo, kind=Ref.Kind.BRANCH, name="main", commit=commit)
    return repo


def _check_repo_free(*, kind: str, namespace: str, name: str) -> None:
    """RepoExists naming the existing repository in its own letter case, not the one just typed."""
    existing = Repository.objects.filter(kind=kind, namespace__iexact=namespace, name__iexact=name).first()
    if existing is not None:
        # The Hub's own wording, which clients show; the creator may write here, so may see it.
        raise RepoExists(
            f"You already created this {kind} repo: {existing.repo_id}",
            repo_id=existing.repo_id,
            url=existing.get_absolute_url(),
        )


@transaction.atomic
def repo_update_settings(*, repo: Repository, private: bool | None = None, gated: str | None = None) -> Repository:
    """Visibility and gate. Switching a gate to automatic approval accepts the requests still pending."""
    if private is not None and private != repo.private:
        repo.private = private
        repo.save(update_fields=["private"])
        transaction.on_commit(repo_facets_invalidate)
    if gated is not None and gated != repo.gated:
        if gated not in Repository.Gate.values:
            raise BadRequest(f"Invalid gate '{gated}': use false, 'auto' or 'manual'.")
        repo.gated = gated
        repo.save(update_fields=["gated"])
        if gated == Repository.Gate.AUTO:
            AccessRequest.objects.filter(repository=repo, status=AccessRequest.Status.PENDING).update(
                status=AccessRequest.Status.ACCEPTED, updated_at=timezone.now()
            )
    return repo


@transaction.atomic
def repo_move(*, repo: Repository, new_namespace: str, new_name: str, user: User) -> Repository:
    """Rename or transfer a repository; the old id keeps redirecting to the new one."""
    try:
        validate_hub_name(new_name)
    except ValidationError as exc:
        raise BadRequest(f"Invalid repository name '{new_name}': {_validation_message(exc)}") from None
    owner, org = namespace_check_writable(namespace=new_namespace, user=user)
    namespace = owner.username if owner else org.name
    clash = Repository.objects.filter(kind=repo.kind, namespace__iexact=namespace, name__iexact=new_name)
    if clash.exclude(pk=repo.pk).exists():
        raise Conflict(f"A {repo.kind} repository called {namespace}/{new_name} already exists.")
    quota_check_move(repo=repo, owner=owner, organization=org)
    RepoRedirect.objects.update_or_create(
        kind=repo.kind, namespace=repo.namespace, name=repo.name, defaults={"repository": repo}
    )
    RepoRedirect.objects.filter(kind=repo.kind, namespace__iexact=namespace, name__iexact=new_name).delete()
    repo.namespace, repo.name, repo.owner, repo.organization = namespace, new_name, owner, org
    tags = list(RepoTag.objects.filter(repository=repo).values_list("name", flat=True))
    repo.search_text = _search_text(repo, tags)
    repo.save(update_fields=["namespace", "name", "owner", "organization", "search_text"])
    transaction.on_commit(repo_facets_invalidate)
    return repo


@transaction.atomic
def repo_delete(*, repo: Repository) -> None:
    # Refs protect their commits, so they go first; commits, trees, likes then cascade with the repo.
    Ref.objects.filter(repository=repo).delete()
    repo.delete()
    transaction.on_commit(repo_facets_invalidate)


def like_set(*, user: User, repo: Repository, liked: bool) -> Repository:
    with transaction.atomic():
        if liked:
            _, created = Like.objects.get_or_create(user=user, repository=repo)
            delta = 1 if created else 0
        else:
            deleted, _ = Like.objects.filter(user=user, repository=repo).delete()
            delta = -deleted
        if delta:
            Repository.objects.filter(pk=repo.pk).update(likes_count=F("likes_count") + delta)
    repo.refresh_from_db(fields=["likes_count"])
    return repo


def repo_record_download(*, repo: Repository) -> None:
    Repository.objects.filter(pk=repo.pk).update(downloads=F("downloads") + 1)


# Gated repositories: who may download the files of a repo whose gate is on.
