"""Shared pieces of the Hugging Face Hub protocol views: errors, auth, repo lookup, dates.

The stock client maps errors through the X-Error-Code header (not the status), and over http://
it cannot guess them, so every error carries one where the Hub would send it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import datetime

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.encoding import escape_uri_path
from django.views.decorators.csrf import csrf_exempt

from accounts.authentication import InvalidToken, authenticate_bearer
from accounts.models import ApiToken, User
from models_hub.errors import Forbidden, GatedRepo, HubError, RepoNotFound
from models_hub.models import Repository
from models_hub.selectors import RepoAccess, repo_access_any_case, repo_access_for

CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
REPO_TYPES = {"models": Repository.Kind.MODEL, "datasets": Repository.Kind.DATASET}


def iso_z(moment: datetime) -> str:
    """The only date format the client parses: milliseconds and a literal Z."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def hub_error(status: int, message: str, code: str = "", headers: dict[str, str] | None = None) -> JsonResponse:
    response = JsonResponse({"error": message}, status=status)
    if code:
        response["X-Error-Code"] = code
    # A header carries no control character (a path the caller sent may hold a decoded %0D).
    response["X-Error-Message"] = CONTROL_CHARACTERS.sub(" ", message)[:500]
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def method_not_allowed(request: HttpRequest, allowed: set[str]) -> JsonResponse:
    response = hub_error(405, f"Method {request.method} is not allowed here.")
    response["Allow"] = ", ".join(sorted(allowed))
    return response


def error_response(request: HttpRequest, exc: HubError) -> JsonResponse:
    headers = {}
    commit_oid = getattr(exc, "commit_oid", "")
    if commit_oid:
        headers["X-Repo-Commit"] = commit_oid
    status = getattr(exc, "hub_status", exc.status)
    if isinstance(exc, (RepoNotFound, GatedRepo)) and getattr(request, "hub_user", None) is None:
        status = 401  # what the Hub answers anonymous callers, so they know a token might help
    return hub_error(status, exc.message, exc.code, headers)


def hub_endpoint(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """CSRF-exempt (token-authenticated), resolves the bearer token, turns HubErrors into responses."""

    @csrf_exempt
    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        request.json_errors = True  # /resolve/ and LFS URLs lie outside /api/: ApiJsonErrorsMiddleware
        request.hub_user, request.hub_token = None, None
        try:
            found = authenticate_bearer(request)
        except InvalidToken as exc:
            return hub_error(401, str(exc))
        if found:
            request.hub_user, request.hub_token = found
        elif request.user.is_authenticated:
            request.hub_user = request.user
        try:
            return view(request, *args, **kwargs)
        except HubError as exc:
            return error_response(request, exc)

    return wrapper


def require_writer(request: HttpRequest) -> User:
    """The caller, if they may write at all: a session, or a token with the write scope."""
    user: User | None = request.hub_user
    if user is None:
        raise HubErrorUnauthorized("You must be authenticated to do this. Pass a token with write access.")
    token: ApiToken | None = request.hub_token
    if token is not None and not token.can_write:
        raise Forbidden("This token is read-only: create a token with the 'write' scope.")
    return user


class HubErrorUnauthorized(HubError):
    status = 401


def repo_kind(repo_type: str) -> str:
    kind = REPO_TYPES.get(repo_type)
    if kind is None:
        raise RepoNotFound(f"Unknown repository type '{repo_type}'.")
    return kind


def check_gate(request: HttpRequest, access: RepoAccess, path: str | None = None) -> None:
    """GatedRepo unless the caller may download `path` (any file when None) of this readable repo."""
    refusal = access.gate_refusal(path, repo_url=request.build_absolute_uri(access.repo.get_absolute_url()))
    if refusal:
        raise GatedRepo(refusal)


def get_access(request: HttpRequest, repo_type: str, namespace: str, name: str) -> RepoAccess:
    """The readable repository and what the caller may do with it (RepoNotFound otherwise)."""
    return repo_access_for(request.hub_user, kind=repo_kind(repo_type), namespace=namespace, name=name)


def get_write_access(request: HttpRequest, repo_type: str, namespace: str, name: str) -> RepoAccess:
    """get_access for writes: the id in another letter case names the same repository (reads redirect)."""
    return repo_access_any_case(request.hub_user, kind=repo_kind(repo_type), namespace=namespace, name=name)


def with_next_link(response: HttpResponse, request: HttpRequest, **params: object) -> HttpResponse:
    """GitHub-style pagination: the next page's absolute URL, with the rest of the query kept."""
    query = request.GET.copy()
    for key, value in params.items():
        query[key] = str(value)
    url = request.build_absolute_uri(escape_uri_path(request.path)) + "?" + query.urlencode()
    response["Link"] = f'<{url}>; rel="next"'
    return response
