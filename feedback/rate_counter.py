"""Per-minute hit counters shared by every web process on a machine, for per-user rate limits.

With Redis (CACHE_URL) the count is Redis' atomic INCR. Without it, each (name, minute) is a file that every hit
appends one byte to: an O_APPEND write is atomic across processes and leaves the descriptor's offset just past
its own byte, so that offset is this hit's exact number in the minute. Four system calls, where the file cache's
add + incr (read, pickle, write a temporary file, rename, list the folder to cull it) cost a rating PUT more
than its database work. A minute's folder is removed once the next but one begins.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from django.conf import settings
from django.core.cache import caches

KEEP_SECONDS = 120


def minute_hits(name: str, *, now: float | None = None) -> int:
    """Count one hit for `name` (a key without '/') in the current minute; the minute's hits so far, this one
    included."""
    minute = int((time.time() if now is None else now) // 60)
    if settings.CACHE_URL:
        cache = caches["downloads"]
        key = f"hits:{name}:{minute}"
        cache.add(key, 0, timeout=KEEP_SECONDS)
        try:
            return cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, timeout=KEEP_SECONDS)
            return 1
    folder = Path(settings.DATA_DIR) / "rate-counters" / str(minute)
    path = folder / name
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    except FileNotFoundError:  # the minute's first hit on this machine
        folder.mkdir(parents=True, exist_ok=True)
        _forget_before(folder.parent, minute - 1)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, b".")
        return os.lseek(fd, 0, os.SEEK_CUR)
    finally:
        os.close(fd)


def _forget_before(root: Path, minute: int) -> None:
    for entry in os.scandir(root):
        if entry.name.isdigit() and int(entry.name) < minute:
            shutil.rmtree(entry.path, ignore_errors=True)  # another process may be removing it too
