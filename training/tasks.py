"""Celery adapters: ids in, the work done by `training.job`."""

from __future__ import annotations

from celery import shared_task


# acks_late: a worker that dies mid-run leaves its message to be delivered again; the claim makes that harmless.
@shared_task(name="training.run_execute", bind=True, acks_late=True, reject_on_worker_lost=True)
def training_run_execute(self, run_id: int) -> str:
    from training.job import training_run_execute as execute

    return execute(run_id=run_id, task_id=self.request.id or "")


@shared_task(name="training.runs_reap")
def training_runs_reap() -> int:
    from training.job import training_runs_reap as reap

    return reap()
