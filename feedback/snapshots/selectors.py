"""Reads for feedback snapshots: one snapshot, a model's, and provenance: which snapshots (so which dataset
commits, and the training runs that read them) contain a rating, or a person's ratings."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, QuerySet

from accounts.models import User
from feedback.snapshots.models import FeedbackSnapshot, SnapshotRating
from models_hub.errors import NotFound
from models_hub.models import Commit, Repository


def _with_related(snapshots: QuerySet[FeedbackSnapshot]) -> QuerySet[FeedbackSnapshot]:
    return snapshots.select_related("model", "dataset", "commit", "created_by")


def snapshot_get(*, snapshot_id: int) -> FeedbackSnapshot:
    """A snapshot by id, for staff (the caller checks that)."""
    snapshot = _with_related(FeedbackSnapshot.objects.filter(pk=snapshot_id)).first()
    if snapshot is None:
        raise NotFound(f"There is no feedback snapshot {snapshot_id}.")
    return snapshot


def snapshots_for_model(model: Repository) -> QuerySet[FeedbackSnapshot]:
    return _with_related(FeedbackSnapshot.objects.filter(model=model))


def snapshots_containing_rating(rating_id: int) -> QuerySet[FeedbackSnapshot]:
    """The finished snapshots whose rows were made (partly) from this rating, newest first."""
    used = SnapshotRating.objects.filter(snapshot=OuterRef("pk"), rating_id=rating_id)
    return _with_related(FeedbackSnapshot.objects.filter(Exists(used), status=FeedbackSnapshot.Status.DONE))


def dataset_commits_containing_rating(rating_id: int) -> QuerySet[Commit]:
    """The dataset commits whose files contain this rating: link training runs to these to find the trained
    revisions that learnt from it (TrainingRun.dataset_commit)."""
    snapshots = snapshots_containing_rating(rating_id).filter(commit__isnull=False)
    return Commit.objects.filter(pk__in=snapshots.values("commit_id")).select_related("repository")


def snapshots_with_ratings_of(user: User) -> QuerySet[FeedbackSnapshot]:
    """The finished snapshots that used at least one of `user`'s ratings (what a person who withdraws consent
    sees), newest first; one query."""
    used = SnapshotRating.objects.filter(snapshot=OuterRef("pk"), rating__user=user)
    return _with_related(FeedbackSnapshot.objects.filter(Exists(used), status=FeedbackSnapshot.Status.DONE))


def training_runs_containing_rating(rating_id: int):
    """The training runs that trained on a dataset commit containing this rating (their output commits are the
    trained revisions that learnt from it)."""
    from training.models import TrainingRun  # training reads feedback's datasets, not the other way round

    commits = dataset_commits_containing_rating(rating_id).values("pk")
    return TrainingRun.objects.filter(dataset_commit__in=commits).select_related("output_commit", "base_repository")
