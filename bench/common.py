"""Helpers shared by the benchmarks that start their own server."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from pathlib import Path


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
