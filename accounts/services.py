"""Writes for accounts: organisations, memberships and API tokens."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import Group, Permission
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import ApiToken, Membership, Organization, User
from accounts.tokens import generate_secret, hash_secret
from accounts.validators import validate_namespace_name


@dataclass(frozen=True)
class CreatedToken:
    token: ApiToken
    secret: str  # shown to the person once, never stored


def token_create(*, user: User, name: str, scope: str = ApiToken.Scope.READ) -> CreatedToken:
    if scope not in ApiToken.Scope.values:
        raise ValidationError(f"Unknown scope {scope!r}: use 'read' or 'write'.")
    name = (name or "").strip()[:100] or "token"
    secret = generate_secret()
    token = ApiToken.objects.create(user=user, name=name, scope=scope, key_hash=hash_secret(secret), prefix=secret[:10])
    return CreatedToken(token=token, secret=secret)


def token_revoke(*, user: User, token_id: int) -> None:
    ApiToken.objects.filter(pk=token_id, user=user, revoked_at__isnull=True).update(revoked_at=timezone.now())


def token_authenticate(secret: str) -> ApiToken | None:
    """The active token with this secret, or None. Records when it was last used."""
    token = (
        ApiToken.objects.active()
        .select_related("user")
        .filter(key_hash=hash_secret(secret), user__is_active=True)
        .first()
    )
    if token is not None:
        now = timezone.now()
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


MAINTAINERS_GROUP = "Maintainers"
# Maintainers curate the registry and the feedback loop in the admin: they see and change every model of
# these apps. People and organisations they only see (the repository form looks owners up).
MAINTAINER_APPS = ("models_hub", "feedback", "training")
MAINTAINER_VIEW_ONLY = {"accounts": ("user", "organization", "membership")}


@transaction.atomic
def maintainers_group_ensure() -> Group:
    """The "Maintainers" group with its admin permissions, created or brought up to date.

    Idempotent; run again after an app adds models (`manage.py maintainers_group`) so they join the set.
    """
    view_or_change = Q(codename__startswith="view_") | Q(codename__startswith="change_")
    wanted = Q(content_type__app_label__in=MAINTAINER_APPS) & view_or_change
    for app_label, models in MAINTAINER_VIEW_ONLY.items():
        wanted |= Q(content_type__app_label=app_label, content_type__model__in=models, codename__startswith="view_")
    group, _ = Group.objects.get_or_create(name=MAINTAINERS_GROUP)
    group.permissions.set(Permission.objects.filter(wanted))
    return group


def namespace_check_free(name: str) -> None:
    """ValidationError if a user or an organisation has this name, in any case: both own repositories under it."""
    if User.objects.filter(username__iexact=name).exists() or Organization.objects.filter(name__iexact=name).exists():
        raise ValidationError(f"The name '{name}' is already taken.", code="taken")


@transaction.atomic
def organization_create(*, creator: User, name: str, full_name: str = "") -> Organization:
    validate_namespace_name(name)
    namespace_check_free(name)
    org = Organization.objects.create(name=name, full_name=full_name)
    Membership.objects.create(organization=org, user=creator, role=Membership.Role.ADMIN)
    return org


def _require_admin(org: Organization, user: User) -> None:
    if not Membership.objects.filter(organization=org, user=user, role=Membership.Role.ADMIN).exists():
        raise PermissionDenied("Only organisation admins can manage members.")


LAST_ADMIN_MESSAGE = "An organisation needs at least one admin: make someone else admin first."


def _require_an_admin_left(org: Organization) -> None:
    # Called inside the transaction that changed the memberships, so raising rolls the change back.
    if not Membership.objects.filter(organization=org, role=Membership.Role.ADMIN).exists():
        raise ValidationError(LAST_ADMIN_MESSAGE)


def membership_set(*, org: Organization, actor: User, username: str, role: str) -> Membership:
    """Add a member or change their role. Refused if it would leave the organisation without an admin."""
    _require_admin(org, actor)
    if role not in Membership.Role.values:
        raise ValidationError(f"Unknown role {role!r}: use admin, write or read.")
    member = User.objects.filter(username__iexact=username, is_active=True).first()
    if member is None:
        raise ValidationError(f"There is no user named '{username}'.")
    with transaction.atomic():
        membership, _ = Membership.objects.update_or_create(organization=org, user=member, defaults={"role": role})
        _require_an_admin_left(org)
    return membership


def membership_remove(*, org: Organization, actor: User, username: str) -> None:
    """Remove a member (an admin removing anyone, or a member leaving); the last admin cannot go."""
    if actor.username.lower() != username.lower():
        _require_admin(org, actor)
    with transaction.atomic():
        deleted, _ = Membership.objects.filter(organization=org, user__username__iexact=username).delete()
        if not deleted:
            raise ValidationError(f"'{username}' is not a member of {org.name}.")
        _require_an_admin_left(org)
