"""Writes for feedback: submit or change a rating, hide a rater."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import caches
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from feedback.models import HiddenRater, Rating, RatingTag
from inference.models import Generation
from inference.services import TooManyRequests
from models_hub.errors import BadRequest
from models_hub.selectors import repo_access

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
    known = set(RatingTag.objects.filter(active=True).values_list("slug", flat=True))
    unknown = [t for t in data.tags if t not in known]
    if unknown:
        raise BadRequest(f"Unknown tag {unknown[0]!r}: use one of {', '.join(sorted(known))}.")
    for name in ("comment", "correction"):
        if len(getattr(data, name)) > MAX_TEXT:
            raise BadRequest(f"'{name}' is too long: at most {MAX_TEXT:,} characters.")
    return RatingInput(data.thumb, data.stars, sorted(set(data.tags)), data.comment, data.correction)


def _check_rate(user: User) -> None:
    """At most FLYWHEEL_RATINGS_PER_MINUTE per person a minute (a counter per minute in the shared cache)."""
    if user.is_staff:
        return
    limit = settings.FLYWHEEL_RATINGS_PER_MINUTE
    now = timezone.now()
    key = f"rate:ratings:{user.pk}:{int(now.timestamp() // 60)}"
    cache = caches["downloads"]  # the alias whose add() is atomic across processes
    cache.add(key, 0, timeout=120)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=120)
        count = 1
    if count > limit:
        retry_after = 60 - now.second
        raise TooManyRequests(
            f"Rate limit: {limit} ratings a minute. Try again in {retry_after} s.", retry_after=retry_after
        )


def rating_submit(*, generation: Generation, user: User, data: RatingInput) -> tuple[Rating, bool]:
    """Create or change `user`'s rating of `generation`: (rating, created). One row per person and output,
    however many times or however concurrently it is sent. The caller has checked that `user` may see it."""
    data = _clean(data)
    if generation.status != Generation.Status.DONE:
        raise BadRequest(f"Only finished outputs can be rated; this generation is {generation.status}.")
    _check_rate(user)
    now = timezone.now()
    fields = {
        "thumb": data.thumb,
        "stars": data.stars,
        "tags": list(data.tags),
        "comment": data.comment,
        "correction": data.correction,
        "by_maintainer": repo_access(generation.repository, user).member,
        "updated_at": now,
    }
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
