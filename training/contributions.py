"""What a rater's feedback did: which snapshots used their ratings, and which training runs (and promotions) read
those snapshots' dataset commits. Shown to the rater alone, on their profile."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Count, Q

from accounts.models import User
from feedback.snapshots.models import FeedbackSnapshot
from feedback.snapshots.selectors import snapshots_with_ratings_of
from models_hub.models import Repository
from training.models import Promotion, TrainingRun

SNAPSHOTS_SHOWN = 20


@dataclass
class TrainedRevision:
    run: TrainingRun
    promoted: Promotion | None = None


@dataclass
class Contribution:
    snapshot: FeedbackSnapshot
    ratings: int
    dataset_visible: bool
    runs: list[TrainedRevision] = field(default_factory=list)


def contributions_of(user: User) -> list[Contribution]:
    """The latest snapshots holding `user`'s ratings (of models they can still see), with the runs trained on them
    and each run's first promotion; a bounded number of queries whatever the history."""
    visible = Repository.objects.visible_to(user)
    snapshots = list(
        snapshots_with_ratings_of(user)
        .filter(model__in=visible)
        .annotate(yours=Count("used_ratings", filter=Q(used_ratings__rating__user=user)))[:SNAPSHOTS_SHOWN]
    )
    visible_datasets = set(
        visible.filter(pk__in=[s.dataset_id for s in snapshots if s.dataset_id]).values_list("pk", flat=True)
    )
    commits = [s.commit_id for s in snapshots if s.commit_id]
    runs = list(
        TrainingRun.objects.filter(dataset_commit_id__in=commits, base_repository__in=visible)
        .select_related("base_repository")
        .order_by("pk")
    )
    promoted: dict[int, Promotion] = {}
    for promotion in Promotion.objects.filter(run__in=runs, kind=Promotion.Kind.PROMOTE).order_by("-created_at"):
        promoted[promotion.run_id] = promotion  # the first promotion wins: iterated newest first
    by_commit: dict[int, list[TrainedRevision]] = {}
    for run in runs:
        by_commit.setdefault(run.dataset_commit_id, []).append(TrainedRevision(run, promoted.get(run.pk)))
    return [
        Contribution(
            snapshot=s,
            ratings=s.yours,
            dataset_visible=s.dataset_id in visible_datasets,
            runs=by_commit.get(s.commit_id, []),
        )
        for s in snapshots
    ]
