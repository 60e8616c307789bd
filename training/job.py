"""The training job: claim a run, hand local paths to the pure trainer, report progress, commit what it wrote.

The Celery task (training/tasks.py) calls `training_run_execute`; the beat task calls `training_runs_reap`.
A run is claimed with a conditional update that also takes a lease (its `attempts` number): every progress write
and the final result are conditional on that lease, so a worker that lost its run (reaped after a stall) can never
overwrite the worker that took it over, and a run is never trained twice at once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import threading
import traceback
from collections import deque
from datetime import datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone

from feedback.arena import tasks as arena_tasks
from inference.snapshot import snapshot_dir
from models_hub.models import Commit, TreeEntry
from models_hub.storage.blobs import blob_open
from training.dataset_files import dataset_layout
from training.models import TrainingRun
from training.services import stale_before, throughput_record

logger = logging.getLogger(__name__)
LOG_LINES = 50


def run_dir(run_id: int) -> Path:
    return Path(settings.DATA_DIR) / "training" / f"run-{run_id}"


def max_attempts() -> int:
    return settings.FLYWHEEL_TRAINING_MAX_ATTEMPTS


def _stamp(text: str) -> str:
    return f"{timezone.now():%H:%M:%S} {text}"[:500]


class DatabaseReporter:
    """Buffers the trainer's progress and writes it from a thread once a second (never from the training loop),
    with the heartbeat; reads cancel_requested back, and notices when the lease was lost."""

    def __init__(self, run: TrainingRun, *, lease: int, interval: float) -> None:
        self.run_id, self.lease, self.interval = run.pk, lease, interval
        self.history: list[dict[str, Any]] = list(run.history or [])
        self.log: deque[str] = deque(run.log_tail or [], maxlen=LOG_LINES)
        self.fields: dict[str, Any] = {}
        self.cancel = False
        self.lost = False
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"training-run-{run.pk}-reporter", daemon=True)
        self._thread.start()

    # The trainer's side (training/trainers/finetune.Reporter).
    def started(self, *, total_steps: int, device: str, resumed_from: int) -> None:
        with self._lock:
            self.fields.update(total_steps=total_steps, device=device[:128], step=resumed_from)
            # A resumed attempt repeats the steps after its checkpoint: their old points go.
            self.history = [p for p in self.history if p.get("step", 0) <= resumed_from]

    def logged(self, point: dict[str, Any]) -> None:
        kind = "eval_loss" if "eval_loss" in point else "loss"
        with self._lock:
            if any(p.get("step") == point["step"] and kind in p for p in self.history[-200:]):
                return  # a point replayed from a checkpoint that was reported already
            self.history.append(point)
            self.fields["step"] = max(self.fields.get("step", 0), point["step"])

    def line(self, text: str) -> None:
        with self._lock:
            self.log.append(_stamp(text))

    def should_stop(self) -> bool:
        return self.cancel or self.lost

    # The database's side.
    def _loop(self) -> None:
        try:
            while not self._done.wait(self.interval):
                self.flush()
        finally:
            connection.close()  # this thread's own connection

    def flush(self) -> None:
        with self._lock:
            values = dict(self.fields, history=list(self.history), log_tail=list(self.log))
        try:
            updated = TrainingRun.objects.filter(
                pk=self.run_id, attempts=self.lease, status=TrainingRun.Status.RUNNING
            ).update(heartbeat_at=timezone.now(), **values)
            if not updated:
                self.lost = True
                return
            self.cancel = bool(
                TrainingRun.objects.filter(pk=self.run_id).values_list("cancel_requested", flat=True).first()
            )
        except Exception:  # a database hiccup: the next flush tries again, the heartbeat tolerates a few misses
            logger.exception("Training run %s: progress not written", self.run_id)
            close_old_connections()

    def close(self) -> None:
        self._done.set()
        self._thread.join()
        self.flush()


def _materialise(commit: Commit, paths: list[str], folder: Path) -> list[Path]:
    """The dataset's files as local paths (hard links to the blobs, or copies from a bucket)."""
    from django.core.files.storage import default_storage

    folder.mkdir(parents=True, exist_ok=True)
    entries = {e.path: e for e in TreeEntry.objects.filter(commit=commit, path__in=paths).select_related("blob")}
    local = []
    for index, path in enumerate(paths):
        target = folder / f"{index}-{Path(path).name}"
        if not target.exists():
            entry = entries[path]
            try:
                os.link(default_storage.path(entry.blob.storage_key), target)
            except (NotImplementedError, OSError):
                with blob_open(entry.blob) as source, open(target, "wb") as out:
                    shutil.copyfileobj(source, out, 1024 * 1024)
        local.append(target)
    return local


def _claim(run_id: int, task_id: str) -> TrainingRun | None:
    now = timezone.now()
    claimed = TrainingRun.objects.filter(pk=run_id, status=TrainingRun.Status.QUEUED, cancel_requested=False).update(
        status=TrainingRun.Status.RUNNING,
        attempts=F("attempts") + 1,
        heartbeat_at=now,
        started_at=Coalesce("started_at", now),
        celery_task_id=task_id[:64],
        error="",
    )
    return TrainingRun.objects.select_related("base_commit", "dataset_commit").get(pk=run_id) if claimed else None


def _finish(run_id: int, lease: int, **values) -> bool:
    return bool(
        TrainingRun.objects.filter(pk=run_id, attempts=lease, status=TrainingRun.Status.RUNNING).update(
            finished_at=timezone.now(), heartbeat_at=timezone.now(), **values
        )
    )


def training_run_execute(*, run_id: int, task_id: str = "") -> str:
    """Train a queued run to its end (succeeded, failed or cancelled); returns what happened, for the logs."""
    run = _claim(run_id, task_id)
    if run is None:
        return "not queued"  # cancelled, finished, or taken by another worker: nothing to do
    lease = run.attempts
    folder = run_dir(run.pk)
    reporter = DatabaseReporter(run, lease=lease, interval=settings.FLYWHEEL_TRAINING_REPORT_SECONDS)
    reporter.line(f"attempt {lease} on {os.uname().nodename} (pid {os.getpid()})")
    try:
        from training.trainers.finetune import FinetuneSpec

        layout = dataset_layout(run.dataset_commit, run.method)
        spec = FinetuneSpec(
            method=run.method,
            base_dir=snapshot_dir(run.base_commit),
            train_files=_materialise(run.dataset_commit, layout.train.paths, folder / "data" / "train"),
            validation_files=_materialise(run.dataset_commit, layout.validation.paths, folder / "data" / "validation"),
            run_dir=folder,
            hyperparameters=run.hyperparameters,
            use_lora=run.use_lora,
            threads=settings.FLYWHEEL_TRAINING_THREADS or None,
        )
        result = _train(spec, reporter)
    except Exception as exc:
        logger.exception("Training run %s failed", run.pk)
        reporter.line("".join(traceback.format_exception_only(exc)).strip())
        reporter.close()
        _finish(run.pk, lease, status=TrainingRun.Status.FAILED, error=f"{type(exc).__name__}: {exc}"[:4000])
        return "failed"
    reporter.close()
    if result.stopped:
        if reporter.cancel:
            _finish(run.pk, lease, status=TrainingRun.Status.CANCELLED)
            shutil.rmtree(folder, ignore_errors=True)
            return "cancelled"
        return "lease lost"  # reaped while stalled; whoever holds the run now finishes it
    # What the trainer measured around its training loop (for the estimate of later runs and the benchmark).
    result.metrics["train"] = {
        "tokens": result.train_tokens,
        "seconds": round(result.train_seconds, 3),
        "cpu_seconds": round(result.train_cpu_seconds, 3),
        "tokens_per_second": round(result.tokens_per_second, 1),
    }
    try:
        commit = _commit_output(run, result)
    except Exception as exc:
        logger.exception("Training run %s: committing the result failed", run.pk)
        _finish(run.pk, lease, status=TrainingRun.Status.FAILED, error=f"Committing the new revision failed: {exc}")
        return "failed"
    if not _finish(
        run.pk,
        lease,
        status=TrainingRun.Status.SUCCEEDED,
        output_commit=commit,
        metrics=result.metrics,
        samples=result.samples,
        step=result.steps,
    ):
        return "lease lost"
    throughput_record(device=result.device, method=run.method, tokens_per_second=result.tokens_per_second)
    # The arena's promotion gate: blind battles of the new revision against main on held-out prompts.
    transaction.on_commit(lambda: arena_tasks.run_battles_open.delay(run.pk), robust=True)
    shutil.rmtree(folder, ignore_errors=True)
    return "succeeded"


def _train(spec, reporter):
    """In this process, or across every local GPU with accelerate launch when the machine has more than one
    (DistributedDataParallel; the suite has no GPU: training/tests/test_launch.py runs the launcher on the CPU with one process)."""
    import torch

    from training.trainers.finetune import finetune

    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if gpus > 1:
        from training.trainers.launch import finetune_launched

        return finetune_launched(spec, reporter, processes=gpus)
    return finetune(spec, reporter)


def _commit_output(run: TrainingRun, result) -> Commit:
    from models_hub import services
    from models_hub.errors import Conflict
    from models_hub.storage.blobs import blob_store_stream, iter_file
    from training.cards import run_card

    additions = []
    for path in sorted(result.output_dir.iterdir()):
        if path.is_file():
            with open(path, "rb") as handle:
                additions.append(services.FileAddition(path.name, blob_store_stream(iter_file(handle))))
    run.refresh_from_db()
    card = run_card(run, metrics=result.metrics)
    additions.append(services.FileAddition("README.md", blob_store_stream([card.encode()])))
    written = {a.path for a in additions}
    base_paths = set(TreeEntry.objects.filter(commit=run.base_commit).values_list("path", flat=True))
    # Weights of the parent that the child does not have (other shards, an index) would mix two models.
    stale = sorted(
        p for p in base_paths - written if "/" not in p and (p.endswith(".safetensors") or p.endswith(".index.json"))
    )
    with transaction.atomic():
        # A retry after the branch was made commits onto it (an identical tree adds nothing).
        with contextlib.suppress(Conflict):
            services.branch_create(repo=run.base_repository, name=run.branch_name, start_revision=run.base_commit.oid)
        return services.commit_create(
            repo=run.base_repository,
            author=run.created_by,
            title=f"Training run {run.branch_name}: {run.method.upper()} on {run.dataset_repository.repo_id}",
            description=f"Trained from {run.base_commit.oid} on {run.dataset_repository.repo_id}@{run.dataset_commit.oid}.",
            branch=run.branch_name,
            additions=additions,
            deletions=stale,
        )


def training_runs_reap(now: datetime | None = None) -> int:
    """Runs whose worker stopped sending heartbeats: queued again to resume from their last checkpoint, or failed
    with the reason once they used up their attempts. Returns how many were reaped."""
    now = now or timezone.now()
    reaped = 0
    stale = TrainingRun.objects.filter(status=TrainingRun.Status.RUNNING, heartbeat_at__lt=now - stale_before())
    for run in stale:
        seen = run.heartbeat_at
        silent = int((now - seen).total_seconds())
        log = list(run.log_tail or [])
        lost = f"the worker stopped responding at step {run.step} (no heartbeat for {silent} s)"
        same = TrainingRun.objects.filter(pk=run.pk, status=TrainingRun.Status.RUNNING, heartbeat_at=seen)
        if run.cancel_requested:
            done = same.update(
                status=TrainingRun.Status.CANCELLED, finished_at=now, log_tail=[*log, _stamp(lost)][-LOG_LINES:]
            )
        elif run.attempts < max_attempts():
            from training.trainers.finetune import last_checkpoint

            checkpoint = last_checkpoint(run_dir(run.pk))
            resume = f"resuming from {checkpoint.name}" if checkpoint else "starting again (no checkpoint yet)"
            done = same.update(
                status=TrainingRun.Status.QUEUED,
                heartbeat_at=None,
                log_tail=[*log, _stamp(f"{lost}; {resume}")][-LOG_LINES:],
            )
            if done:
                from training.services import training_run_enqueue

                transaction.on_commit(lambda pk=run.pk: training_run_enqueue(pk), robust=True)
        else:
            error = f"Training stopped: {lost}, after {run.attempts} attempts."
            done = same.update(status=TrainingRun.Status.FAILED, finished_at=now, error=error)
        reaped += done
    return reaped
