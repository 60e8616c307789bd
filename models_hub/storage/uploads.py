"""Resumable uploads (the tus protocol's storage side): bytes are appended to a temporary file per
upload until it is complete; a commit then turns finished uploads into blobs, all or nothing.

A big file may be sent in parts, each its own tus upload, several at once over their own
connections: a part's bytes go straight to their place in the parent upload's file, so nothing is
copied to assemble them. The file's SHA-256 follows the parts as they complete (the parent's
offset is how far it got), reading them back from the page cache, so the commit has little left.

Until a commit refers to them, uploads are invisible in every repository.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import IO
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from rehashes import PySha256

from accounts.models import User
from models_hub import services
from models_hub.errors import BadRequest, Conflict, HubError, PayloadTooLarge, RepoNotFound
from models_hub.models import Commit, Repository, UploadSession
from models_hub.selectors import repo_access
from models_hub.services.quotas import quota_check
from models_hub.services.upload_checks import check_received_file, clean_path
from models_hub.storage import streaming
from models_hub.storage.blobs import blob_from_temp_file

STALE_AFTER = timedelta(hours=24)
REHASH_STEP = 4 * 1024 * 1024
# Buffers of the receiving pipeline per PATCH (2 MiB each): half the raw PUT's, as the parts of one
# big file arrive side by side, so a worker taking several of them stays within 64 MiB.
PATCH_BUFFERS = 4


class UploadLocked(HubError):
    """Another request is writing to this upload right now (tus answers 423)."""

    status = 423


@dataclass(frozen=True)
class FinishedUpload:
    upload_id: str
    path: str = ""  # where the file goes in the repository; empty: the path given at creation


def upload_dir() -> Path:
    path = Path(settings.DATA_DIR) / "uploads"
    path.mkdir(parents=True, exist_ok=True)
    return path


def upload_file(session: UploadSession) -> Path:
    return upload_dir() / f"{session.pk}.part"


def parse_metadata(header: str) -> dict[str, str]:
    """Decode tus `Upload-Metadata`: comma-separated `key base64value` pairs."""
    metadata: dict[str, str] = {}
    for pair in filter(None, (p.strip() for p in header.split(","))):
        key, _, encoded = pair.partition(" ")
        try:
            metadata[key] = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise BadRequest(f"Upload-Metadata: the value of '{key}' is not valid base64 UTF-8.") from None
    return metadata


def upload_create(*, user: User, repo: Repository, path: str, size: int) -> UploadSession:
    """Start an upload of `size` bytes to `path`; the caller has checked write access to `repo`."""
    if size < 0:
        raise BadRequest("Upload-Length must be zero or a positive number of bytes.")
    limit = settings.FLYWHEEL_MAX_UPLOAD_BYTES
    if size > limit:
        raise PayloadTooLarge(f"The file is {size:,} bytes, over the limit of {limit:,} bytes per file.")
    path = clean_path(path)
    with transaction.atomic():  # the quota's room is checked and reserved at once
        quota_check(repo=repo, files=[(None, size)], lock=True)
        session = UploadSession.objects.create(user=user, repository=repo, path=path, size=size)
    upload_file(session).touch()
    return session


def upload_part_create(*, user: User, parent: UploadSession, start: int, size: int) -> UploadSession:
    """A part of `parent` (the caller got it with upload_get): its bytes [start, start + size).

    The parent counted the whole file when it was created; parts add nothing to it. Parts may not
    overlap (a part with the same bounds is answered with that part), and once a file is sent in parts its
    parent takes no bytes of its own.
    """
    if parent.parent_id is not None:
        raise BadRequest("A part of an upload cannot have parts of its own.")
    if parent.offset and not parent.parts.exists():
        raise Conflict("This upload is already being sent in one piece.")
    if start < 0 or size <= 0 or start + size > parent.size:
        raise BadRequest(f"A part must lie within the upload's {parent.size:,} bytes and not be empty.")
    same = parent.parts.filter(start=start, size=size).first()
    if same is not None:
        # The client lost the part's address (the page reloaded before it kept the answer to the creation):
        # the same bounds asked again are the same part, whose offset says how much of it arrived.
        return same
    overlapping = parent.parts.filter(start__lt=start + size, start__gt=start - F("size"))
    if overlapping.exists():
        raise Conflict("This part overlaps another part of the same upload.")
    part = UploadSession.objects.create(
        user=user, repository=parent.repository, path=parent.path, size=size, parent=parent, start=start
    )
    upload_file(part).touch()  # a part's own file is only its lock: its bytes go to the parent's file
    return part


def upload_get(*, upload_id: UUID | str, user: User) -> UploadSession:
    """The user's own upload to a repository they may still write to; anything else does not exist."""
    try:
        upload_id = UUID(str(upload_id))
    except ValueError:
        raise RepoNotFound("Upload not found: it may have been committed, cancelled or expired.") from None
    session = UploadSession.objects.select_related("repository").filter(pk=upload_id, user=user).first()
    if session is None or not repo_access(session.repository, user).can_write:
        raise RepoNotFound("Upload not found: it may have been committed, cancelled or expired.")
    return session


@contextlib.contextmanager
def _locked_file(session: UploadSession) -> Iterator[IO[bytes]]:
    """The file the upload's bytes go to, while this request alone writes to the upload.

    Each upload is locked through its own file; a part's bytes then go to its parent's file.
    """
    try:
        handle = open(upload_file(session), "r+b")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        raise RepoNotFound("Upload not found: its data has expired.") from None
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UploadLocked("This upload is being written by another request; try again shortly.") from None
        if session.parent_id is None:
            yield handle
            return
        try:
            data = open(upload_file(session.parent), "r+b")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            raise RepoNotFound("Upload not found: its data has expired.") from None
        with data:
            yield data
    finally:
        handle.close()


def _hash_more(hasher: PySha256, handle: IO[bytes], start: int, end: int) -> PySha256:
    """Feed bytes [start, end) of the file to `hasher`, reading the next piece while hashing one
    (both release the GIL), so the disk's latency hides behind the hashing."""
    fd = handle.fileno()

    def read(position: int) -> bytes:
        return os.pread(fd, min(REHASH_STEP, end - position), position)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="upload-rehash") as reader:
        position = start
        pending = reader.submit(read, position) if position < end else None
        while pending is not None:
            data = pending.result()
            if not data:
                raise RepoNotFound("Upload not found: part of its data has expired.")
            position += len(data)
            pending = reader.submit(read, position) if position < end else None
            hasher.update(data)
    return hasher


def _hasher_at(session: UploadSession, handle: IO[bytes]) -> PySha256:
    """A SHA-256 of the upload's first `offset` bytes: its saved state, or else (saved by an older
    version, or before states were kept) those bytes read again."""
    if session.hash_state is not None:
        with contextlib.suppress(ValueError):
            return PySha256.deserialize(bytes(session.hash_state))
    return _hash_more(PySha256(), handle, 0, session.offset)


def _part_at(parent_id: UUID, position: int) -> UploadSession | None:
    """The part of the upload that holds byte `position`, if one does."""
    part = UploadSession.objects.filter(parent_id=parent_id, start__lte=position).order_by("-start").first()
    return part if part is not None and position < part.start + part.size else None


def _can_hash_further(parent_id: UUID) -> bool:
    parent = UploadSession.objects.filter(pk=parent_id).values("offset", "size").first()
    if parent is None or parent["offset"] >= parent["size"]:
        return False
    part = _part_at(parent_id, parent["offset"])
    return part is not None and part.start + part.offset > parent["offset"]


def upload_hash_parts(*, parent_id: UUID) -> None:
    """After a part's bytes arrived: move the file's hash on (the view calls it once its answer is
    sent, so the client's next part travels meanwhile)."""
    # An upload sent in parts stays alive while they arrive, whether or not its hash moves on.
    UploadSession.objects.filter(pk=parent_id).update(updated_at=timezone.now())
    _hash_parts(parent_id)


def _hash_parts(parent_id: UUID, *, wait: bool = False) -> None:
    """Move the parent's SHA-256 (and with it its offset) over the parts' bytes that have arrived.

    One request at a time does it, under a lock on the parent's file; whoever finds the lock taken
    leaves the work to its holder, who looks again after letting go, so no arrived byte is left
    behind. `wait`: block until the lock is free (the commit needs the hash).
    """
    path = upload_file(UploadSession(pk=parent_id))
    while True:
        try:
            handle = open(path, "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            return
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                return
            _hash_arrived_parts(parent_id, handle)
        if not _can_hash_further(parent_id):
            return


def _hash_arrived_parts(parent_id: UUID, handle: IO[bytes]) -> None:
    parent = UploadSession.objects.filter(pk=parent_id).first()
    if parent is None:
        return
    hasher = None
    while parent.offset < parent.size and (part := _part_at(parent_id, parent.offset)) is not None:
        arrived = part.start + part.offset
        if arrived <= parent.offset:
            break
        hasher = hasher or _hasher_at(parent, handle)
        _hash_more(hasher, handle, parent.offset, arrived)
        parent.offset, parent.hash_state = arrived, hasher.serialize()
        UploadSession.objects.filter(pk=parent_id).update(
            offset=parent.offset, hash_state=parent.hash_state, updated_at=timezone.now()
        )


def _has_more(source: streaming.BodySource) -> bool:
    try:
        return source.readinto(memoryview(bytearray(1))) > 0
    except streaming.IncompleteBody:
        return False


def upload_append(
    *, session: UploadSession, offset: int, source: streaming.BodySource, length: int | None = None
) -> int:
    """Append the body (`length` bytes; None: until it ends) at `offset`, which must be where the
    upload stands, and return the new offset.

    Bytes go straight into the upload's file through the raw PUT's pipeline and are hashed on the
    way; the hash state is saved with the offset, so the commit does not read the file again.
    Bytes are saved as they arrive, so a connection that drops mid-request keeps what got through
    and the client resumes from there.
    """
    with _locked_file(session) as handle:
        session.refresh_from_db(fields=["offset", "hash_state"])
        if offset != session.offset:
            raise Conflict(f"Upload-Offset is {offset} but the upload stands at {session.offset}.")
        if session.parent_id is None and session.parts.exists():
            raise Conflict("This upload is sent in parts: send its bytes to them.")
        # A part arrives beside others, so its bytes are hashed once the bytes before them are (see
        # _hash_parts); meanwhile they wait in the page cache, where reading them again is cheap.
        hasher = _hasher_at(session, handle) if session.parent_id is None else None
        if session.parent_id is None:
            handle.truncate(offset)  # drop bytes of an earlier request that died before its offset was saved
        room = session.size - offset
        written = streaming.receive_into(
            source,
            fd=handle.fileno(),
            path=handle.name,
            offset=session.start + offset,
            length=room if length is None else min(length, room),
            hash_update=(lambda view: hasher.update(bytes(view))) if hasher else (lambda view: None),  # bytes only
            depth=PATCH_BUFFERS,
            direct=None if hasher else False,
        )
        session.offset = offset + written
        session.hash_state = hasher.serialize() if hasher else None
        UploadSession.objects.filter(pk=session.pk).update(
            offset=session.offset, hash_state=session.hash_state, updated_at=timezone.now()
        )
    if (length > room) if length is not None else (written == room and _has_more(source)):
        raise BadRequest(f"More bytes were sent than the Upload-Length of {session.size}.")
    return session.offset


def _remove_files(session: UploadSession) -> None:
    for upload in [session, *session.parts.all()]:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(upload_file(upload))


def upload_delete(*, session: UploadSession) -> None:
    _remove_files(session)
    session.delete()  # and its parts


def _finished_session(session: UploadSession | None, upload_id: str) -> UploadSession:
    if session is None:
        raise BadRequest(f"Upload {upload_id} does not exist (expired, or not yours): upload the file again.")
    if not session.is_complete:
        raise BadRequest(f"{session.path} is not fully uploaded ({session.offset:,} of {session.size:,} bytes).")
    return session


def _store(session: UploadSession, path: str) -> None:
    """Move a finished upload, to be committed at `path`, into the blob store (once: a retried commit
    reuses the blob). Its content is checked first, so a refused file is never stored."""
    if session.blob_id:
        return
    part = upload_file(session)
    try:
        size = part.stat().st_size
        with open(part, "rb") as handle:
            sha256 = _hasher_at(session, handle).finalize()
    except (FileNotFoundError, RepoNotFound):
        raise BadRequest(f"The data of {session.path} has expired: upload it again.") from None
    if size != session.size:
        raise BadRequest(f"{session.path} has {size:,} bytes instead of {session.size:,}: upload it again.")
    check_received_file(path, str(part), size)
    # A rename into the blob store: the bytes are not copied.
    session.blob = blob_from_temp_file(path=str(part), sha256=sha256, size=size)
    session.save(update_fields=["blob", "updated_at"])


def uploads_commit(
    *, user: User, repo: Repository, uploads: Sequence[FinishedUpload], title: str = "", description: str = ""
) -> Commit:
    """Commit finished uploads as one commit. If any is missing, foreign or incomplete, nothing is committed.

    Without a title: "Upload <path>" for one file, "Upload <n> files" for more.
    """
    if not uploads:
        raise BadRequest("Choose at least one file to commit.")
    ids = []
    for item in uploads:
        try:
            ids.append(str(UUID(item.upload_id)))
        except ValueError:
            raise BadRequest(f"'{item.upload_id}' is not an upload id.") from None
    mine = UploadSession.objects.filter(pk__in=ids, user=user, repository=repo, parent=None)
    for sent_in_parts in mine.filter(offset__lt=F("size"), parts__isnull=False).distinct():
        _hash_parts(sent_in_parts.pk, wait=True)  # the last part's bytes may still be being hashed
    found = {str(s.pk): s for s in mine}
    sessions = [_finished_session(found.get(upload_id), upload_id) for upload_id in ids]
    targets = [clean_path(item.path or session.path) for item, session in zip(uploads, sessions, strict=True)]
    if len(set(targets)) != len(targets):
        raise BadRequest("Two files would be committed to the same path.")
    for path, session in zip(targets, sessions, strict=True):
        _store(session, path)
    additions = [services.FileAddition(path, s.blob) for path, s in zip(targets, sessions, strict=True)]
    title = title or services.upload_title(targets)
    commit = services.commit_create(repo=repo, author=user, title=title, description=description, additions=additions)
    for session in sessions:
        _remove_files(session)  # the parts' locks: the data itself is a blob now
    UploadSession.objects.filter(pk__in=ids).delete()
    return commit


def uploads_cleanup(*, older_than: timedelta = STALE_AFTER) -> int:
    """Remove uploads untouched for `older_than` (never committed) and their data; returns how many."""
    cutoff = timezone.now() - older_than
    # Parts go with their parent, which every part's chunk keeps alive.
    stale = list(UploadSession.objects.filter(updated_at__lt=cutoff, parent=None))
    for session in stale:
        upload_delete(session=session)
    return len(stale)
