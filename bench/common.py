"""Helpers shared by the benchmarks that start their own server."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

MIB = 1024 * 1024


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(data_dir: Path) -> dict[str, str]:
    """A server on the embedded defaults (SQLite, local blobs) in `data_dir`, whatever this shell has set."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "S3_BUCKET")}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "FLYWHEEL_DATA_DIR": str(data_dir),
            "DEBUG": "false",
            "SECRET_KEY": "bench-only-secret-key",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "LOG_LEVEL": "WARNING",
        }
    )
    return env


def best_seconds(measure: Callable[[], float], repeats: int = 3) -> float:
    """The fastest of `repeats` timings: a bound on what any code could do should favour that code."""
    return min(measure() for _ in range(repeats))


ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).parent / "gunicorn"


def start_gunicorn(*, port: int, env: dict[str, str], log_path: Path, workers: int = 2) -> subprocess.Popen:
    """The site as deployed (platform/gunicorn.conf.py: 8 threads a worker, 900 s timeout) on `port`,
    with `workers` workers and no access log; waits until it answers."""
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [
                str(GUNICORN),
                "config.wsgi:application",
                "-c",
                "platform/gunicorn.conf.py",
                "-b",
                f"127.0.0.1:{port}",
                "-w",
                str(workers),
                "--access-logfile",
                "/dev/null",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_up(port, server, log_path)
    except BaseException:
        stop_gunicorn(server)
        raise
    return server


def _wait_until_up(port: int, server: subprocess.Popen, log_path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited during start-up:\n{log_path.read_text()[-3000:]}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/api/v1/models/")
            status = connection.getresponse().status
            connection.close()
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError("gunicorn did not answer in time")


def stop_gunicorn(server: subprocess.Popen) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


class RssSampler(threading.Thread):
    """Peak resident memory of each gunicorn worker, sampled every 20 ms until stop()."""

    def __init__(self, master_pid: int) -> None:
        import psutil

        super().__init__(daemon=True)
        # Listed once: children() scans all of /proc, which at 50 Hz would take CPU from the server.
        self.workers = psutil.Process(master_pid).children()
        self.baseline = self._sample()
        self.peak = dict(self.baseline)
        self.stopping = threading.Event()

    def _sample(self) -> dict[int, int]:
        import psutil

        sizes = {}
        for worker in self.workers:
            with contextlib.suppress(psutil.NoSuchProcess):
                sizes[worker.pid] = worker.memory_info().rss
        return sizes

    def run(self) -> None:
        while not self.stopping.wait(0.02):
            for pid, rss in self._sample().items():
                self.peak[pid] = max(self.peak.get(pid, 0), rss)

    def stop(self) -> None:
        self.stopping.set()
        self.join()

    def growth(self) -> int:
        """The largest growth of any single worker (one request is served by one worker)."""
        return max(self.peak[pid] - self.baseline.get(pid, self.peak[pid]) for pid in self.peak)


def make_source(path: Path, size: int) -> str:
    """Random bytes (nothing compresses or deduplicates them); returns their SHA-256."""
    digest = hashlib.sha256()
    block = os.urandom(8 * MIB)
    with open(path, "wb") as handle:
        left = size
        while left > 0:
            piece = block[: min(len(block), left)]
            # Vary each block so no two are equal.
            piece = left.to_bytes(8, "little") + piece[8:]
            handle.write(piece)
            digest.update(piece)
            left -= len(piece)
    return digest.hexdigest()


def put_raw(port: int, token: str, source: Path, repo_file_url: str, sha256: str) -> tuple[float, dict]:
    """PUT /api/v1/repos/<repo_file_url> with the file as the body: headers through http.client, the
    bytes by sendfile() (no copies in this process, so the client costs almost nothing)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    conn.connect()
    conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * MIB)
    start = time.perf_counter()
    conn.putrequest("PUT", f"/api/v1/repos/{repo_file_url}")
    conn.putheader("Authorization", f"Bearer {token}")
    conn.putheader("Content-Type", "application/octet-stream")
    conn.putheader("Content-Length", str(source.stat().st_size))
    conn.putheader("X-Content-SHA256", sha256)
    conn.putheader("X-Commit-Message", "Bench upload (raw)")
    conn.endheaders()
    with open(source, "rb") as handle:
        conn.sock.sendfile(handle)
    response = conn.getresponse()
    payload = response.read()
    elapsed = time.perf_counter() - start
    conn.close()
    if response.status != 201:
        raise RuntimeError(f"raw upload answered {response.status}: {payload[:500]!r}")
    return elapsed, json.loads(payload)
