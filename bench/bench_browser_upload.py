"""Upload through the browser page in headless Chromium, against the raw PUT in the same run.

    .venv/bin/python -m bench.bench_browser_upload                  # quick: a 256 MiB file
    BENCH_FULL=1 .venv/bin/python -m bench.bench_browser_upload     # 1 GiB
    BENCH_BROWSER_BYTES=67108864 .venv/bin/python -m bench.bench_browser_upload

It migrates a throw-away FLYWHEEL_DATA_DIR (SQLite), creates a user, a write token, a signed-in
session and a repository, starts gunicorn as deployed (bench.common.start_gunicorn) on a free
port, and then, three rounds, each with two fresh random files (so no upload finds its bytes
already stored): the raw body PUT /api/v1/repos/model/<ns>/<name>/files/main/<path> (the
baseline; the client sends the file with socket.sendfile(), so it costs almost nothing), and the
upload page /<ns>/<name>/upload/main in Chromium (/usr/bin/chromium driven by Playwright), the
file chosen with set_input_files and sent by the page's own JavaScript (tus chunks, then the
commit). The page's clock times the click on "Commit", the moment every byte is uploaded and the
moment the commit is shown. Best of three for both sides (the machine is shared). It samples the
RSS of the gunicorn workers during the browser uploads and checks each stored blob's size.
Targets: browser upload including its commit >= 0.5x the raw PUT; worker RSS growth < 64 MiB.

Bound row: the same Chromium sends the same file, in parts of the upload page's size and as many
at once (its data-part-size and data-parallel), as XHR bodies to a server that reads and discards
them (no hashing, no disk, no database). No upload page can be faster than that; when it is below the target, the
target cannot be met on this machine at this moment, whatever the server does.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from bench.common import (
    MIB,
    ROOT,
    RssSampler,
    free_port,
    make_source,
    put_raw,
    server_env,
    start_gunicorn,
    stop_gunicorn,
)

BIN = Path(sys.executable).parent
CHROMIUM = "/usr/bin/chromium"
# The arguments of the root conftest.py's `browser` fixture.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ROUNDS = 3

SETUP = """
import json, django
django.setup()
from django.conf import settings
from django.test import Client
from accounts.models import User
from accounts.services import token_create
from models_hub import services
user = User.objects.create_user(username="bench", email="bench@example.com", password="bench-password")
services.repo_create(kind="model", namespace="bench", name="upload", creator=user)
client = Client()
client.force_login(user)
print(json.dumps({
    "token": token_create(user=user, name="bench", scope="write").secret,
    "cookie": settings.SESSION_COOKIE_NAME,
    "session": client.cookies[settings.SESSION_COOKIE_NAME].value,
}))
"""

# Marks taken on the page's clock: the click, all bytes uploaded (the page says "Committing…"),
# the commit shown (#commit-done), or the error it shows instead.
START_AND_WATCH = """() => {
    const marks = (window.__benchMarks = {});
    const result = document.getElementById("upload-result");
    new MutationObserver(() => {
        const now = performance.now();
        if (!marks.uploaded && result.querySelector(".flash-info")) marks.uploaded = now;
        if (!marks.committed && result.querySelector("#commit-done")) marks.committed = now;
        const error = result.querySelector(".flash-error");
        if (error) marks.error = error.textContent;
    }).observe(result, { childList: true, subtree: true, characterData: true });
    marks.start = performance.now();
    document.getElementById("commit-button").click();
}"""


def browser_upload(browser, base_url: str, cookie: dict, source: Path) -> tuple[float, float]:
    """(seconds until every byte is uploaded, seconds until the commit is shown) for one file."""
    context = browser.new_context(base_url=base_url)
    try:
        context.add_cookies([{**cookie, "url": base_url}])
        page = context.new_page()
        page.goto("/bench/upload/upload/main")
        page.set_input_files("#file-input", str(source))
        page.evaluate(START_AND_WATCH)
        page.wait_for_selector("#commit-done, #upload-result .flash-error", timeout=600_000)
        marks = page.evaluate("() => window.__benchMarks")
    finally:
        context.close()
    if marks.get("error"):
        raise RuntimeError(f"the upload page says: {marks['error']}")
    return (marks["uploaded"] - marks["start"]) / 1000, (marks["committed"] - marks["start"]) / 1000


SINK_PAGE = b"""<!doctype html><title>sink</title><input type=file id=source><script>
window.sendParts = async function (partSize, parallel) {
  const file = document.getElementById("source").files[0];
  const send = (body) => new Promise((done, fail) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PATCH", "/sink");
    xhr.onload = done;
    xhr.onerror = fail;
    xhr.send(body);
  });
  let next = 0;
  const connection = async () => {
    while (next < file.size) {
      const at = next;
      next += partSize;
      await send(file.slice(at, Math.min(file.size, at + partSize)));
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: parallel }, connection));
  return (performance.now() - start) / 1000;
};
</script>"""


def _serve_sink_connection(conn: socket.socket) -> None:
    """HTTP/1.1 keep-alive: GET / answers the page, anything else has its body read and dropped."""
    buffer = memoryview(bytearray(4 * MIB))
    with conn:
        pending = b""
        while True:
            while b"\r\n\r\n" not in pending:
                data = conn.recv(65536)
                if not data:
                    return
                pending += data
            head, _, pending = pending.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            length = next(
                (int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:")), 0
            )
            left = length - len(pending)
            pending = pending[length:] if left < 0 else b""
            while left > 0:
                count = conn.recv_into(buffer[: min(len(buffer), left)])
                if not count:
                    return
                left -= count
            body = SINK_PAGE if lines[0].startswith("GET / ") else b"ok"
            kind = b"text/html" if body is SINK_PAGE else b"text/plain"
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: " + kind + b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body
            )


def start_sink() -> int:
    """A server that does no work with what it receives, on a free port; a daemon thread per connection."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)

    def accept() -> None:
        while True:
            conn, _ = listener.accept()
            threading.Thread(target=_serve_sink_connection, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return listener.getsockname()[1]


def sink_upload(browser, sink_port: int, source: Path, parts: tuple[int, int]) -> float:
    """Seconds for Chromium to send `source` to the sink in parts of (size, how many at once)."""
    page = browser.new_page()
    try:
        page.goto(f"http://127.0.0.1:{sink_port}/")
        page.set_input_files("#source", str(source))
        return page.evaluate("([size, parallel]) => window.sendParts(size, parallel)", list(parts))
    finally:
        page.close()


def upload_page_parts(browser, base_url: str, cookie: dict, size: int) -> tuple[int, int]:
    """(part size, parts at once) the upload page sends a file of `size` bytes in (its data attributes)."""
    context = browser.new_context(base_url=base_url)
    try:
        context.add_cookies([{**cookie, "url": base_url}])
        page = context.new_page()
        page.goto("/bench/upload/upload/main")
        parallel = int(page.get_attribute("#upload-form", "data-parallel") or 1)
        part_size = int(page.get_attribute("#upload-form", "data-part-size") or size)
    finally:
        context.close()
    return (part_size, parallel) if parallel > 1 and size > 2 * part_size else (size, 1)


def stored_size(data_dir: Path, sha256: str) -> int:
    path = data_dir / "blobs" / "blobs" / sha256[:2] / sha256[2:4] / sha256
    return path.stat().st_size if path.exists() else -1


def rate(size: int, seconds: float) -> float:
    return size / MIB / seconds


def main() -> int:
    full = os.environ.get("BENCH_FULL") == "1"
    size = int(os.environ.get("BENCH_BROWSER_BYTES", str(1024 * MIB if full else 256 * MIB)))
    if not os.path.exists(CHROMIUM):
        print(f"bench_browser_upload: Chromium is not installed at {CHROMIUM}")
        return 2
    from playwright.sync_api import sync_playwright

    workdir = Path(tempfile.mkdtemp(prefix="flywheel-bench-browser-"))
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
        secrets = json.loads(setup.stdout.strip().splitlines()[-1])
        cookie = {"name": secrets["cookie"], "value": secrets["session"]}

        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        server = start_gunicorn(port=port, env=env, log_path=workdir / "gunicorn.log")
        sink_port = start_sink()
        raw_runs, browser_runs, sink_runs = [], [], []
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            parts = upload_page_parts(browser, base_url, cookie, size)
            # Warm both workers and the browser (first requests import views and open the database).
            warm = data_dir / "warm.bin"
            for i in range(2):
                warm_sha = make_source(warm, MIB + i)
                put_raw(port, secrets["token"], warm, f"model/bench/upload/files/main/warm/raw-{i}.bin", warm_sha)
                make_source(warm, MIB + 2 + i)
                browser_upload(browser, base_url, cookie, warm)
            peak_growth = 0
            for round_number in range(ROUNDS):
                raw_source = data_dir / f"raw-{round_number}.bin"
                page_source = data_dir / f"browser-{round_number}.bin"
                raw_sha = make_source(raw_source, size)
                page_sha = make_source(page_source, size)
                os.sync()  # the new files' dirty pages, written back later, would slow what comes next
                seconds, stored = put_raw(
                    port, secrets["token"], raw_source, f"model/bench/upload/files/main/{raw_source.name}", raw_sha
                )
                raw_runs.append(seconds)
                if stored["sha256"] != raw_sha:
                    failures.append("the raw PUT stored different bytes")
                sampler = RssSampler(server.pid)
                sampler.start()
                try:
                    browser_runs.append(browser_upload(browser, base_url, cookie, page_source))
                finally:
                    sampler.stop()
                peak_growth = max(peak_growth, sampler.growth())
                sink_runs.append(sink_upload(browser, sink_port, page_source, parts))
                if stored_size(data_dir, page_sha) != size:
                    failures.append(f"round {round_number + 1}: the browser's file is not stored with its bytes")
                raw_source.unlink()
                page_source.unlink()
            browser.close()

        raw_best = min(raw_runs)
        transfer_best = min(run[0] for run in browser_runs)
        total_best = min(run[1] for run in browser_runs)
        ratio = rate(size, total_best) / rate(size, raw_best)
        sink_best = min(sink_runs)
        bound = rate(size, sink_best) / rate(size, raw_best)
        print(f"bench_browser_upload: {size / MIB:,.0f} MiB, gunicorn 2 workers x 8 threads, SQLite, {workdir}")
        print(f"  each run (s): raw PUT {', '.join(f'{s:.2f}' for s in raw_runs)}")
        print(
            "                browser "
            + ", ".join(f"{transfer:.2f} + commit {total - transfer:.2f}" for transfer, total in browser_runs)
        )
        print(f"  baseline raw PUT .../files/main/<path> (best of {ROUNDS}) {rate(size, raw_best):9.1f} MiB/s")
        print(f"  browser upload page, transfer only (best of {ROUNDS})   {rate(size, transfer_best):9.1f} MiB/s")
        print(
            f"  browser upload page, incl. commit (best of {ROUNDS})  {rate(size, total_best):9.1f} MiB/s  "
            f"ratio {ratio:.2f}x (target >= 0.5x)"
        )
        print(f"  worker peak RSS growth during browser uploads {peak_growth / MIB:9.1f} MiB (target < 64 MiB)")
        print(
            f"  bound: Chromium to a do-nothing server, {parts[0] / MIB:g} MiB parts, {parts[1]} at once "
            f"(best of {ROUNDS}) "
            f"{rate(size, sink_best):9.1f} MiB/s  ratio {bound:.2f}x"
        )
        if bound < 0.5:
            print(
                "  conclusion: the browser alone cannot send 0.5x the raw PUT's rate on this machine now, "
                "so no upload page can meet the target here"
            )
        if ratio < 0.5:
            failures.append(f"browser upload ratio {ratio:.2f} < 0.5")
        if peak_growth >= 64 * MIB:
            failures.append(f"RSS grew by {peak_growth / MIB:.1f} MiB")
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
