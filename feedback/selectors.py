"""Reads for feedback: the rating queue (campaigns, their progress, the next output a rater should see), a
person's rating of an output, and the tags raters can choose from."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Count, Exists, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from accounts.models import User
from feedback.models import CampaignItem, PromptSet, Rating, RatingCampaign, RatingTag
from inference.models import Generation
from models_hub.errors import NotFound
from models_hub.models import Repository

FINISHED = Q(items__generation__status__in=Generation.FINISHED)


@dataclass(frozen=True)
class Progress:
    total: int
    created: int  # outputs written so far (they reach `total` once the campaign's task has run)
    finished: int  # done, failed or cancelled
    failed: int

    @property
    def percent(self) -> int:
        return int(100 * self.finished / self.total) if self.total else 0

    @property
    def complete(self) -> bool:
        return self.created >= self.total and self.finished >= self.total


def with_progress_counts(campaigns: QuerySet[RatingCampaign]) -> QuerySet[RatingCampaign]:
    return campaigns.annotate(
        created_count=Count("items"),
        finished_count=Count("items", filter=FINISHED),
        failed_count=Count("items", filter=Q(items__generation__status=Generation.Status.FAILED)),
    )


def progress_of(campaign: RatingCampaign) -> Progress:
    """Finished outputs out of all of them; read from the counts `with_progress_counts` annotated, or in one query."""
    if not hasattr(campaign, "finished_count"):
        campaign = with_progress_counts(RatingCampaign.objects.filter(pk=campaign.pk)).get()
    return Progress(campaign.total, campaign.created_count, campaign.finished_count, campaign.failed_count)


def campaign_status(campaign: RatingCampaign, progress: Progress) -> str:
    """What a person reads: queued, generating, done or failed (done is when every output has finished)."""
    if campaign.status == RatingCampaign.Status.GENERATING and progress.complete:
        return "done"
    return campaign.status


def campaigns_for_model(repo: Repository) -> QuerySet[RatingCampaign]:
    """A model's campaigns, newest first, each with its progress counts (one query however many)."""
    return with_progress_counts(
        RatingCampaign.objects.filter(repository=repo).select_related("prompt_set", "created_by")
    )


def campaign_get(*, repo: Repository, campaign_id: int) -> RatingCampaign:
    campaign = campaigns_for_model(repo).filter(pk=campaign_id).first()
    if campaign is None:
        raise NotFound(f"{repo.repo_id} has no rating campaign {campaign_id}.")
    return campaign


def campaign_get_for_rater(*, campaign_id: int, user: User | None) -> RatingCampaign:
    """A campaign whose model `user` can read; any other is NotFound, as if it did not exist."""
    campaign = (
        RatingCampaign.objects.filter(pk=campaign_id, repository__in=Repository.objects.visible_to(user).values("pk"))
        .select_related("repository")
        .first()
    )
    if campaign is None:
        raise NotFound(f"There is no rating campaign {campaign_id}.")
    return campaign


def prompt_sets_for_user(user: User) -> QuerySet[PromptSet]:
    """The prompt sets `user` may start a campaign with: their own; staff may use everyone's."""
    sets = PromptSet.objects.all() if user.is_staff else PromptSet.objects.filter(created_by=user)
    return sets.order_by("-created_at")


def rating_next_for_user(
    *, user: User, campaign: RatingCampaign | None = None, skipped: Iterable[int] = ()
) -> CampaignItem | None:
    """The next finished output `user` should rate, or None when nothing is left; one query.

    It still needs ratings (fewer counted ratings than its campaign's `raters_needed`), it is not the
    rater's own generation, they have not rated it, and they can read its model. Outputs with the fewest
    ratings come first, so raters spread over the queue instead of piling onto the same outputs.
    """
    counted = (
        Rating.objects.counted()
        .filter(generation=OuterRef("generation"))
        .order_by()
        .values("generation")
        .annotate(n=Count("pk"))
        .values("n")
    )
    items = CampaignItem.objects.filter(
        generation__status=Generation.Status.DONE,
        campaign__repository__in=Repository.objects.visible_to(user).values("pk"),
    )
    if campaign is not None:
        items = items.filter(campaign=campaign)
    skipped = list(skipped)
    if skipped:
        items = items.exclude(pk__in=skipped)
    return (
        items.exclude(generation__user=user)
        .exclude(Exists(Rating.objects.filter(generation=OuterRef("generation"), user=user)))
        .annotate(ratings=Coalesce(Subquery(counted, output_field=IntegerField()), Value(0)))
        .filter(ratings__lt=F("campaign__raters_needed"))
        .select_related("generation", "prompt", "campaign__repository")
        .order_by("ratings", "pk")
        .first()
    )


def rating_of(*, generation: Generation, user: User | None) -> Rating | None:
    if user is None or not user.is_authenticated:
        return None
    return Rating.objects.filter(generation=generation, user=user).first()


def rating_tags() -> list[RatingTag]:
    """The active tags in the order staff set."""
    return list(RatingTag.objects.filter(active=True))
