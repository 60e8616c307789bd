"""The data folder is its owner's alone: it holds the SQLite database (with session keys), the secret key
and private repositories' blobs."""

from __future__ import annotations

import os
from pathlib import Path

# What every process of the installation creates (SQLite and its -wal/-shm, blobs, upload, broker and
# cache files, whichever library writes them) is readable by its own user only: files 0600, folders 0700.
PRIVATE_UMASK = 0o077


def make_private(path: Path) -> None:
    """Remove group and other permissions from `path` if it exists and is ours (a folder or file made
    before Flywheel kept its data private); a folder that is private keeps everything under it private."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return
    if info.st_uid == os.getuid() and info.st_mode & 0o077:
        path.chmod(info.st_mode & 0o700)
