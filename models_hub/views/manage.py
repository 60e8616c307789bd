"""Pages that change a repository: create, settings (visibility, rename/transfer, delete), access requests."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from models_hub import services
from models_hub.errors import HubError, RepoExists
from models_hub.forms import (
    AccessDecisionForm,
    AccessGrantForm,
    DeleteForm,
    GateForm,
    MoveForm,
    RepoCreateForm,
    VisibilityForm,
)
from models_hub.models import AccessRequest, Repository
from models_hub.views.common import ADMIN, WRITE, repo_page, tab_context


@login_required
@require_http_methods(["GET", "POST"])
def repo_new(request: HttpRequest, kind: str = Repository.Kind.MODEL) -> HttpResponse:
    initial = {"kind": request.GET.get("kind", kind)}
    form = RepoCreateForm(request.POST or None, user=request.user, initial=initial)
    existing = None
    if request.method == "POST" and form.is_valid():
        try:
            repo = services.repo_create(
                kind=form.cleaned_data["kind"],
                namespace=form.cleaned_data["owner"],
                name=form.cleaned_data["name"].strip(),
                creator=request.user,
                private=form.cleaned_data["private"],
            )
        except RepoExists as exc:
            existing = exc
            form.add_error("name", f"A {form.cleaned_data['kind']} repository called {exc.repo_id} already exists.")
        except HubError as exc:
            form.add_error("name", exc.message)
        else:
            messages.success(request, f"Created {repo.repo_id}.")
            return redirect(repo.get_absolute_url())
    context = {"form": form, "existing": existing}
    return render(request, "models_hub/repo_new.html", context, status=400 if form.errors else 200)


@require_http_methods(["GET", "POST"])
@repo_page(ADMIN)
def repo_settings(request: HttpRequest, repo: Repository) -> HttpResponse:
    action = request.POST.get("action") if request.method == "POST" else None
    data = request.POST if action else None
    visibility = VisibilityForm(data if action == "visibility" else None, initial={"private": repo.private})
    gate = GateForm(data if action == "gate" else None, initial={"gated": repo.gated or "off"})
    move = MoveForm(data if action == "move" else None, initial={"namespace": repo.namespace, "name": repo.name})
    delete = DeleteForm(data if action == "delete" else None, repo=repo)
    if action == "visibility" and visibility.is_valid():
        services.repo_update_settings(repo=repo, private=visibility.cleaned_data["private"])
        messages.success(request, f"{repo.repo_id} is now {'private' if repo.private else 'public'}.")
        return redirect(f"{repo.get_absolute_url()}/settings")
    if action == "gate" and gate.is_valid():
        services.repo_update_settings(repo=repo, gated=gate.cleaned_data["gated"])
        messages.success(request, f"Downloads of {repo.repo_id}: {repo.get_gated_display().lower()}.")
        return redirect(f"{repo.get_absolute_url()}/settings")
    if action == "move" and move.is_valid():
        try:
            repo = services.repo_move(
                repo=repo,
                new_namespace=move.cleaned_data["namespace"].strip(),
                new_name=move.cleaned_data["name"].strip(),
                user=request.user,
            )
        except HubError as exc:
            move.add_error(None, exc.message)
        else:
            messages.success(request, f"Moved to {repo.repo_id}; the old address redirects here.")
            return redirect(repo.get_absolute_url())
    if action == "delete" and delete.is_valid():
        repo_id = repo.repo_id
        services.repo_delete(repo=repo)
        messages.success(request, f"Deleted {repo_id}.")
        return redirect(f"/{request.user.username}")
    context = {
        **tab_context(request, "settings"),
        "visibility": visibility,
        "gate": gate,
        "move": move,
        "delete": delete,
    }
    return render(request, "models_hub/settings.html", context, status=400 if action else 200)


@require_http_methods(["GET", "POST"])
@repo_page(WRITE)
def access_requests(request: HttpRequest, repo: Repository) -> HttpResponse:
    """Maintainers answer the access requests of a gated repository, or give someone access directly."""
    action = request.POST.get("action") if request.method == "POST" else None
    decision = AccessDecisionForm(request.POST if action == "decide" else None)
    grant = AccessGrantForm(request.POST if action == "grant" else None)
    try:
        if action == "decide" and decision.is_valid():
            access = services.access_request_decide(
                repo=repo,
                actor=request.user,
                status=decision.cleaned_data["status"],
                request_id=str(decision.cleaned_data["request_id"]),
                rejection_reason=decision.cleaned_data["reason"],
            )
            messages.success(request, f"The request from {access.user.username} is now {access.status}.")
            return redirect(f"{repo.get_absolute_url()}/access")
        if action == "grant" and grant.is_valid():
            access = services.access_grant(repo=repo, actor=request.user, username=grant.cleaned_data["username"])
            messages.success(request, f"{access.user.username} can now download the files.")
            return redirect(f"{repo.get_absolute_url()}/access")
    except HubError as exc:
        (grant if action == "grant" else decision).add_error(None, exc.message)
    by_status = {status: [] for status in AccessRequest.Status.values}
    for access in repo.access_requests.select_related("user", "decided_by").order_by("-created_at", "-id")[:1000]:
        by_status[access.status].append(access)
    context = {
        **tab_context(request, "access"),
        "by_status": by_status,
        "grant": grant,
        "decision": decision,
    }
    return render(request, "models_hub/access.html", context, status=400 if action else 200)
