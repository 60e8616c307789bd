"""Promotion and rollback: writes that move a model's main branch, each recorded as a Promotion.

Promoting gives main a succeeded run's files: a fast-forward when main is still the run's base commit
(the run's branch grew from it), otherwise a new commit on main with the run's tree, so that every
promotion can be rolled back by another commit. Generations pin the commit main names when they are
asked for (inference.services.generation_request), so new ones use the promoted revision at once.
"""

from __future__ import annotations

import re

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from models_hub import services as hub
from models_hub.errors import BadRequest, Conflict, Forbidden, PreconditionFailed, refuse_nul
from models_hub.models import Commit, Ref, Repository, TreeEntry
from training.models import Promotion, TrainingRun

COMMIT_ID = re.compile(r"[0-9a-f]{40}")  # a full commit id, as rollbacks name the revision to restore
MAX_REASON_CHARS = 2000


def may_manage_runs(user: User | None) -> bool:
    """Who starts, cancels, promotes and rolls back: staff, and no one else."""
    return bool(user is not None and user.is_authenticated and user.is_active and user.is_staff)


def _check_staff(user: User | None, action: str) -> None:
    if not may_manage_runs(user):
        raise Forbidden(f"Only staff {action}.")


def _clean_reason(reason: str) -> str:
    reason = refuse_nul((reason or "").strip(), "The reason")
    if not reason:
        raise BadRequest("Say why: a reason is recorded with every promotion and rollback.")
    if len(reason) > MAX_REASON_CHARS:
        raise BadRequest(f"The reason is too long: at most {MAX_REASON_CHARS:,} characters (got {len(reason):,}).")
    return reason


def _tree(commit: Commit) -> dict[str, str]:
    return dict(TreeEntry.objects.filter(commit=commit).values_list("path", "blob_id"))


def main_head(repo: Repository) -> Commit:
    return Ref.objects.select_related("commit").get(repository=repo, kind=Ref.Kind.BRANCH, name="main").commit


def run_is_on_main(run: TrainingRun) -> bool:
    """Whether main holds `run`'s files because of its latest move (a promotion of this run, not rolled back since)."""
    latest = Promotion.objects.filter(repository_id=run.base_repository_id).order_by("-created_at", "-id").first()
    if latest is None or latest.source_commit_id != run.output_commit_id:
        return False
    return main_head(run.base_repository).pk == latest.to_commit_id


def _commit_tree_on_main(
    *, repo: Repository, head: Commit, source: Commit, user: User, title: str, description: str
) -> Commit:
    """A new commit on main whose files are exactly `source`'s, through the one write path (commit_create)."""
    head_tree, source_tree = _tree(head), _tree(source)
    copies = [
        hub.FileCopy(src_path=path, dest_path=path, src_revision=source.oid)
        for path, blob in sorted(source_tree.items())
        if head_tree.get(path) != blob
    ]
    deletions = sorted(path for path in head_tree if path not in source_tree)
    return hub.commit_create(
        repo=repo,
        author=user,
        title=title,
        description=description,
        branch="main",
        copies=copies,
        deletions=deletions,
        parent_oid=head.oid,
    )


def _move_main(
    *,
    repo: Repository,
    kind: str,
    head: Commit,
    source: Commit,
    fast_forward: bool,
    title: str,
    run: TrainingRun | None,
    user: User,
    reason: str,
    evidence: dict,
) -> Promotion:
    """Give main `source`'s files (moving the branch itself when `fast_forward`, else by a new commit) and record
    it, together; Conflict when main is no longer at `head`."""
    try:
        with transaction.atomic():
            if fast_forward:
                new_head = hub.branch_fast_forward(repo=repo, branch="main", to_commit=source, expected_oid=head.oid)
            else:
                new_head = _commit_tree_on_main(
                    repo=repo, head=head, source=source, user=user, title=title, description=reason
                )
            return Promotion.objects.create(
                repository=repo,
                kind=kind,
                from_commit=head,
                to_commit=new_head,
                source_commit=source,
                fast_forward=fast_forward,
                run=run,
                user=user,
                reason=reason,
                evidence=evidence,
                created_at=timezone.now(),
            )
    except PreconditionFailed:
        raise Conflict(
            f"main moved while this was being done (it was at {head.short_oid}): look again and retry."
        ) from None


def arena_evidence(run: TrainingRun) -> dict | None:
    from feedback.arena.promotion import run_evidence

    return run_evidence(run)


def run_evidence(run: TrainingRun) -> dict:
    """What a promotion of `run` rests on: its lineage and its evaluation against the parent."""
    return {
        "run": run.pk,
        "method": run.method,
        "base": f"{run.base_repository.repo_id}@{run.base_commit.oid}",
        "dataset": f"{run.dataset_repository.repo_id}@{run.dataset_commit.oid}",
        "output": run.output_commit.oid if run.output_commit else None,
        "metrics": run.metrics or {},
        "head_to_head": arena_evidence(run),  # blind battles against main, when they were opened
    }


def training_run_promote(*, run: TrainingRun, user: User, reason: str) -> Promotion:
    """Give the model's main branch the files of `run`, which must have succeeded; record who, why, evidence.

    Raises Forbidden for non-staff, BadRequest for a missing or huge reason, Conflict (409) for a run that
    did not succeed, for a main that already holds these files, and when main moves meanwhile.
    """
    _check_staff(user, "promote training runs")
    reason = _clean_reason(reason)
    if run.status != TrainingRun.Status.SUCCEEDED or run.output_commit_id is None:
        state = "has not finished yet" if run.status in (run.Status.QUEUED, run.Status.RUNNING) else run.status
        raise Conflict(f"run-{run.pk} {state}: only a run that succeeded can be promoted.")
    repo, output = run.base_repository, run.output_commit
    head = main_head(repo)
    if _tree(head) == _tree(output):
        raise Conflict(f"main already holds the files of run-{run.pk} (at {head.short_oid}).")
    return _move_main(
        repo=repo,
        kind=Promotion.Kind.PROMOTE,
        head=head,
        source=output,
        fast_forward=head.pk == run.base_commit_id and hub.descends_from(output, head),
        title=f"Promote run-{run.pk} ({output.short_oid})",
        run=run,
        user=user,
        reason=reason,
        evidence=run_evidence(run),
    )


def _was_on_main(repo: Repository, head: Commit, commit: Commit) -> bool:
    if hub.descends_from(head, commit):
        return True
    return Promotion.objects.filter(repository=repo, from_commit=commit).exists()


def promotion_rollback(*, repo: Repository, to_commit: Commit, user: User, reason: str) -> Promotion:
    """A new commit on main with the files of `to_commit`, a revision main held before; recorded like a promotion."""
    _check_staff(user, "roll back models")
    reason = _clean_reason(reason)
    if to_commit.repository_id != repo.pk:
        raise BadRequest(f"{to_commit.short_oid} is not a commit of {repo.repo_id}.")
    head = main_head(repo)
    if _tree(head) == _tree(to_commit):
        raise Conflict(f"main already holds the files of {to_commit.short_oid}.")
    if not _was_on_main(repo, head, to_commit):
        raise BadRequest(f"{to_commit.short_oid} was never on main: roll back only to a revision main has held.")
    return _move_main(
        repo=repo,
        kind=Promotion.Kind.ROLLBACK,
        head=head,
        source=to_commit,
        fast_forward=False,
        title=f"Roll back to {to_commit.short_oid}",
        run=TrainingRun.objects.filter(base_repository=repo, output_commit=to_commit).order_by("-pk").first(),
        user=user,
        reason=reason,
        evidence={"rolled_back": head.oid, "restored": to_commit.oid},
    )
