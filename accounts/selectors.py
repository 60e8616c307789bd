"""Reads for accounts that check permission."""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import PermissionDenied
from django.db.models import F, QuerySet
from django.http import Http404

from accounts.models import ApiToken, Membership, Organization, User
from accounts.tokens import hash_secret


def organization_get(*, name: str) -> Organization:
    org = Organization.objects.filter(name__iexact=name).first()
    if org is None:
        raise Http404("No such organisation.")
    return org


def membership_role(*, org: Organization, user: User | None) -> str | None:
    if user is None or not user.is_authenticated:
        return None
    return Membership.objects.filter(organization=org, user=user).values_list("role", flat=True).first()


def organization_get_for_admin(*, name: str, user: User) -> Organization:
    """The organisation if `user` is one of its admins: 404 when it does not exist, 403 otherwise."""
    org = organization_get(name=name)
    if membership_role(org=org, user=user) != Membership.Role.ADMIN:
        raise PermissionDenied("Only organisation admins can change its settings.")
    return org


def organization_members(*, org: Organization) -> QuerySet[Membership]:
    return Membership.objects.filter(organization=org).select_related("user").order_by("user__username")


def organizations_for_user(*, user: User) -> QuerySet[Membership]:
    return Membership.objects.filter(user=user).select_related("organization").order_by("organization__name")


def token_list_for_user(*, user: User) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user).order_by(F("revoked_at").asc(nulls_first=True), "-created_at")


def token_revoked_at(secret: str) -> datetime | None:
    """When the token with this secret was revoked; None if it never existed or is still active."""
    return ApiToken.objects.filter(key_hash=hash_secret(secret)).values_list("revoked_at", flat=True).first()
