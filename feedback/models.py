"""Ratings of generated outputs: one per person per output, pinned to the generation (and so to its commit)."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from inference.models import Generation


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
