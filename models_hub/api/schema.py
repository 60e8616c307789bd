"""Tells drf-spectacular how Flywheel's bearer tokens authenticate, so the schema documents them."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.BearerTokenAuthentication"
    name = "bearerToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A personal API token (`python manage.py create_token USER --scope read|write`). "
            "Read tokens can only read; writes need the write scope.",
        }
