"""Writes for feedback: submit or change a rating, hide a rater; prompt sets and rating campaigns."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from accounts.models import User
from feedback.models import CampaignItem, HiddenRater, Prompt, PromptSet, Rating, RatingCampaign, RatingTag
from feedback.prompt_parsing import Limits, ParseResult, format_for, parse_prompts
from feedback.rate_counter import minute_hits
from feedback.rating_sql import rating_upsert
from inference.models import Generation
from inference.selectors import generation_get_for_user
from inference.services import Sampling, TooManyRequests, sampling_clean
from inference.snapshot import UnusableModel, check_runnable
from models_hub.errors import (
    BadRequest,
    EntryNotFound,
    Forbidden,
    NotFound,
    RepoNotFound,
    RevisionNotFound,
    refuse_nul,
)
from models_hub.models import Commit, Repository, TreeEntry
from models_hub.selectors import file_entry, repo_access, repo_access_for, revision_resolve
from models_hub.storage.blobs import blob_open

MAX_TEXT = 20_000


@dataclass(frozen=True)
class RatingInput:
    thumb: str = ""
    stars: int | None = None
    tags: Sequence[str] = ()
    comment: str = ""
    correction: str = ""


def _clean(data: RatingInput) -> RatingInput:
    if data.thumb not in ("", Rating.Thumb.UP, Rating.Thumb.DOWN):
        raise BadRequest(f"'thumb' must be 'up' or 'down', got {data.thumb!r}.")
    if data.stars is not None and (isinstance(data.stars, bool) or data.stars not in range(1, 6)):
        raise BadRequest(f"'stars' must be a whole number from 1 to 5, or null; got {data.stars!r}.")
    if not data.thumb and data.stars is None and not data.tags and not data.comment and not data.correction:
        raise BadRequest("A rating needs at least a thumb, stars, a tag, a comment or a correction.")
    if data.tags:  # the editable list is read only when it is needed: most ratings carry no tag
        known = set(RatingTag.objects.filter(active=True).values_list("slug", flat=True))
        unknown = [t for t in data.tags if t not in known]
        if unknown:
            raise BadRequest(f"Unknown tag {unknown[0]!r}: use one of {', '.join(sorted(known))}.")
    for name in ("comment", "correction"):
        if len(getattr(data, name)) > MAX_TEXT:
            raise BadRequest(f"'{name}' is too long: at most {MAX_TEXT:,} characters.")
        refuse_nul(getattr(data, name), f"'{name}'")
    return RatingInput(data.thumb, data.stars, sorted(set(data.tags)), data.comment, data.correction)


def _check_rate(user: User) -> None:
    """At most FLYWHEEL_RATINGS_PER_MINUTE per person a minute (a counter per minute shared by the web processes)."""
    if user.is_staff:
        return
    limit = settings.FLYWHEEL_RATINGS_PER_MINUTE
    now = time.time()
    if minute_hits(f"ratings-{user.pk}", now=now) > limit:
        retry_after = 60 - int(now % 60)
        raise TooManyRequests(
            f"Rate limit: {limit} ratings a minute. Try again in {retry_after} s.", retry_after=retry_after
        )


def _fields(data: RatingInput, now) -> dict[str, Any]:
    return {
        "thumb": data.thumb,
        "stars": data.stars,
        "tags": list(data.tags),
        "comment": data.comment,
        "correction": data.correction,
        "updated_at": now,
    }


def rating_submit(*, generation: Generation, user: User, data: RatingInput) -> tuple[Rating, bool]:
    """Create or change `user`'s rating of `generation`: (rating, created). One row per person and output,
    however many times or however concurrently it is sent. The caller has checked that `user` may see it."""
    data = _clean(data)
    if generation.status != Generation.Status.DONE:
        raise BadRequest(f"Only finished outputs can be rated; this generation is {generation.status}.")
    _check_rate(user)
    return _rating_write(generation=generation, user=user, data=data)


def rating_put(*, generation_id: str, user: User, data: RatingInput) -> tuple[Rating, bool]:
    """The rating API's write, by output id: what `rating_submit` does, with the visibility check. On PostgreSQL
    the common case (a finished output the rater may see without a second query) is one statement; anything else
    takes the slow path, which says why it is refused. Every attempt counts towards the rate limit."""
    data = _clean(data)
    _check_rate(user)
    if connection.vendor == "postgresql" and _is_uuid(generation_id):
        now = timezone.now()
        saved = rating_upsert(
            generation_id=generation_id, user=user, fields=_fields(data, now), now=now, check_visible=True
        )
        if saved is not None:
            return saved
    generation = generation_get_for_user(generation_id=generation_id, user=user)
    if generation.status != Generation.Status.DONE:
        raise BadRequest(f"Only finished outputs can be rated; this generation is {generation.status}.")
    return _rating_write(generation=generation, user=user, data=data)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def _rating_write(*, generation: Generation, user: User, data: RatingInput) -> tuple[Rating, bool]:
    now = timezone.now()
    fields = _fields(data, now)
    if connection.vendor == "postgresql":
        saved = rating_upsert(generation_id=generation.pk, user=user, fields=fields, now=now, check_visible=False)
        if saved is None:
            raise NotFound("This output no longer exists.")
        rating, created = saved
        rating.generation = generation
        return rating, created
    fields["by_maintainer"] = repo_access(generation.repository, user).member
    for _ in range(2):
        try:
            with transaction.atomic():
                rating, created = Rating.objects.update_or_create(
                    generation=generation, user=user, defaults=fields, create_defaults={**fields, "created_at": now}
                )
            return rating, created
        except IntegrityError:  # the same person's first rating arrived twice at once: the second updates
            continue
    raise BadRequest("The rating could not be saved; please try again.")


def rater_hide(*, user: User, staff: User, reason: str = "") -> HiddenRater:
    hidden, _ = HiddenRater.objects.update_or_create(user=user, defaults={"hidden_by": staff, "reason": reason[:300]})
    return hidden


def rater_unhide(*, user: User) -> None:
    HiddenRater.objects.filter(user=user).delete()


# Rating queue: prompt sets, and campaigns that generate them against chosen revisions.

MAX_CAMPAIGN_REVISIONS = 8
MAX_RATERS_NEEDED = 50
CAMPAIGN_CHUNK = 500  # prompts written per transaction by campaign_generate


class PromptSetRejected(BadRequest):
    """The file had lines that are not prompts: nothing was created; `errors` says which lines and why."""

    def __init__(self, result: ParseResult) -> None:
        super().__init__(result.summary())
        self.errors = result.errors
        self.error_count = result.error_count


def parse_limits() -> Limits:
    return Limits(
        max_bytes=settings.FLYWHEEL_PROMPT_SET_MAX_BYTES,
        max_prompts=settings.FLYWHEEL_PROMPT_SET_MAX_PROMPTS,
        max_prompt_chars=settings.FLYWHEEL_MAX_PROMPT_CHARS,
    )


def may_run_campaigns(user: User | None, repo: Repository | None) -> bool:
    """Staff, and the model's maintainers (those who may write to it), upload prompt sets and start campaigns;
    a prompt set for no model in particular (`repo` None, as in the admin) is for staff."""
    if user is None or not user.is_authenticated:
        return False
    return user.is_staff or (repo is not None and repo_access(repo, user).can_write)


def _require_maintainer(user: User | None, repo: Repository | None, *, system: bool = False) -> None:
    """`system`: a management command (load_demo) acting for nobody in particular, with user None."""
    if system and user is None:
        return
    if not may_run_campaigns(user, repo):
        target = f"the maintainers of {repo.repo_id}" if repo is not None else "maintainers"
        raise Forbidden(f"Only staff and {target} can upload prompt sets and run rating campaigns.")


@transaction.atomic
def prompt_set_create(
    *,
    user: User | None,
    repo: Repository | None,
    name: str,
    data: bytes,
    filename: str,
    fmt: str | None = None,
    source_dataset: Repository | None = None,
    source_commit: Commit | None = None,
    system: bool = False,
) -> PromptSet:
    """A prompt set from a JSONL or CSV file, for campaigns on `repo` (which `user` must maintain; staff any).

    All or nothing: a file with any rejected line creates nothing and raises PromptSetRejected listing
    every rejected line (the first hundred) and why, so the set a maintainer compares on is exactly the
    file they chose, never a silently shorter one.
    """
    _require_maintainer(user, repo, system=system)
    fmt = fmt or format_for(filename)
    if fmt is None:
        raise BadRequest(f"{filename!r} is neither .jsonl nor .csv: say which format it is.")
    name = name.strip() or filename.rsplit("/", 1)[-1]
    result = parse_prompts(data, fmt, parse_limits())
    if not result.ok:
        raise PromptSetRejected(result)
    prompt_set = PromptSet.objects.create(
        name=name[:100],
        created_by=user if user is not None and user.is_authenticated else None,
        source_name=filename[:255],
        source_dataset=source_dataset,
        source_commit=source_commit,
        prompt_count=len(result.rows),
        created_at=timezone.now(),
    )
    Prompt.objects.bulk_create(
        [
            Prompt(
                prompt_set=prompt_set,
                position=index,
                line=row.line,
                text=row.text,
                system_prompt=row.system,
                reference=row.reference,
            )
            for index, row in enumerate(result.rows)
        ],
        batch_size=1000,
    )
    return prompt_set


def prompt_set_from_dataset(
    *,
    user: User | None,
    repo: Repository,
    dataset_id: str,
    revision: str,
    path: str,
    name: str = "",
    system: bool = False,
) -> PromptSet:
    """A prompt set from a JSONL or CSV file of a dataset repository at a revision, pinned to its exact commit."""
    _require_maintainer(user, repo, system=system)
    namespace, _, dataset_name = dataset_id.strip().strip("/").partition("/")
    if not namespace or not dataset_name:
        raise BadRequest(f"{dataset_id!r} is not a dataset id: write it as owner/name.")
    try:
        access = repo_access_for(user, kind=Repository.Kind.DATASET, namespace=namespace, name=dataset_name)
    except RepoNotFound:
        raise BadRequest(f"There is no dataset {dataset_id!r} that you can read.") from None
    if access.gate_refusal(path):
        raise BadRequest(access.gate_refusal(path))
    try:
        commit = revision_resolve(access.repo, revision.strip() or "main")
        entry = file_entry(commit, path.strip().lstrip("/"))
    except (RevisionNotFound, EntryNotFound) as exc:
        raise BadRequest(f"{dataset_id}: {exc.message}") from None
    limit = settings.FLYWHEEL_PROMPT_SET_MAX_BYTES
    if entry.blob.size > limit:
        raise BadRequest(f"{entry.path} is {entry.blob.size:,} bytes; a prompt set is at most {limit:,} bytes.")
    with blob_open(entry.blob) as handle:
        data = handle.read(limit + 1)
    return prompt_set_create(
        user=user,
        repo=repo,
        name=name or f"{access.repo.repo_id}/{entry.path}",
        data=data,
        filename=entry.path,
        source_dataset=access.repo,
        source_commit=commit,
        system=system,
    )


@dataclass(frozen=True)
class CampaignPlan:
    revisions: list[tuple[str, Commit]]
    sampling: Sampling
    raters_needed: int


def campaign_plan(
    *,
    user: User | None,
    repo: Repository,
    revisions: Sequence[str],
    params: dict[str, Any],
    raters_needed: int,
    system: bool = False,
) -> CampaignPlan:
    """Check a campaign before anything is written: who asks, each revision resolved and runnable, the settings."""
    _require_maintainer(user, repo, system=system)
    if repo.kind != Repository.Kind.MODEL:
        raise BadRequest(f"{repo.repo_id} is a dataset repository; a campaign needs a model.")
    names = list(dict.fromkeys(r.strip() for r in revisions if r.strip()))
    if not names:
        raise BadRequest("Choose at least one revision (a branch, a tag or a commit id).")
    if len(names) > MAX_CAMPAIGN_REVISIONS:
        raise BadRequest(f"A campaign compares at most {MAX_CAMPAIGN_REVISIONS} revisions; {len(names)} were chosen.")
    resolved: list[tuple[str, Commit]] = []
    for name in names:
        try:
            commit = revision_resolve(repo, name)
        except RevisionNotFound:
            raise BadRequest(f"{repo.repo_id} has no revision {name!r}.") from None
        if any(commit.pk == seen.pk for _, seen in resolved):
            continue  # two names for one commit: its outputs once
        paths = set(TreeEntry.objects.filter(commit=commit).values_list("path", flat=True))
        try:
            check_runnable({p for p in paths if "/" not in p}, paths)
        except UnusableModel as exc:
            raise BadRequest(f"{repo.repo_id}@{name} cannot be run: {exc}") from None
        resolved.append((name, commit))
    if (
        isinstance(raters_needed, bool)
        or not isinstance(raters_needed, int)
        or not 1 <= raters_needed <= MAX_RATERS_NEEDED
    ):
        raise BadRequest(
            f"'raters_needed' must be a whole number from 1 to {MAX_RATERS_NEEDED}, got {raters_needed!r}."
        )
    return CampaignPlan(resolved, sampling_clean(params), raters_needed)


@transaction.atomic
def campaign_start(
    *,
    user: User | None,
    repo: Repository,
    prompt_set: PromptSet,
    revisions: Sequence[str],
    params: dict[str, Any] | None = None,
    raters_needed: int = 3,
    name: str = "",
    system: bool = False,
) -> RatingCampaign:
    """Record a campaign (each revision pinned to its exact commit) and queue the task that creates its outputs.

    Its outputs are generated for `user` (never served to them in the rating queue); with `system` (user None)
    for nobody, as the demo's campaign is.
    """
    _require_maintainer(user, repo, system=system)
    if user is not None and not user.is_staff and prompt_set.created_by_id != user.pk:
        raise BadRequest("Use one of your own prompt sets, or upload one.")
    plan = campaign_plan(
        user=user, repo=repo, revisions=revisions, params=params or {}, raters_needed=raters_needed, system=system
    )
    campaign = RatingCampaign.objects.create(
        name=(name.strip() or f"{prompt_set.name} on {', '.join(r for r, _ in plan.revisions)}")[:100],
        prompt_set=prompt_set,
        repository=repo,
        revisions=[{"revision": r, "commit": c.oid} for r, c in plan.revisions],
        raters_needed=plan.raters_needed,
        total=prompt_set.prompt_count * len(plan.revisions),
        created_by=user if user is not None and user.is_authenticated else None,
        created_at=timezone.now(),
        **plan.sampling.__dict__,
    )
    campaign.commits.set([c for _, c in plan.revisions])
    from feedback.tasks import campaign_generate as task

    transaction.on_commit(lambda: task.delay(campaign.pk), robust=True)
    return campaign


def campaign_generate(*, campaign_id: int) -> int:
    """Create the campaign's missing outputs (one queued generation per prompt and commit) and send them to
    the inference worker; returns how many were created. Safe to run twice, or twice at once: the campaign
    row is locked per chunk, only missing (prompt, commit) pairs are written, a unique constraint backs that
    up, and outputs still queued are sent again (the worker's claim is conditional, so a copy costs nothing).
    """
    campaign = RatingCampaign.objects.filter(pk=campaign_id).select_related("prompt_set").first()
    if campaign is None or campaign.status == RatingCampaign.Status.FAILED:
        return 0
    commits = {c.oid: c for c in campaign.commits.all()}
    ordered = [(r["revision"], commits[r["commit"]]) for r in campaign.revisions if r["commit"] in commits]
    prompt_ids = list(Prompt.objects.filter(prompt_set=campaign.prompt_set).values_list("pk", flat=True))
    created = 0
    for start in range(0, len(prompt_ids), CAMPAIGN_CHUNK):
        created += _campaign_chunk(campaign, ordered, prompt_ids[start : start + CAMPAIGN_CHUNK])
    RatingCampaign.objects.filter(pk=campaign.pk, status=RatingCampaign.Status.QUEUED).update(
        status=RatingCampaign.Status.GENERATING
    )
    from inference.tasks import generation_run

    queued = CampaignItem.objects.filter(campaign=campaign, generation__status=Generation.Status.QUEUED)
    for generation_id in queued.values_list("generation_id", flat=True).iterator():
        generation_run.delay(str(generation_id))
    return created


def _campaign_chunk(campaign: RatingCampaign, revisions: list[tuple[str, Commit]], prompt_ids: list[int]) -> int:
    with transaction.atomic():
        # Two runs of the task at once take turns here (PostgreSQL row lock; SQLite's write lock does the same).
        RatingCampaign.objects.select_for_update().filter(pk=campaign.pk).first()
        done = set(
            CampaignItem.objects.filter(campaign=campaign, prompt_id__in=prompt_ids).values_list(
                "prompt_id", "commit_id"
            )
        )
        now = timezone.now()
        generations, items = [], []
        for prompt in Prompt.objects.filter(pk__in=prompt_ids).order_by("position"):
            for revision, commit in revisions:  # prompt by prompt, so the queue alternates revisions
                if (prompt.pk, commit.pk) in done:
                    continue
                generation = Generation(
                    user=campaign.created_by,
                    repository_id=campaign.repository_id,
                    commit=commit,
                    revision=revision,
                    source=Generation.Source.BATCH,
                    prompt=prompt.text,
                    system_prompt=prompt.system_prompt,
                    created_at=now,
                    **campaign.sampling(),
                )
                generations.append(generation)
                items.append(CampaignItem(campaign=campaign, prompt=prompt, commit=commit, generation=generation))
        Generation.objects.bulk_create(generations, batch_size=500)
        CampaignItem.objects.bulk_create(items, batch_size=500)
    return len(items)
