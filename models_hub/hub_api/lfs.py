"""Git LFS "basic" transfer for big files, offered only when FLYWHEEL_LFS_UPLOAD_THRESHOLD > 0.

The client PUTs the raw bytes to the `href` of the batch answer without any Authorization header,
so the href carries its own credential: a signed, expiring token that binds the object id, its
size, the repository and the user. The body is streamed to disk in 1 MiB pieces while hashed and
is stored only if both the SHA-256 and the size match what was announced.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.core import signing
from django.http import HttpRequest, HttpResponse, JsonResponse, UnreadablePostError

from accounts.models import User
from models_hub.errors import BadRequest, QuotaExceeded, RepoNotFound
from models_hub.hub_api.common import hub_endpoint, hub_error, require_writer
from models_hub.hub_api.write_views import hub_write, json_body
from models_hub.models import Blob, BlobUpload, Repository
from models_hub.selectors import blobs_usable_by, repo_access, repo_access_any_case
from models_hub.services.quotas import quota_check
from models_hub.storage.blobs import BlobTooLarge, blob_from_temp_file, write_stream_to_temp
from models_hub.storage.streaming import IncompleteBody, receive_body

LFS_CONTENT_TYPE = "application/vnd.git-lfs+json"
SIGNING_SALT = "flywheel.hub.lfs-upload"
# Checked when a PUT starts: a batch of 256 big files may take hours before its last upload begins.
UPLOAD_URL_MAX_AGE = 24 * 3600
MAX_BATCH_OBJECTS = 1000
READ_CHUNK = 1024 * 1024
OID_RE = re.compile(r"^[0-9a-f]{64}$")
KIND_OF_PREFIX = {None: Repository.Kind.MODEL, "datasets": Repository.Kind.DATASET}


def lfs_enabled() -> bool:
    return settings.FLYWHEEL_LFS_UPLOAD_THRESHOLD > 0


def _kind(prefix: str | None, namespace: str, name: str) -> str:
    if prefix not in KIND_OF_PREFIX:
        raise RepoNotFound(f"Repository Not Found for url: {prefix}/{namespace}/{name}.")
    return KIND_OF_PREFIX[prefix]


def _lfs_json(data: dict[str, Any], status: int = 200) -> JsonResponse:
    return JsonResponse(data, status=status, content_type=LFS_CONTENT_TYPE)


def _object_url(request: HttpRequest, repo: Repository, oid: str, suffix: str = "") -> str:
    return request.build_absolute_uri(f"{repo.get_absolute_url()}.git/info/lfs/objects/{oid}{suffix}")


def _upload_action(request: HttpRequest, repo: Repository, user: User, oid: str, size: int) -> dict[str, Any]:
    token = signing.dumps({"oid": oid, "size": size, "repo": repo.pk, "user": user.pk}, salt=SIGNING_SALT)
    return {
        "upload": {
            "href": f"{_object_url(request, repo, oid)}?{urlencode({'token': token})}",
            "expires_in": UPLOAD_URL_MAX_AGE,
        },
        "verify": {"href": _object_url(request, repo, oid, "/verify")},
    }


def _batch_object(request: HttpRequest, repo: Repository, user: User, item: Any, stored: dict[str, Blob]) -> dict:
    oid, size = (item.get("oid"), item.get("size")) if isinstance(item, dict) else (None, None)
    if not isinstance(oid, str) or not isinstance(size, int) or isinstance(size, bool):
        return {"oid": str(oid), "size": 0, "error": {"code": 422, "message": "Each object needs an oid and a size."}}
    answer: dict[str, Any] = {"oid": oid, "size": size}
    blob = stored.get(oid)
    if not OID_RE.match(oid) or size < 0:
        answer["error"] = {"code": 422, "message": "The oid must be a lower-case SHA-256 and the size positive."}
    elif size > settings.FLYWHEEL_MAX_UPLOAD_BYTES:
        answer["error"] = {
            "code": 413,
            "message": f"Files are limited to {settings.FLYWHEEL_MAX_UPLOAD_BYTES:,} bytes.",
        }
    elif blob is not None and blob.size != size:
        answer["error"] = {"code": 422, "message": f"Object {oid} is stored with {blob.size} bytes, not {size}."}
    elif blob is None:
        answer["actions"] = _upload_action(request, repo, user, oid, size)
    return answer  # a stored object gets no actions: the client skips its upload


@hub_write("POST")
def batch(request: HttpRequest, namespace: str, name: str, prefix: str | None = None) -> HttpResponse:
    """POST /[datasets/]{ns}/{name}.git/info/lfs/objects/batch: where to PUT each missing object."""
    if not lfs_enabled():
        return hub_error(404, "Git LFS uploads are disabled on this server: files are sent inline in commits.")
    user = require_writer(request)
    repo = (
        repo_access_any_case(user, kind=_kind(prefix, namespace, name), namespace=namespace, name=name)
        .require_write()
        .repo
    )
    data = json_body(request)
    if data.get("operation") != "upload":
        raise BadRequest("Only LFS uploads are supported here; download files through /resolve/.")
    if "basic" not in (data.get("transfers") or ["basic"]):
        return hub_error(422, "Only the 'basic' LFS transfer is supported.")
    objects = data.get("objects")
    if not isinstance(objects, list) or len(objects) > MAX_BATCH_OBJECTS:
        raise BadRequest(f"'objects' must be a list of at most {MAX_BATCH_OBJECTS} entries.")
    oids = {item["oid"] for item in objects if isinstance(item, dict) and isinstance(item.get("oid"), str)}
    # Objects stored for someone else are uploaded again: sending the bytes is the proof of holding them.
    usable = blobs_usable_by(user, oids)
    stored = {blob.sha256: blob for blob in Blob.objects.filter(sha256__in=usable)}
    answers = [_batch_object(request, repo, user, item, stored) for item in objects]
    _refuse_over_quota(repo, answers)
    return _lfs_json({"transfer": "basic", "objects": answers, "hash_algo": "sha256"})


def _refuse_over_quota(repo: Repository, answers: list[dict]) -> None:
    """The objects to upload must fit in the storage quota together; if they do not, none is asked for."""
    wanted = [answer for answer in answers if "actions" in answer]
    try:
        quota_check(repo=repo, files=[(answer["oid"], answer["size"]) for answer in wanted])
    except QuotaExceeded as exc:
        for answer in wanted:
            del answer["actions"]
            answer["error"] = {"code": exc.status, "message": exc.message}


def _request_chunks(request: HttpRequest) -> Iterator[bytes]:
    while chunk := request.read(READ_CHUNK):
        yield chunk


def _signed_claims(request: HttpRequest, oid: str) -> dict[str, Any]:
    try:
        claims = signing.loads(request.GET.get("token", ""), salt=SIGNING_SALT, max_age=UPLOAD_URL_MAX_AGE)
    except signing.SignatureExpired:
        raise _Denied("This upload link has expired: start the upload again.") from None
    except signing.BadSignature:
        raise _Denied("This upload link is not valid.") from None
    if not isinstance(claims, dict) or claims.get("oid") != oid:
        raise _Denied("This upload link is for another object.")
    return claims


class _Denied(Exception):
    pass


@hub_endpoint
def upload(request: HttpRequest, namespace: str, name: str, oid: str, prefix: str | None = None) -> HttpResponse:
    """PUT <signed href>: the object's raw bytes, streamed to disk and checked before being stored."""
    if request.method != "PUT":
        return hub_error(405, f"Method {request.method} is not allowed here.")
    try:
        claims = _signed_claims(request, oid)
    except _Denied as exc:
        return hub_error(403, str(exc))
    repo = Repository.objects.filter(pk=claims["repo"]).first()
    user = User.objects.filter(pk=claims["user"], is_active=True).first()
    if repo is None or user is None or not repo_access(repo, user).can_write:
        return hub_error(403, "You no longer have write access to this repository.")
    size: int = claims["size"]
    declared = request.META.get("CONTENT_LENGTH")
    if declared and declared.isdigit() and int(declared) != size:
        raise BadRequest(f"The upload is {declared} bytes long but the object was announced with {size}.")
    if Blob.objects.filter(sha256=oid, size=size).exists() and blobs_usable_by(user, {oid}):
        return _lfs_json({})
    quota_check(repo=repo, files=[(oid, size)])  # the batch checked it too, but the quota may have changed
    try:
        if declared:  # the usual case: straight from the socket (see models_hub.storage.streaming)
            body = receive_body(request, length=size, limit=size)
            temp_path, sha256, received = body.path, body.sha256, body.size
        else:  # a chunked body: read through Django, never past `size`
            temp_path, sha256, received = write_stream_to_temp(_request_chunks(request), max_bytes=size)
    except BlobTooLarge:
        raise BadRequest(f"The upload has more than the {size} bytes announced; nothing was stored.") from None
    except (UnreadablePostError, IncompleteBody):
        raise BadRequest("The upload was cut short; nothing was stored.") from None
    if received != size or sha256 != oid:
        os.unlink(temp_path)
        raise BadRequest(
            f"The upload does not match the object announced (got {received} bytes with SHA-256 {sha256}, "
            f"expected {size} bytes with {oid}); nothing was stored."
        )
    blob = blob_from_temp_file(path=temp_path, sha256=sha256, size=received)
    BlobUpload.objects.get_or_create(user=user, blob=blob)
    return _lfs_json({})


@hub_write("POST")
def verify(request: HttpRequest, namespace: str, name: str, oid: str, prefix: str | None = None) -> HttpResponse:
    """POST <verify href> {oid, size}: 200 once the object is stored."""
    user = require_writer(request)
    repo_access_any_case(user, kind=_kind(prefix, namespace, name), namespace=namespace, name=name)
    size = json_body(request).get("size")
    if not Blob.objects.filter(sha256=oid, size=size).exists() or not blobs_usable_by(user, {oid}):
        return hub_error(404, f"Object {oid} ({size} bytes) was not uploaded.")
    return _lfs_json({"oid": oid, "size": size})
