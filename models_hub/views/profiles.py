"""Profile pages: a user's or an organisation's repositories, at /<name>."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from accounts import selectors as account_selectors
from accounts.models import Organization, User
from models_hub.models import Repository
from models_hub.selectors import profile_repo_page


@require_safe
def profile(request: HttpRequest, name: str) -> HttpResponse:
    """A user's or an organisation's page, listing the repositories the visitor may see."""
    user = User.objects.filter(username=name, is_active=True).first()
    org = None if user else Organization.objects.filter(name=name).first()
    if user is None and org is None:
        raise Http404("No such user or organisation.")
    pages = {
        key: profile_repo_page(
            viewer=request.user, kind=kind, owner=user, organization=org, number=request.GET.get(f"{key}_page")
        )
        for key, kind in (("models", Repository.Kind.MODEL), ("datasets", Repository.Kind.DATASET))
    }
    context = {"profile_user": user, "organization": org, **pages}
    if org is not None:
        context["members"] = account_selectors.organization_members(org=org)
        context["viewer_role"] = account_selectors.membership_role(org=org, user=request.user)
    else:
        context["user_memberships"] = account_selectors.organizations_for_user(user=user)
    return render(request, "models_hub/profile.html", context)
