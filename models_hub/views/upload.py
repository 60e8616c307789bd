"""Browser uploads: the upload page, the tus 1.0.0 endpoints it talks to, and the final commit.

tus (https://tus.io/protocols/resumable-upload): POST creates an upload, HEAD tells how far it
got, PATCH appends bytes at that offset. Sessions authenticate these requests; Django's CSRF
middleware checks the X-CSRFToken header tus-js-client sends.

A big file is sent as parts (POST with metadata `parent` and `start`), each a tus upload of its
own, several at once; the parent upload is what gets committed. Chunk bodies (PATCH
/uploads/<uuid>) are read straight from the socket as the raw PUT's are: keep them streaming.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable

from django import db
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.views.decorators.http import require_POST, require_safe

from models_hub import selectors
from models_hub.errors import BadRequest, HubError
from models_hub.models import Repository, UploadSession
from models_hub.storage import streaming, uploads
from models_hub.views.common import WRITE, repo_page, tab_context

logger = logging.getLogger(__name__)

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = "creation,termination"


def _tus_response(status: int, message: str = "", headers: dict[str, str] | None = None) -> HttpResponse:
    response = HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")
    response["Tus-Resumable"] = TUS_VERSION
    response["Cache-Control"] = "no-store"
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def tus_endpoint(methods: tuple[str, ...]) -> Callable:
    """OPTIONS discovery, the Tus-Resumable check, authentication, and HubErrors as plain-text answers."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if request.method == "OPTIONS":
                return _tus_response(
                    204,
                    headers={
                        "Tus-Version": TUS_VERSION,
                        "Tus-Extension": TUS_EXTENSIONS,
                        "Tus-Max-Size": str(settings.FLYWHEEL_MAX_UPLOAD_BYTES),
                        "Allow": ", ".join(("OPTIONS", *methods)),
                    },
                )
            if request.method not in methods:
                return _tus_response(405, f"Use {', '.join(methods)}.", {"Allow": ", ".join(("OPTIONS", *methods))})
            if request.headers.get("Tus-Resumable") != TUS_VERSION:
                return _tus_response(412, "This server speaks tus 1.0.0.", {"Tus-Version": TUS_VERSION})
            if not request.user.is_authenticated:
                return _tus_response(401, "Log in to upload files.")
            try:
                return view(request, *args, **kwargs)
            except HubError as exc:
                return _tus_response(exc.status, exc.message)

        return wrapper

    return decorator


def _header_int(request: HttpRequest, name: str) -> int:
    value = request.headers.get(name, "")
    if not value.isdigit():
        raise BadRequest(f"{name} must be a non-negative whole number of bytes.")
    return int(value)


@tus_endpoint(("POST",))
def tus_collection(request: HttpRequest) -> HttpResponse:
    """Create an upload. Metadata: path (or filename), repo ('ns/name'), kind ('model' or 'dataset');
    or, for a part of an upload, parent (its id) and start (the part's first byte in the file)."""
    if "Upload-Defer-Length" in request.headers:
        raise BadRequest("Upload-Defer-Length is not supported: send Upload-Length.")
    size = _header_int(request, "Upload-Length")
    metadata = uploads.parse_metadata(request.headers.get("Upload-Metadata", ""))
    if "parent" in metadata:
        session = _create_part(request, metadata, size)
        location = request.build_absolute_uri(session.get_absolute_url())
        return _tus_response(201, headers={"Location": location, "Upload-Offset": str(session.offset)})
    namespace, _, name = metadata.get("repo", "").partition("/")
    kind = metadata.get("kind", Repository.Kind.MODEL)
    if not namespace or not name or kind not in Repository.Kind.values:
        raise BadRequest("Upload-Metadata must name the repository: 'repo' (namespace/name) and 'kind'.")
    repo = selectors.repo_access_for(request.user, kind=kind, namespace=namespace, name=name).require_write().repo
    session = uploads.upload_create(
        user=request.user, repo=repo, path=metadata.get("path") or metadata.get("filename", ""), size=size
    )
    location = request.build_absolute_uri(session.get_absolute_url())
    return _tus_response(201, headers={"Location": location, "Upload-Offset": "0"})


def _create_part(request: HttpRequest, metadata: dict[str, str], size: int) -> UploadSession:
    start = metadata.get("start", "")
    if not start.isdigit():
        raise BadRequest("Upload-Metadata: a part needs 'start', the number of its first byte in the file.")
    parent = uploads.upload_get(upload_id=metadata["parent"], user=request.user)
    return uploads.upload_part_create(user=request.user, parent=parent, start=int(start), size=size)


def _content_length(request: HttpRequest) -> int | None:
    """The PATCH body's length; None for a chunked body (read until it ends)."""
    raw = request.META.get("CONTENT_LENGTH", "")
    if not raw:
        return None if request.headers.get("Transfer-Encoding") else 0
    if not raw.isdigit():
        raise BadRequest(f"Invalid Content-Length {raw[:40]!r}.")
    return int(raw)


@tus_endpoint(("HEAD", "PATCH", "DELETE"))
def tus_resource(request: HttpRequest, upload_id) -> HttpResponse:
    session = uploads.upload_get(upload_id=upload_id, user=request.user)
    if request.method == "HEAD":
        return _tus_response(200, headers={"Upload-Offset": str(session.offset), "Upload-Length": str(session.size)})
    if request.method == "DELETE":
        uploads.upload_delete(session=session)
        return _tus_response(204)
    if request.content_type != "application/offset+octet-stream":
        return _tus_response(415, "PATCH needs Content-Type: application/offset+octet-stream.")
    offset = _header_int(request, "Upload-Offset")
    # Straight from the socket into the upload's file, as the raw PUT does (models_hub.storage.streaming).
    new_offset = uploads.upload_append(
        session=session, offset=offset, source=streaming.body_source(request), length=_content_length(request)
    )
    if session.parent_id is not None:
        # Off this request: the client sends its next part on this connection meanwhile.
        _in_background(functools.partial(uploads.upload_hash_parts, parent_id=session.parent_id))
    return _tus_response(204, headers={"Upload-Offset": str(new_offset)})


def _in_background(work: Callable[[], object]) -> None:
    def run() -> None:
        try:
            work()
        except Exception:  # nothing is lost: the next part, or the commit, takes the work up again
            logger.exception("Hashing the parts of an upload failed")
        finally:
            db.connections.close_all()

    threading.Thread(target=run, name="upload-hash", daemon=True).start()


@require_safe
@repo_page(WRITE)
def upload_page(request: HttpRequest, repo: Repository) -> HttpResponse:
    context = {
        **tab_context(request, "upload"),
        # "+ Upload files" on a folder's page uploads into that folder; the page lets the user change it.
        "folder": "/".join(filter(None, request.GET.get("folder", "").split("/"))),
        "chunk_size": settings.FLYWHEEL_UPLOAD_CHUNK_BYTES,
        "parallel": settings.FLYWHEEL_UPLOAD_PARALLEL,
        "part_size": settings.FLYWHEEL_UPLOAD_PART_BYTES,
        "max_bytes": settings.FLYWHEEL_MAX_UPLOAD_BYTES,
    }
    return render(request, "models_hub/upload.html", context)


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


@require_POST
@repo_page(WRITE)
def upload_commit(request: HttpRequest, repo: Repository) -> HttpResponse:
    """Commit finished uploads (`upload_id` and `path`, repeated) with one message, all or nothing."""
    ids, paths = request.POST.getlist("upload_id"), request.POST.getlist("path")
    items = [uploads.FinishedUpload(i, paths[n] if n < len(paths) else "") for n, i in enumerate(ids)]
    try:
        commit = uploads.uploads_commit(
            user=request.user,
            repo=repo,
            uploads=items,
            title=request.POST.get("summary", "").strip(),
            description=request.POST.get("description", ""),
        )
    except HubError as exc:
        if _wants_json(request):
            return JsonResponse({"error": exc.message}, status=exc.status)
        messages.error(request, f"Nothing was committed: {exc.message}")
        return redirect(f"{repo.get_absolute_url()}/upload/main")
    base = repo.get_absolute_url()
    result = {
        "commit": commit.oid,
        "title": commit.title,
        "files": len(items),
        "commit_url": f"{base}/commit/{commit.oid}",
        "tree_url": f"{base}/tree/main",
    }
    if _wants_json(request):
        return JsonResponse(result, status=201)
    messages.success(request, f"Committed {len(items)} file{pluralize(len(items))} as {commit.short_oid}.")
    return redirect(result["commit_url"])
