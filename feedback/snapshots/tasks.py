"""Celery adapter for snapshots (on the default queue, as every feedback.* task): an id in, the service does it."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="feedback.snapshot_build", acks_late=True)
def snapshot_build(snapshot_id: int) -> str | None:
    from feedback.snapshots.services import snapshot_build as build

    snapshot = build(snapshot_id=snapshot_id)
    return snapshot.status if snapshot is not None else None


@shared_task(name="feedback.snapshots_resend")
def snapshots_resend() -> int:
    from feedback.snapshots.services import snapshots_resend as resend

    return resend()
