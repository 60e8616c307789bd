"""API token secrets: generated here, only their SHA-256 is ever stored."""

from __future__ import annotations

import hashlib
import secrets

TOKEN_PREFIX = "fw_"  # noqa: S105 - a public prefix, not a secret


def generate_secret() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    # A 256-bit random secret needs no slow hash: a plain SHA-256 cannot be brute-forced.
    return hashlib.sha256(secret.encode()).hexdigest()
