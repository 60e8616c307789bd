"""Celery adapters: ids in, the work done by `inference.runner`."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="inference.generation_run", acks_late=True)
def generation_run(generation_id: str) -> int:
    from inference.runner import generation_run as run

    return run(generation_id=generation_id)


@shared_task(name="inference.generations_reap")
def generations_reap() -> int:
    from inference.services import generations_reap as reap

    return reap()
