"""A training run: one base commit trained on one dataset commit, producing branch `run-<id>`."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from models_hub.models import Commit, Repository


class TrainingRunQuerySet(models.QuerySet):
    def unfinished(self) -> TrainingRunQuerySet:
        return self.filter(status__in=(TrainingRun.Status.QUEUED, TrainingRun.Status.RUNNING))


class TrainingRun(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    class Method(models.TextChoices):
        SFT = "sft", "SFT (supervised fine-tuning)"
        DPO = "dpo", "DPO (preference pairs)"
        KTO = "kto", "KTO (thumbs up/down)"

    FINISHED = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    base_repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="training_runs")
    base_commit = models.ForeignKey(Commit, on_delete=models.PROTECT, related_name="training_runs_as_base")
    dataset_repository = models.ForeignKey(
        Repository, on_delete=models.PROTECT, related_name="training_runs_as_dataset"
    )
    dataset_commit = models.ForeignKey(Commit, on_delete=models.PROTECT, related_name="training_runs_as_dataset")
    method = models.CharField(max_length=8, choices=Method.choices)
    use_lora = models.BooleanField(default=False)
    hyperparameters = models.JSONField(default=dict, blank=True)

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    cancel_requested = models.BooleanField(default=False)
    step = models.PositiveIntegerField(default=0)
    total_steps = models.PositiveIntegerField(default=0)
    # [{"step", "loss", "eval_loss" (optional), "learning_rate", "tokens_per_second", "epoch", "elapsed"}]
    history = models.JSONField(default=list, blank=True)
    log_tail = models.JSONField(default=list, blank=True, help_text="The last lines of the job's log.")
    device = models.CharField(max_length=128, blank=True)
    error = models.TextField(blank=True)

    output_branch = models.CharField(max_length=255, blank=True)
    output_commit = models.ForeignKey(
        Commit, null=True, blank=True, on_delete=models.SET_NULL, related_name="training_runs_as_output"
    )
    metrics = models.JSONField(default=dict, blank=True, help_text='{"before": {...}, "after": {...}}')
    samples = models.JSONField(default=list, blank=True, help_text='[{"prompt", "parent", "child"}]')
    estimate_seconds = models.FloatField(null=True, blank=True)

    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Touched by the worker while it trains; a running run whose heartbeat is stale lost its worker.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    celery_task_id = models.CharField(max_length=64, blank=True)
    attempts = models.PositiveIntegerField(default=0)

    objects = TrainingRunQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["base_repository", "-created_at"])]

    def __str__(self) -> str:
        return f"run-{self.pk}"

    @property
    def branch_name(self) -> str:
        return f"run-{self.pk}"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def latest_loss(self) -> float | None:
        for point in reversed(self.history or []):
            if point.get("loss") is not None:
                return point["loss"]
        return None


class DeviceThroughput(models.Model):
    """Training tokens per second measured on a device for a method, updated after each run (for estimates)."""

    device = models.CharField(max_length=128)
    method = models.CharField(max_length=8, choices=TrainingRun.Method.choices)
    tokens_per_second = models.FloatField()
    runs = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["device", "method"], name="devicethroughput_unique")]

    def __str__(self) -> str:
        return f"{self.device} {self.method}: {self.tokens_per_second:.0f} tokens/s"


class PromotionQuerySet(models.QuerySet):
    def for_model(self, repo: Repository) -> PromotionQuerySet:
        return self.filter(repository=repo).select_related("from_commit", "to_commit", "run", "user")


class Promotion(models.Model):
    """A move of a model's main branch to a trained revision (promote) or back to an earlier one (rollback).

    An audit trail: rows are only ever added, each with who, when, why and the evidence they had.
    """

    class Kind(models.TextChoices):
        PROMOTE = "promote", "Promotion"
        ROLLBACK = "rollback", "Rollback"

    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="promotions")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    # main before and after; commits go only with their repository, so these cascade with it.
    from_commit = models.ForeignKey(Commit, on_delete=models.CASCADE, related_name="+")
    to_commit = models.ForeignKey(Commit, on_delete=models.CASCADE, related_name="+")
    # The commit whose files main now holds: the run's output, or the revision rolled back to.
    source_commit = models.ForeignKey(Commit, on_delete=models.CASCADE, related_name="+")
    fast_forward = models.BooleanField(help_text="main moved to the source commit itself, with no new commit.")
    run = models.ForeignKey(TrainingRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="promotions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    reason = models.TextField()
    evidence = models.JSONField(default=dict, blank=True, help_text="The run's evaluation, and more as it comes.")
    created_at = models.DateTimeField()

    objects = PromotionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["repository", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.repository_id}: {self.from_commit_id} -> {self.to_commit_id}"
