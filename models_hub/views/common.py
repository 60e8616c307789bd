"""What every repository page shares: finding the repository, the access rule, the error pages."""

from __future__ import annotations

import functools
from collections.abc import Callable
from urllib.parse import quote

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect

from models_hub import selectors
from models_hub.errors import EntryNotFound, Forbidden, RepoNotFound, RevisionNotFound
from models_hub.models import Repository
from models_hub.selectors import RepoAccess

READ, WRITE, ADMIN = "read", "write", "admin"


def _moved_url(request: HttpRequest, old_prefix: str, repo: Repository) -> str:
    rest = request.get_full_path()[len(old_prefix) :]
    return repo.get_absolute_url() + rest


def repo_page(access: str = READ) -> Callable:
    """Resolve `kind/namespace/name` to a repository the visitor may see, then call the view with it.

    Unknown or private repositories are 404; a renamed one redirects to its new id; readers who
    lack `access` get 403 (anonymous visitors are sent to log in instead). What the visitor may do
    is decided once, here, and kept on `request.repo_access` for the view and its templates.
    """

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, kind: str, namespace: str, name: str, **kwargs) -> HttpResponse:
            try:
                decided = selectors.repo_access_for(request.user, kind=kind, namespace=namespace, name=name)
            except RepoNotFound:
                target = selectors.repo_redirect_target(kind=kind, namespace=namespace, name=name)
                if target is not None and selectors.repo_access(target, request.user).can_read:
                    old_prefix = ("/datasets" if kind == Repository.Kind.DATASET else "") + f"/{namespace}/{name}"
                    return HttpResponseRedirect(_moved_url(request, quote(old_prefix), target))
                raise Http404("Repository not found.") from None
            allowed = {READ: True, WRITE: decided.can_write, ADMIN: decided.can_admin}[access]
            if not allowed:
                if not request.user.is_authenticated:
                    return redirect_to_login(request.get_full_path())
                raise PermissionDenied(f"You don't have {access} access to {decided.repo.repo_id}.")
            request.repo_access = decided
            try:
                return view(request, decided.repo, **kwargs)
            except (RevisionNotFound, EntryNotFound) as exc:
                raise Http404(exc.message) from None
            except Forbidden as exc:
                raise PermissionDenied(exc.message) from None

        return wrapper

    return decorator


def tab_context(request: HttpRequest, active: str) -> dict:
    """The header every repository page shows: id, badges, tabs and which actions the visitor has."""
    access: RepoAccess = request.repo_access
    return {
        "repo": access.repo,
        "base": access.repo.get_absolute_url(),
        "active_tab": active,
        "repo_access": access,
        "can_write": access.can_write,
        "can_admin": access.can_admin,
    }


def resolve_url(repo: Repository, revision: str, path: str, *, download: bool = False) -> str:
    """The Hub-protocol download URL (served by the hub_api views), `?download=true` for an attachment."""
    url = f"{repo.get_absolute_url()}/resolve/{quote(revision, safe='')}/{quote(path)}"
    return url + "?download=true" if download else url
