"""`Authorization: Bearer <token>` for the REST API and the Hub protocol."""

from __future__ import annotations

from datetime import UTC

from rest_framework import authentication, exceptions

from accounts.models import ApiToken, User
from accounts.selectors import token_revoked_at
from accounts.services import token_authenticate


class InvalidToken(Exception):
    """A token was sent but is unknown or revoked."""


def bearer_secret(request) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return None
    return secret.strip()


def authenticate_bearer(request) -> tuple[User, ApiToken] | None:
    """(user, token) for a valid bearer token, None when no token was sent; InvalidToken otherwise."""
    secret = bearer_secret(request)
    if secret is None:
        return None
    token = token_authenticate(secret)
    if token is None:
        revoked_at = token_revoked_at(secret)  # a second query, only for a refused token
        if revoked_at is not None:
            raise InvalidToken(
                f"This token was revoked on {revoked_at.astimezone(UTC):%Y-%m-%d at %H:%M} UTC."
                " Create a new one in your settings."
            )
        raise InvalidToken("Invalid credentials in Authorization header")
    return token.user, token


class BearerTokenAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        try:
            return authenticate_bearer(request)
        except InvalidToken as exc:
            raise exceptions.AuthenticationFailed(str(exc)) from None

    def authenticate_header(self, request) -> str:
        return "Bearer"
