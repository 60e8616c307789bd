"""What a snapshot takes from the feedback: the filters as asked, checked once, stored as JSON.

A snapshot's filters are stored with absolute values only (exact commit ids, absolute times), so building the
same filters again over the same feedback gives the same bytes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from feedback.models import RatingTag
from models_hub.errors import BadRequest, RevisionNotFound
from models_hub.models import Repository
from models_hub.selectors import revision_resolve

THUMBS = ("up", "any")
MAX_REVISIONS = 50
MAX_EXCLUDED_TAGS = 50
MAX_VALIDATION_FRACTION = 0.5

BOOLEAN_FIELDS = (
    "exclude_hidden_raters",
    "include_maintainers",
    "include_liked",
    "include_corrections",
    "include_pairs",
    "include_battles",
)


@dataclass(frozen=True)
class SnapshotFilters:
    """`commits`: the model's exact commits to take outputs from (empty: every revision). `since`/`until`: the
    ratings' last change, since inclusive, until exclusive (None: no bound). `thumbs`: "up" takes thumbs-up
    ratings only (and corrections), "any" both. `min_stars`: only ratings with at least this many stars.
    `exclude_tags`: outputs that any rater tagged so are left out (their corrections are kept).
    `min_agreement`: outputs whose raters agree less than this (the majority's share of thumbs, when two or
    more raters gave one) are left out. The `include_*` switches say which rows are made."""

    commits: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    thumbs: str = "any"
    min_stars: int | None = None
    exclude_tags: tuple[str, ...] = ()
    min_agreement: float | None = None
    exclude_hidden_raters: bool = True
    include_maintainers: bool = True
    include_liked: bool = True
    include_corrections: bool = True
    include_pairs: bool = True
    include_battles: bool = True
    validation_fraction: float = 0.1
    revisions: tuple[str, ...] = field(default=(), compare=False)  # the names as asked, for people to read

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["commits"] = list(self.commits)
        data["exclude_tags"] = list(self.exclude_tags)
        data["revisions"] = list(self.revisions)
        for name in ("since", "until"):
            value = getattr(self, name)
            data[name] = value.astimezone(UTC).isoformat() if value else None
        return data

    def key_material(self) -> dict[str, Any]:
        """What decides the files: everything but the revision names as typed (their commits are in)."""
        data = self.to_json()
        del data["revisions"]
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SnapshotFilters:
        values = dict(data)
        for name in ("since", "until"):
            values[name] = parse_datetime(values[name]) if values.get(name) else None
        for name in ("commits", "exclude_tags", "revisions"):
            values[name] = tuple(values.get(name) or ())
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in values.items() if k in known})


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise BadRequest(f"'{name}' must be a number, got {value!r}.")
    return float(value)


def _when(value: Any, name: str) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = parse_datetime(value.strip())
        except ValueError:
            parsed = None
        if parsed is None:
            raise BadRequest(f"'{name}' must be a date and time such as 2026-01-31T00:00:00Z, got {value[:100]!r}.")
    else:
        raise BadRequest(f"'{name}' must be a date and time such as 2026-01-31T00:00:00Z.")
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, UTC)
    return parsed.astimezone(UTC)


def _names(value: Any, name: str, limit: int) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [v for v in value.replace(",", " ").split()]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise BadRequest(f"'{name}' must be a list of names.")
    names = list(dict.fromkeys(v.strip() for v in value if v.strip()))
    if len(names) > limit:
        raise BadRequest(f"'{name}' takes at most {limit} entries; {len(names)} were given.")
    return names


def filters_clean(*, model: Repository, data: Mapping[str, Any]) -> SnapshotFilters:
    """Check the filters a person asked for (API body, form, admin) and pin revisions to exact commits.

    Raises BadRequest with a message that names the field and what it accepts.
    """
    revisions = _names(data.get("revisions"), "revisions", MAX_REVISIONS)
    commits = []
    for revision in revisions:
        try:
            commits.append(revision_resolve(model, revision).oid)
        except RevisionNotFound:
            raise BadRequest(f"{model.repo_id} has no revision {revision[:100]!r}.") from None

    thumbs = data.get("thumbs", "any")
    if thumbs not in THUMBS:
        raise BadRequest(f"'thumbs' must be 'up' or 'any', got {str(thumbs)[:100]!r}.")

    min_stars = data.get("min_stars")
    if min_stars is not None and (isinstance(min_stars, bool) or min_stars not in range(1, 6)):
        raise BadRequest(f"'min_stars' must be a whole number from 1 to 5, or null; got {str(min_stars)[:100]!r}.")

    min_agreement = data.get("min_agreement")
    if min_agreement is not None:
        min_agreement = _number(min_agreement, "min_agreement")
        if not 0 <= min_agreement <= 1:
            raise BadRequest(f"'min_agreement' must be between 0 and 1, got {min_agreement!r}.")

    fraction = _number(data.get("validation_fraction", 0.1), "validation_fraction")
    if not 0 <= fraction <= MAX_VALIDATION_FRACTION:
        raise BadRequest(
            f"'validation_fraction' must be between 0 and {MAX_VALIDATION_FRACTION} (0: no validation split),"
            f" got {fraction!r}."
        )

    tags = _names(data.get("exclude_tags"), "exclude_tags", MAX_EXCLUDED_TAGS)
    if tags:
        known = set(RatingTag.objects.values_list("slug", flat=True))
        unknown = [t for t in tags if t not in known]
        if unknown:
            raise BadRequest(
                f"Unknown tag {unknown[0][:40]!r} in 'exclude_tags': use one of {', '.join(sorted(known))}."
            )

    since, until = _when(data.get("since"), "since"), _when(data.get("until"), "until")
    if since and until and since >= until:
        raise BadRequest("'since' must be before 'until'.")

    switches = {}
    for name in BOOLEAN_FIELDS:
        value = data.get(name, SnapshotFilters.__dataclass_fields__[name].default)
        if not isinstance(value, bool):
            raise BadRequest(f"'{name}' must be true or false, got {str(value)[:100]!r}.")
        switches[name] = value
    if not any(switches[name] for name in ("include_liked", "include_corrections", "include_pairs", "include_battles")):
        raise BadRequest("Include at least one kind of row: liked outputs, corrections, pairs or battles.")

    return SnapshotFilters(
        commits=tuple(sorted(set(commits))),
        since=since,
        until=until,
        thumbs=thumbs,
        min_stars=min_stars,
        exclude_tags=tuple(sorted(tags)),
        min_agreement=min_agreement,
        validation_fraction=fraction,
        revisions=tuple(revisions),
        **switches,
    )
