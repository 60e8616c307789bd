"""JSON that PostgreSQL can store: its jsonb type refuses the NUL character (\\u0000) in any string or key."""

from __future__ import annotations

from typing import Any

REPLACEMENT = "\ufffd"  # what a reader shows for a character it cannot show


def holds_nul(value: Any) -> bool:
    """Whether a string or key anywhere in `value` (parsed JSON) holds a NUL character."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(holds_nul(key) or holds_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(holds_nul(item) for item in value)
    return False


def without_nul(value: Any) -> Any:
    """`value` (parsed JSON) with every NUL in its strings and keys replaced by U+FFFD."""
    if isinstance(value, str):
        return value.replace("\x00", REPLACEMENT)
    if isinstance(value, dict):
        return {without_nul(key): without_nul(item) for key, item in value.items()}
    if isinstance(value, list):
        return [without_nul(item) for item in value]
    return value
