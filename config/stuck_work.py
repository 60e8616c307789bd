"""Re-sending background work whose message was lost or whose worker died (run by Celery beat)."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Q
from django.utils import timezone


def stuck_work_resend(model, *, task, queued_after: timedelta, stale_after: timedelta, limit: int = 100) -> int:
    """Send `task(pk)` again for rows of `model` queued for longer than `queued_after` or running with a heartbeat
    older than `stale_after`. The task claims its row with a conditional update, so a copy sent for work that is
    still running well does nothing. `model` needs `Status` (QUEUED, RUNNING), `created_at` and `heartbeat_at`."""
    now = timezone.now()
    stuck = model.objects.filter(
        Q(status=model.Status.QUEUED, created_at__lt=now - queued_after)
        | Q(status=model.Status.RUNNING, heartbeat_at__lt=now - stale_after)
    ).values_list("pk", flat=True)[:limit]
    sent = 0
    for pk in stuck:
        task.delay(pk)
        sent += 1
    return sent
