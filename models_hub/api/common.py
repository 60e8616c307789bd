"""What every REST v1 view of models_hub shares: write access, repository lookup, pages, schema bits."""

from __future__ import annotations

from collections import OrderedDict

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import ApiToken, User
from models_hub import selectors
from models_hub.errors import Forbidden, HubError, RepoNotFound
from models_hub.models import Repository
from models_hub.search import CappedPaginator


class Unauthorized(HubError):
    status = 401


def api_writer(request: Request) -> User:
    """The caller, if they may write at all: a session (with CSRF) or a token with the write scope."""
    if not request.user.is_authenticated:
        raise Unauthorized("Authentication required: send 'Authorization: Bearer <token>' with a write token.")
    token = request.auth
    if isinstance(token, ApiToken) and not token.can_write:
        raise Forbidden("This token is read-only: create a token with the 'write' scope to change repositories.")
    return request.user


def api_staff(request: Request, *, write: bool = False, refusal: str) -> User:
    """The caller if they are staff (401 anonymous, 403 `refusal` otherwise); `write`: as api_writer too."""
    user = api_writer(request) if write else request.user
    if not user.is_authenticated:
        raise Unauthorized("Authentication required: send 'Authorization: Bearer <token>'.")
    if not user.is_staff:
        raise Forbidden(refusal)
    return user


def _kind(kind: str) -> str:
    if kind not in Repository.Kind.values:
        raise RepoNotFound(f"Unknown repository type '{kind}': use 'model' or 'dataset'.")
    return kind


def access_for_reading(request: Request, kind: str, namespace: str, name: str) -> selectors.RepoAccess:
    """The repository and what the caller may do with it; 404 for those who cannot see it."""
    return selectors.repo_access_for(request.user, kind=_kind(kind), namespace=namespace, name=name)


def repo_for_reading(request: Request, kind: str, namespace: str, name: str) -> Repository:
    return access_for_reading(request, kind, namespace, name).repo


def repo_for_writing(request: Request, kind: str, namespace: str, name: str) -> Repository:
    """404 for those who cannot see it, 403 for readers (and read tokens), else the repository."""
    api_writer(request)
    return access_for_reading(request, kind, namespace, name).require_write().repo


def repo_for_admin(request: Request, kind: str, namespace: str, name: str) -> Repository:
    api_writer(request)
    return access_for_reading(request, kind, namespace, name).require_write().require_admin().repo


class CappedPagination(PageNumberPagination):
    """Page numbers with a count that stops at 1,000 (see CappedPaginator): no COUNT(*) over big tables."""

    django_paginator_class = CappedPaginator
    page_size = 30
    page_size_query_param = "per_page"
    max_page_size = 100
    last_page_strings = ()  # "last" has no meaning once counting stops at the cap

    def get_paginated_response(self, data) -> Response:
        paginator = self.page.paginator
        return Response(
            OrderedDict(
                [
                    ("count", min(paginator.count, paginator.cap)),
                    ("count_capped", paginator.capped),
                    ("next", self.get_next_link()),
                    ("previous", self.get_previous_link()),
                    ("results", data),
                ]
            )
        )


def first_error(errors: object) -> str:
    """A serializer's first error as one line a person can read: "'stop' item 2: Null characters are not
    allowed." rather than the nested dicts and ErrorDetail reprs DRF builds for lists and nested objects."""
    found = _first_error_at(errors, ())
    if found is None:
        return "The request is not valid."
    path, message = found
    return f"{' '.join(path)}: {message}" if path else message


def _first_error_at(errors: object, path: tuple[str, ...]) -> tuple[tuple[str, ...], str] | None:
    if isinstance(errors, dict):
        for key, value in errors.items():
            found = _first_error_at(value, (*path, f"item {key + 1}" if isinstance(key, int) else f"'{key}'"))
            if found:
                return found
        return None
    if isinstance(errors, list):
        for index, value in enumerate(errors):
            if isinstance(value, dict | list):  # a list of nested objects: empty dicts for the valid ones
                found = _first_error_at(value, (*path, f"item {index + 1}"))
                if found:
                    return found
            elif value:
                return path, str(value)
        return None
    return path, str(errors)


class ErrorSerializer(serializers.Serializer):
    error = serializers.CharField()

    class Meta:
        ref_name = "Error"


ERRORS = {400: ErrorSerializer, 401: ErrorSerializer, 403: ErrorSerializer, 404: ErrorSerializer}

REPO_PATH_PARAMETERS = [
    OpenApiParameter("kind", OpenApiTypes.STR, OpenApiParameter.PATH, enum=list(Repository.Kind.values)),
    OpenApiParameter("namespace", OpenApiTypes.STR, OpenApiParameter.PATH, description="User or organisation"),
    OpenApiParameter("name", OpenApiTypes.STR, OpenApiParameter.PATH, description="Repository name"),
]


def revision_parameter(name: str, description: str) -> OpenApiParameter:
    return OpenApiParameter(name, OpenApiTypes.STR, OpenApiParameter.PATH, description=description)
