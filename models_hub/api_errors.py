"""Turns service errors into JSON responses with a status and a message a person understands."""

from __future__ import annotations

from django.http import UnreadablePostError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from models_hub.api.common import first_error
from models_hub.errors import HubError


def exception_handler(exc, context):
    if isinstance(exc, HubError):
        headers = {"X-Error-Code": exc.code} if exc.code else {}
        if getattr(exc, "retry_after", None):
            headers["Retry-After"] = str(exc.retry_after)
        return Response({"error": exc.message}, status=exc.status, headers=headers)
    if isinstance(exc, UnreadablePostError):  # the client went away mid-body (or sent an unreadable one)
        return Response({"error": f"{exc} Nothing was stored."}, status=400)
    response = drf_exception_handler(exc, context)
    if response is not None:
        # DRF's own errors (a body it cannot parse, a field missing, a throttle) in the API's one shape:
        # {"error": "..."}, as the schema documents, rather than {"detail": ...} or a dict of field lists.
        data = response.data
        message = data["detail"] if isinstance(data, dict) and set(data) == {"detail"} else first_error(data)
        response.data = {"error": str(message)}
    return response
