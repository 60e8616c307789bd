"""Celery adapters: ids in, the work done by a service module."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="models_hub.commit_analyze", acks_late=True)
def commit_analyze(commit_id: int) -> None:
    from models_hub.analysis import commit_analyze as analyze

    analyze(commit_id=commit_id)


@shared_task(name="models_hub.storage_cleanup")
def storage_cleanup() -> dict[str, int]:
    """Run by Celery beat (config/celery_app.py); safe to run twice at once."""
    from models_hub.storage.cleanup import storage_cleanup as cleanup

    return cleanup().as_dict()


@shared_task(name="models_hub.dataset_validate", acks_late=True)
def dataset_validate(validation_id: int) -> None:
    from models_hub.services.dataset_validation import dataset_validation_run

    dataset_validation_run(validation_id=validation_id)


@shared_task(name="models_hub.dataset_validations_resend")
def dataset_validations_resend() -> int:
    """Run by Celery beat (config/settings.py)."""
    from models_hub.services.dataset_validation import dataset_validations_resend as resend

    return resend()
