"""Gated repositories in the Hub protocol: the maintainers' side of access requests.

`list_pending_access_requests` (and accepted/rejected), `accept_access_request`,
`reject_access_request`, `cancel_access_request` and `grant_access` of the stock client. People
ask for access on the repository page (or the REST API); the client has no call for that.
"""

from __future__ import annotations

import re

from django.http import HttpRequest, HttpResponse, JsonResponse

from models_hub import services
from models_hub.errors import BadRequest, Forbidden
from models_hub.hub_api.common import get_write_access, iso_z, require_writer, with_next_link
from models_hub.hub_api.write_views import hub_write, json_body, optional_str
from models_hub.models import AccessRequest, Repository

PAGE_SIZE = 100
CURSOR_RE = re.compile(r"[0-9]{1,9}")
MAX_REASON = AccessRequest._meta.get_field("rejection_reason").max_length


def _maintained_repo(request: HttpRequest, repo_type: str, namespace: str, name: str) -> Repository:
    """The repo, if the caller may handle its access requests: write access and a write token."""
    require_writer(request)
    access = get_write_access(request, repo_type, namespace, name)
    repo = access.repo
    if not access.can_write:
        raise Forbidden(f"Only maintainers with write access to {repo.repo_id} can manage its access requests.")
    if not repo.gated:
        raise BadRequest(f"{repo.repo_id} is not gated.")
    return repo


def access_request_json(access: AccessRequest) -> dict:
    user = access.user
    return {
        "requestId": str(access.pk),
        # Never the requester's e-mail address: maintainers see who asked, not how to reach them (as on the Hub).
        "user": {"user": user.username, "fullname": user.full_name or user.username, "email": None},
        "status": access.status,
        "timestamp": iso_z(access.created_at),
        "updatedAt": iso_z(access.updated_at),
        "rejectionReason": access.rejection_reason or None,
        "fields": None,
    }


@hub_write("GET")
def access_request_list(request: HttpRequest, repo_type: str, namespace: str, name: str, status: str) -> HttpResponse:
    repo = _maintained_repo(request, repo_type, namespace, name)
    cursor = request.GET.get("cursor", "0")
    if not CURSOR_RE.fullmatch(cursor):
        raise BadRequest("'cursor' must be a whole number of at most 9 digits, as in the Link header.")
    start = int(cursor)
    rows = list(
        AccessRequest.objects.filter(repository=repo, status=status)
        .select_related("user")
        .order_by("-created_at", "-id")[start : start + PAGE_SIZE + 1]
    )
    response = JsonResponse([access_request_json(row) for row in rows[:PAGE_SIZE]], safe=False)
    if len(rows) > PAGE_SIZE:
        with_next_link(response, request, cursor=start + PAGE_SIZE)
    return response


@hub_write("POST")
def access_request_handle(request: HttpRequest, repo_type: str, namespace: str, name: str) -> HttpResponse:
    repo = _maintained_repo(request, repo_type, namespace, name)
    data = json_body(request)
    reason = optional_str(data, "rejectionReason") or ""
    if len(reason) > MAX_REASON:
        raise BadRequest(f"'rejectionReason' is limited to {MAX_REASON} characters.")
    access = services.access_request_decide(
        repo=repo,
        actor=request.hub_user,
        status=optional_str(data, "status") or "",
        username=optional_str(data, "user"),
        request_id=optional_str(data, "requestId"),
        rejection_reason=reason,
    )
    return JsonResponse(access_request_json(access))


@hub_write("POST")
def access_grant(request: HttpRequest, repo_type: str, namespace: str, name: str) -> HttpResponse:
    repo = _maintained_repo(request, repo_type, namespace, name)
    username = optional_str(json_body(request), "user")
    if not username:
        raise BadRequest("'user' is required: the name of the user to give access to.")
    access = services.access_grant(repo=repo, actor=request.hub_user, username=username)
    return JsonResponse(access_request_json(access))
