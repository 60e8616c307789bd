"""Upload through the REST API and download through the resolve URL, against plain disk copies.

    .venv/bin/python -m bench.bench_api_upload                  # quick: a 64 MiB file
    BENCH_FULL=1 .venv/bin/python -m bench.bench_api_upload     # 1 GiB
    BENCH_UPLOAD_BYTES=268435456 .venv/bin/python -m bench.bench_api_upload

It migrates a throw-away FLYWHEEL_DATA_DIR (SQLite), creates a user, a write token and a
repository, starts gunicorn from .venv/bin (2 workers x 8 threads) on a free port, and uploads
one file two ways: the raw body PUT /api/v1/repos/model/<ns>/<name>/files/main/<path> (the
target; the client sends the file with socket.sendfile(), so it costs almost nothing on this
shared machine), then POST .../upload/main/ with a generator-built multipart body (reported for
comparison, never held in memory). Baselines measured in the same run on the same disk:
shutil.copyfile (+ fsync) for the upload, a plain read for the download. It samples the RSS of
the gunicorn workers while uploading, checks the stored SHA-256, and checks that a Range request
answers 206 with the right bytes. Targets: raw upload and download >= 0.5x, RSS growth < 64 MiB.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from bench.common import RssSampler, free_port, make_source, put_raw, server_env, start_gunicorn, stop_gunicorn

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CHUNK = 1024 * 1024
MIB = 1024 * 1024

SETUP = """
import json, django
django.setup()
from accounts.models import User
from accounts.services import token_create
from models_hub import services
user = User.objects.create_user(username="bench", email="bench@example.com", password="bench-password")
services.repo_create(kind="model", namespace="bench", name="upload", creator=user)
print(json.dumps({"token": token_create(user=user, name="bench", scope="write").secret}))
"""


def multipart(path: Path, field_path: str, boundary: str) -> tuple[list[bytes], int]:
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="message"\r\n\r\nBench upload\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="paths"\r\n\r\n{field_path}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{path.name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    return [head, tail], len(head) + path.stat().st_size + len(tail)


def body_stream(path: Path, head: bytes, tail: bytes) -> Iterator[bytes]:
    yield head
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            yield chunk
    yield tail


def upload(port: int, token: str, source: Path, repo_path: str = "weights/big.bin") -> tuple[float, dict]:
    boundary = uuid.uuid4().hex
    (head, tail), length = multipart(source, repo_path, boundary)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Content-Length": str(length),
    }
    start = time.perf_counter()
    conn.request(
        "POST", "/api/v1/repos/model/bench/upload/upload/main/", body=body_stream(source, head, tail), headers=headers
    )
    response = conn.getresponse()
    payload = response.read()
    elapsed = time.perf_counter() - start
    if response.status != 201:
        raise RuntimeError(f"upload answered {response.status}: {payload[:500]!r}")
    return elapsed, json.loads(payload)


def upload_raw(port: int, token: str, source: Path, repo_path: str, sha256: str) -> tuple[float, dict]:
    return put_raw(port, token, source, f"model/bench/upload/files/main/{repo_path}", sha256)


def download(port: int, url: str, headers: dict | None = None) -> tuple[float, int, bytes, int]:
    """(seconds, bytes, first 64 KiB, status) reading the whole body in 1 MiB pieces."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    start = time.perf_counter()
    conn.request("GET", url, headers=headers or {})
    response = conn.getresponse()
    if response.status in (301, 302, 307):
        location = response.getheader("Location")
        response.read()
        return download(port, location, headers)
    total, first = 0, b""
    while chunk := response.read(CHUNK):
        if not first:
            first = chunk[: 64 * 1024]
        total += len(chunk)
    return time.perf_counter() - start, total, first, response.status


def read_from_disk(path: Path) -> float:
    start = time.perf_counter()
    with open(path, "rb") as handle:
        while handle.read(CHUNK):
            pass
    return time.perf_counter() - start


def rate(size: int, seconds: float) -> float:
    return size / MIB / seconds


def main() -> int:
    full = os.environ.get("BENCH_FULL") == "1"
    size = int(os.environ.get("BENCH_UPLOAD_BYTES", str(1024 * MIB if full else 64 * MIB)))
    workdir = Path(tempfile.mkdtemp(prefix="flywheel-bench-upload-"))
    data_dir = workdir / "data"
    env = server_env(data_dir)
    server = None
    failures = []
    try:
        python = str(BIN / "python")
        subprocess.run([python, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
        for folder in ("broker/queue", "broker/processed"):
            (data_dir / folder).mkdir(parents=True, exist_ok=True)
        setup = subprocess.run([python, "-c", SETUP], cwd=ROOT, env=env, check=True, capture_output=True, text=True)
        token = json.loads(setup.stdout.strip().splitlines()[-1])["token"]

        source = data_dir / "source.bin"
        expected_sha = make_source(source, size)
        # Flush the new source file first: its dirty pages being written back would otherwise
        # slow whichever measurement comes next.
        os.sync()
        copy_target = data_dir / "copy.bin"
        start = time.perf_counter()
        shutil.copyfile(source, copy_target)
        with open(copy_target, "rb+") as handle:
            os.fsync(handle.fileno())
        copy_seconds = time.perf_counter() - start
        copy_target.unlink()

        port = free_port()
        server = start_gunicorn(port=port, env=env, log_path=workdir / "gunicorn.log")
        # Warm both workers (first requests import views and open the database), as a running site is.
        warm = data_dir / "warm.txt"
        warm.write_bytes(b"warm-up\n")
        warm_sha = hashlib.sha256(b"warm-up\n").hexdigest()
        for i in range(4):
            upload(port, token, warm, f"warm/{i}.txt")
            upload_raw(port, token, warm, f"warm/raw-{i}.txt", warm_sha)
        sampler = RssSampler(server.pid)
        sampler.start()
        raw_seconds, stored = upload_raw(port, token, source, "weights/big.bin", expected_sha)
        sampler.stop()
        if stored["sha256"] != expected_sha or stored["size"] != size:
            failures.append("the stored file's SHA-256 or size differs from what was sent")
        growth = sampler.growth()
        # The multipart endpoint, for comparison (same bytes: stored once, committed at another path).
        sampler = RssSampler(server.pid)
        sampler.start()
        upload_seconds, result = upload(port, token, source, "weights/big-multipart.bin")
        sampler.stop()
        multipart_growth = sampler.growth()
        if result["files"][0]["sha256"] != expected_sha:
            failures.append("the multipart upload stored different bytes")

        blob_path = data_dir / "blobs" / "blobs" / expected_sha[:2] / expected_sha[2:4] / expected_sha
        url = "/bench/upload/resolve/main/weights/big.bin"
        for _ in range(4):
            download(port, url, {"Range": "bytes=0-0"})
        # Best of three for both sides: the machine is shared, so one slow pass says little.
        disk_seconds = min(read_from_disk(blob_path if blob_path.exists() else source) for _ in range(3))
        runs = [download(port, url) for _ in range(3)]
        down_seconds, received, first, status = min(runs, key=lambda run: run[0])
        if status != 200 or received != size:
            failures.append(f"download answered {status} with {received:,} bytes")
        with open(source, "rb") as handle:
            if first != handle.read(len(first)):
                failures.append("downloaded bytes differ from the source")
            handle.seek(1000)
            want = handle.read(1000)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request("GET", url, headers={"Range": "bytes=1000-1999"})
        ranged = conn.getresponse()
        got = ranged.read()
        range_ok = ranged.status == 206 and got == want

        up_ratio = rate(size, raw_seconds) / rate(size, copy_seconds)
        multipart_ratio = rate(size, upload_seconds) / rate(size, copy_seconds)
        down_ratio = rate(size, down_seconds) / rate(size, disk_seconds)
        print(f"bench_api_upload: {size / MIB:,.0f} MiB, gunicorn 2 workers x 8 threads, SQLite, {workdir}")
        print(f"  baseline shutil.copyfile (same disk) {rate(size, copy_seconds):9.1f} MiB/s")
        print(
            f"  PUT /api/v1/.../files/main/<path>    {rate(size, raw_seconds):9.1f} MiB/s  "
            f"ratio {up_ratio:.2f}x (target >= 0.5x)"
        )
        print(f"  worker peak RSS growth during PUT     {growth / MIB:9.1f} MiB (target < 64 MiB)")
        print(
            f"  POST /api/v1/.../upload/main/ (multipart, for comparison) {rate(size, upload_seconds):9.1f} MiB/s  "
            f"ratio {multipart_ratio:.2f}x, RSS growth {multipart_growth / MIB:.1f} MiB"
        )
        print(f"  baseline read from disk (best of 3)  {rate(size, disk_seconds):9.1f} MiB/s")
        print(
            f"  GET .../resolve/main/<file> (best of 3) {rate(size, down_seconds):9.1f} MiB/s  "
            f"ratio {down_ratio:.2f}x (target >= 0.5x)"
        )
        print(f"  Range bytes=1000-1999 -> {ranged.status}, {'right bytes' if range_ok else 'WRONG'}")
        if up_ratio < 0.5:
            failures.append(f"raw upload ratio {up_ratio:.2f} < 0.5")
        if down_ratio < 0.5:
            failures.append(f"download ratio {down_ratio:.2f} < 0.5")
        if growth >= 64 * MIB:
            failures.append(f"RSS grew by {growth / MIB:.1f} MiB")
        if not range_ok:
            failures.append("Range request did not answer 206 with the right bytes")
    finally:
        if server is not None:
            stop_gunicorn(server)
        shutil.rmtree(workdir, ignore_errors=True)
    print("targets:", "MET" if not failures else "NOT MET")
    for failure in failures:
        print("  -", failure)
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
