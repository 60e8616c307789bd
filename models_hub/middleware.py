from __future__ import annotations

import uuid


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
