"""The OpenAI-compatible API at /v1/: models, chat completions and completions, streamed or not.

Plain Django views (not DRF) because the clients expect OpenAI's exact shapes, including its error body.
Each answer's `id` is the generation's id, so an application can send its users' ratings back to Flywheel.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from accounts.authentication import InvalidToken, authenticate_bearer
from inference import selectors, services, streaming
from inference.api import split_model_id, sse_response
from inference.models import Generation
from models_hub import selectors as hub_selectors
from models_hub.errors import HubError
from models_hub.models import Repository

MAX_BODY_BYTES = 1024 * 1024
UNSUPPORTED = ("tools", "tool_choice", "functions", "function_call", "logit_bias", "audio", "suffix")
UNSUPPORTED_IF_SET = ("logprobs", "top_logprobs", "echo", "best_of")


class OpenAIError(Exception):
    def __init__(self, status: int, message: str, *, type_: str = "invalid_request_error", param: str | None = None):
        super().__init__(message)
        self.status, self.message, self.type, self.param = status, message, type_, param


def _error(status: int, message: str, type_: str, param: str | None = None, code: str | None = None, headers=None):
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    response = JsonResponse(body, status=status, headers=headers or {})
    if status >= 500:
        response["x-should-retry"] = "false"
    return response


def openai_view(view: Callable) -> Callable:
    """Authenticates the bearer token and turns every refusal into OpenAI's error body."""

    @csrf_exempt
    def wrapper(request: HttpRequest, *args, **kwargs):
        try:
            auth = authenticate_bearer(request)
        except InvalidToken as exc:
            return _error(401, str(exc), "authentication_error", code="invalid_api_key")
        request.user = auth[0] if auth else None
        try:
            return view(request, *args, **kwargs)
        except OpenAIError as exc:
            return _error(exc.status, exc.message, exc.type, exc.param)
        except services.TooManyRequests as exc:
            return _error(429, exc.message, "rate_limit_error", headers={"Retry-After": str(exc.retry_after)})
        except HubError as exc:
            kind = "not_found_error" if exc.status == 404 else "invalid_request_error"
            return _error(exc.status, exc.message, kind, code=exc.code or None)

    return wrapper


def _model_json(repo: Repository) -> dict:
    return {
        "id": repo.repo_id,
        "object": "model",
        "created": int(repo.created_at.timestamp()),
        "owned_by": repo.namespace,
    }


def _runnable_models(user):
    return (
        Repository.objects.visible_to(user)
        .filter(kind=Repository.Kind.MODEL, pipeline_tag="text-generation")
        .order_by("-downloads", "namespace", "name")
    )


@require_GET
@openai_view
def models_list(request: HttpRequest):
    return JsonResponse({"object": "list", "data": [_model_json(r) for r in _runnable_models(request.user)[:1000]]})


@require_GET
@openai_view
def model_detail(request: HttpRequest, model_id: str):
    namespace, name, _ = split_model_id(model_id)
    repo = hub_selectors.repo_access_for(request.user, kind="model", namespace=namespace, name=name).repo
    return JsonResponse(_model_json(repo))


def _body(request: HttpRequest) -> dict:
    if request.user is None:
        raise OpenAIError(
            401, "Send your Flywheel token as 'Authorization: Bearer <token>'.", type_="authentication_error"
        )
    if len(request.body) > MAX_BODY_BYTES:
        raise OpenAIError(413, f"The request body is larger than {MAX_BODY_BYTES:,} bytes.")
    try:
        body = json.loads(request.body or b"{}")
    except (ValueError, RecursionError):
        raise OpenAIError(400, "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise OpenAIError(400, "The request body must be a JSON object.")
    for field in UNSUPPORTED:
        if body.get(field) not in (None, [], {}):
            raise OpenAIError(400, f"'{field}' is not supported by Flywheel's models.", param=field)
    for field in UNSUPPORTED_IF_SET:
        if body.get(field) not in (None, False, 0):
            raise OpenAIError(400, f"'{field}' is not supported by Flywheel's models.", param=field)
    if body.get("n") not in (None, 1):
        raise OpenAIError(400, "Only n=1 is supported: send several requests for several answers.", param="n")
    for field in ("presence_penalty", "frequency_penalty"):
        if body.get(field) not in (None, 0, 0.0):
            raise OpenAIError(400, f"'{field}' is not supported; use 'repetition_penalty'.", param=field)
    if not isinstance(body.get("model"), str):
        raise OpenAIError(400, "'model' must be a Flywheel model id such as 'owner/name'.", param="model")
    return body


def _stop(body: dict) -> list[str]:
    stop = body.get("stop")
    if stop is None:
        return []
    stops = [stop] if isinstance(stop, str) else stop
    if not isinstance(stops, list) or len(stops) > 4 or not all(isinstance(s, str) and s for s in stops):
        raise OpenAIError(400, "'stop' must be a string or a list of up to 4 non-empty strings.", param="stop")
    return stops


def _text(content, role: str) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(isinstance(p, dict) and p.get("type") == "text" for p in content):
        return "".join(str(p.get("text", "")) for p in content)
    raise OpenAIError(400, f"Only text content is supported (in a '{role}' message).", param="messages")


def _messages(body: dict) -> tuple[str, list[dict]]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        raise OpenAIError(400, "'messages' must be a non-empty list of messages.", param="messages")
    system, chat = [], []
    for message in messages:
        role = message.get("role")
        if role in ("system", "developer"):
            system.append(_text(message.get("content"), role))
        elif role in ("user", "assistant"):
            chat.append({"role": role, "content": _text(message.get("content"), role)})
        else:
            raise OpenAIError(400, f"Unsupported message role {role!r}.", param="messages")
    if not chat:
        raise OpenAIError(400, "'messages' needs at least one user message.", param="messages")
    return "\n".join(system), chat


def _queue(request: HttpRequest, body: dict, *, prompt: str = "", system: str = "", messages=None) -> Generation:
    namespace, name, revision = split_model_id(body["model"])
    repo = selectors.model_for_generation(user=request.user, namespace=namespace, name=name)
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    return services.generation_request(
        user=request.user,
        repo=repo,
        revision=revision or "main",
        prompt=prompt,
        messages=messages,
        system_prompt=system,
        params={
            "max_new_tokens": min(limit, settings.FLYWHEEL_MAX_NEW_TOKENS) if isinstance(limit, int) else limit,
            "temperature": body.get("temperature"),
            "top_p": body.get("top_p"),
            "top_k": body.get("top_k"),
            "repetition_penalty": body.get("repetition_penalty"),
            "seed": body.get("seed"),
        },
        stop=_stop(body),
        source=Generation.Source.OPENAI,
    )


def _wait(generation: Generation) -> Generation:
    final = None
    for state in streaming.follow(generation):
        if state.finished:
            final = state.generation
    if final is None or final.status == Generation.Status.CANCELLED:
        raise OpenAIError(503, "The generation was cancelled.", type_="server_error")
    if final.status == Generation.Status.FAILED:
        raise OpenAIError(422, final.error or "The generation failed.", type_="invalid_request_error")
    return final


def _usage(g: Generation) -> dict:
    return {
        "prompt_tokens": g.prompt_tokens,
        "completion_tokens": g.completion_tokens,
        "total_tokens": g.prompt_tokens + g.completion_tokens,
    }


def _envelope(g: Generation, object_: str, choices: list, usage: dict | None = None) -> dict:
    return {
        "id": str(g.pk),
        "object": object_,
        "created": int(g.created_at.timestamp()),
        "model": g.repository.repo_id,
        "system_fingerprint": f"fw-{g.commit.oid[:12]}",
        "choices": choices,
        "usage": usage,
        "flywheel": {"generation_id": str(g.pk), "commit": g.commit.oid, "revision": g.revision, "seed": g.seed},
    }


def _stream(g: Generation, object_: str, choice: Callable[[str, str | None], dict], usage: bool) -> Iterator[str]:
    """Chunks as the text grows; the last carries finish_reason, then usage if asked, then [DONE]."""
    sent = ""
    if object_ == "chat.completion.chunk":
        yield _sse(_envelope(g, object_, [{"index": 0, "delta": {"role": "assistant", "content": ""}}]))
    for state in streaming.follow(g):
        if state.keepalive:
            yield ": keep-alive\n\n"
        elif state.text != sent and state.text.startswith(sent):
            yield _sse(_envelope(g, object_, [choice(state.text[len(sent) :], None)]))
            sent = state.text
        if state.finished:
            final = state.generation
            if final.status == Generation.Status.FAILED:
                yield _sse({"error": {"message": final.error, "type": "server_error", "param": None, "code": None}})
                return
            yield _sse(_envelope(g, object_, [choice("", final.finish_reason or "stop")]))
            if usage:
                yield _sse(_envelope(g, object_, [], _usage(final)))
            yield "data: [DONE]\n\n"


def _sse(data: dict) -> str:
    return f"data: {json.dumps(data)}\n\n"


@require_POST
@openai_view
def chat_completions(request: HttpRequest):
    body = _body(request)
    system, messages = _messages(body)
    generation = _queue(request, body, system=system, messages=messages)
    if body.get("stream"):

        def chunk(delta: str, finish: str | None) -> dict:
            return {"index": 0, "delta": {"content": delta} if delta else {}, "finish_reason": finish, "logprobs": None}

        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return sse_response(_stream(generation, "chat.completion.chunk", chunk, include_usage))
    g = _wait(generation)
    message = {"role": "assistant", "content": g.text}
    choice = {"index": 0, "message": message, "finish_reason": g.finish_reason or "stop", "logprobs": None}
    return JsonResponse(_envelope(g, "chat.completion", [choice], _usage(g)))


@require_POST
@openai_view
def completions(request: HttpRequest):
    body = _body(request)
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise OpenAIError(
            400, "'prompt' must be a string (token-id and batched prompts are not supported).", param="prompt"
        )
    generation = _queue(request, body, prompt=prompt)
    if body.get("stream"):

        def chunk(delta: str, finish: str | None) -> dict:
            return {"index": 0, "text": delta, "finish_reason": finish, "logprobs": None}

        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return sse_response(_stream(generation, "text_completion", chunk, include_usage))
    g = _wait(generation)
    choice = {"index": 0, "text": g.text, "finish_reason": g.finish_reason or "stop", "logprobs": None}
    return JsonResponse(_envelope(g, "text_completion", [choice], _usage(g)))


@csrf_exempt
def not_found(request: HttpRequest, rest: str = ""):
    return _error(404, f"Flywheel does not serve /v1/{rest}.", "not_found_error")
