"""Rules for branch and tag names (git's check-ref-format, simplified)."""

from __future__ import annotations

import re

_BAD = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//")
HEX40 = re.compile(r"^[0-9a-f]{40}$")


def validate_ref_name(name: str) -> str | None:
    """Return an error message, or None when the name is a valid branch or tag name."""
    if not name or len(name) > 200:
        return "A reference name must be 1 to 200 characters long."
    if _BAD.search(name) or name.startswith(("/", "-", ".")) or name.endswith(("/", ".", ".lock")):
        return f"Invalid reference name: {name!r}."
    if HEX40.match(name) or name.startswith("refs/"):
        return f"Invalid reference name: {name!r} looks like a commit id or a full ref."
    return None
