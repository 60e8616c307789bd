"""Celery adapters for feedback: ids in, the work done by `feedback.services`."""

from __future__ import annotations

from celery import shared_task

from feedback.arena import tasks as arena_tasks  # noqa: F401 - registers the arena's tasks with the worker


@shared_task(name="feedback.campaign_generate", acks_late=True)
def campaign_generate(campaign_id: int) -> int:
    from feedback.services import campaign_generate as generate

    return generate(campaign_id=campaign_id)


from feedback.snapshots.tasks import snapshot_build, snapshots_resend  # noqa: E402,F401  (registered with the worker)
