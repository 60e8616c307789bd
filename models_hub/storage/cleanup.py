"""Periodic clean-up of what interrupted and abandoned uploads leave behind (run by Celery beat).

Everything here is safe to run at any time and twice at once: only what has not moved for a long
while is removed, every removal tolerates a file or row that is already gone, and a blob is removed
under a lock and only while nothing refers to it (see blob_delete_if_unreferenced).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from uuid import UUID

from django.db.models import Exists, OuterRef
from django.utils import timezone

from models_hub.models import Blob, BlobUpload, TreeEntry, UploadSession
from models_hub.storage.blobs import blob_delete_if_unreferenced, temp_dir
from models_hub.storage.uploads import STALE_AFTER, upload_dir, uploads_cleanup

logger = logging.getLogger(__name__)

# A client may commit LFS objects up to a day after the batch answer (its upload links live that
# long) and a big batch takes hours more: an LFS upload not committed within a week is abandoned.
LFS_UPLOAD_STALE_AFTER = timedelta(days=7)
# Blobs looked at per run, so that one run stays short whatever the backlog; the next run goes on.
MAX_BLOBS_PER_RUN = 1000


@dataclass(frozen=True)
class CleanupReport:
    uploads: int  # resumable uploads never committed, with their data
    part_files: int  # data of resumable uploads whose row is gone (a deleted repository or user)
    temp_files: int  # temporary files of requests that died before storing or discarding them
    lfs_uploads: int  # records of LFS objects that were never committed
    blobs: int  # blobs nothing refers to any more

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def storage_cleanup(*, older_than: timedelta = STALE_AFTER) -> CleanupReport:
    """Remove what uploads left behind and what nothing refers to, once untouched for `older_than`."""
    report = CleanupReport(
        uploads=uploads_cleanup(older_than=older_than),
        part_files=_remove_orphan_part_files(older_than),
        temp_files=_remove_old_files(temp_dir(), older_than),
        lfs_uploads=_remove_stale_lfs_uploads(max(older_than, LFS_UPLOAD_STALE_AFTER)),
        blobs=_remove_unreferenced_blobs(older_than),
    )
    logger.info("Storage clean-up: %s", report)
    return report


def _is_old(path: Path, older_than: timedelta) -> bool:
    try:
        return path.stat().st_mtime < time.time() - older_than.total_seconds()
    except FileNotFoundError:
        return False


def _unlink(path: Path) -> bool:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
        return True
    return False


def _remove_old_files(folder: Path, older_than: timedelta) -> int:
    """Files written by requests are touched with every write: one untouched this long is an orphan."""
    return sum(_unlink(path) for path in folder.iterdir() if path.is_file() and _is_old(path, older_than))


def _remove_orphan_part_files(older_than: timedelta) -> int:
    removed = 0
    for path in upload_dir().glob("*.part"):
        try:
            upload_id = UUID(path.stem)
        except ValueError:
            continue
        if _is_old(path, older_than) and not UploadSession.objects.filter(pk=upload_id).exists():
            removed += _unlink(path)
    return removed


def _remove_stale_lfs_uploads(older_than: timedelta) -> int:
    """LFS upload records of objects no commit uses; the blobs go with the unreferenced ones below."""
    cutoff = timezone.now() - older_than
    in_a_commit = TreeEntry.objects.filter(blob_id=OuterRef("blob_id"))
    deleted, _ = BlobUpload.objects.filter(created_at__lt=cutoff).exclude(Exists(in_a_commit)).delete()
    return deleted


def _remove_unreferenced_blobs(older_than: timedelta) -> int:
    """Blobs of deleted repositories, abandoned uploads or failed requests; checked again under a lock."""
    cutoff = timezone.now() - older_than
    candidates = (
        Blob.objects.filter(created_at__lt=cutoff)
        .exclude(Exists(TreeEntry.objects.filter(blob_id=OuterRef("pk"))))
        .exclude(Exists(BlobUpload.objects.filter(blob_id=OuterRef("pk"))))
        .exclude(Exists(UploadSession.objects.filter(blob_id=OuterRef("pk"))))
        .values_list("sha256", flat=True)[:MAX_BLOBS_PER_RUN]
    )
    return sum(blob_delete_if_unreferenced(sha256) for sha256 in list(candidates))
