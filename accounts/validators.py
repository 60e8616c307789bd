"""Name rules shared by users, organisations and repositories (the public hub's rules).

Rules about the name alone: no model and no query here, so models can import them (whether a name
is taken is `accounts.services.namespace_check_free`).
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
# Windows cannot create a file or folder with these names, with any extension ("nul.txt"), in any case.
WINDOWS_DEVICE_RE = re.compile(r"^(con|prn|aux|nul|com[1-9]|lpt[1-9])(\..*)?$", re.IGNORECASE)
MAX_NAME_LENGTH = 96

# Top-level paths of the site: a user or organisation with one of these names would shadow a page.
RESERVED_NAMES = frozenset(
    {
        "about",
        "accounts",
        "admin",
        "api",
        "auth",
        "blog",
        "collections",
        "commit",
        "datasets",
        "docs",
        "explore",
        "favicon.ico",
        "healthz",
        "help",
        "join",
        "login",
        "logout",
        "me",
        "media",
        "models",
        "new",
        "new-dataset",
        "notifications",
        "organizations",
        "orgs",
        "pricing",
        "privacy",
        "register",
        "robots.txt",
        "search",
        "settings",
        "signup",
        "spaces",
        "static",
        "staff",
        "terms",
        "uploads",
        "user",
        "users",
        "feedback",
        "training",
        "arena",
        "leaderboard",
        "playground",
        "battles",
        "generations",
        "www",
        "flywheel",
        "resolve",
    }
)


def validate_hub_name(value: str) -> None:
    """Letters, digits, '-', '_' and '.'; at most 96 characters; no '--' or '..'."""
    if not value:
        raise ValidationError("A name is required.", code="required")
    if len(value) > MAX_NAME_LENGTH:
        raise ValidationError(f"Names are at most {MAX_NAME_LENGTH} characters.", code="too_long")
    if not NAME_RE.match(value):
        raise ValidationError(
            "Use letters, digits, '-', '_' and '.' only, starting with a letter or digit.",
            code="invalid_characters",
        )
    if "--" in value or ".." in value:
        raise ValidationError("Names cannot contain '--' or '..'.", code="double_separator")
    if value.endswith(".git") or value.endswith("."):
        raise ValidationError("Names cannot end with '.git' or '.'.", code="bad_suffix")
    if WINDOWS_DEVICE_RE.match(value):
        raise ValidationError(
            f"'{value}' is a device name reserved on Windows (CON, PRN, AUX, NUL, COM1-9, LPT1-9), "
            "so a folder named after it could not be created there. Choose another name.",
            code="windows_device",
        )


def validate_not_reserved(value: str) -> None:
    if value.lower() in RESERVED_NAMES:
        raise ValidationError(f"'{value}' is reserved by the site. Choose another name.", code="reserved")


def validate_namespace_name(value: str) -> None:
    validate_hub_name(value)
    validate_not_reserved(value)


# allauth reads this list through ACCOUNT_USERNAME_VALIDATORS.
username_validators = [validate_hub_name, validate_not_reserved]
