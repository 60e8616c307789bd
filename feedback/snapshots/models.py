"""A feedback snapshot: the filters asked for, its progress, the dataset commit it produced, and exactly which
ratings went into it (so "which datasets contain this rating?" is one query)."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from feedback.models import Rating
from models_hub.models import Commit, Repository

COUNT_NAMES = (
    "sft_train",
    "sft_validation",
    "preference_train",
    "preference_validation",
    "kto_train",
    "kto_validation",
)


class FeedbackSnapshot(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    FINISHED = (Status.DONE, Status.FAILED)

    model = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="feedback_snapshots")
    # Where the files go: "owner/name" as asked; the repository row once it exists (created by the build if missing).
    dataset_name = models.CharField(max_length=200, help_text="owner/name")
    dataset = models.ForeignKey(
        Repository, null=True, blank=True, on_delete=models.SET_NULL, related_name="feedback_snapshot_sources"
    )
    dataset_private = models.BooleanField(
        default=True, help_text="Whether a dataset repository created for it is private."
    )
    filters = models.JSONField(help_text="The filters as checked by feedback.snapshots.filters.")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED, db_index=True)
    progress = models.FloatField(default=0.0, help_text="From 0 to 1.")
    ratings_seen = models.PositiveIntegerField(default=0, help_text="Ratings that matched the filters on the rows.")
    ratings_used = models.PositiveIntegerField(default=0, help_text="Ratings that ended up in at least one row.")
    counts = models.JSONField(default=dict, blank=True, help_text='{"sft_train": n, ...}')
    commit = models.ForeignKey(Commit, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="feedback_snapshots"
    )
    created_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Touched while the build runs; a running build whose heartbeat is stale was orphaned and may be claimed again.
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"Snapshot {self.pk} of {self.model.repo_id} → {self.dataset_name}"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    def count_values(self) -> dict[str, int]:
        return {name: int(self.counts.get(name, 0)) for name in COUNT_NAMES}


class SnapshotRating(models.Model):
    """One rating a snapshot's rows were made from.

    No database foreign-key constraints: a snapshot writes up to millions of these at once (COPY), and the
    database would check and lock each referenced row at commit; Django still cascades deletions."""

    id = models.BigAutoField(primary_key=True)
    # Indexed by the unique constraint, whose first column it is.
    snapshot = models.ForeignKey(
        FeedbackSnapshot, on_delete=models.CASCADE, related_name="used_ratings", db_index=False, db_constraint=False
    )
    rating = models.ForeignKey(Rating, on_delete=models.CASCADE, related_name="snapshot_uses", db_constraint=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["snapshot", "rating"], name="snapshot_rating_unique")]

    def __str__(self) -> str:
        return f"snapshot {self.snapshot_id} used rating {self.rating_id}"
