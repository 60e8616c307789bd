"""REST v1: import external feedback (an application's users' ratings) into a model revision, as JSONL."""

from __future__ import annotations

from django.http import UnreadablePostError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.parsers import BaseParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from feedback import imports
from models_hub.api.common import ERRORS, repo_for_writing
from models_hub.errors import BadRequest, PayloadTooLarge
from models_hub.selectors import revision_resolve

ImportResultSerializer = inline_serializer(
    "FeedbackImportResult",
    {
        "imported": serializers.IntegerField(),
        "rejected": serializers.ListField(
            child=inline_serializer(
                "FeedbackImportRejection", {"line": serializers.IntegerField(), "error": serializers.CharField()}
            ),
            help_text=f"The rejected lines (1-based) and why; the first {imports.MAX_REJECTIONS_LISTED:,}.",
        ),
        "rejected_count": serializers.IntegerField(),
        "commit": serializers.CharField(),
    },
)

EXAMPLE_LINE = (
    '{"prompt": "Once upon a time", "output": "there was a cat.", "rater": "app-user-42",'
    ' "rating": {"thumb": "up", "stars": 4, "tags": ["helpful"], "comment": "", "correction": ""}}'
)


class JsonLinesParser(BaseParser):
    """The body as bytes, up to the cap, whatever it says it is (curl sends form-encoded by default); a bigger
    body is refused before it is read whole. DRF parses before its CSRF check for sessions, so this must."""

    media_type = "*/*"

    def parse(self, stream, media_type=None, parser_context=None) -> bytes:
        cap = imports.MAX_BODY_BYTES
        request = (parser_context or {}).get("request")
        declared = (request.META.get("CONTENT_LENGTH") or "0") if request is not None else "0"
        if declared.isdigit() and int(declared) > cap:
            raise PayloadTooLarge(f"The body is too large: at most {cap:,} bytes a request; split the file.")
        try:
            body = stream.read(cap + 1) if stream is not None else b""
        except UnreadablePostError as exc:
            raise BadRequest(f"{exc} Nothing was imported.") from None
        if len(body) > cap:
            raise PayloadTooLarge(f"The body is too large: at most {cap:,} bytes a request; split the file.")
        return body


class FeedbackImportApi(APIView):
    parser_classes = [JsonLinesParser]

    @extend_schema(
        operation_id="feedback_import",
        summary="Import external feedback into a model revision (JSONL)",
        description=(
            "One JSON object a line: `prompt`, `output`, `rating` (`thumb` up/down, `stars` 1-5, `tags`, `comment`,"
            " `correction`) and optionally `rater` (your application's id for the person), `model` and `revision`"
            " (which must then name this model and revision). Each valid line becomes a finished generation on the"
            " revision's exact commit and your rating of it, with `rater` kept as `external_rater`. Lines are checked"
            " one by one; the valid ones are written together. Needs write access to the model."
            f" At most {imports.MAX_BODY_BYTES // 2**20} MiB, {imports.MAX_LINES:,} lines,"
            f" {imports.MAX_LINE_BYTES // 2**20} MiB a line, JSON nested {imports.MAX_DEPTH} levels deep."
        ),
        parameters=[
            OpenApiParameter("namespace", OpenApiTypes.STR, OpenApiParameter.PATH, description="User or organisation"),
            OpenApiParameter("name", OpenApiTypes.STR, OpenApiParameter.PATH, description="Model name"),
            OpenApiParameter(
                "revision", OpenApiTypes.STR, OpenApiParameter.QUERY, description="Branch, tag or commit (default main)"
            ),
        ],
        request={"application/x-ndjson": OpenApiTypes.BINARY},
        responses={
            200: ImportResultSerializer,
            **ERRORS,
            413: OpenApiResponse(description="Body over the cap"),
        },
        examples=[OpenApiExample("A line", value=EXAMPLE_LINE, request_only=True)],
    )
    def post(self, request: Request, namespace: str, name: str) -> Response:
        repo = repo_for_writing(request, "model", namespace, name)
        revision = request.query_params.get("revision", "main").strip() or "main"
        commit = revision_resolve(repo, revision)
        body = request.data if isinstance(request.data, bytes) else b""
        if not body.strip():
            raise BadRequest("The body is empty: send one JSON object a line (JSONL).")
        try:
            result = imports.feedback_import(
                repo=repo, commit=commit, revision=revision, importer=request.user, body=body
            )
        except imports.LineError as exc:
            raise BadRequest(str(exc)) from None
        answer = {
            "imported": result.imported,
            "rejected": result.rejected,
            "rejected_count": result.rejected_count,
            "commit": commit.oid,
        }
        if not result.imported:
            answer["error"] = "No line could be imported; see 'rejected' for why."
            return Response(answer, status=400)
        return Response(answer)
