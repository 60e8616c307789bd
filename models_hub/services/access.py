"""Gated repositories: who may download the files of a repo whose gate is on."""

from __future__ import annotations

import re

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from models_hub.errors import (
    BadRequest,
    NotFound,
)
from models_hub.models import (
    AccessRequest,
    Repository,
)
from models_hub.selectors import repo_access

REQUEST_ID_RE = re.compile(r"[0-9]{1,18}")  # ASCII digits only: str.isdigit() also takes "²"


def _require_gate(repo: Repository) -> None:
    if not repo.gated:
        raise BadRequest(f"{repo.repo_id} is not gated: everyone who can see it can download its files.")


def access_request_submit(*, repo: Repository, user: User) -> AccessRequest:
    """Ask for access; accepted at once under automatic approval. Asking again changes nothing."""
    _require_gate(repo)
    if repo_access(repo, user).member:
        raise BadRequest(f"You already have access to {repo.repo_id} as one of its maintainers.")
    now = timezone.now()
    status = AccessRequest.Status.ACCEPTED if repo.gated == Repository.Gate.AUTO else AccessRequest.Status.PENDING
    try:
        with transaction.atomic():
            request, _ = AccessRequest.objects.get_or_create(
                repository=repo, user=user, defaults={"status": status, "created_at": now, "updated_at": now}
            )
    except IntegrityError:  # the same user asked twice at the same moment
        request = AccessRequest.objects.get(repository=repo, user=user)
    return request


def _find_request(*, repo: Repository, username: str | None, request_id: str | None) -> AccessRequest:
    requests = AccessRequest.objects.select_related("user").filter(repository=repo)
    if username is not None:
        request = requests.filter(user__username__iexact=username).first()
        missing = f"There is no access request from '{username}' for {repo.repo_id}."
    else:
        valid = REQUEST_ID_RE.fullmatch(str(request_id))
        request = requests.filter(pk=int(request_id)).first() if valid else None
        missing = f"There is no access request '{request_id}' for {repo.repo_id}."
    if request is None:
        raise NotFound(missing)
    return request


@transaction.atomic
def access_request_decide(
    *,
    repo: Repository,
    actor: User,
    status: str,
    username: str | None = None,
    request_id: str | None = None,
    rejection_reason: str = "",
) -> AccessRequest:
    """Accept, reject, or move back to pending (which takes access away) one user's request."""
    _require_gate(repo)
    if status not in AccessRequest.Status.values:
        raise BadRequest(f"Invalid status '{status}': use 'accepted', 'rejected' or 'pending'.")
    if (username is None) == (request_id is None):
        raise BadRequest("Give either 'user' or 'requestId'.")
    request = _find_request(repo=repo, username=username, request_id=request_id)
    if request.status == status:
        raise NotFound(f"The access request from '{request.user.username}' is already {status}.")
    request.status = status
    request.rejection_reason = rejection_reason[:500] if status == AccessRequest.Status.REJECTED else ""
    request.decided_by = None if status == AccessRequest.Status.PENDING else actor
    request.updated_at = timezone.now()
    request.save(update_fields=["status", "rejection_reason", "decided_by", "updated_at"])
    return request


@transaction.atomic
def access_grant(*, repo: Repository, actor: User, username: str) -> AccessRequest:
    """Give a user access without waiting for them to ask."""
    _require_gate(repo)
    user = User.objects.filter(username__iexact=username).first()
    if user is None:
        raise NotFound(f"There is no user named '{username}'.")
    if repo_access(repo, user).member:
        raise BadRequest(f"{user.username} already has access to {repo.repo_id} as one of its maintainers.")
    now = timezone.now()
    request, created = AccessRequest.objects.select_for_update().get_or_create(
        repository=repo,
        user=user,
        defaults={"status": AccessRequest.Status.ACCEPTED, "decided_by": actor, "created_at": now, "updated_at": now},
    )
    if not created:
        if request.status == AccessRequest.Status.ACCEPTED:
            raise BadRequest(f"{user.username} already has access to {repo.repo_id}.")
        request.status, request.decided_by, request.rejection_reason, request.updated_at = (
            AccessRequest.Status.ACCEPTED,
            actor,
            "",
            now,
        )
        request.save(update_fields=["status", "decided_by", "rejection_reason", "updated_at"])
    return request
