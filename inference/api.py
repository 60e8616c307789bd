"""REST v1 for generations: ask, read, follow as server-sent events, cancel."""

from __future__ import annotations

import json

from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from inference import selectors, services, streaming
from inference.models import Generation
from models_hub.api.common import ERRORS, Unauthorized, first_error
from models_hub.errors import BadRequest


def split_model_id(model: str) -> tuple[str, str, str | None]:
    """'owner/name' or 'owner/name@revision' → (namespace, name, revision or None)."""
    repo_id, _, revision = model.partition("@")
    namespace, _, name = repo_id.partition("/")
    if not namespace or not name or "/" in name:
        raise BadRequest(f"'model' must be 'owner/name' or 'owner/name@revision', got {model!r}.")
    return namespace, name, revision or None


def generation_json(generation: Generation) -> dict:
    return {
        "id": str(generation.pk),
        "status": generation.status,
        "text": generation.text,
        "model": generation.repository.repo_id,
        "revision": generation.revision,
        "commit": generation.commit.oid,
        "prompt": generation.prompt,
        "messages": generation.messages,
        "system_prompt": generation.system_prompt,
        "parameters": generation.sampling(),
        "stop": generation.stop,
        "finish_reason": generation.finish_reason,
        "error": generation.error,
        "queue_position": selectors.queue_position(generation),
        "usage": {"prompt_tokens": generation.prompt_tokens, "completion_tokens": generation.completion_tokens},
        "timings": {
            "queue_seconds": generation.queue_seconds,
            "first_token_seconds": generation.first_token_seconds,
            "total_seconds": generation.total_seconds,
        },
        "device": generation.device,
        "created_at": generation.created_at.isoformat(),
    }


class GenerationCreateApi(APIView):
    class InputSerializer(serializers.Serializer):
        model = serializers.CharField(help_text="owner/name, or owner/name@revision")
        revision = serializers.CharField(required=False, help_text="A branch, tag or commit id (default main)")
        prompt = serializers.CharField(allow_blank=True, trim_whitespace=False, required=False, default="")
        system_prompt = serializers.CharField(allow_blank=True, trim_whitespace=False, required=False, default="")
        max_new_tokens = serializers.JSONField(required=False)
        temperature = serializers.JSONField(required=False)
        top_p = serializers.JSONField(required=False)
        top_k = serializers.JSONField(required=False)
        repetition_penalty = serializers.JSONField(required=False)
        seed = serializers.JSONField(required=False)
        stop = serializers.ListField(child=serializers.CharField(trim_whitespace=False), max_length=4, required=False)

        class Meta:
            ref_name = "GenerationCreate"

    class OutputSerializer(serializers.Serializer):
        id = serializers.UUIDField()
        status = serializers.CharField()
        commit = serializers.CharField(help_text="The 40-hex commit the revision named when asked")

        class Meta:
            ref_name = "GenerationQueued"

    @extend_schema(
        request=InputSerializer,
        responses={202: OutputSerializer, **ERRORS, 429: OpenApiResponse(description="Rate limited")},
        summary="Queue a generation",
    )
    def post(self, request: Request) -> Response:
        if not request.user.is_authenticated:
            raise Unauthorized("Authentication required: send 'Authorization: Bearer <token>'.")
        serializer = self.InputSerializer(data=request.data)
        if not serializer.is_valid():
            raise BadRequest(first_error(serializer.errors))
        data = serializer.validated_data
        namespace, name, at_revision = split_model_id(data["model"])
        repo = selectors.model_for_generation(user=request.user, namespace=namespace, name=name)
        generation = services.generation_request(
            user=request.user,
            repo=repo,
            revision=data.get("revision") or at_revision or "main",
            prompt=data["prompt"],
            system_prompt=data["system_prompt"],
            params={k: data.get(k) for k in services.Sampling.__dataclass_fields__},
            stop=data.get("stop", []),
            source=Generation.Source.API,
        )
        body = {"id": str(generation.pk), "status": generation.status, "commit": generation.commit.oid}
        return Response(body, status=status.HTTP_202_ACCEPTED)


class GenerationDetailApi(APIView):
    @extend_schema(responses={200: OpenApiResponse(description="The generation"), **ERRORS}, summary="A generation")
    def get(self, request: Request, generation_id: str) -> Response:
        generation = selectors.generation_get_for_user(generation_id=generation_id, user=request.user)
        return Response(generation_json(generation))


class GenerationCancelApi(APIView):
    @extend_schema(request=None, responses={200: OpenApiResponse(description="The generation"), **ERRORS})
    def post(self, request: Request, generation_id: str) -> Response:
        generation = selectors.generation_get_for_user(generation_id=generation_id, user=request.user)
        if generation.user_id != request.user.pk and not request.user.is_staff:
            raise BadRequest("Only the person who asked for a generation can stop it.")
        return Response(generation_json(services.generation_cancel(generation=generation)))


class EventStreamRenderer(BaseRenderer):
    """Lets content negotiation accept `Accept: text/event-stream`, which every EventSource sends (it was a 406).
    The stream is the view's own response and errors are rendered as JSON, so this renders nothing itself."""

    media_type = "text/event-stream"
    format = "event-stream"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        return json.dumps(data).encode()


class GenerationStreamApi(APIView):
    renderer_classes = [JSONRenderer, EventStreamRenderer]

    def finalize_response(self, request: Request, response, *args, **kwargs):
        if isinstance(response, Response):  # an error (404...): JSON, as from every API endpoint
            request.accepted_renderer, request.accepted_media_type = JSONRenderer(), JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)

    @extend_schema(
        responses={200: OpenApiResponse(description="text/event-stream: queued, text, done events")},
        summary="Follow a generation as server-sent events",
    )
    def get(self, request: Request, generation_id: str):
        generation = selectors.generation_get_for_user(generation_id=generation_id, user=request.user)
        owner = request.user.is_authenticated and generation.user_id == request.user.pk
        return sse_response(_events(generation, cancel_on_disconnect=owner))


def _events(generation: Generation, *, cancel_on_disconnect: bool):
    sent = ""
    for state in streaming.follow(generation, cancel_on_disconnect=cancel_on_disconnect):
        if state.keepalive:
            yield ": keep-alive\n\n"
            continue
        if state.status == Generation.Status.QUEUED:
            yield _event("queued", {"position": state.queue_position})
        if state.text != sent:
            delta = state.text[len(sent) :] if state.text.startswith(sent) else state.text
            yield _event("text", {"delta": delta, "text": state.text, "tokens": state.completion_tokens})
            sent = state.text
        if state.finished:
            yield _event(state.status, generation_json(state.generation))


def _event(name: str, data: dict) -> str:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n"


def sse_response(events) -> StreamingHttpResponse:
    response = StreamingHttpResponse(events, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass events on at once
    return response
