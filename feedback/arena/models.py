"""Arena: anonymous battles between two revisions on one prompt, votes, pinned pairs, voter reviews, and the
leaderboard the refit task caches. Imported by feedback.models, so these are models of the feedback app."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from inference.models import Generation
from models_hub.models import Commit, Repository


class ArenaPin(models.Model):
    """A pair staff want compared (a retrained revision against its parent), with prompts to battle on."""

    name = models.CharField(max_length=200)
    repository_a = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="+")
    commit_a = models.ForeignKey(Commit, on_delete=models.CASCADE, related_name="+")
    repository_b = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="+")
    commit_b = models.ForeignKey(Commit, on_delete=models.CASCADE, related_name="+")
    prompt_set = models.ForeignKey(
        "feedback.PromptSet", null=True, blank=True, on_delete=models.SET_NULL, related_name="arena_pins"
    )
    # The training run whose output this pin compares with its parent (training.TrainingRun's id).
    training_run_id = models.PositiveIntegerField(null=True, blank=True, db_index=True)
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.CheckConstraint(condition=~Q(commit_a=F("commit_b")), name="arena_pin_two_commits")]

    def __str__(self) -> str:
        return self.name


class Battle(models.Model):
    """One prompt, two outputs from two different revisions; `a` is shown left, `b` right (drawn at random)."""

    class Status(models.TextChoices):
        GENERATING = "generating"
        READY = "ready"  # both outputs done and blind: open for votes
        DROPPED = "dropped"  # an output named a model or vendor: it cannot be blind
        FAILED = "failed"  # an output failed or was stopped

    class Winner(models.TextChoices):
        A = "a"
        B = "b"
        TIE = "tie"
        BOTH_BAD = "both_bad"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="battles"
    )
    prompt = models.TextField()
    # SHA-256 of the prompt with case and spacing folded: repeats of one prompt are down-weighted in the fit.
    prompt_hash = models.CharField(max_length=64, db_index=True)
    pin = models.ForeignKey(ArenaPin, null=True, blank=True, on_delete=models.SET_NULL, related_name="battles")
    source_prompt = models.ForeignKey(
        "feedback.Prompt", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    generation_a = models.ForeignKey(Generation, on_delete=models.CASCADE, related_name="+")
    generation_b = models.ForeignKey(Generation, on_delete=models.CASCADE, related_name="+")
    repository_a = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="+")
    commit_a = models.ForeignKey(Commit, on_delete=models.CASCADE, related_name="+")
    repository_b = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="+")
    commit_b = models.ForeignKey(Commit, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.GENERATING, db_index=True)
    drop_reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.CheckConstraint(condition=~Q(commit_a=F("commit_b")), name="battle_two_commits")]

    def __str__(self) -> str:
        return f"battle {self.pk}"


class BattleView(models.Model):
    """Someone was shown both finished outputs of a battle: only they may vote on it."""

    battle = models.ForeignKey(Battle, on_delete=models.CASCADE, related_name="views")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    seen_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["battle", "user"], name="battle_view_once")]


class BattleVote(models.Model):
    battle = models.ForeignKey(Battle, on_delete=models.CASCADE, related_name="votes")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="battle_votes")
    winner = models.CharField(max_length=8, choices=Battle.Winner.choices)
    # The voter owned or maintained one of the two models when voting: kept, never counted.
    by_member = models.BooleanField(default=False)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["battle", "user"], name="one_vote_per_person")]
        indexes = [models.Index(fields=["user", "created_at"], name="battle_vote_user_day_idx")]

    def __str__(self) -> str:
        return f"{self.user} on {self.battle_id}: {self.winner}"


class VoterReview(models.Model):
    """A voter the sequential test flagged (votes against the consensus far beyond chance), and what staff
    decided: excluded voters' votes leave the leaderboard; cleared ones are not flagged again."""

    class Status(models.TextChoices):
        FLAGGED = "flagged"
        EXCLUDED = "excluded"
        CLEARED = "cleared"

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="voter_review")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.FLAGGED, db_index=True)
    log_likelihood_ratio = models.FloatField(
        default=0.0, help_text="The sequential test's evidence that the voter agrees below chance (flagged at 6.9)."
    )
    votes_tested = models.PositiveIntegerField(default=0)
    agreement = models.FloatField(default=0.0, help_text="Share of votes for the side the consensus favours.")
    expected_agreement = models.FloatField(default=0.0, help_text="What an honest voter would show.")
    flagged_at = models.DateTimeField()
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=300, blank=True)

    def __str__(self) -> str:
        return f"{self.user} ({self.status})"


class LeaderboardFit(models.Model):
    """When a leaderboard (overall: scope ''; one model's revisions: scope = its repository id) was fitted."""

    scope = models.CharField(max_length=20, unique=True)
    computed_at = models.DateTimeField()
    votes = models.PositiveIntegerField(default=0)
    votes_left_out = models.PositiveIntegerField(default=0, help_text="Maintainers', excluded or hidden voters'.")
    rounds = models.PositiveIntegerField(default=0)
    seconds = models.FloatField(default=0.0)

    def __str__(self) -> str:
        return self.scope or "overall"


class LeaderboardEntry(models.Model):
    fit = models.ForeignKey(LeaderboardFit, on_delete=models.CASCADE, related_name="entries")
    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="+")
    commit = models.ForeignKey(Commit, on_delete=models.CASCADE, related_name="+")
    rating = models.FloatField()
    ci_low = models.FloatField()
    ci_high = models.FloatField()
    rank = models.PositiveIntegerField(null=True, blank=True, help_text="Empty until the minimum battles.")
    battles = models.PositiveIntegerField()

    class Meta:
        verbose_name_plural = "leaderboard entries"
        ordering = ["-rating"]
        constraints = [models.UniqueConstraint(fields=["fit", "commit"], name="leaderboard_entry_unique")]

    def __str__(self) -> str:
        return f"{self.repository_id}@{self.commit_id}: {self.rating:.0f}"
