"""Writes for feedback snapshots: ask for one (every surface: REST, staff page, admin) and build it (the task)."""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import User
from accounts.validators import validate_hub_name
from config.stuck_work import stuck_work_resend
from feedback.snapshots import build
from feedback.snapshots.card import CONFIGS, SPLITS, path_of
from feedback.snapshots.filters import SnapshotFilters, filters_clean
from feedback.snapshots.models import FeedbackSnapshot, SnapshotRating
from models_hub import services as hub
from models_hub.errors import BadRequest, Forbidden, HubError, RepoExists, RepoNotFound
from models_hub.models import Repository, TreeEntry
from models_hub.selectors import repo_access_for
from models_hub.storage.blobs import NewBlobs, temp_dir

logger = logging.getLogger(__name__)

# A running build touches its heartbeat at least this often; one silent for longer was orphaned (a worker died).
STALE_AFTER = timedelta(minutes=10)
# A snapshot still queued after this long lost its message (a broker outage when it was asked for).
RESEND_QUEUED_AFTER = timedelta(minutes=5)


def _split_id(value: Any, what: str) -> tuple[str, str]:
    if not isinstance(value, str) or value.count("/") != 1 or not all(value.split("/")):
        raise BadRequest(f"'{what}' must be a repository id written as owner/name, got {str(value)[:100]!r}.")
    namespace, name = value.strip().split("/")
    return namespace, name


def snapshot_model(*, user: User, model_id: Any) -> Repository:
    namespace, name = _split_id(model_id, "model")
    try:
        return repo_access_for(user, kind=Repository.Kind.MODEL, namespace=namespace, name=name).repo
    except RepoNotFound:
        raise RepoNotFound(f"There is no model {model_id[:100]!r} that you can read.") from None


def _check_dataset_writable(*, user: User, dataset_id: str) -> None:
    """The dataset must be writable by `user`, or creatable under its namespace (the build creates it)."""
    namespace, name = _split_id(dataset_id, "dataset")
    try:
        access = repo_access_for(user, kind=Repository.Kind.DATASET, namespace=namespace, name=name)
    except RepoNotFound:
        # The same refusal whether a private dataset by that name exists or not: its existence stays private.
        hub.namespace_check_writable(namespace=namespace, user=user)
        try:
            validate_hub_name(name)
        except ValidationError as exc:
            raise BadRequest(f"Invalid dataset name {name[:100]!r}: {' '.join(exc.messages)}") from None
        return
    access.require_write()


def default_dataset_id(*, user: User, model: Repository) -> str:
    return f"{user.username}/{model.name}-feedback"


def snapshot_check(
    *, user: User, model: Repository, dataset_id: str | None, filters: Mapping[str, Any] | SnapshotFilters
) -> tuple[str, SnapshotFilters]:
    """What snapshot_request refuses, without writing: (the dataset id, the checked filters) or a HubError."""
    if not user.is_staff:
        raise Forbidden("Only staff build datasets from feedback.")
    if model.kind != Repository.Kind.MODEL:
        raise BadRequest(f"{model.repo_id} is a dataset; feedback snapshots are taken of models.")
    dataset_id = (dataset_id or "").strip() or default_dataset_id(user=user, model=model)
    _check_dataset_writable(user=user, dataset_id=dataset_id)
    if not isinstance(filters, SnapshotFilters):
        filters = filters_clean(model=model, data=filters)
    if not build.candidate_ratings(model, filters).exists() and not build.has_battle_rows(model, filters):
        raise BadRequest(
            f"No ratings of {model.repo_id} match these filters (revisions, time window, raters who opted out or"
            " were hidden): there is nothing to build a dataset from."
        )
    return dataset_id, filters


@transaction.atomic
def snapshot_request(
    *,
    user: User,
    model: Repository,
    dataset_id: str | None,
    filters: Mapping[str, Any] | SnapshotFilters,
    private: bool = True,
) -> FeedbackSnapshot:
    """Record a snapshot of `model`'s feedback into `dataset_id` (owner/name; created by the build if missing,
    `private` then) and queue its build. Staff only. Refuses, before anything is queued, filters that are
    malformed, a dataset `user` cannot write, and filters that match no rating at all."""
    dataset_id, filters = snapshot_check(user=user, model=model, dataset_id=dataset_id, filters=filters)
    snapshot = FeedbackSnapshot.objects.create(
        model=model,
        dataset_name=dataset_id,
        dataset_private=private,
        filters=filters.to_json(),
        created_by=user,
        created_at=timezone.now(),
    )
    from feedback.snapshots.tasks import snapshot_build as task

    transaction.on_commit(lambda: task.delay(snapshot.pk), robust=True)
    return snapshot


def _claim(snapshot_id: int) -> bool:
    now = timezone.now()
    claimable = Q(status=FeedbackSnapshot.Status.QUEUED) | Q(
        status=FeedbackSnapshot.Status.RUNNING, heartbeat_at__lt=now - STALE_AFTER
    )
    return bool(
        FeedbackSnapshot.objects.filter(claimable, pk=snapshot_id).update(
            status=FeedbackSnapshot.Status.RUNNING, started_at=now, heartbeat_at=now, progress=0.0, error=""
        )
    )


def _progress(snapshot_id: int, share: float) -> None:
    FeedbackSnapshot.objects.filter(pk=snapshot_id, status=FeedbackSnapshot.Status.RUNNING).update(
        progress=round(min(max(share, 0.0), 1.0), 4), heartbeat_at=timezone.now()
    )


def _fail(snapshot_id: int, message: str) -> None:
    # Only a running build: a copy that lost a race with one that finished must not undo its result.
    FeedbackSnapshot.objects.filter(pk=snapshot_id, status=FeedbackSnapshot.Status.RUNNING).update(
        status=FeedbackSnapshot.Status.FAILED, error=message, finished_at=timezone.now()
    )


def snapshot_build(*, snapshot_id: int) -> FeedbackSnapshot | None:
    """Build a queued snapshot: files, then one commit on the dataset and the list of ratings used, together.

    Safe to run twice: the first run claims the snapshot (a conditional update); another returns at once.
    A snapshot whose filters match no row fails with a message and writes nothing.
    """
    if not _claim(snapshot_id):
        return None
    snapshot = FeedbackSnapshot.objects.select_related("model", "created_by").get(pk=snapshot_id)
    filters = SnapshotFilters.from_json(snapshot.filters)
    try:
        with tempfile.TemporaryDirectory(dir=temp_dir(), prefix="snapshot-") as workdir:
            built = build.build_files(
                model=snapshot.model,
                filters=filters,
                snapshot_id=snapshot.pk,
                workdir=workdir,
                progress=lambda share: _progress(snapshot.pk, 0.95 * share),
            )
            _commit(snapshot, filters, built, workdir)
    except build.NoRows as exc:
        _fail(snapshot.pk, str(exc))
    except HubError as exc:
        _fail(snapshot.pk, exc.message)
    except Exception:
        logger.exception("Feedback snapshot %s failed", snapshot.pk)
        _fail(snapshot.pk, "The build failed with an internal error; the administrators can read the worker log.")
        raise
    return FeedbackSnapshot.objects.get(pk=snapshot.pk)


def snapshots_resend(*, limit: int = 100) -> int:
    """Send the build again for snapshots whose message was lost or whose worker died (heartbeat stale): run
    by Celery beat. A build that is running fine ignores the extra message (its claim fails)."""
    from feedback.snapshots.tasks import snapshot_build as task

    return stuck_work_resend(
        FeedbackSnapshot, task=task, queued_after=RESEND_QUEUED_AFTER, stale_after=STALE_AFTER, limit=limit
    )


def _dataset_for(snapshot: FeedbackSnapshot) -> Repository:
    namespace, name = snapshot.dataset_name.split("/")
    user = snapshot.created_by
    if user is None:
        raise Forbidden("The person who asked for this snapshot no longer exists.")
    try:
        return repo_access_for(user, kind=Repository.Kind.DATASET, namespace=namespace, name=name).require_write().repo
    except RepoNotFound:
        pass
    try:
        return hub.repo_create(
            kind=Repository.Kind.DATASET, namespace=namespace, name=name, creator=user, private=snapshot.dataset_private
        )
    except (RepoExists, IntegrityError):  # created meanwhile (another snapshot into the same new dataset)
        return repo_access_for(user, kind=Repository.Kind.DATASET, namespace=namespace, name=name).require_write().repo


def _commit(snapshot: FeedbackSnapshot, filters: SnapshotFilters, built: build.BuiltFiles, workdir: str) -> None:
    dataset = _dataset_for(snapshot)
    readme = build.readme_for(model=snapshot.model, filters=filters, built=built)
    readme_path = os.path.join(workdir, "README.md")
    with open(readme_path, "wb") as handle:
        handle.write(readme)
    files = {"README.md": (readme_path, hashlib.sha256(readme).hexdigest(), len(readme)), **built.files}
    head = dataset.refs.get(kind="branch", name="main").commit
    existing = set(TreeEntry.objects.filter(commit=head).values_list("path", flat=True))
    stale = sorted(
        path_of(c, s) for c in CONFIGS for s in SPLITS if path_of(c, s) in existing and path_of(c, s) not in files
    )
    counts = built.counts
    summary = ", ".join(f"{counts[f'{c}_train'] + counts[f'{c}_validation']:,} {c}" for c in CONFIGS)
    with NewBlobs() as stored:
        additions = [
            hub.FileAddition(path, stored.from_temp_file(path=temp, sha256=sha, size=size))
            for path, (temp, sha, size) in sorted(files.items())
        ]
        with transaction.atomic():
            commit = hub.commit_create(
                repo=dataset,
                author=snapshot.created_by,
                title=f"Feedback snapshot {snapshot.pk} of {snapshot.model.repo_id}: {summary} rows",
                description=f"Built from {built.ratings_used:,} ratings; filters in README.md.",
                additions=additions,
                deletions=stale,
                parent_oid=head.oid,  # a commit made meanwhile fails this one instead of mixing files
            )
            SnapshotRating.objects.filter(snapshot=snapshot).delete()  # left by an orphaned run of this build
            _insert_used_ratings(built.ratings_path)
            FeedbackSnapshot.objects.filter(pk=snapshot.pk).update(
                status=FeedbackSnapshot.Status.DONE,
                dataset=dataset,
                commit=commit,
                counts=counts,
                ratings_used=built.ratings_used,
                ratings_seen=built.ratings_seen,
                progress=1.0,
                finished_at=timezone.now(),
                heartbeat_at=timezone.now(),
            )


def _insert_used_ratings(path: str) -> None:
    """The (snapshot, rating) lines of `path`: COPY on PostgreSQL (a million rows in seconds), batches elsewhere."""
    table = SnapshotRating._meta.db_table
    if connection.vendor == "postgresql":
        with open(path, encoding="ascii") as handle, connection.cursor() as cursor:
            cursor.copy_expert(f"COPY {table} (snapshot_id, rating_id) FROM STDIN", handle)
        return
    batch: list[SnapshotRating] = []
    with open(path, encoding="ascii") as handle:
        for line in handle:
            snapshot_id, rating_id = line.split("\t")
            batch.append(SnapshotRating(snapshot_id=int(snapshot_id), rating_id=int(rating_id)))
            if len(batch) >= 5000:
                SnapshotRating.objects.bulk_create(batch)
                batch = []
    SnapshotRating.objects.bulk_create(batch)


def consent_set(*, user: User, opt_out: bool) -> User:
    """Opt out of (or back into) training data use: from now on, snapshots leave the person's ratings out."""
    user.training_data_opt_out = opt_out
    user.save(update_fields=["training_data_opt_out"])
    return user
