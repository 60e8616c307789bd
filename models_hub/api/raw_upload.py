"""REST v1 raw upload: PUT one file's bytes as the request body, committed to a branch at once.

The fast way to send one big file: no multipart parsing, the body goes straight from the socket
to a hashed temporary file (models_hub.storage.streaming) and then into the blob store by a rename.
"""

from __future__ import annotations

import os
import re

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from models_hub import selectors, services
from models_hub.api.common import ERRORS, REPO_PATH_PARAMETERS, ErrorSerializer, repo_for_writing
from models_hub.errors import BadRequest, HubError, PayloadTooLarge
from models_hub.services.quotas import quota_check
from models_hub.services.upload_checks import check_parent, check_received_file, clean_path
from models_hub.storage import streaming
from models_hub.storage.blobs import BlobTooLarge, NewBlobs

SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


class LengthRequired(HubError):
    status = 411


def _option(request: Request, header: str, query: str) -> str:
    """A header (UTF-8 allowed, though WSGI hands it over as Latin-1), else the query parameter."""
    value = request.headers.get(header)
    if value is None:
        return request.query_params.get(query, "")
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return value


def _content_length(request: Request) -> int:
    raw = request.META.get("CONTENT_LENGTH", "")
    if not raw:
        if request.headers.get("Transfer-Encoding"):
            raise LengthRequired("Send a Content-Length header: the body must be the file's bytes, not chunked.")
        return 0  # neither header: HTTP says the body is empty
    if not raw.isdigit():
        raise BadRequest(f"Invalid Content-Length {raw[:40]!r}.")
    length = int(raw)
    if length > settings.FLYWHEEL_MAX_UPLOAD_BYTES:
        raise PayloadTooLarge(
            f"The file is larger than the upload limit of {settings.FLYWHEEL_MAX_UPLOAD_BYTES:,} bytes."
        )
    return length


def _expected_sha256(request: Request) -> str:
    expected = _option(request, "X-Content-SHA256", "sha256").strip().lower()
    if expected and not SHA256_HEX.match(expected):
        raise BadRequest("X-Content-SHA256 must be 64 hexadecimal digits (the file's SHA-256).")
    return expected


def _receive(request: Request, length: int, expected: str) -> streaming.ReceivedFile:
    try:
        received = streaming.receive_body(request._request, length=length, limit=settings.FLYWHEEL_MAX_UPLOAD_BYTES)
    except BlobTooLarge as exc:
        raise PayloadTooLarge(str(exc)) from None
    except streaming.IncompleteBody as exc:
        raise BadRequest(f"Incomplete upload, nothing was stored: {exc}") from None
    if expected and received.sha256 != expected:
        os.unlink(received.path)
        raise BadRequest(
            f"The body's SHA-256 is {received.sha256}, not {expected} as X-Content-SHA256 says: nothing was stored."
        )
    return received


class RawUploadApi(APIView):
    # No parsers: the body is the file, and nothing may read it before the view streams it.
    parser_classes: list = []

    class OutputSerializer(serializers.Serializer):
        commit = serializers.CharField(help_text="The new commit's id")
        path = serializers.CharField()
        size = serializers.IntegerField()
        sha256 = serializers.CharField()

        class Meta:
            ref_name = "RawUploadResult"

    @extend_schema(
        operation_id="repo_file_put",
        summary="Upload one file as the raw request body",
        description=(
            "The body is the file's bytes (any content type; `Content-Length` required, up to "
            "FLYWHEEL_MAX_UPLOAD_BYTES). The file is committed at `{path}` on the branch that starts "
            "`rest`; branch names containing `/` work (the longest existing branch wins). The fastest "
            "way to send one big file; use the multipart `upload/` endpoint for several files at once."
        ),
        parameters=[
            *REPO_PATH_PARAMETERS,
            OpenApiParameter(
                "rest",
                OpenApiTypes.STR,
                OpenApiParameter.PATH,
                description="`{branch}/{path}`, e.g. `main/weights/model.safetensors`",
            ),
            OpenApiParameter(
                "X-Commit-Message",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description="Commit title (UTF-8); or `?message=`",
            ),
            OpenApiParameter(
                "X-Commit-Description", OpenApiTypes.STR, OpenApiParameter.HEADER, description="Or `?description=`"
            ),
            OpenApiParameter(
                "X-Content-SHA256",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description="The file's SHA-256 (hex); checked after receiving, 400 and nothing stored on a mismatch. Or `?sha256=`",
            ),
            OpenApiParameter(
                "X-Parent-Commit",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description="Refuse (412) if the branch has moved past this commit. Or `?parent_commit=`",
            ),
        ],
        request={"application/octet-stream": OpenApiTypes.BINARY},
        responses={
            201: OutputSerializer,
            **ERRORS,
            411: ErrorSerializer,
            412: ErrorSerializer,
            413: ErrorSerializer,
        },
    )
    def put(self, request: Request, kind: str, namespace: str, name: str, rest: str) -> Response:
        # Everything that can be refused is checked before a byte of the body is read.
        repo = repo_for_writing(request, kind, namespace, name)
        branch, head, raw_path = selectors.split_revision_and_path(repo, rest)
        path = clean_path(raw_path)
        length = _content_length(request)
        expected = _expected_sha256(request)
        parent = _option(request, "X-Parent-Commit", "parent_commit").strip()
        check_parent(head_oid=head.oid, parent_oid=parent, branch=branch)  # commit_create checks again, atomically
        quota_check(repo=repo, files=[(expected or None, length)])  # and this one

        received = _receive(request, length, expected)
        try:
            check_received_file(path, received.path, received.size)
        except BadRequest:
            os.unlink(received.path)  # refused before it is stored: nothing stays behind
            raise
        with NewBlobs() as stored:  # a refused commit leaves no blob behind
            blob = stored.from_temp_file(path=received.path, sha256=received.sha256, size=received.size)
            commit = services.commit_create(
                repo=repo,
                author=request.user,
                title=_option(request, "X-Commit-Message", "message") or f"Upload {path}",
                description=_option(request, "X-Commit-Description", "description"),
                branch=branch,
                additions=[services.FileAddition(path, blob)],
                parent_oid=parent or None,
            )
        body = {"commit": commit.oid, "path": path, "size": blob.size, "sha256": blob.sha256}
        return Response(self.OutputSerializer(body).data, status=status.HTTP_201_CREATED)
