"""Request bodies that refuse to end early.

Django's WSGI request reads at most Content-Length bytes, and when the client's connection drops it
just sees the end of the body: a Hub commit cut at a line boundary, a multipart form cut between two
files, a form cut between two fields all parse as valid, shorter requests. CompleteBodyMiddleware
puts one of these streams in front of every body, so that the end of a body is reached only after
every announced byte (or, when chunked, the last zero-length chunk). Otherwise reading raises
IncompleteBody, which Django's HttpRequest.read() reports as UnreadablePostError.

Under ASGI the server hands a body over only once it is complete, so nothing is needed there.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest

from models_hub.storage.streaming import IncompleteBody

READ_STEP = 1024 * 1024


class LengthCheckedStream:
    """Django's LimitedStream, but an early end of the body raises instead of looking like its end.

    A read returns exactly what was asked (up to the bytes left): a short read is retried, and only
    a read that returns nothing before Content-Length bytes arrived means the body ended early.
    """

    def __init__(self, stream, length: int) -> None:
        self.stream = stream
        self.length = length
        self.received = 0

    def _wanted(self, size: int | None) -> int:
        left = self.length - self.received
        return left if size is None or size < 0 else min(size, left)

    def _take(self, method, size: int | None, *, line: bool = False) -> bytes:
        want = self._wanted(size)
        pieces: list[bytes] = []
        got = 0
        while got < want:
            data = method(want - got)
            if not data:
                raise IncompleteBody(f"The body was cut short after {self.received:,} of {self.length:,} bytes.")
            pieces.append(data)
            got += len(data)
            self.received += len(data)
            if line and data.endswith(b"\n"):
                break
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def read(self, size: int = -1, /) -> bytes:
        return self._take(self.stream.read, size)

    def readline(self, size: int = -1, /) -> bytes:
        return self._take(self.stream.readline, size, line=True)

    def close(self) -> None:
        self.stream.close()


class DecodedChunkedStream:
    """A chunked body that the server decodes (gunicorn): its reader fails when the last chunk is missing."""

    def __init__(self, stream) -> None:
        self.stream = stream

    def _call(self, method, size: int) -> bytes:
        try:
            return method(size)
        except OSError as exc:  # gunicorn's NoMoreData: the connection ended inside the body
            raise IncompleteBody(f"The chunked body was cut short: {exc or 'no final chunk'}.") from None
        except Exception as exc:  # any error of the server's chunk decoder means a broken body
            raise IncompleteBody(f"The chunked body is malformed or cut short: {exc!r}.") from None

    def read(self, size: int = -1, /) -> bytes:
        if size is not None and size >= 0:
            return self._call(self.stream.read, size)
        # Everything at once (request.body): bounded like a body whose Content-Length is known.
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        pieces, total = [], 0
        while piece := self._call(self.stream.read, READ_STEP):
            pieces.append(piece)
            total += len(piece)
            if limit is not None and total > limit:
                raise RequestDataTooBig("Request body exceeded settings.DATA_UPLOAD_MAX_MEMORY_SIZE.")
        return b"".join(pieces)

    def readline(self, size: int = -1, /) -> bytes:
        return self._call(self.stream.readline, size if size is not None and size >= 0 else READ_STEP)

    def close(self) -> None:
        # Django closes the stream after request.body; gunicorn's decoded body has no close().
        if hasattr(self.stream, "close"):
            self.stream.close()


class UndecodableChunkedStream:
    """A chunked body under a server that cannot decode chunks (Django's runserver): refuse to guess."""

    def read(self, size: int = -1, /) -> bytes:
        raise IncompleteBody("This server cannot read a chunked request body: send it with a Content-Length.")

    readline = read

    def close(self) -> None:
        pass


def guard_request_body(request: HttpRequest) -> None:
    """Make every reader of this WSGI request's body fail on a body that ended early."""
    meta = request.META
    if "wsgi.input" not in meta:  # ASGI: bodies arrive whole or the request is aborted
        return
    if "chunked" in meta.get("HTTP_TRANSFER_ENCODING", "").lower():
        # Django reads a body without Content-Length as empty; read the server's decoded stream instead.
        if meta.get("wsgi.input_terminated"):
            request._stream = DecodedChunkedStream(meta["wsgi.input"])
        else:
            request._stream = UndecodableChunkedStream()
        return
    try:
        length = int(meta.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return  # Django reads such a body as empty
    if length > 0:
        request._stream = LengthCheckedStream(request._stream, length)
