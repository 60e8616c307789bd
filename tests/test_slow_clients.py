"""Slow and idle clients against the web process as `make run` starts it (platform/Procfile.dev).

Real gunicorn on a free port over a throw-away data folder; clients are raw loopback sockets, every
loop is bounded, and everything is closed at the end.
"""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from bench.bench_api_upload import SETUP
from bench.bench_slow_clients import NORMAL_REQUESTS, SlowClients, dev_web_server, status_of
from bench.common import ROOT, server_env
from config.gunicorn_worker import BODY_BUFFER, ChunkedScanner, Framing, RateGuard, framing_of

pytestmark = pytest.mark.timeout(300)

MIB = 1024 * 1024


def test_normal_requests_answer_while_64_slow_clients_hold_connections(tmp_path):
    with dev_web_server(tmp_path / "data") as url:
        port = int(url.rsplit(":", 1)[1])
        for method, path, body in NORMAL_REQUESTS:  # warm: the first requests import the views
            assert status_of(port, method, path, body, timeout=30) == 200, (method, path)
        with SlowClients(port, 64, interval=1.0, duration=60):
            time.sleep(2)  # every slow client accepted and sending
            for _ in range(2):
                for method, path, body in NORMAL_REQUESTS:
                    assert status_of(port, method, path, body, timeout=3) == 200, (method, path)


@dataclass
class Server:
    port: int
    token: str


@pytest.fixture(scope="module")
def tight_server(tmp_path_factory) -> Iterator[Server]:
    """make run's web process with 1-2 s limits and 64 KiB/s, a user `bench` with a write token and bench/upload."""
    data_dir = tmp_path_factory.mktemp("slow-clients") / "data"
    limits = {
        "FLYWHEEL_HEADER_TIMEOUT": "2",
        "FLYWHEEL_BODY_TIMEOUT": "2",
        "FLYWHEEL_MIN_UPLOAD_RATE": "65536",
        "FLYWHEEL_SEND_TIMEOUT": "1",
    }
    with dev_web_server(data_dir, extra_env=limits) as url:
        setup = subprocess.run(
            [sys.executable, "-c", SETUP],
            cwd=ROOT,
            env=server_env(data_dir),
            check=True,
            capture_output=True,
            text=True,
        )
        token = json.loads(setup.stdout.strip().splitlines()[-1])["token"]
        yield Server(port=int(url.rsplit(":", 1)[1]), token=token)


def connect(server: Server) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=10)


def read_response(stream) -> tuple[int, bytes]:
    """One response (status, body) from a buffered reader; bodies are framed by Content-Length here."""
    status = int(stream.readline().split()[1])
    length = 0
    while (line := stream.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return status, stream.read(length)


def drip_until_closed(sock: socket.socket, *, interval: float = 0.5, rounds: int = 30) -> bytes:
    """Send one byte every `interval` s until the server closes; returns what it answered (b"" if it never did)."""
    sock.settimeout(interval)
    answer = b""
    for _ in range(rounds):
        try:
            data = sock.recv(65536)
        except TimeoutError:
            try:
                sock.send(b"a")
            except OSError:  # reset: closed without (or after) an answer
                return answer
            continue
        except OSError:
            return answer
        if not data:
            return answer
        answer += data
    raise AssertionError(f"still open after {rounds * interval} s")


def test_a_slow_request_head_is_answered_408_and_closed(tight_server):
    with connect(tight_server) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        answer = drip_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 408 "), answer


def test_an_idle_connection_is_closed(tight_server):
    with connect(tight_server) as sock:
        sock.settimeout(10)
        assert sock.recv(100) == b""


def test_a_slow_small_body_is_answered_408_and_closed(tight_server):
    with connect(tight_server) as sock:
        sock.sendall(b"POST /api/validate-yaml HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 4096\r\n\r\n{")
        answer = drip_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 408 "), answer


def raw_put_head(server: Server, path: str, length: int, extra: str = "") -> bytes:
    return (
        f"PUT /api/v1/repos/model/bench/upload/files/main/{path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {server.token}\r\nContent-Length: {length}\r\n{extra}\r\n"
    ).encode()


def test_an_upload_that_slows_down_is_refused_and_nothing_is_stored(tight_server):
    with connect(tight_server) as sock:
        # Past what the event loop buffers, so a request thread is reading the body when it slows down.
        sock.sendall(raw_put_head(tight_server, "slow.bin", 4 * MIB) + b"x" * (BODY_BUFFER + MIB))
        answer = drip_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 400 "), answer
    assert b"Incomplete upload, nothing was stored" in answer
    assert status_of(tight_server.port, "GET", "/bench/upload/resolve/main/slow.bin", timeout=10) == 404


def test_an_upload_at_full_speed_is_stored_whole(tight_server):
    data = bytes(range(256)) * (3 * MIB // 256) + b"tail"
    sha256 = hashlib.sha256(data).hexdigest()
    with connect(tight_server) as sock, sock.makefile("rb") as stream:
        sock.sendall(raw_put_head(tight_server, "fast.bin", len(data), f"X-Content-SHA256: {sha256}\r\n") + data)
        status, body = read_response(stream)
        sock.sendall(b"GET /bench/upload/resolve/main/fast.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        downloaded = read_response(stream)
    assert status == 201 and json.loads(body)["sha256"] == sha256, body
    assert downloaded == (200, data)


def test_a_client_that_stops_reading_a_download_is_dropped(tight_server):
    size = 24 * MIB  # far more than the socket buffers hold (4 MiB to send, 6 MiB to receive at most)
    with connect(tight_server) as sock, sock.makefile("rb") as stream:
        sock.sendall(raw_put_head(tight_server, "big.bin", size) + b"z" * size)
        assert read_response(stream)[0] == 201
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        sock.settimeout(10)
        sock.connect(("127.0.0.1", tight_server.port))
        sock.sendall(b"GET /bench/upload/resolve/main/big.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        time.sleep(8)  # reads nothing for longer than FLYWHEEL_SEND_TIMEOUT (the kernel gives up after ~4 s)
        received = 0
        for _ in range(size // 4096 + 100):
            try:
                data = sock.recv(1024 * 1024)
            except ConnectionResetError:
                break
            if not data:
                break
            received += len(data)
    assert 0 < received < size / 2


def test_pipelined_requests_on_one_connection_are_all_answered(tight_server):
    request = b"GET /api/v1/models/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    post = b'{"content": "---\\nlicense: mit\\n---\\n"}'
    validate = b"POST /api/validate-yaml HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n\r\n%s" % (
        len(post),
        post,
    )
    with connect(tight_server) as sock, sock.makefile("rb") as stream:
        sock.sendall(request + validate + request)
        answers = [read_response(stream) for _ in range(3)]
    assert [status for status, _ in answers] == [200, 200, 200]
    assert json.loads(answers[1][1]) == {"errors": [], "warnings": []}


def test_expect_100_continue_gets_one_interim_answer_then_the_response(tight_server):
    body = b'{"content": "---\\nlicense: mit\\n---\\n"}'
    head = b"POST /api/validate-yaml HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n"
    with connect(tight_server) as sock, sock.makefile("rb") as stream:
        sock.sendall(head % len(body))
        interim = stream.readline() + stream.readline()
        sock.sendall(body)
        status, answer = read_response(stream)
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert (status, json.loads(answer)) == (200, {"errors": [], "warnings": []})


def test_a_chunked_body_is_read_whole_before_the_next_request(tight_server):
    body = b'{"content": "---\\nlicense: mit\\n---\\n"}'
    chunked = b"%x\r\n%s\r\n%x;ext=1\r\n%s\r\n0\r\n\r\n" % (10, body[:10], len(body) - 10, body[10:])
    head = b"POST /api/validate-yaml HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    with connect(tight_server) as sock, sock.makefile("rb") as stream:
        sock.sendall(head + chunked + b"GET /api/v1/models/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        first, second = read_response(stream), read_response(stream)
    assert (first[0], json.loads(first[1])) == (200, {"errors": [], "warnings": []})
    assert second[0] == 200


def test_blank_lines_before_a_request_and_a_head_sent_byte_by_byte_are_answered(tight_server):
    head = b"\r\n\r\nGET /api/v1/models/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    with connect(tight_server) as sock, sock.makefile("rb") as stream:
        for byte in head:
            sock.send(bytes([byte]))
        assert read_response(stream)[0] == 200


def test_a_huge_request_head_is_refused(tight_server):
    with connect(tight_server) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Big: " + b"a" * 70_000)
        answer = drip_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 431 "), answer


def test_framing_of_request_heads():
    assert framing_of(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n") == Framing(0, False, False)
    assert framing_of(b"PUT /f HTTP/1.1\r\ncontent-length:  12 \r\nExpect: 100-Continue\r\n\r\n") == Framing(
        12, False, True
    )
    assert framing_of(b"PUT /f HTTP/1.0\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n") == Framing(
        5, False, False
    )
    assert framing_of(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n") == Framing(0, True, False)
    # Ambiguous or invalid: gunicorn answers those itself.
    assert framing_of(b"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n") is None
    assert framing_of(b"POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n") is None
    assert framing_of(b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n") is None
    assert framing_of(b"POST / HTTP/1.1\r\nContent-Length: " + b"9" * 5000 + b"\r\n\r\n") is None
    assert framing_of(b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n") is None


def test_chunked_scanner_finds_the_end_as_bytes_arrive():
    body = b"4\r\nWiki\r\n5;name=v\r\npedia\r\n0\r\nTrailer: x\r\n\r\nNEXT"
    scanner = ChunkedScanner(0)
    buf = bytearray()
    ends = []
    for byte in body:
        buf.append(byte)
        ends.append(scanner.end(buf))
    assert ends.index(len(body) - 4) == len(body) - 5  # found exactly when the last CRLF arrived
    assert ends[: len(body) - 5] == [None] * (len(body) - 5)
    assert ChunkedScanner(0).end(bytearray(b"zz\r\n")) == -1
    assert ChunkedScanner(0).end(bytearray(b"1" * 9000)) == -1


def test_rate_guard_needs_the_minimum_rate_over_each_period():
    guard = RateGuard(min_rate=100, period=10)
    start = guard.ends - 10
    guard.count(999)
    assert not guard.too_slow(start + 5)
    assert guard.too_slow(start + 10)  # 999 bytes < 100 bytes/s x 10 s
    guard = RateGuard(min_rate=100, period=10)
    guard.count(1000)
    assert not guard.too_slow(guard.ends)  # enough: a new period begins
    assert guard.too_slow(guard.ends)  # and nothing arrived in it
