"""A gunicorn gthread worker that lets no slow or idle client hold a request thread for long.

gunicorn's gthread worker gives a connection to a thread as soon as a byte arrives, and the thread
then blocks until the client has sent the request head and as much of the body as the view reads.
16 clients sending one byte every few seconds held all 2 x 8 threads of `make run`, and the site
stopped answering. This worker reads the request head and the first BODY_BUFFER bytes of the body
(the whole body, for everything but uploads) in the worker's event loop, which waits on all its
connections at once; a thread starts only when they are in memory, so a client that never finishes
its head or body costs a socket and the bytes it sent, never a thread. A longer body (an upload) is
read by the thread straight from the socket, at full speed, but a client must keep sending: the
reads fail when fewer than FLYWHEEL_MIN_UPLOAD_RATE bytes a second arrive over FLYWHEEL_BODY_TIMEOUT
seconds (the view then answers 400 and the connection closes).

    gunicorn config.wsgi --worker-class config.gunicorn_worker.BufferingThreadWorker ...

Limits, from the environment:
  FLYWHEEL_HEADER_TIMEOUT   10 s    the whole request head, from the connection (or the first byte
                                    of a kept-alive connection's next request), or 408 and closed
  FLYWHEEL_BODY_TIMEOUT     30 s    the period over which FLYWHEEL_MIN_UPLOAD_RATE is required, so
                                    also the longest a body may stall
  FLYWHEEL_MIN_UPLOAD_RATE  8192    bytes a second a body must average over each period
  FLYWHEEL_SEND_TIMEOUT     60 s    a client that accepts no byte of the response for this long
                                    is dropped and the thread freed (SO_SNDTIMEO; Linux's sendfile
                                    gave up after about four times this, as measured here)

Plain HTTP/1.x only (TLS and HTTP/2 end at the proxy in front, see platform/nginx.conf).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import selectors
import socket
import struct
import time
from dataclasses import dataclass
from functools import partial
from typing import NamedTuple

from gunicorn import http
from gunicorn.errors import ConfigError
from gunicorn.workers.gthread import TConn, ThreadWorker

# Bodies up to this size are read whole by the event loop; longer ones start the thread after it.
BODY_BUFFER = 1024 * 1024
# Real request heads are a few KiB; nginx's default allows 32 KiB.
HEAD_LIMIT = 64 * 1024
RECV_BYTES = 256 * 1024
# After the response, how long to read and discard what a client still sends before closing, so
# that it gets the response rather than a reset (RFC 9112 section 9.6).
LINGER_SECONDS = 2.0
LINGER_BYTES = 64 * 1024
HEX = re.compile(rb"[0-9A-Fa-f]{1,16}")


@dataclass(frozen=True)
class Limits:
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    min_rate: int = 8192
    send_timeout: float = 60.0

    @classmethod
    def from_environ(cls, environ: os._Environ | dict[str, str] = os.environ) -> Limits:
        def positive(name: str, default: float) -> float:
            raw = environ.get(name, "")
            try:
                value = float(raw) if raw else default
            except ValueError:
                raise ConfigError(f"{name} must be a number, not {raw!r}") from None
            if value <= 0:
                raise ConfigError(f"{name} must be above 0, not {raw!r}")
            return value

        return cls(
            header_timeout=positive("FLYWHEEL_HEADER_TIMEOUT", cls.header_timeout),
            body_timeout=positive("FLYWHEEL_BODY_TIMEOUT", cls.body_timeout),
            min_rate=int(positive("FLYWHEEL_MIN_UPLOAD_RATE", cls.min_rate)),
            send_timeout=positive("FLYWHEEL_SEND_TIMEOUT", cls.send_timeout),
        )


class RateGuard:
    """A body must bring at least `min_rate` bytes a second, averaged over each `period` seconds."""

    def __init__(self, min_rate: int, period: float) -> None:
        self.period = period
        self.needed = min_rate * period
        self.ends = time.monotonic() + period
        self.received = 0

    def count(self, size: int) -> None:
        self.received += size

    def too_slow(self, now: float) -> bool:
        """At the end of a period: True if too little arrived in it, else the next period starts."""
        if now < self.ends:
            return False
        if self.received < self.needed:
            return True
        self.ends, self.received = now + self.period, 0
        return False

    def message(self) -> str:
        return f"the client sent less than {self.needed / self.period:,.0f} bytes a second"


def _timeval(seconds: float) -> bytes:
    whole = int(seconds)
    return struct.pack("ll", whole, int((seconds - whole) * 1_000_000))


class GuardedSocket(socket.socket):
    """A client connection whose reads in a request thread fail once the client sends too slowly,
    and whose writes fail once the client has taken no byte for `send_timeout` seconds.

    It stays in blocking mode, as under gthread, so that an upload costs one system call a read,
    as before; the kernel bounds each wait instead (SO_RCVTIMEO, SO_SNDTIMEO: set by limit_waits).
    Both gunicorn's body reader (recv) and the upload fast path (recv_into, see
    models_hub.storage.streaming) read through the two methods below, which check the guard after
    each read or wait.
    """

    guard: RateGuard | None = None
    send_timeout: float | None = None

    def limit_waits(self, *, read: float, send: float) -> None:
        """A blocking read returns after `read` s without a byte; a write fails after `send` s without progress."""
        self.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _timeval(read))
        self.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, _timeval(send))
        self.send_timeout = send

    def _guarded(self, read, *args):
        guard = self.guard
        while True:
            try:
                result = read(*args)
            except BlockingIOError:  # SO_RCVTIMEO: nothing arrived for a while
                result = None
            if result:
                guard.count(len(result) if isinstance(result, bytes) else result)
            if guard.too_slow(time.monotonic()):
                raise TimeoutError(f"Request body too slow: {guard.message()}.")
            if result is not None:
                return result

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        if self.guard is None:
            return super().recv(bufsize, flags)
        return self._guarded(super().recv, bufsize, flags)

    def recv_into(self, buffer, nbytes: int = 0, flags: int = 0) -> int:
        if self.guard is None:
            return super().recv_into(buffer, nbytes, flags)
        return self._guarded(super().recv_into, buffer, nbytes, flags)

    def sendfile(self, file, offset: int = 0, count: int | None = None) -> int:
        """socket.sendfile(), which on a blocking socket waits without limit once os.sendfile() gives up
        (SO_SNDTIMEO); here that is the end. Blocking, each call sends as much as the client takes,
        so a download costs as few system calls as under gthread."""
        if self.send_timeout is None or self.gettimeout() is not None:
            return super().sendfile(file, offset, count)
        source = file.fileno()
        left = count if count is not None else os.fstat(source).st_size - offset
        sent = 0
        while sent < left:
            try:
                done = os.sendfile(self.fileno(), source, offset + sent, min(left - sent, 1 << 30))
            except BlockingIOError:
                raise TimeoutError(f"the client took no byte for {self.send_timeout:g} s") from None
            except OSError:
                if sent:
                    raise
                return super().sendfile(file, offset, count)  # not a regular file: Python's fallback
            if not done:
                break
            sent += done
        file.seek(offset + sent)
        return sent


class Framing(NamedTuple):
    length: int  # Content-Length, 0 without one
    chunked: bool
    expect_continue: bool


def framing_of(head: bytes) -> Framing | None:
    """How the body after this request head is delimited; None when unsure (gunicorn then decides,
    and answers 400 for anything ambiguous, such as two Content-Length fields)."""
    lines = head.split(b"\r\n")
    version = lines[0].rsplit(b" ", 1)[-1]
    length: int | None = None
    chunked = expect = False
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon:
            continue
        name, value = name.strip().lower(), value.strip().lower()
        if name == b"content-length":
            if length is not None or not value.isdigit() or len(value) > 18:
                return None
            length = int(value)
        elif name == b"transfer-encoding":
            if not value.endswith(b"chunked"):
                return None
            chunked = True
        elif name == b"expect":
            expect = value == b"100-continue" and version == b"HTTP/1.1"
    if chunked and length is not None:
        return None
    return Framing(length or 0, chunked, expect)


class ChunkedScanner:
    """Finds, as bytes arrive, where a chunked body ends (after its last chunk and trailers)."""

    def __init__(self, start: int) -> None:
        self.pos = start  # the start of the next chunk-size line, or of a trailer line
        self.in_trailers = False

    def end(self, buf: bytearray) -> int | None:
        """The index just past the body, None while incomplete; -1 when malformed."""
        while True:
            line_end = buf.find(b"\r\n", self.pos)
            if line_end < 0:
                return None if len(buf) - self.pos <= 8192 else -1
            line = bytes(buf[self.pos : line_end])
            self.pos = line_end + 2
            if self.in_trailers:
                if not line:
                    return self.pos
                continue
            size = line.split(b";", 1)[0].strip()
            if not HEX.fullmatch(size):
                return -1
            if int(size, 16) == 0:
                self.in_trailers = True
            else:
                self.pos += int(size, 16) + 2  # the data and its CRLF
            if self.pos > len(buf):
                return None


def _head_end(buf: bytearray, start: int) -> int | None:
    """The index just past the blank line that ends a request head, searching from `start`.

    A head with bare LF line ends is gunicorn's to refuse: it ends the head too, or the request
    would wait here until the header timeout.
    """
    ends = [found + len(mark) for mark in (b"\r\n\r\n", b"\n\n") if (found := buf.find(mark, start)) >= 0]
    return min(ends) if ends else None


class BufferedConn(TConn):
    """A connection, with what the event loop has read of its next request."""

    def __init__(self, cfg, sock, client, server) -> None:
        super().__init__(cfg, sock, client, server)
        self.incoming = bytearray()
        self.head_end: int | None = None
        self.scanned = 0  # incoming holds no end of head before this index
        self.want: int = 0  # bytes of incoming to gather before a thread takes over (with a length)
        self.chunks: ChunkedScanner | None = None
        self.deadline = 0.0  # for the head
        self.guard: RateGuard | None = None  # for the body
        self.continue_sent = False

    def start_request(self, leftover: bytes, deadline: float) -> None:
        self.incoming = bytearray(leftover)
        self.head_end, self.scanned, self.want, self.chunks, self.guard = None, 0, 0, None, None
        self.deadline = deadline
        self.continue_sent = False


class BufferingThreadWorker(ThreadWorker):
    """gthread, with request heads and small bodies read by the event loop (see the module docstring)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.limits = Limits.from_environ()
        self.reading: set[BufferedConn] = set()
        self.lingering: dict[socket.socket, list[float]] = {}  # socket: [deadline, bytes it may still send]

    @classmethod
    def check_config(cls, cfg, log) -> None:
        super().check_config(cfg, log)
        if cfg.is_ssl or "h2" in cfg.http_protocols or cfg.proxy_protocol != "off" or cfg.protocol != "http":
            raise ConfigError(f"{cls.__name__} serves plain HTTP/1.x: end TLS and HTTP/2 at the proxy.")
        Limits.from_environ()  # refuse bad values at start-up, not in every worker

    # --- connections arrive -------------------------------------------------------------------

    def accept(self, listener) -> None:
        try:
            client, address = listener.accept()
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        sock = GuardedSocket(client.family, client.type, client.proto, fileno=client.detach())
        # A body that stops coming, or a response nobody reads, frees the thread.
        sock.limit_waits(read=self.limits.body_timeout, send=self.limits.send_timeout)
        self.nr_conns += 1
        conn = BufferedConn(self.cfg, sock, address, listener.getsockname())
        self._read_request(conn, b"", time.monotonic() + self.limits.header_timeout)

    def on_client_socket_readable(self, conn: BufferedConn, client) -> None:
        """A kept-alive connection's next request: its head has the header timeout from now."""
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self._read_request(conn, b"", time.monotonic() + self.limits.header_timeout)

    def _read_request(self, conn: BufferedConn, leftover: bytes, deadline: float) -> None:
        conn.start_request(leftover, deadline)
        self.reading.add(conn)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_readable, conn))
        if leftover:
            self._advance(conn)

    # --- the event loop reads ---------------------------------------------------------------

    def _on_readable(self, conn: BufferedConn, _sock) -> None:
        if conn.head_end is None:
            size = HEAD_LIMIT + 1 - len(conn.incoming)
        elif conn.chunks is None:
            size = conn.want - len(conn.incoming)
        else:
            size = conn.head_end + BODY_BUFFER - len(conn.incoming)
        try:
            data = conn.sock.recv(max(1, min(size, RECV_BYTES)))
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # reset: nobody to answer
            self._drop(conn)
            return
        if not data:  # the client stopped sending before its request was complete
            if conn.head_end is None:
                self._drop(conn)
            else:  # it may still read: the view tells it that the body was cut short
                self._hand_over(conn)
            return
        conn.incoming += data
        if conn.guard is not None:
            conn.guard.count(len(data))
        self._advance(conn)

    def _advance(self, conn: BufferedConn) -> None:
        """Hand the request to a thread once its head, and its body up to BODY_BUFFER, are here."""
        incoming = conn.incoming
        if conn.head_end is None:
            if not conn.scanned:  # blank lines before a request line are allowed (RFC 9112 2.2): drop them
                del incoming[: len(incoming) - len(incoming.lstrip(b"\r\n"))]
            end = _head_end(incoming, conn.scanned)
            if end is None:
                if len(incoming) > HEAD_LIMIT:
                    self._drop(conn, b"431 Request Header Fields Too Large", "The request head is too large.")
                    return
                conn.scanned = max(0, len(incoming) - 3)  # a head trickled in costs one pass, not one per byte
                return
            conn.head_end = end
            framing = framing_of(bytes(incoming[: conn.head_end]))
            if framing is None:
                self._hand_over(conn)
                return
            if framing.chunked:
                conn.chunks = ChunkedScanner(conn.head_end)
            conn.want = conn.head_end + min(framing.length, BODY_BUFFER)
            if framing.length or framing.chunked:
                conn.guard = RateGuard(self.limits.min_rate, self.limits.body_timeout)
                if framing.expect_continue:  # the client waits for this before it sends the body
                    conn.continue_sent = True
                    self._send_quietly(conn.sock, b"HTTP/1.1 100 Continue\r\n\r\n")
        if conn.chunks is not None:
            end = conn.chunks.end(incoming)
            if end is not None or len(incoming) >= conn.head_end + BODY_BUFFER:
                self._hand_over(conn)  # complete, too long to buffer, or malformed (gunicorn says why)
        elif len(incoming) >= conn.want:
            self._hand_over(conn)

    def _hand_over(self, conn: BufferedConn) -> None:
        self._stop_reading(conn)
        if conn.parser is None:
            conn.parser = http.get_parser(self.cfg, conn.sock, conn.client)
        conn.parser.unreader.unread(bytes(conn.incoming))
        conn.incoming = bytearray()
        conn.initialized = conn.data_ready = True  # gthread's handle() then neither waits nor re-inits
        conn.sock.guard = conn.guard or RateGuard(self.limits.min_rate, self.limits.body_timeout)
        self.enqueue_req(conn)

    def _stop_reading(self, conn: BufferedConn) -> None:
        self.reading.discard(conn)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(conn.sock)

    def _drop(self, conn: BufferedConn, status: bytes = b"", message: str = "") -> None:
        """Close a connection whose request never completed, with a short answer if it sent anything."""
        self._stop_reading(conn)
        if status and conn.incoming:
            body = f"{message}\n".encode()
            head = b"HTTP/1.1 %s\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: %d\r\n\r\n"
            self._send_quietly(conn.sock, head % (status, len(body)) + body)
        self.nr_conns -= 1
        conn.close()

    @staticmethod
    def _send_quietly(sock: socket.socket, data: bytes) -> None:
        """Best effort, never blocking: a reply the client may not be reading."""
        with contextlib.suppress(OSError):
            sock.send(data)

    def murder_pending(self) -> None:
        """Called by gthread's loop about once a second: expire heads and bodies that arrive too slowly."""
        super().murder_pending()
        now = time.monotonic()
        for conn in list(self.reading):
            if conn.head_end is None and (now >= conn.deadline or (not self.alive and not conn.incoming)):
                self._drop(conn, b"408 Request Timeout", "The request head took too long.")
            elif conn.guard is not None and conn.guard.too_slow(now):
                self._drop(conn, b"408 Request Timeout", f"The request body is too slow: {conn.guard.message()}.")
        for sock, (deadline, _) in list(self.lingering.items()):
            if now >= deadline:
                self._end_linger(sock)

    # --- a thread serves the request ----------------------------------------------------------

    def handle_request(self, req, conn: BufferedConn):
        if conn.continue_sent:
            req._expected_100_continue = False
        try:
            return super().handle_request(req, conn)
        except (TimeoutError, BlockingIOError) as exc:  # gthread would log a traceback: the client's doing
            self.log.info("Closed the connection from %s, the client stalled: %s", conn.client, exc)
            return False

    def finish_request(self, conn: BufferedConn, fs) -> None:
        """Back on the event loop: read the next request there, or close without blocking the loop."""
        conn.sock.guard = None
        try:
            keepalive = not fs.cancelled() and fs.result() is True
        except Exception:
            keepalive = False
        if keepalive:
            leftover = conn.parser.unreader.take_buffered()
            if leftover:  # the client already sent (part of) its next request
                conn.sock.setblocking(False)
                self._read_request(conn, leftover, time.monotonic() + self.limits.header_timeout)
                return
            super().finish_request(conn, fs)  # idle keep-alive, as gthread does
            return
        self.nr_conns -= 1
        self._linger(conn.sock)

    def _linger(self, sock: socket.socket) -> None:
        """gthread's graceful close, without blocking the loop: send FIN, discard what still arrives."""
        try:
            sock.setblocking(False)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            sock.close()
            return
        self.lingering[sock] = [time.monotonic() + LINGER_SECONDS, LINGER_BYTES]
        self.poller.register(sock, selectors.EVENT_READ, self._on_linger_readable)

    def _on_linger_readable(self, sock: socket.socket) -> None:
        budget = self.lingering[sock]
        try:
            data = sock.recv(RECV_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        budget[1] -= len(data)
        if not data or budget[1] <= 0:
            self._end_linger(sock)

    def _end_linger(self, sock: socket.socket) -> None:
        self.lingering.pop(sock, None)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(sock)
        sock.close()
