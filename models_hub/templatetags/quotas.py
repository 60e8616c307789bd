"""`{% load quotas %}{% storage_usage account %}`: what a user or organisation stores against its quota, for settings pages.

A template tag, so that the account pages show it without the accounts app importing the registry.
"""

from __future__ import annotations

from django import template

from accounts.models import Organization, User
from models_hub.services.quotas import storage_usage as usage_of

register = template.Library()


@register.inclusion_tag("models_hub/_storage_usage.html")
def storage_usage(account: User | Organization) -> dict:
    return {"usage": usage_of(account), "is_organization": isinstance(account, Organization)}
