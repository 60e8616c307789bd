from __future__ import annotations

import json
import re
import uuid
from http import HTTPStatus

from django.http import JsonResponse, UnreadablePostError

from models_hub.hub_api.common import hub_error
from models_hub.storage.body_check import guard_request_body

# Under these prefixes every answer is for a program: errors are JSON, never Django's HTML pages.
API_PREFIXES = ("/api/",)


class RequestIdMiddleware:
    """Echo a request id on every response; Hub clients print it in their error messages."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = request.headers.get("X-Amzn-Trace-Id") or request.headers.get("X-Request-Id") or uuid.uuid4().hex
        request.request_id = request_id[:200]
        response = self.get_response(request)
        response["X-Request-Id"] = request.request_id
        return response


class RefuseNulMiddleware:
    """A NUL character (%00) in the path or the query string answers 400 before any view runs. No name, file
    path or revision holds one, and PostgreSQL refuses it in any query: a view that passed one on answered 500.
    JSON with X-Error-Message, as the Hub protocol's errors, since file and Hub URLs are read by programs."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" in request.path_info or any(
            "\x00" in key or any("\x00" in value for value in values) for key, values in request.GET.lists()
        ):
            return hub_error(400, "The address contains a NUL character (%00): no name, path or revision holds one.")
        return self.get_response(request)


class ApiJsonErrorsMiddleware:
    """The safety net of the APIs: an HTML error page (an unhandled exception's 500, an unknown URL's
    404, a refused host's 400...) under /api/ or from a Hub protocol view becomes a JSON error.

    Django has already logged the exception and built its page; only the body changes. Placed near
    the top of MIDDLEWARE so that errors raised by the other middleware are caught too.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            response.status_code >= 400
            and not response.streaming
            and response.get("Content-Type", "").startswith("text/html")
            and (request.path_info.startswith(API_PREFIXES) or getattr(request, "json_errors", False))
        ):
            _make_json(response, _message(request, response.status_code))
        return response


def _message(request, status: int) -> str:
    if status >= 500:
        request_id = getattr(request, "request_id", "")
        return f"Internal server error: the request failed on the server (request id {request_id})."
    if status == 404:
        return f"Not found: {request.path_info}"
    try:
        return f"{HTTPStatus(status).phrase}."
    except ValueError:
        return f"The request failed with status {status}."


def _make_json(response, message: str) -> None:
    response.content = json.dumps({"error": message}).encode()
    response["Content-Type"] = "application/json"
    response["X-Error-Message"] = re.sub(r"[\x00-\x1f\x7f]", " ", message)[:500]  # a path may hold a decoded %0A
    if response.has_header("Content-Length"):
        response["Content-Length"] = str(len(response.content))


class CompleteBodyMiddleware:
    """Request bodies that end before every announced byte arrived raise instead of parsing as shorter ones.

    Before anything (CSRF's form check, a view) can read a body; see models_hub.storage.body_check.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        guard_request_body(request)
        return self.get_response(request)

    def process_exception(self, request, exception):
        """A view that read a body cut short answers 400, not 500: the client broke off, nothing is wrong here."""
        if isinstance(exception, UnreadablePostError):
            return JsonResponse({"error": f"{exception} Nothing was changed."}, status=400)
        return None
