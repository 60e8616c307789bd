"""Normal requests while 64 slow or idle clients hold connections open, against the server as `make run` starts it.

    .venv/bin/python -m bench.bench_slow_clients
    BENCH_SLOW_CLIENTS=256 .venv/bin/python -m bench.bench_slow_clients

It migrates a throw-away FLYWHEEL_DATA_DIR (SQLite), starts the `web:` line of platform/Procfile.dev
on a free port, and times GET /api/v1/models/, GET / and a small POST /api/validate-yaml, first
with no other client (the baseline), then while BENCH_SLOW_CLIENTS connections (default 64) send
their request heads or bodies one byte at a time (see SlowClients for the kinds). Each request
gets at most 10 s; 5 rounds of the three (20 with BENCH_FULL=1). Target: every request answered, and the slowest under attack no slower than
5x the slowest of the baseline plus 1 s (the machine is shared; only a gross slowdown counts).
"""

from __future__ import annotations

import contextlib
import http.client
import os
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from bench.common import ROOT, free_port, server_env

# One of each kind, in turn. Every one claims a body or head it never finishes.
SLOW_KINDS = (
    "idle",  # connects and sends nothing
    "head",  # a request head, one byte at a time
    "body",  # a small JSON body, one byte at a time
    "big-body",  # announces 100 MB to a page that takes small bodies, then sends one byte at a time
    "upload",  # an anonymous raw PUT upload of 100 MB, one byte at a time
    "chunked",  # a chunked body, one byte at a time
)
HEADS = {
    "head": b"GET /api/v1/models/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ",
    "body": b"POST /api/validate-yaml HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    b"Content-Length: 4096\r\n\r\n",
    "big-body": b"POST /api/validate-yaml HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    b"Content-Length: 100000000\r\n\r\n",
    "upload": b"PUT /api/v1/repos/model/someone/repo/files/main/big.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    b"Content-Length: 100000000\r\n\r\n",
    "chunked": b"POST /api/validate-yaml HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n10000\r\n",
}
NORMAL_REQUESTS = (
    ("GET", "/api/v1/models/", None),
    ("GET", "/", None),
    ("POST", "/api/validate-yaml", b'{"content": "---\\nlicense: mit\\n---\\n"}'),
)


def procfile_web_command(port: int) -> list[str]:
    """The `web:` line of platform/Procfile.dev, as honcho would run it for `make run`."""
    for line in (ROOT / "platform" / "Procfile.dev").read_text().splitlines():
        if line.startswith("web:"):
            return shlex.split(line.removeprefix("web:").replace("$PORT", str(port)))
    raise RuntimeError("platform/Procfile.dev has no web: line")


@contextlib.contextmanager
def dev_web_server(data_dir: Path, *, extra_env: dict[str, str] | None = None) -> Iterator[str]:
    """The web process of `make run` on a free port over a migrated `data_dir`; yields its URL."""
    env = server_env(data_dir) | (extra_env or {})
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    port = free_port()
    env["PORT"] = str(port)
    log_path = data_dir / "web.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            procfile_web_command(port), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 60
        while status_of(port, "GET", "/api/v1/models/", timeout=2) != 200:
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the web process did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def status_of(port: int, method: str, path: str, body: bytes | None = None, *, timeout: float) -> int | None:
    """The status of one request on a new connection, None if it failed or took longer than `timeout`."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Content-Type": "application/json"} if body is not None else {}
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status
    except OSError:
        return None
    finally:
        connection.close()


class SlowClients:
    """`count` connections that each send one byte every `interval` seconds, for at most `duration` seconds.

    Loopback only; every socket is closed on exit, and the sending thread stops after `duration`
    even if nobody exits the context.
    """

    def __init__(self, port: int, count: int = 64, *, interval: float = 1.0, duration: float = 120.0) -> None:
        self.port = port
        self.count = count
        self.interval = interval
        self.duration = duration
        self.sockets: list[tuple[str, socket.socket]] = []
        self.closed_by_server: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._drip, daemon=True, name="slow-clients")

    def __enter__(self) -> SlowClients:
        try:
            for index in range(self.count):
                kind = SLOW_KINDS[index % len(SLOW_KINDS)]
                sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
                sock.sendall(HEADS.get(kind, b""))
                self.sockets.append((kind, sock))
        except BaseException:
            self.close()
            raise
        self._thread.start()
        return self

    def _drip(self) -> None:
        deadline = time.monotonic() + self.duration
        while time.monotonic() < deadline and not self._stop.wait(self.interval):
            for index, (kind, sock) in enumerate(self.sockets):
                if kind == "idle" or index in self.closed_by_server:
                    continue
                try:
                    sock.send(b"a")
                except OSError:
                    self.closed_by_server.add(index)

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        for _, sock in self.sockets:
            sock.close()

    def __exit__(self, *exc_info) -> None:
        self.close()


def timed_requests(port: int, rounds: int, timeout: float) -> list[float | None]:
    """Seconds each normal request took (None: failed or over `timeout`)."""
    times: list[float | None] = []
    for _ in range(rounds):
        for method, path, body in NORMAL_REQUESTS:
            start = time.perf_counter()
            ok = status_of(port, method, path, body, timeout=timeout) == 200
            times.append(time.perf_counter() - start if ok else None)
    return times


def summary(times: list[float | None]) -> str:
    done = [t for t in times if t is not None]
    if not done:
        return f"0/{len(times)} answered"
    return (
        f"{len(done)}/{len(times)} answered, p50 {statistics.median(done) * 1000:6.0f} ms, "
        f"max {max(done) * 1000:6.0f} ms"
    )


def main() -> int:
    count = int(os.environ.get("BENCH_SLOW_CLIENTS", "64"))
    rounds = 20 if os.environ.get("BENCH_FULL") == "1" else 5
    timeout = 10.0
    with tempfile.TemporaryDirectory(prefix="flywheel-slow-") as workdir, dev_web_server(Path(workdir) / "data") as url:
        port = int(url.rsplit(":", 1)[1])
        timed_requests(port, 1, timeout)  # warm up
        baseline = timed_requests(port, rounds, timeout)
        with SlowClients(port, count, interval=1.0, duration=300) as slow:
            time.sleep(2)  # let every slow client be accepted and start its drip
            attacked = timed_requests(port, rounds, timeout)
            dropped = len(slow.closed_by_server)
    print(f"{'no slow clients':24} {summary(baseline)}")
    print(f"{f'{count} slow clients':24} {summary(attacked)}  ({dropped} of them closed by the server meanwhile)")
    slowest = max(t for t in baseline if t is not None)
    met = all(t is not None for t in attacked) and max(attacked) <= 5 * slowest + 1.0
    print(f"target (all answered, max <= 5x baseline max + 1 s): {'met' if met else 'NOT met'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
