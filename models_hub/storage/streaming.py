"""Receive a raw request body into a hashed temporary file, fast and in bounded memory.

A request thread reads the body into a few large reusable buffers; one helper thread writes
each filled buffer to disk and another hashes it, in order. Socket reads, writes and SHA-256
all release the GIL, so the three overlap. Memory stays at `depth` buffers whatever the size.

Under gunicorn the body is read straight from the connection's socket with recv_into(): its
own body reader copies every byte several times (BytesIO buffers, 1 MiB steps), which halved
throughput. Bytes gunicorn had already buffered are taken first and its length counter is kept
in step, so gunicorn's view of the connection stays right for keep-alive. Anywhere else
(runserver, the test client, chunked bodies) the WSGI input stream is read instead. Whole
buffers are written with O_DIRECT (see _FileWriter): copying into the page cache cost more
than anything else. On 1 GiB through gunicorn this took the upload from ~0.1x to 0.6-1.0x of
shutil.copyfile on the same disk, with a worker growing by 16 MiB.

    received = receive_body(request, length=content_length, limit=settings.FLYWHEEL_MAX_UPLOAD_BYTES)
    blob = blob_from_temp_file(path=received.path, sha256=received.sha256, size=received.size)

A resumable upload's chunk goes through the same pipeline into its own file at its offset
(receive_into), with the hash state carried over from the chunks before it.
"""

from __future__ import annotations

import errno
import hashlib
import io
import mmap
import os
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from django.conf import settings
from django.http import HttpRequest

from models_hub.storage.blobs import BlobTooLarge, new_temp_file

# 2 MiB buffers, 8 in flight (16 MiB whatever the file size): one being filled, one written, one
# hashed, and spares so that a stage briefly slowed (a disk flush, another process) does not stall
# the others. Measured on 1 GiB: 8 MiB x 4 was no faster, only twice the memory.
CHUNK_BYTES = 2 * 1024 * 1024
DEPTH = 8
ALIGN = 4096


class IncompleteBody(OSError):
    """The body ended before Content-Length bytes (or the last chunk) arrived: the client went away.

    An OSError, so that Django's HttpRequest.read() reports it as UnreadablePostError, as it does
    for a connection reset: every reader of request bodies already handles that.
    """


@dataclass(frozen=True)
class ReceivedFile:
    path: str
    sha256: str
    size: int


class BodySource(Protocol):
    def readinto(self, view: memoryview) -> int:
        """Fill the start of `view`; return how many bytes, 0 at the end of the body."""
        ...


class StreamSource:
    """Any file-like body with read(): Django's request (runserver, test client)."""

    def __init__(self, stream) -> None:
        self.stream = stream

    def readinto(self, view: memoryview) -> int:
        try:
            data = self.stream.read(len(view))
        except OSError as exc:  # Django's UnreadablePostError: the client went away
            raise IncompleteBody(f"The body could not be read: {exc}") from None
        view[: len(data)] = data
        return len(data)


class GunicornSocketSource:
    """recv_into() on gunicorn's socket, after what its body reader had already buffered."""

    def __init__(self, body, sock) -> None:
        self.body = body
        self.reader = body.reader
        self.sock = sock
        # Bytes Body.read() had buffered are already counted off reader.length.
        self.pending = body.buf.getvalue()
        body.buf = io.BytesIO()
        unreader = self.reader.unreader
        buffered = unreader.buf.getvalue()
        take = buffered[: self.reader.length]
        unreader.buf = io.BytesIO()
        unreader.buf.write(buffered[len(take) :])  # a pipelined next request stays for gunicorn
        self.reader.length -= len(take)
        self.pending += take

    def readinto(self, view: memoryview) -> int:
        if self.pending:
            count = min(len(view), len(self.pending))
            view[:count] = self.pending[:count]
            self.pending = self.pending[count:]
            return count
        want = min(len(view), self.reader.length)
        if want <= 0:
            return 0
        try:
            count = self.sock.recv_into(view[:want])
        except OSError as exc:  # reset or timed out
            raise IncompleteBody(f"The body could not be read: {exc}") from None
        self.reader.length -= count
        return count


def body_source(request: HttpRequest) -> BodySource:
    """The fastest way to read this request's body that is safe here."""
    environ = request.META
    sock = environ.get("gunicorn.socket")
    body = environ.get("wsgi.input")
    if sock is not None and not getattr(request, "_read_started", False):
        try:
            from gunicorn.http.body import Body, LengthReader
            from gunicorn.http.unreader import SocketUnreader
        except ImportError:  # pragma: no cover - gunicorn is a dependency
            return StreamSource(request)
        reader = getattr(body, "reader", None)
        if (
            type(body) is Body
            and type(reader) is LengthReader
            and type(reader.unreader) is SocketUnreader
            and isinstance(body.buf, io.BytesIO)
            and isinstance(reader.unreader.buf, io.BytesIO)
        ):
            return GunicornSocketSource(body, sock)
    return StreamSource(request)


def _fill(source: BodySource, view: memoryview) -> int:
    """Fill `view` completely unless the body ends first (or the client goes away); returns the bytes read.

    The caller sees a short count either way and decides: a temporary file is thrown away, a
    resumable upload keeps what arrived.
    """
    filled = 0
    while filled < len(view):
        try:
            count = source.readinto(view[filled:])
        except IncompleteBody:
            break
        if not count:
            break
        filled += count
    return filled


class _Stage(threading.Thread):
    """One step applied to each filled buffer in order (write, or hash), then passed on.

    Writing and hashing run in separate threads so that, with reading, three buffers are
    worked on at once; all three release the GIL. After an error the stage only passes
    buffers on, so the request thread never waits on a buffer that does not come back.
    """

    def __init__(self, step, after: queue.Queue) -> None:
        super().__init__(daemon=True, name="body-stage")
        self.step = step
        self.after = after
        self.inbox: queue.Queue = queue.Queue()
        self.error: BaseException | None = None

    def run(self) -> None:
        while (item := self.inbox.get()) is not None:
            buffer, count = item
            if self.error is None:
                try:
                    self.step(memoryview(buffer)[:count])
                except BaseException as exc:  # e.g. disk full: reported by the request thread
                    self.error = exc
            self.after.put(item)
        self.after.put(None)


class _FileWriter:
    """Writes buffers one after another, bypassing the page cache where the file system allows.

    Copying each byte into the page cache was the largest single cost of an upload (more than
    reading it from the socket), and a fresh page cache page may first have to be reclaimed.
    O_DIRECT lets the disk read the page-aligned buffers itself. It needs whole 4 KiB blocks, so
    the last, partial buffer (or a file system that refuses O_DIRECT) goes through the cache.
    """

    def __init__(self, fd: int, path: str, *, direct: bool = True, offset: int = 0) -> None:
        self.fd = fd
        self.offset = offset
        self.direct: int | None = None
        flag = getattr(os, "O_DIRECT", 0)
        if flag and direct:
            try:
                self.direct = os.open(path, os.O_WRONLY | flag)
            except OSError:
                self.direct = None

    def __call__(self, view: memoryview) -> None:
        if self.direct is not None and len(view) % ALIGN == 0 and self.offset % ALIGN == 0:
            try:
                view = self._pwrite(self.direct, view)
            except OSError as exc:
                if exc.errno != errno.EINVAL:
                    raise
                self.close()  # not supported here after all: the page cache for the rest
        self._pwrite(self.fd, view)

    def _pwrite(self, fd: int, view: memoryview) -> memoryview:
        while view:
            written = os.pwrite(fd, view, self.offset)
            self.offset += written
            view = view[written:]
        return view

    def close(self) -> None:
        if self.direct is not None:
            os.close(self.direct)
            self.direct = None


def receive_to_temp(
    source: BodySource, *, length: int, limit: int, chunk_bytes: int = CHUNK_BYTES, depth: int = DEPTH
) -> ReceivedFile:
    """Read exactly `length` bytes from `source` into a new temporary file while hashing them.

    Never reads past `length`, so checking it against `limit` up front bounds what is stored.
    Raises BlobTooLarge past `limit`, IncompleteBody if the body is short; the file is then removed.
    """
    if length > limit:
        raise BlobTooLarge(limit)
    handle = new_temp_file()
    digest = hashlib.sha256()
    try:
        with handle:
            size = receive_into(
                source,
                fd=handle.fileno(),
                path=handle.name,
                offset=0,
                length=length,
                hash_update=digest.update,
                chunk_bytes=chunk_bytes,
                depth=depth,
            )
            if size < length:
                raise IncompleteBody(f"The body ended after {size:,} of {length:,} bytes.")
    except BaseException:
        os.unlink(handle.name)
        raise
    return ReceivedFile(path=handle.name, sha256=digest.hexdigest(), size=size)


def receive_into(
    source: BodySource,
    *,
    fd: int,
    path: str,
    offset: int,
    length: int,
    hash_update: Callable[[memoryview], object],
    chunk_bytes: int = CHUNK_BYTES,
    depth: int = DEPTH,
    direct: bool | None = None,
) -> int:
    """Read up to `length` bytes from `source` into the open file `fd` (at `path`) from `offset`,
    passing them to `hash_update` in order; returns how many arrived (fewer if the body ended early).

    Whatever is returned was both written and hashed. A write error (disk full) is raised after
    the stages stop; the file then holds an unknown number of bytes past `offset`. `direct`: past
    the page cache (None: FLYWHEEL_UPLOAD_DIRECT_IO); bytes that will be read again soon are better
    left in it.
    """
    chunk_bytes = max(1, min(chunk_bytes, length or 1))
    if length <= chunk_bytes:
        view = memoryview(bytearray(length))
        size = _fill(source, view)
        hash_update(view[:size])
        _pwrite_all(fd, view[:size], offset)
        return size
    if direct is None:
        direct = settings.FLYWHEEL_UPLOAD_DIRECT_IO
    return _receive_pipelined(source, fd, path, offset, hash_update, length, chunk_bytes, depth, direct)


def _pwrite_all(fd: int, view: memoryview, offset: int) -> None:
    while view:
        written = os.pwrite(fd, view, offset)
        offset += written
        view = view[written:]


def _receive_pipelined(
    source: BodySource,
    fd: int,
    path: str,
    offset: int,
    hash_update: Callable[[memoryview], object],
    length: int,
    chunk_bytes: int,
    depth: int,
    direct: bool,
) -> int:
    free: queue.Queue = queue.Queue()  # buffers back from the last stage (None once it has stopped)
    # A deployment whose disk is much slower than its network may prefer the page cache to absorb
    # bursts (FLYWHEEL_UPLOAD_DIRECT_IO = False): uploads then end before the bytes reach the disk.
    file_writer = _FileWriter(fd, path, direct=direct, offset=offset)
    hasher = _Stage(hash_update, free)
    writer = _Stage(file_writer, hasher.inbox)
    # Anonymous mmaps: page-aligned, as O_DIRECT needs.
    buffers = [mmap.mmap(-1, chunk_bytes) for _ in range(depth)]
    hasher.start()
    writer.start()
    size = 0
    # Resuming mid-block: the first buffer ends on a block boundary, so the writes after it can bypass the cache.
    want = min(chunk_bytes - offset % ALIGN, length)
    try:
        while size < length and writer.error is None and hasher.error is None:
            if buffers:
                buffer = buffers.pop()
            else:
                buffer, _ = free.get()
            count = _fill(source, memoryview(buffer)[:want])
            writer.inbox.put((buffer, count))
            size += count
            if count < want:
                break  # the body ended early: the caller reports it
            want = min(chunk_bytes, length - size)
    finally:
        writer.inbox.put(None)
        writer.join()
        hasher.join()
        file_writer.close()
    if writer.error is not None or hasher.error is not None:
        raise writer.error or hasher.error
    return size


def receive_body(request: HttpRequest, *, length: int, limit: int) -> ReceivedFile:
    """The request's raw body, `length` bytes, as a hashed temporary file (see receive_to_temp)."""
    return receive_to_temp(body_source(request), length=length, limit=limit)
