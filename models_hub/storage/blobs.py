"""Content-addressed blob storage through Django's storage API.

Bytes are streamed into a temporary file next to the blob store while they are hashed, so no
request holds a whole file in memory; storing the finished file is then a rename on local disk.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction

from models_hub.models import Blob
from models_hub.storage.pickle_check import is_pickle_file

logger = logging.getLogger(__name__)

COPY_CHUNK = 1024 * 1024
# git blob ids are computed for files up to this size; bigger files are presented as LFS objects.
GIT_OID_MAX_BYTES = 64 * 1024 * 1024


class BlobTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"The file is larger than the limit of {limit:,} bytes.")
        self.limit = limit


class BlobMismatch(Exception):
    """The bytes received do not match the size or SHA-256 the client announced."""


def temp_dir() -> Path:
    path = Path(settings.FILE_UPLOAD_TEMP_DIR)
    path.mkdir(parents=True, exist_ok=True)
    return path


def new_temp_file() -> IO[bytes]:
    return tempfile.NamedTemporaryFile(dir=temp_dir(), prefix="blob-", delete=False)  # noqa: SIM115


class _MovableFile(File):
    """A finished temporary file; FileSystemStorage moves it into place instead of copying."""

    def __init__(self, path: str) -> None:
        super().__init__(open(path, "rb"), name=os.path.basename(path))  # noqa: SIM115
        self._path = path

    def temporary_file_path(self) -> str:
        return self._path


def git_blob_oid(path: str | os.PathLike[str], size: int) -> str:
    digest = hashlib.sha1(f"blob {size}\0".encode(), usedforsecurity=False)
    with open(path, "rb") as handle:
        while chunk := handle.read(COPY_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def write_stream_to_temp(chunks: Iterable[bytes], *, max_bytes: int | None = None) -> tuple[str, str, int]:
    """Write chunks to a new temporary file while hashing; returns (path, sha256, size)."""
    limit = settings.FLYWHEEL_MAX_UPLOAD_BYTES if max_bytes is None else max_bytes
    digest = hashlib.sha256()
    size = 0
    handle = new_temp_file()
    try:
        with handle:
            for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise BlobTooLarge(limit)
                digest.update(chunk)
                handle.write(chunk)
    except BaseException:
        os.unlink(handle.name)
        raise
    return handle.name, digest.hexdigest(), size


def blob_from_temp_file(*, path: str, sha256: str, size: int) -> Blob:
    """Store a hashed temporary file as a blob (taking ownership of the file) and return the row.

    Identical bytes are stored once: if the blob exists, the temporary file is simply removed.
    """
    return _store_temp_file(path=path, sha256=sha256, size=size)[0]


def _store_temp_file(*, path: str, sha256: str, size: int) -> tuple[Blob, bool]:
    """blob_from_temp_file, and whether this call created the blob's row."""
    try:
        existing = Blob.objects.filter(sha256=sha256).first()
        if existing is not None and default_storage.exists(existing.storage_key):
            return existing, False
        blob = Blob(sha256=sha256, size=size)
        if size <= GIT_OID_MAX_BYTES:
            blob.git_oid = git_blob_oid(path, size)
        with open(path, "rb") as handle:  # the local temporary file: a few bounded reads
            blob.is_pickle = is_pickle_file(handle, size)
        key = blob.storage_key
        if not default_storage.exists(key):
            with _MovableFile(path) as content:
                saved = default_storage.save(key, content)
            if saved != key:  # another request stored the same bytes meanwhile
                default_storage.delete(saved)
        if default_storage.size(key) != size:
            raise BlobMismatch(f"Stored blob {sha256} has the wrong size.")
        try:
            blob.save(force_insert=True)
        except IntegrityError:
            return Blob.objects.get(sha256=sha256), False
        return blob, True
    finally:
        if os.path.exists(path):
            os.unlink(path)


def blob_delete_if_unreferenced(sha256: str) -> bool:
    """Remove a blob's row and bytes unless a commit, an LFS upload or a browser upload refers to it.

    The row is locked while its file is deleted, and commit_create locks the rows of the blobs it
    adds: a commit racing with this either sees the blob gone (and says so) or keeps it alive.
    """
    from models_hub.models import BlobUpload, TreeEntry, UploadSession

    with transaction.atomic():
        blob = Blob.objects.select_for_update().filter(sha256=sha256).first()
        if blob is None:
            return False
        for model in (TreeEntry, BlobUpload, UploadSession):
            if model.objects.filter(blob_id=sha256).exists():
                return False
        # The file first: a request storing the same bytes meanwhile then re-creates it with its row.
        default_storage.delete(blob.storage_key)
        blob.delete()
    return True


class NewBlobs:
    """The blobs one request stores on its way to a commit; if the request fails, those it created go.

        with NewBlobs() as stored:
            blob = stored.from_temp_file(path=temp.path, sha256=temp.sha256, size=temp.size)
            services.commit_create(..., additions=[services.FileAddition(path, blob)])

    Blobs are shared by content, so only a blob whose row this request inserted, and that nothing
    refers to by then, is removed: a refused upload leaves neither a row nor a file behind.
    """

    def __init__(self) -> None:
        self.created: list[str] = []

    def from_temp_file(self, *, path: str, sha256: str, size: int) -> Blob:
        blob, created = _store_temp_file(path=path, sha256=sha256, size=size)
        if created:
            self.created.append(sha256)
        return blob

    def discard(self) -> None:
        for sha256 in self.created:
            blob_delete_if_unreferenced(sha256)
        self.created.clear()

    def __enter__(self) -> NewBlobs:
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        if exc_type is None:
            return
        try:
            self.discard()
        except Exception:  # the request's own error matters more; the periodic clean-up retries
            logger.exception("Could not remove the blobs of a failed upload: %s", self.created)


def blob_store_stream(chunks: Iterable[bytes], *, max_bytes: int | None = None) -> Blob:
    path, sha256, size = write_stream_to_temp(chunks, max_bytes=max_bytes)
    return blob_from_temp_file(path=path, sha256=sha256, size=size)


def blob_store_bytes(data: bytes) -> Blob:
    return blob_store_stream([data])


def iter_file(handle: IO[bytes], *, start: int = 0, length: int | None = None) -> Iterator[bytes]:
    """Yield a file's bytes from `start`, `length` of them (all if None), in 1 MiB chunks."""
    try:
        if start:
            handle.seek(start)
        remaining = length
        while remaining is None or remaining > 0:
            want = COPY_CHUNK if remaining is None else min(COPY_CHUNK, remaining)
            chunk = handle.read(want)
            if not chunk:
                break
            if remaining is not None:
                remaining -= len(chunk)
            yield chunk
    finally:
        handle.close()


class _ObjectReader(io.RawIOBase):
    """A bucket object read as a seekable file: one streaming ranged GET from where reading starts.

    django-storages' S3 file downloads the whole object before its first byte, into memory by
    default (AWS_S3_MAX_MEMORY_SIZE = 0 never spills to disk): reading a safetensors header or
    serving a Range request would fetch, and hold, gigabytes. A seek drops the stream; the next
    read starts a new GET from there.
    """

    def __init__(self, obj) -> None:
        self._obj = obj
        self._size: int = obj.content_length
        self._position = 0
        self._body = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise ValueError(f"Negative seek position {base + offset}.")
        if base + offset != self._position:
            self._drop_stream()
            self._position = base + offset
        return self._position

    def readinto(self, buffer) -> int:
        if self._position >= self._size:
            return 0
        if self._body is None:
            self._body = self._obj.get(Range=f"bytes={self._position}-")["Body"]
        data = self._body.read(len(buffer))
        if not data:
            raise OSError(f"{self._obj.key} ended at byte {self._position:,} of {self._size:,}.")
        buffer[: len(data)] = data
        self._position += len(data)
        return len(data)

    def _drop_stream(self) -> None:
        if self._body is not None:
            self._body.close()
            self._body = None

    def close(self) -> None:
        self._drop_stream()
        super().close()


def blob_open(blob: Blob) -> IO[bytes]:
    """The blob's bytes as a seekable binary file: the local file itself, or streamed from a bucket."""
    handle = default_storage.open(blob.storage_key, "rb")
    obj = getattr(handle, "obj", None)  # django-storages' S3 file; opening it only checked the object exists
    if obj is None:
        return handle
    handle.close()
    return io.BufferedReader(_ObjectReader(obj), buffer_size=COPY_CHUNK)
