"""Repository lookup for the read side of the Hub protocol: renamed repos answer a relative 307.

The client (≤1.28 on HEAD, every version on GET) follows a *relative* Location, which is how the
public Hub keeps old repo ids working after a move.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from models_hub.errors import RepoNotFound
from models_hub.hub_api.common import get_access, hub_endpoint, hub_error, method_not_allowed, repo_kind
from models_hub.models import Repository
from models_hub.selectors import RepoAccess, repo_access, repo_redirect_target


class RepoMoved(Exception):
    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


def find_access(request: HttpRequest, repo_type: str, namespace: str, name: str) -> RepoAccess:
    """The readable repository with the caller's access, RepoMoved if it was renamed, RepoNotFound otherwise."""
    try:
        return get_access(request, repo_type, namespace, name)
    except RepoNotFound:
        target = repo_redirect_target(kind=repo_kind(repo_type), namespace=namespace, name=name)
        # A private repo's new name is only revealed to someone who may read it.
        if target is None or not repo_access(target, request.hub_user).can_read:
            raise
        raise RepoMoved(_moved_location(request, f"{namespace}/{name}", target.repo_id)) from None


def find_repo(request: HttpRequest, repo_type: str, namespace: str, name: str) -> Repository:
    return find_access(request, repo_type, namespace, name).repo


def _moved_location(request: HttpRequest, old_id: str, new_id: str) -> str:
    full_path = request.get_full_path()
    marker = f"/{old_id}"
    index = full_path.find(marker)
    if index < 0:  # cannot happen for our own routes; be safe and keep the path
        return full_path
    return full_path[:index] + f"/{new_id}" + full_path[index + len(marker) :]


def _form_has_nul(request: HttpRequest) -> bool:
    """NUL cannot be stored in PostgreSQL text: refuse it up front instead of failing in the query. The path and
    query string are checked for every request by models_hub.middleware.RefuseNulMiddleware; this is the form."""
    if request.method != "POST":
        return False
    return any("\x00" in value for _key, items in request.POST.lists() for value in items)


def hub_read(*methods: str) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """hub_endpoint, restricted to `methods`, turning RepoMoved into a relative 307."""
    allowed = set(methods)

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @hub_endpoint
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if request.method not in allowed:
                return method_not_allowed(request, allowed)
            if _form_has_nul(request):
                return hub_error(400, "Paths, revisions and parameters may not contain NUL characters.")
            try:
                return view(request, *args, **kwargs)
            except RepoMoved as moved:
                response = HttpResponse(status=307)
                response["Location"] = moved.location
                return response

        return wrapper

    return decorator
