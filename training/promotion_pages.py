"""A model's promotions and rollbacks, under its id: the full list, the panel its card page loads, and the
rollback form (staff). The registry's pages only know the panel's URL."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST, require_safe

from models_hub.errors import HubError
from models_hub.models import Commit, Repository
from models_hub.views.common import repo_page, tab_context
from training.models import Promotion
from training.promotions import COMMIT_ID, may_manage_runs, promotion_rollback

LISTED = 100
ON_CARD = 5


@require_safe
@repo_page()
def promotion_list(request: HttpRequest, repo: Repository) -> HttpResponse:
    context = {
        **tab_context(request, "promotions"),
        "promotions": Promotion.objects.for_model(repo)[:LISTED],
        "may_manage": may_manage_runs(request.user),
    }
    return render(request, "training/promotion_list.html", context)


@require_safe
@repo_page()
def promotion_panel(request: HttpRequest, repo: Repository) -> HttpResponse:
    """The card page's panel: the latest few; empty (nothing shown) for a model never promoted."""
    promotions = list(Promotion.objects.for_model(repo)[: ON_CARD + 1])
    context = {
        "repo": repo,
        "base": repo.get_absolute_url(),
        "promotions": promotions[:ON_CARD],
        "may_manage": may_manage_runs(request.user),
    }
    context["more"] = len(promotions) > ON_CARD
    return render(request, "training/_promotion_panel.html", context)


@require_POST
@repo_page()
def promotion_rollback_post(request: HttpRequest, repo: Repository) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect_to_login(f"{repo.get_absolute_url()}/promotions")
    if not may_manage_runs(request.user):
        raise PermissionDenied("Only staff roll back models.")
    oid = request.POST.get("commit", "")
    commit = Commit.objects.filter(repository=repo, oid=oid).first() if COMMIT_ID.fullmatch(oid) else None
    if commit is None:
        raise Http404("No such commit in this model.")
    try:
        rollback = promotion_rollback(
            repo=repo, to_commit=commit, user=request.user, reason=request.POST.get("reason", "")
        )
    except HubError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request, f"Rolled back: main now holds the files of {commit.short_oid} ({rollback.to_commit.short_oid})."
        )
    return redirect(f"{repo.get_absolute_url()}/promotions")
