"""Older and newer huggingface_hub releases push to and pull from Flywheel unmodified.

Each version gets its own virtual environment under var/hub-matrix/<version> (created once, with
only huggingface_hub installed) and runs tests/hub_matrix/push_pull.py against the live server.
Without network access the environments cannot be created: the tests skip, unless
FLYWHEEL_REQUIRE_CLIENT_MATRIX=1 (set by .ci/run), where that is a failure.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from accounts.services import token_create
from models_hub.models import Repository

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.hub_client]

# The latest patch of the oldest 1.x line, the last line before 1.30 changed redirects, and the current.
VERSIONS = ["1.0.1", "1.28.0", "2.4.0"]
MATRIX_DIR = Path(settings.BASE_DIR) / "var" / "hub-matrix"
SCRIPT = Path(__file__).parent / "hub_matrix" / "push_pull.py"


def _unavailable(reason: str):
    if os.environ.get("FLYWHEEL_REQUIRE_CLIENT_MATRIX") == "1":
        pytest.fail(f"FLYWHEEL_REQUIRE_CLIENT_MATRIX=1 but {reason}")
    pytest.skip(reason)


def client_python(version: str) -> Path:
    """The interpreter of a venv with huggingface_hub==version, created on first use."""
    venv = MATRIX_DIR / version
    python = venv / "bin" / "python"
    marker = venv / ".installed"
    MATRIX_DIR.mkdir(parents=True, exist_ok=True)
    with open(MATRIX_DIR / f".{version}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # parallel test runs must not build the same venv twice
        if not marker.exists():
            subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True, capture_output=True)
            install = subprocess.run(
                [
                    str(python),
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    f"huggingface_hub=={version}",
                ],
                capture_output=True,
                text=True,
                timeout=600,
            )
            if install.returncode != 0:
                _unavailable(
                    f"cannot install huggingface_hub=={version} (no network?): {install.stderr.strip()[-500:]}"
                )
            marker.write_text(version)
    return python


def run_matrix_script(live_server, alice, tmp_path, version: str, repo_name: str, **env_extra: str) -> dict:
    python = client_python(version)
    token = token_create(user=alice, name=f"matrix {version}", scope="write").secret
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "HF_HOME": str(tmp_path / "hf-home"),
        # As users run it; 1.0 also needs HF_ENDPOINT to parse the URLs the server returns.
        "HF_ENDPOINT": live_server.url,
        "HF_TOKEN": token,
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        **env_extra,
    }
    args = [str(python), str(SCRIPT), live_server.url, token, f"alice/{repo_name}", str(tmp_path / "work")]
    if connection.vendor == "sqlite":
        # live_server threads share the in-memory SQLite connection: no parallel downloads there.
        args.append("--sequential")
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


EXPECTED_FILES = [".gitattributes", "README.md", "config.json", "empty.txt", "sub/dir/notes.txt", "weights.bin"]


@pytest.mark.parametrize("version", VERSIONS)
def test_client_version_pushes_and_pulls(live_server, alice, tmp_path, version):
    seen = run_matrix_script(live_server, alice, tmp_path, version, f"matrix-{version.replace('.', '-')}")

    assert seen["version"] == version
    assert seen["url"] == f"{live_server.url}/alice/matrix-{version.replace('.', '-')}"
    assert seen["listed"] == EXPECTED_FILES
    assert seen["downloaded_ok"] and seen["snapshot_ok"]
    assert seen["snapshot_commit"] == seen["commit"]
    assert "empty.txt" not in seen["main_after"] and "dev.txt" not in seen["main_after"]
    assert "dev.txt" in seen["dev_after"] and "empty.txt" in seen["dev_after"]
    assert seen["private_after"] is False
    assert seen["moved_download_ok"]
    repo = Repository.objects.get(namespace="alice", name=f"matrix-{version.replace('.', '-')}-moved")
    assert not repo.private and repo.license == "mit"


@pytest.mark.parametrize("version", VERSIONS)
def test_client_version_uploads_big_files_through_git_lfs(live_server, alice, tmp_path, settings, version):
    settings.FLYWHEEL_LFS_UPLOAD_THRESHOLD = 1024 * 1024  # weights.bin (3 MiB) goes through LFS
    # 1.0 to 1.19 negotiate the transfer with the server ("basic"); from 1.20 on, hf_xet is used for
    # every lfs-mode file unless HF_HUB_DISABLE_XET=1 (there is no server signal to turn it off).
    env = {} if version.startswith("1.0.") else {"HF_HUB_DISABLE_XET": "1"}

    seen = run_matrix_script(live_server, alice, tmp_path, version, "matrix-lfs", **env)

    assert seen["listed"] == EXPECTED_FILES
    assert seen["downloaded_ok"] and seen["snapshot_ok"]
