"""`HEAD`/`GET /[datasets/]{ns}/{name}/resolve/{rev}/{path}`: file bytes, served directly (never redirected).

The stock client needs X-Repo-Commit and an ETag on the HEAD, the bytes with a matching length on the
GET, and single byte ranges for resuming and for HfFileSystem. Bytes are streamed from storage;
a whole-file answer goes through FileResponse so gunicorn can use sendfile().
"""

from __future__ import annotations

import hashlib
import logging
import mimetypes
import re
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import caches
from django.http import FileResponse, HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils.http import content_disposition_header

from models_hub import services
from models_hub.client_address import client_address
from models_hub.gitattributes import is_lfs_file, lfs_rules_of_commit
from models_hub.hub_api.common import check_gate
from models_hub.hub_api.reading import find_access, hub_read
from models_hub.models import Blob, Commit, Repository, TreeEntry
from models_hub.selectors import file_entry, split_revision_and_path
from models_hub.storage.blobs import blob_open, iter_file

logger = logging.getLogger(__name__)

STREAM_CHUNK = 1024 * 1024
RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")
FULL_OID = re.compile(r"^[0-9a-f]{40}$")
NOT_DOWNLOADS = frozenset({"README.md", ".gitattributes"})
# Only these are served with their own type; everything else is plain text or bytes, so a user's
# .html or .svg can never run as a page of this site.
INLINE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf"}
TEXT_TYPES = {"application/json", "application/x-yaml", "application/yaml", "application/toml", "application/xml"}
TEXT_SUFFIXES = (".md", ".txt", ".json", ".jsonl", ".csv", ".tsv", ".yaml", ".yml", ".py", ".toml", ".jinja")


class Unsatisfiable(Exception):
    pass


@dataclass(frozen=True)
class ByteRange:
    start: int
    length: int


def parse_range(header: str, size: int) -> ByteRange | None:
    """One `bytes=a-b`, `bytes=a-` or `bytes=-n` range; None means serve the whole file.

    Malformed or multi-range headers are ignored (a 200 is a valid answer to any Range request).
    """
    match = RANGE_RE.match(header.strip().replace(" ", ""))
    if not match:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # suffix: the last n bytes
        count = int(last)
        if count == 0 or size == 0:
            raise Unsatisfiable
        count = min(count, size)
        return ByteRange(size - count, count)
    start = int(first)
    if start >= size:
        raise Unsatisfiable
    end = min(int(last), size - 1) if last else size - 1
    if end < start:
        return None  # syntactically invalid: ignore, as RFC 9110 says
    return ByteRange(start, end - start + 1)


def content_type_for(path: str) -> str:
    guessed, _ = mimetypes.guess_type(path, strict=False)
    if guessed in INLINE_TYPES:
        return guessed
    if path.lower().endswith(TEXT_SUFFIXES) or (guessed or "").startswith("text/") or guessed in TEXT_TYPES:
        return "text/plain; charset=utf-8"
    return "application/octet-stream"


@dataclass(frozen=True)
class ServedFile:
    commit: Commit
    blob: Blob
    path: str
    lfs: bool

    @property
    def etag(self) -> str:
        """What the client keys its cache on: the sha256 of an LFS file, the git blob id of any other."""
        return self.blob.sha256 if self.lfs or not self.blob.git_oid else self.blob.git_oid


def _file_headers(response: HttpResponse, served: ServedFile, *, download: bool) -> None:
    blob, path = served.blob, served.path
    etag = f'"{served.etag}"'
    response["X-Repo-Commit"] = served.commit.oid
    response["ETag"] = etag
    # Clients prefer these to ETag and Content-Length; a HEAD's "Content-Length: 0" may not survive the
    # server (Django's drops it), so every file carries them, not only LFS ones.
    response["X-Linked-Etag"] = etag
    response["X-Linked-Size"] = str(blob.size)
    response["Accept-Ranges"] = "bytes"
    response["Content-Type"] = content_type_for(path)
    response["X-Content-Type-Options"] = "nosniff"
    # Even if a browser opens the URL, the bytes never run as a page of this site.
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, max-age=0, must-revalidate"
    if download:
        response["Content-Disposition"] = content_disposition_header(True, path.rsplit("/", 1)[-1])


def _etag_matches(request: HttpRequest, served: ServedFile) -> bool:
    header = request.headers.get("If-None-Match", "")
    if not header:
        return False
    candidates = {tag.strip().removeprefix("W/").strip('"') for tag in header.split(",")}
    return "*" in candidates or served.etag in candidates


@hub_read("GET", "HEAD")
def resolve(request: HttpRequest, repo_type: str, namespace: str, name: str, rest: str) -> HttpResponse:
    access = find_access(request, repo_type, namespace, name)
    repo = access.repo
    commit, blob, path = _pinned_file(repo, rest) or _file_at_revision(repo, rest)
    check_gate(request, access, path)
    download = request.GET.get("download", "").lower() in ("1", "true")
    served = ServedFile(commit, blob, path, is_lfs_file(lfs_rules_of_commit(commit.oid), path, blob.size))

    if _etag_matches(request, served):
        response = HttpResponse(status=304)
        _file_headers(response, served, download=download)
        del response["Content-Type"]
        return response

    byte_range = None
    range_header = request.headers.get("Range", "")
    if range_header:
        try:
            byte_range = parse_range(range_header, blob.size)
        except Unsatisfiable:
            response = HttpResponse(status=416)
            _file_headers(response, served, download=download)
            response["Content-Range"] = f"bytes */{blob.size}"
            response["Content-Length"] = "0"
            return response

    if request.method == "HEAD":
        response = HttpResponse(status=206 if byte_range else 200)
        _file_headers(response, served, download=download)
        _length_headers(response, blob, byte_range)
        return response

    # The card and .gitattributes are read by everyone who merely looks: not downloads of the model.
    if (byte_range is None or byte_range.start == 0) and path not in NOT_DOWNLOADS:
        _count_download(request, repo)
    if byte_range is None:
        response = FileResponse(blob_open(blob))
        response.block_size = STREAM_CHUNK
    else:
        handle = blob_open(blob)
        response = StreamingHttpResponse(
            iter_file(handle, start=byte_range.start, length=byte_range.length), status=206
        )
    _file_headers(response, served, download=download)
    if not download and response.has_header("Content-Disposition"):
        del response["Content-Disposition"]  # FileResponse names the file after its storage key
    _length_headers(response, blob, byte_range)
    return response


def _pinned_file(repo: Repository, rest: str) -> tuple[Commit, Blob, str] | None:
    """Fast path for a full commit id (what snapshot_download and transformers send): one query."""
    revision, _, path = rest.partition("/")
    if not FULL_OID.match(revision):
        return None
    entry = (
        TreeEntry.objects.select_related("blob", "commit")
        .filter(commit__repository=repo, commit__oid=revision, path=path)
        .first()
    )
    return (entry.commit, entry.blob, path) if entry else None


def _file_at_revision(repo: Repository, rest: str) -> tuple[Commit, Blob, str]:
    _revision, commit, path = split_revision_and_path(repo, rest)
    return commit, file_entry(commit, path).blob, path


def _length_headers(response: HttpResponse, blob: Blob, byte_range: ByteRange | None) -> None:
    if byte_range is None:
        response["Content-Length"] = str(blob.size)
        return
    end = byte_range.start + byte_range.length - 1
    response["Content-Range"] = f"bytes {byte_range.start}-{end}/{blob.size}"
    response["Content-Length"] = str(byte_range.length)


def _downloader(request: HttpRequest) -> str:
    """Who is downloading: the account, or else the client's address (hashed) as the server sees it.

    Nothing the client chooses (User-Agent, a forged X-Forwarded-For) is part of it, so one host
    cannot count many times by varying headers; people behind one NAT count as one per window."""
    if request.hub_user is not None:
        return f"user:{request.hub_user.pk}"
    return "anon:" + hashlib.sha256(client_address(request).encode()).hexdigest()[:32]


def _count_download(request: HttpRequest, repo: Repository) -> None:
    """Once per downloader and repository per window; a busy database or cache must not fail a download."""
    window = settings.FLYWHEEL_DOWNLOAD_COUNT_WINDOW
    # created_at too: SQLite may give a new repository the id of a deleted one.
    try:
        if window > 0 and not caches["downloads"].add(
            f"download:{repo.pk}:{repo.created_at.timestamp()}:{_downloader(request)}", 1, timeout=window
        ):
            return
        services.repo_record_download(repo=repo)
    except Exception:  # noqa: BLE001 - best effort: the bytes matter more than the count
        logger.warning("Could not count a download of %s", repo.repo_id, exc_info=True)
