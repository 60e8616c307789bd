"""Ratings of generated outputs: one per person per output, pinned to the generation (and so to its commit)."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from inference.models import Generation, sampling_of
from models_hub.models import Commit, Repository


class RatingTag(models.Model):
    """A tag raters can put on an output; staff edit the list in the admin."""

    slug = models.SlugField(max_length=40, unique=True)
    label = models.CharField(max_length=80)
    negative = models.BooleanField(default=False, help_text="Marks a problem (harmful, incorrect...).")
    position = models.PositiveSmallIntegerField(default=0)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["position", "slug"]

    def __str__(self) -> str:
        return self.label


class RatingQuerySet(models.QuerySet):
    def counted(self) -> RatingQuerySet:
        """What statistics count: not hidden raters, not the model's own maintainers."""
        return self.filter(by_maintainer=False).exclude(user__hidden_rater__isnull=False)


class Rating(models.Model):
    class Thumb(models.TextChoices):
        UP = "up"
        DOWN = "down"

    generation = models.ForeignKey(Generation, on_delete=models.CASCADE, related_name="ratings")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="ratings")
    thumb = models.CharField(max_length=4, choices=Thumb.choices, blank=True)
    stars = models.PositiveSmallIntegerField(null=True, blank=True)
    tags = models.JSONField(default=list, blank=True)
    comment = models.TextField(blank=True)
    correction = models.TextField(blank=True, help_text="A better answer, used as training data.")
    # Who rated, for feedback imported from elsewhere (an application's own user id): the row's user is the importer.
    external_rater = models.CharField(max_length=200, null=True, blank=True)
    # The rater owned or maintained the model when rating: left out of its statistics by default.
    by_maintainer = models.BooleanField(default=False)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField(db_index=True)

    objects = RatingQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["generation", "user"], name="one_rating_per_person")]
        indexes = [models.Index(fields=["user", "updated_at"], name="rating_user_recent_idx")]

    def __str__(self) -> str:
        return f"{self.user} on {self.generation_id}: {self.thumb or '-'} {self.stars or ''}"


class HiddenRater(models.Model):
    """A rater whose feedback staff hid (spam): kept, but out of statistics, queues and datasets."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="hidden_rater")
    hidden_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return str(self.user)


class PromptSet(models.Model):
    """Prompts uploaded by a maintainer (JSONL or CSV) or read from a dataset repository's file at a commit."""

    name = models.CharField(max_length=100)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="prompt_sets"
    )
    source_name = models.CharField(max_length=255, blank=True, help_text="The uploaded file's name, or its path.")
    # Where prompts picked from a dataset came from: the repository and the exact commit read.
    source_dataset = models.ForeignKey(Repository, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    source_commit = models.ForeignKey(Commit, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    prompt_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prompt_count} prompts)"


class Prompt(models.Model):
    prompt_set = models.ForeignKey(PromptSet, on_delete=models.CASCADE, related_name="prompts")
    position = models.PositiveIntegerField(help_text="Order in the set, from 0.")
    line = models.PositiveIntegerField(help_text="Line of the source file the prompt starts on.")
    text = models.TextField()
    system_prompt = models.TextField(blank=True)
    reference = models.TextField(blank=True, help_text="A reference answer, if the file had one.")

    class Meta:
        ordering = ["prompt_set", "position"]
        constraints = [models.UniqueConstraint(fields=["prompt_set", "position"], name="prompt_position_unique")]

    def __str__(self) -> str:
        return self.text[:60]


class RatingCampaign(models.Model):
    """A prompt set generated against chosen revisions of one model, for the rating queue."""

    class Status(models.TextChoices):
        QUEUED = "queued"  # the task that creates the generations has not run yet
        GENERATING = "generating"  # every generation exists; the inference worker runs them
        FAILED = "failed"  # the generations could not be created (the reason is in `error`)

    name = models.CharField(max_length=100)
    prompt_set = models.ForeignKey(PromptSet, on_delete=models.PROTECT, related_name="campaigns")
    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="rating_campaigns")
    # The revisions as asked and the exact commits they named when the campaign started, in order.
    revisions = models.JSONField(default=list, help_text='[{"revision": "v1.0", "commit": "<40 hex>"}, ...]')
    commits = models.ManyToManyField(Commit, related_name="+")
    max_new_tokens = models.PositiveIntegerField()
    temperature = models.FloatField()
    top_p = models.FloatField()
    top_k = models.PositiveIntegerField()
    repetition_penalty = models.FloatField()
    seed = models.BigIntegerField()
    raters_needed = models.PositiveSmallIntegerField(default=3, help_text="Counted ratings each output needs.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    error = models.TextField(blank=True)
    total = models.PositiveIntegerField(default=0, help_text="Generations: prompts × revisions.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="rating_campaigns"
    )
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name

    def sampling(self) -> dict:
        return sampling_of(self)


class CampaignItem(models.Model):
    """One output of a campaign: a prompt run on one commit. The queue of outputs to rate is made of these."""

    campaign = models.ForeignKey(RatingCampaign, on_delete=models.CASCADE, related_name="items")
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="+")
    commit = models.ForeignKey(Commit, on_delete=models.CASCADE, related_name="+")
    generation = models.OneToOneField(Generation, on_delete=models.CASCADE, related_name="campaign_item")

    class Meta:
        constraints = [
            # The task that creates the generations may run twice (or twice at once): never two outputs for one.
            models.UniqueConstraint(fields=["campaign", "prompt", "commit"], name="campaign_item_unique")
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id}: prompt {self.prompt_id} on {self.commit_id}"


# The arena's models live in their own module; importing them here makes them models of this app.
from feedback.arena.models import (  # noqa: E402, F401
    ArenaPin,
    Battle,
    BattleView,
    BattleVote,
    LeaderboardEntry,
    LeaderboardFit,
    VoterReview,
)
from feedback.snapshots.models import FeedbackSnapshot, SnapshotRating  # noqa: E402,F401  (registers the models)
