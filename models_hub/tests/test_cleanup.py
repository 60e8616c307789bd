"""The periodic storage clean-up: what interrupted uploads leave behind goes, whatever is in use stays."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from conftest import make_commit, make_repo
from models_hub.models import Blob, BlobUpload, UploadSession
from models_hub.storage import uploads
from models_hub.storage.blobs import blob_store_bytes, temp_dir
from models_hub.storage.cleanup import storage_cleanup

pytestmark = pytest.mark.django_db

LONG_AGO = timedelta(days=30)


def aged(path: Path) -> Path:
    then = time.time() - LONG_AGO.total_seconds()
    os.utime(path, (then, then))
    return path


def blob_path(blob: Blob) -> Path:
    return Path(settings.STORAGES["default"]["OPTIONS"]["location"]) / blob.storage_key


def old_blob(data: bytes) -> Blob:
    blob = blob_store_bytes(data)
    Blob.objects.filter(pk=blob.pk).update(created_at=timezone.now() - LONG_AGO)
    return blob


@pytest.fixture
def leftovers(alice) -> Iterator[dict]:
    """One of each kind of leftover, next to its fresh or still used twin."""
    repo = make_repo(owner=alice, name="tiny")
    stale_upload = uploads.upload_create(user=alice, repo=repo, path="stale.bin", size=10)
    UploadSession.objects.filter(pk=stale_upload.pk).update(updated_at=timezone.now() - LONG_AGO)
    fresh_upload = uploads.upload_create(user=alice, repo=repo, path="fresh.bin", size=10)
    orphan_part = uploads.upload_dir() / f"{uuid.uuid4()}.part"
    orphan_part.write_bytes(b"part of a deleted repository's upload")
    aged(orphan_part)
    old_temp = temp_dir() / "blob-from-a-request-that-died"
    old_temp.write_bytes(b"half a file")
    aged(old_temp)
    new_temp = temp_dir() / "blob-being-written-now"
    new_temp.write_bytes(b"a file on its way")

    committed = old_blob(b"bytes in a commit")
    make_commit(repo=repo, author=alice, files={"kept.bin": b"bytes in a commit"})
    abandoned_lfs = old_blob(b"LFS object never committed")
    committed_lfs = old_blob(b"LFS object committed")
    make_commit(repo=repo, author=alice, files={"lfs.bin": b"LFS object committed"})
    for blob in (abandoned_lfs, committed_lfs):
        BlobUpload.objects.create(user=alice, blob=blob)
    BlobUpload.objects.update(created_at=timezone.now() - LONG_AGO)
    recent_lfs = old_blob(b"LFS object uploaded an hour ago")
    BlobUpload.objects.create(user=alice, blob=recent_lfs)
    orphan = old_blob(b"bytes of a deleted repository")
    young_orphan = blob_store_bytes(b"bytes stored a moment ago, commit on its way")
    yield locals()
    new_temp.unlink(missing_ok=True)  # the temporary folder is shared by the whole run


def test_cleanup_removes_leftovers_and_keeps_what_is_in_use(leftovers):
    report = storage_cleanup()

    assert report.as_dict() == {"uploads": 1, "part_files": 1, "temp_files": 1, "lfs_uploads": 1, "blobs": 2}
    left = leftovers
    assert list(UploadSession.objects.values_list("pk", flat=True)) == [left["fresh_upload"].pk]
    assert not uploads.upload_file(left["stale_upload"]).exists()
    assert uploads.upload_file(left["fresh_upload"]).exists()
    assert not left["orphan_part"].exists()
    assert not left["old_temp"].exists() and left["new_temp"].exists()
    gone = {left["abandoned_lfs"].sha256, left["orphan"].sha256}
    assert set(Blob.objects.filter(pk__in=gone)) == set()
    assert not any(blob_path(left[name]).exists() for name in ("abandoned_lfs", "orphan"))
    for name in ("committed", "committed_lfs", "recent_lfs", "young_orphan"):
        assert Blob.objects.filter(pk=left[name].pk).exists(), name
        assert blob_path(left[name]).exists(), name
    assert set(BlobUpload.objects.values_list("blob_id", flat=True)) == {
        left["committed_lfs"].sha256,
        left["recent_lfs"].sha256,
    }


def test_cleanup_twice_is_harmless(leftovers):
    storage_cleanup()

    assert set(storage_cleanup().as_dict().values()) == {0}


def test_cleanup_command_reports_what_it_removed(leftovers, capsys):
    call_command("cleanup_uploads")

    assert capsys.readouterr().out.strip() == "uploads: 1, part files: 1, temp files: 1, lfs uploads: 1, blobs: 2"


def test_beat_runs_the_cleanup_every_hour():
    from config.celery_app import app
    from models_hub import tasks

    entry = app.conf.beat_schedule["storage-cleanup"]

    assert entry["task"] == tasks.storage_cleanup.name
    assert entry["schedule"] == 3600
    assert app.conf.beat_schedule_filename.startswith(str(settings.DATA_DIR))
