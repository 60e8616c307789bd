"""Test settings: the real settings, with blobs and the embedded broker in a throw-away folder."""

import atexit
import os
import shutil
import tempfile
from pathlib import Path

if "FLYWHEEL_DATA_DIR" not in os.environ:
    # This run's own folder (child processes inherit it); removed when the run that made it ends.
    os.environ["FLYWHEEL_DATA_DIR"] = tempfile.mkdtemp(prefix="flywheel-test-")
    atexit.register(shutil.rmtree, os.environ["FLYWHEEL_DATA_DIR"], ignore_errors=True)

# pytest-xdist: each worker process gets its own data folder (SQLite test database, blobs, the
# embedded broker's folders, file caches), and torch one thread, so two workers share the cores.
_xdist_worker = os.environ.get("PYTEST_XDIST_WORKER")
if _xdist_worker and Path(os.environ["FLYWHEEL_DATA_DIR"]).name != _xdist_worker:
    os.environ["FLYWHEEL_DATA_DIR"] = str(Path(os.environ["FLYWHEEL_DATA_DIR"]) / _xdist_worker)
    Path(os.environ["FLYWHEEL_DATA_DIR"]).mkdir(mode=0o700, exist_ok=True)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("FLYWHEEL_TORCH_THREADS", "1")

from config.settings import *  # noqa: E402,F403
from config.settings import DATA_DIR, STORAGES  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
if STORAGES["default"]["BACKEND"].endswith("FileSystemStorage"):
    STORAGES["default"]["OPTIONS"]["location"] = Path(DATA_DIR) / "blobs"

# Live-server threads must not keep connections open, or dropping the test database waits on them.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405

if DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # noqa: F405
    # A file, as `make run` uses, not the in-memory default: live-server threads, the Celery worker thread and
    # the test then share it through WAL and the busy timeout, where shared-cache memory fails with "table is locked".
    DATABASES["default"]["TEST"] = {"NAME": str(Path(DATA_DIR) / "test.sqlite3")}  # noqa: F405

if _xdist_worker and CELERY_BROKER_URL.startswith(("redis://", "rediss://")):  # noqa: F405
    # One Redis database for every worker: each worker's queues under its own key prefix.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"global_keyprefix": f"{_xdist_worker}:"}
