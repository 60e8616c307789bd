"""Writes for generations: ask for one, cancel it, and fail the ones a dead worker left behind."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from inference.models import Generation
from inference.snapshot import UnusableModel, check_runnable
from models_hub.errors import BadRequest, HubError
from models_hub.models import Repository, TreeEntry
from models_hub.selectors import revision_resolve

MAX_SEED = 2**63 - 1


class TooManyRequests(HubError):
    status = 429

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Sampling:
    max_new_tokens: int
    temperature: float
    top_p: float
    top_k: int
    repetition_penalty: float
    seed: int


def _number(raw: dict[str, Any], name: str, default, kind: type, low, high):
    value = raw.get(name)
    if value is None:
        return default
    # bool is an int in Python; "true" for a temperature is a mistake, not 1.0.
    if isinstance(value, bool) or not isinstance(value, int | float) or (kind is int and not float(value).is_integer()):
        raise BadRequest(f"'{name}' must be {'an integer' if kind is int else 'a number'}, got {value!r}.")
    value = kind(value)
    if not low <= value <= high:
        raise BadRequest(f"'{name}' must be between {low} and {high}, got {value}.")
    return value


# (kind, lowest, highest, default) for each sampling parameter; max_new_tokens's cap is a setting.
SAMPLING_RANGES: dict[str, tuple[type, float, float, float]] = {
    "temperature": (float, 0.0, 2.0, 0.8),
    "top_p": (float, 0.01, 1.0, 1.0),
    "top_k": (int, 0, 1000, 0),
    "repetition_penalty": (float, 0.5, 2.0, 1.0),
}


def sampling_clean(raw: dict[str, Any]) -> Sampling:
    """Sampling parameters from user input, each checked against its range; a missing seed is drawn here."""
    cap = settings.FLYWHEEL_MAX_NEW_TOKENS
    ranged = {
        name: _number(raw, name, default, kind, low, high)
        for name, (kind, low, high, default) in SAMPLING_RANGES.items()
    }
    return Sampling(
        max_new_tokens=_number(raw, "max_new_tokens", min(64, cap), int, 1, cap),
        **ranged,
        seed=_number(raw, "seed", None, int, 0, MAX_SEED) if raw.get("seed") is not None else secrets.randbelow(2**31),
    )


def _check_rate(user: User | None, now) -> None:
    """At most FLYWHEEL_GENERATIONS_PER_MINUTE per person in any minute; staff script evaluations, unlimited."""
    if user is None or user.is_staff:
        return
    limit = settings.FLYWHEEL_GENERATIONS_PER_MINUTE
    recent = list(
        Generation.objects.filter(user=user, created_at__gt=now - timedelta(minutes=1))
        .order_by("-created_at")
        .values_list("created_at", flat=True)[:limit]
    )
    if len(recent) >= limit:
        retry_after = max(1, int((recent[-1] + timedelta(minutes=1) - now).total_seconds()) + 1)
        raise TooManyRequests(
            f"Rate limit: {limit} generations a minute. Try again in {retry_after} s.", retry_after=retry_after
        )


def generation_request(
    *,
    user: User | None,
    repo: Repository,
    revision: str = "main",
    prompt: str = "",
    messages: Sequence[dict] | None = None,
    system_prompt: str = "",
    params: dict[str, Any] | None = None,
    stop: Sequence[str] = (),
    source: str = Generation.Source.API,
) -> Generation:
    """Queue a generation on the exact commit `revision` names now; the `inference` worker runs it.

    The caller has already checked that `user` may read `repo`. Raises BadRequest with a reason a person
    understands for a revision that cannot run (not a causal LM, pickle-only weights) or bad parameters.
    """
    if repo.kind != Repository.Kind.MODEL:
        raise BadRequest(f"{repo.repo_id} is a dataset repository; generation needs a model.")
    text = prompt if messages is None else "\n".join(f"{m['role']}: {m['content']}" for m in messages)
    if messages is None and not prompt.strip():
        raise BadRequest("The prompt is empty.")
    if "\x00" in text + system_prompt + "".join(stop):
        raise BadRequest("The prompt contains a NUL character (\\u0000), which cannot be stored.")
    if len(text) + len(system_prompt) > settings.FLYWHEEL_MAX_PROMPT_CHARS:
        raise BadRequest(f"The prompt is too long: at most {settings.FLYWHEEL_MAX_PROMPT_CHARS:,} characters.")
    sampling = sampling_clean(params or {})
    commit = revision_resolve(repo, revision or "main")
    root_paths = set(TreeEntry.objects.filter(commit=commit).values_list("path", flat=True))
    try:
        check_runnable({p for p in root_paths if "/" not in p}, root_paths)
    except UnusableModel as exc:
        raise BadRequest(f"{repo.repo_id}@{commit.oid[:7]} cannot be run: {exc}") from None
    now = timezone.now()
    _check_rate(user, now)
    generation = Generation.objects.create(
        user=user if user is not None and user.is_authenticated else None,
        repository=repo,
        commit=commit,
        revision=revision or "main",
        source=source,
        prompt=text,
        messages=list(messages) if messages is not None else None,
        system_prompt=system_prompt,
        stop=list(stop),
        created_at=now,
        **sampling.__dict__,
    )
    from inference.tasks import generation_run

    # robust: the generation is recorded; a broker hiccup leaves it queued for the reaper to report, not a 500.
    transaction.on_commit(lambda: generation_run.delay(str(generation.pk)), robust=True)
    return generation


def generation_cancel(*, generation: Generation) -> Generation:
    """Stop a generation: a queued one ends at once, a running one at the worker's next token."""
    now = timezone.now()
    Generation.objects.filter(pk=generation.pk, status=Generation.Status.QUEUED).update(
        status=Generation.Status.CANCELLED, finish_reason="cancelled", cancel_requested=True, finished_at=now
    )
    Generation.objects.filter(pk=generation.pk, status=Generation.Status.RUNNING).update(cancel_requested=True)
    with suppress(Generation.DoesNotExist):  # deleted meanwhile (its repository was): nothing left to stop
        generation.refresh_from_db()
    return generation


def generations_reap(*, stale_after: timedelta = timedelta(minutes=2), queued_after: timedelta = timedelta(hours=1)):
    """Fail generations whose worker died (no heartbeat) or that never left the queue; safe to run any time."""
    now = timezone.now()
    orphaned = Generation.objects.filter(status=Generation.Status.RUNNING, heartbeat_at__lt=now - stale_after).update(
        status=Generation.Status.FAILED, error="The worker stopped while generating. Please try again.", finished_at=now
    )
    forgotten = Generation.objects.filter(status=Generation.Status.QUEUED, created_at__lt=now - queued_after).update(
        status=Generation.Status.FAILED, error="No worker picked this generation up in time.", finished_at=now
    )
    return orphaned + forgotten
