"""What `make run` starts (platform/Procfile.dev) on the embedded defaults: SQLite, the filesystem broker.

The web server answers, the real Celery worker does the analysis the demo commit enqueued and generates
outputs of the demo's rating campaign, Celery beat has the worker clean up a temporary file an
interrupted upload left behind, and Ctrl-C (SIGINT
to honcho) stops every process it started.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

from tests.conftest import wait_for

pytestmark = pytest.mark.timeout(300)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def page_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - a local http URL
            return response.status
    except OSError:
        return None


def demo_parameter_count(database: Path) -> int | None:
    if not database.exists():
        return None
    with sqlite3.connect(database, timeout=20) as conn:
        row = conn.execute(
            "SELECT parameter_count FROM models_hub_repository WHERE namespace = 'demo' AND name = 'tiny-stories'"
        ).fetchone()
    return row[0] if row else None


def demo_outputs_to_rate(database: Path) -> int:
    """How many outputs of the demo's rating campaign (v0.1 against v1.0) the worker has generated."""
    with sqlite3.connect(database, timeout=20) as conn:
        (done,) = conn.execute(
            "SELECT COUNT(*) FROM feedback_campaignitem i JOIN inference_generation g ON g.id = i.generation_id"
            " WHERE g.status = 'done' AND g.source = 'batch'"
        ).fetchone()
    return done


def processes_of(data_dir: Path) -> list[int]:
    """Pids of live processes started with this data folder in their environment."""
    marker = f"FLYWHEEL_DATA_DIR={data_dir}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in environ.split(b"\0") and state != "Z":
            found.append(int(entry.name))
    return found


def test_dev_processes_serve_pages_run_tasks_and_stop_on_ctrl_c(tmp_path):
    root = settings.BASE_DIR
    data_dir = tmp_path / "data"
    port = free_port()
    env = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE")
    }
    env.update(
        FLYWHEEL_DATA_DIR=str(data_dir),
        PORT=str(port),
        FLYWHEEL_DEMO_TRAIN_SECONDS="1",
        FLYWHEEL_CLEANUP_INTERVAL_SECONDS="2",
    )
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--noinput", "-v0"], cwd=root, env=env, check=True)
    subprocess.run([*manage, "load_demo", "--stories", "200"], cwd=root, env=env, check=True, capture_output=True)
    leftover = data_dir / "tmp" / "blob-of-an-upload-that-died"
    leftover.write_bytes(b"half a file")
    two_days_ago = time.time() - 2 * 24 * 3600
    os.utime(leftover, (two_days_ago, two_days_ago))

    log = (tmp_path / "honcho.log").open("wb")
    honcho = subprocess.Popen(
        [str(Path(sys.executable).parent / "honcho"), "-f", "platform/Procfile.dev", "-d", ".", "start"],
        cwd=root,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        served = wait_for(lambda: page_status(f"http://127.0.0.1:{port}/") == 200, timeout=90, interval=1)
        analysed = wait_for(lambda: demo_parameter_count(data_dir / "flywheel.sqlite3"), timeout=90, interval=1)
        # The one default-queue worker also validates the demo's datasets and refits the arena first.
        cleaned = wait_for(lambda: not leftover.exists(), timeout=180, interval=1)
        generated = wait_for(lambda: demo_outputs_to_rate(data_dir / "flywheel.sqlite3") > 0, timeout=120, interval=1)
        running = processes_of(data_dir)
    finally:
        honcho.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            honcho.wait(timeout=60)
        stopped = wait_for(lambda: not processes_of(data_dir), timeout=15)
        leftovers = processes_of(data_dir)
        for pid in leftovers:  # never leave servers behind, even when the test fails
            os.kill(pid, signal.SIGKILL)
        log.close()
    output = (tmp_path / "honcho.log").read_text(errors="replace")
    assert served, output[-3000:]
    assert analysed, output[-3000:]
    assert cleaned, output[-3000:]
    assert generated, output[-3000:]  # the rating queue has outputs to rate right after `make run`
    assert list(data_dir.glob("celerybeat-schedule*")), "beat keeps its state in the data folder"
    assert len(running) >= 5, running  # gunicorn master and workers, two Celery workers, Celery beat
    assert stopped, f"still running after Ctrl-C: {leftovers}"
