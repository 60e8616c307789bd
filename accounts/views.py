"""The settings area (profile, API tokens) and organisation pages. Profile pages list repositories: models_hub."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from accounts import selectors, services
from accounts.forms import MemberAddForm, MemberRoleForm, OrganizationCreateForm, ProfileForm, TokenCreateForm
from accounts.models import ApiToken, Membership, Organization, User


@login_required
def settings_index(request):
    return redirect("accounts:settings-profile")


@login_required
def settings_profile(request):
    form = ProfileForm(request.POST or None, instance=request.user)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Your profile was updated.")
        return redirect("accounts:settings-profile")
    return render(request, "accounts/settings_profile.html", {"form": form})


CREATED_TOKEN_SESSION_KEY = "created_token"  # noqa: S105 - a session key name, not a secret


@login_required
def tokens(request):
    """The token list and the create form.

    Post, redirect, get: the new secret waits in the session for one read by `token_created`, so
    reloading that page shows it no more and creates no second token.
    """
    form = TokenCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        created = services.token_create(
            user=request.user, name=form.cleaned_data["name"], scope=form.cleaned_data["scope"]
        )
        request.session[CREATED_TOKEN_SESSION_KEY] = {"id": created.token.pk, "secret": created.secret}
        return redirect("accounts:token-created")
    context = {"form": form, "tokens": selectors.token_list_for_user(user=request.user)}
    return render(request, "accounts/tokens.html", context, status=400 if form.errors else 200)


@login_required
@require_GET
def token_created(request):
    """Shows a new token's secret once: the session forgets it on this read."""
    pending = request.session.pop(CREATED_TOKEN_SESSION_KEY, None)
    token = pending and ApiToken.objects.filter(pk=pending["id"], user=request.user).first()
    if not token:
        messages.info(request, "A token's secret is shown only once, right after it is created. Create a new one.")
        return redirect("accounts:tokens")
    created = services.CreatedToken(token=token, secret=pending["secret"])
    response = render(request, "accounts/token_created.html", {"created": created})
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def token_revoke(request, token_id: int):
    services.token_revoke(user=request.user, token_id=token_id)
    token = ApiToken.objects.filter(pk=token_id, user=request.user).first()
    if token is None:
        raise Http404("No such token.")
    if request.htmx:
        return render(request, "accounts/tokens.html#token-row", {"token": token})
    messages.success(request, f"The token “{token.name}” was revoked.")
    return redirect("accounts:tokens")


@login_required
def settings_organizations(request):
    memberships = selectors.organizations_for_user(user=request.user)
    return render(request, "accounts/settings_organizations.html", {"memberships": memberships})


@login_required
def organization_new(request):
    form = OrganizationCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            org = services.organization_create(creator=request.user, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error("name", exc)
        else:
            messages.success(request, f"The organisation {org.name} was created. You are its admin.")
            return redirect("profile", name=org.name)
    status = 400 if form.errors else 200
    return render(request, "accounts/organization_new.html", {"form": form}, status=status)


@login_required
def organization_settings(request, name: str):
    """Members and roles. Admins only: a stranger or plain member gets 403, a missing organisation 404."""
    org = selectors.organization_get_for_admin(name=name, user=request.user)
    form = MemberAddForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.membership_set(org=org, actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error("username", exc)
        else:
            messages.success(request, f"{form.cleaned_data['username']} is now a member ({form.cleaned_data['role']}).")
            return redirect("accounts:org-settings", name=org.name)
    context = {
        "organization": org,
        "form": form,
        "members": selectors.organization_members(org=org),
        "roles": Membership.Role.choices,
    }
    return render(request, "accounts/organization_settings.html", context, status=400 if form.errors else 200)


@login_required
@require_POST
def organization_member_role(request, name: str, username: str):
    org = selectors.organization_get_for_admin(name=name, user=request.user)
    form = MemberRoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose admin, write or read.")
    else:
        try:
            services.membership_set(org=org, actor=request.user, username=username, role=form.cleaned_data["role"])
        except ValidationError as exc:
            messages.error(request, exc.messages[0])
        else:
            messages.success(request, f"{username} is now {form.cleaned_data['role']}.")
    return redirect("accounts:org-settings", name=org.name)


@login_required
@require_POST
def organization_member_remove(request, name: str, username: str):
    """Admins remove anyone; any member may remove themselves (leave). The last admin stays."""
    org = selectors.organization_get(name=name)
    leaving = username.lower() == request.user.username.lower()
    if not leaving:
        org = selectors.organization_get_for_admin(name=name, user=request.user)
    try:
        services.membership_remove(org=org, actor=request.user, username=username)
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
    else:
        messages.success(request, f"You left {org.name}." if leaving else f"{username} was removed from {org.name}.")
    if _is_admin(org, request.user):
        return redirect("accounts:org-settings", name=org.name)
    return redirect("profile", name=org.name)


def _is_admin(org: Organization, user: User) -> bool:
    return selectors.membership_role(org=org, user=user) == Membership.Role.ADMIN
