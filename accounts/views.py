from __future__ import annotations

from django.http import Http404
from django.shortcuts import render

from accounts.models import Organization, User
from models_hub.models import Repository


def profile(request, name: str):
    """A user's or an organisation's page, listing the repositories the visitor may see."""
    user = User.objects.filter(username=name, is_active=True).first()
    org = None if user else Organization.objects.filter(name=name).first()
    if user is None and org is None:
        raise Http404("No such user or organisation.")
    repos = Repository.objects.visible_to(request.user).order_by("-updated_at")
    repos = repos.filter(owner=user) if user else repos.filter(organization=org)
    return render(
        request,
        "accounts/profile.html",
        {"profile_user": user, "organization": org, "models": repos.models(), "datasets": repos.datasets()},
    )
