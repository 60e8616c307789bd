"""A generation: one prompt run on one exact commit with every setting that shaped the text."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from models_hub.models import Commit, Repository

SAMPLING_FIELDS = ("max_new_tokens", "temperature", "top_p", "top_k", "repetition_penalty", "seed")


def sampling_of(row) -> dict:
    """The sampling settings of a row that stores them (a generation, a rating campaign)."""
    return {name: getattr(row, name) for name in SAMPLING_FIELDS}


class GenerationQuerySet(models.QuerySet):
    def unfinished(self) -> GenerationQuerySet:
        return self.filter(status__in=(Generation.Status.QUEUED, Generation.Status.RUNNING))


class Generation(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"
        CANCELLED = "cancelled"

    class Source(models.TextChoices):
        PLAYGROUND = "playground"
        API = "api"
        OPENAI = "openai"
        BATCH = "batch"  # bulk generation of a prompt set for the rating queue

    FINISHED = (Status.DONE, Status.FAILED, Status.CANCELLED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="generations")
    # The exact 40-hex commit that produced the text, whatever branch or tag was asked for.
    commit = models.ForeignKey(Commit, on_delete=models.CASCADE, related_name="generations")
    revision = models.CharField(max_length=255, help_text="The branch, tag or commit id as asked.")
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.API)

    prompt = models.TextField(blank=True, help_text="Plain prompt (continuation), or the chat as text.")
    messages = models.JSONField(null=True, blank=True, help_text="Chat messages, when asked as a chat.")
    system_prompt = models.TextField(blank=True)
    max_new_tokens = models.PositiveIntegerField()
    temperature = models.FloatField()
    top_p = models.FloatField()
    top_k = models.PositiveIntegerField()
    repetition_penalty = models.FloatField()
    seed = models.BigIntegerField()
    stop = models.JSONField(default=list, blank=True)

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    text = models.TextField(blank=True)
    finish_reason = models.CharField(max_length=16, blank=True)
    error = models.TextField(blank=True)
    cancel_requested = models.BooleanField(default=False)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    device = models.CharField(max_length=32, blank=True)

    created_at = models.DateTimeField(db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    first_token_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Touched by the worker while it runs; a running generation whose heartbeat is stale was orphaned.
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    objects = GenerationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "commit", "created_at"], name="generation_queue_idx"),
            models.Index(fields=["user", "created_at"], name="generation_user_recent_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.repository.repo_id}@{self.commit.oid[:7]}: {self.prompt[:40]}"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    def _seconds(self, start, end) -> float | None:
        return round((end - start).total_seconds(), 4) if start and end else None

    @property
    def queue_seconds(self) -> float | None:
        return self._seconds(self.created_at, self.started_at)

    @property
    def first_token_seconds(self) -> float | None:
        return self._seconds(self.created_at, self.first_token_at)

    @property
    def total_seconds(self) -> float | None:
        return self._seconds(self.created_at, self.finished_at)

    def sampling(self) -> dict:
        return sampling_of(self)
