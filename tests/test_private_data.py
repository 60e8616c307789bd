"""The data folder is its owner's alone: the SQLite database (which holds session keys), its WAL files, the
secret key, blobs, upload and broker files are 0600 and their folders 0700, whatever the umask.

A child process with the real settings (SQLite, the filesystem broker, local blobs) migrates, then writes
through the real services, and reports the modes while its database connection is still open (SQLite
removes the -wal and -shm files when the last connection closes).
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

WRITE_AND_REPORT = """
import json, os, stat, sys
import django
django.setup()
from django.core.cache import caches
from django.db import connection
from accounts.models import User
from models_hub import services
from models_hub.storage.blobs import blob_store_bytes
from models_hub.storage.uploads import upload_create

alice = User.objects.create_user(username="alice", email="alice@example.com", password="pw-alice")
repo = services.repo_create(kind="model", namespace="alice", name="tiny", creator=alice, private=True)
services.commit_create(
    repo=repo, author=alice, title="Add", additions=[services.FileAddition("a.txt", blob_store_bytes(b"secret"))]
)
upload_create(user=alice, repo=repo, path="big.bin", size=10)
caches["downloads"].add("k", 1, timeout=60)
caches["default"].set("k", 1, timeout=60)
connection.ensure_connection()
data = os.environ["FLYWHEEL_DATA_DIR"]
modes = {}
for folder, dirs, files in os.walk(data):
    for name in dirs + files:
        path = os.path.join(folder, name)
        modes[os.path.relpath(path, data)] = stat.S_IMODE(os.lstat(path).st_mode)
modes["."] = stat.S_IMODE(os.stat(data).st_mode)
print(json.dumps(modes))
"""


def child_env(data_dir: Path) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL", "S3_BUCKET")
    }
    env.update(FLYWHEEL_DATA_DIR=str(data_dir), DJANGO_SETTINGS_MODULE="config.settings", SECRET_KEY="")
    return env


def run(args: list[str], env: dict[str, str]) -> str:
    # The usual umask: group and others may read what a process creates unless it says otherwise.
    result = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, umask=0o022)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_data_files_are_0600_and_folders_0700(tmp_path):
    data = tmp_path / "data"
    env = child_env(data)
    run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], env)

    modes = json.loads(run([sys.executable, "-c", WRITE_AND_REPORT], env).strip().splitlines()[-1])

    assert {"flywheel.sqlite3", "flywheel.sqlite3-wal", "flywheel.sqlite3-shm", "secret_key"} <= set(modes)
    assert any(path.startswith("blobs/") for path in modes)
    assert any(path.startswith("uploads/") and path.endswith(".part") for path in modes)
    assert any(path.startswith("broker/queue/") and stat.S_ISREG(os.lstat(data / path).st_mode) for path in modes)
    readable_by_others = {path: oct(mode) for path, mode in modes.items() if mode & 0o077}
    assert not readable_by_others
    folders = {path for path in modes if (data / path).is_dir()}
    assert all(modes[path] == 0o700 for path in folders)


def test_an_older_installation_is_made_private_on_start(tmp_path):
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    (data / "secret_key").write_text("an-older-key")
    (data / "flywheel.sqlite3").write_bytes(b"")
    for path in (data / "secret_key", data / "flywheel.sqlite3"):
        path.chmod(0o644)

    run([sys.executable, "manage.py", "check"], child_env(data))

    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert stat.S_IMODE((data / "secret_key").stat().st_mode) == 0o600
    assert stat.S_IMODE((data / "flywheel.sqlite3").stat().st_mode) == 0o600
