"""Reads behind the feedback dashboards: who may see them, and the numbers, aggregated in the database.

Every figure is a handful of aggregate queries whatever the number of ratings; only the per-output value
counts that inter-rater agreement needs come back row by row, and only for outputs rated more than once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from django.db.models import Avg, CharField, Count, Max, Q, QuerySet, Value
from django.db.models.functions import Cast, Coalesce, Concat, TruncDate

from feedback import stats
from feedback.models import Rating, RatingTag
from inference.models import Generation
from models_hub.errors import Forbidden
from models_hub.models import Commit, Ref, Repository
from models_hub.selectors import RepoAccess

STARS = range(1, 6)
# One rater: a user, or one external rater id within what a user imported (feedback/imports.py).
RATER = Concat(
    Cast("user_id", CharField()), Value(":"), Coalesce("external_rater", Value("")), output_field=CharField()
)


def dashboard_require(access: RepoAccess) -> RepoAccess:
    """Dashboards are for the model's owners, its organisation's members and staff; Forbidden (403) for other
    readers (those who cannot read the model never get this far: the repository is not found for them)."""
    user = access.user
    if access.member or (user is not None and user.is_staff):
        return access
    raise Forbidden(f"Only the maintainers of {access.repo.repo_id} can see its feedback dashboard.")


def ratings_for(repo: Repository, *, commit: Commit | None = None, include_maintainers: bool = False) -> QuerySet:
    """The ratings a dashboard counts: never hidden raters'; maintainers' own only when asked for."""
    ratings = (
        Rating.objects.exclude(user__hidden_rater__isnull=False) if include_maintainers else Rating.objects.counted()
    )
    ratings = ratings.filter(generation__repository=repo)
    return ratings.filter(generation__commit=commit) if commit is not None else ratings


@dataclass(frozen=True)
class TagCount:
    slug: str
    label: str
    negative: bool
    count: int
    share: float | None  # of the ratings


@dataclass(frozen=True)
class Day:
    day: date
    ratings: int
    up: int
    down: int

    @property
    def up_ratio(self) -> float | None:
        return stats.ratio(self.up, self.up + self.down)


@dataclass(frozen=True)
class Summary:
    generations: int
    ratings: int
    raters: int
    up: int
    down: int
    star_counts: list[int]  # how many 1, 2, 3, 4 and 5-star ratings
    star_mean: float | None
    tags: list[TagCount]
    days: list[Day] = field(default_factory=list)
    alpha_thumbs: float | None = None
    alpha_stars: float | None = None
    multi_rated: int = 0  # outputs with two or more ratings: the units agreement is measured on

    @property
    def thumbs(self) -> int:
        return self.up + self.down

    @property
    def up_ratio(self) -> float | None:
        return stats.ratio(self.up, self.thumbs)

    @property
    def up_interval(self) -> tuple[float, float] | None:
        return stats.wilson_interval(self.up, self.thumbs)

    @property
    def stars_rated(self) -> int:
        return sum(self.star_counts)

    @property
    def star_rows(self) -> list[tuple[int, int, float | None]]:
        return [(star, n, stats.ratio(n, self.stars_rated)) for star, n in zip(STARS, self.star_counts, strict=True)]

    def tag(self, slug: str) -> TagCount | None:
        return next((t for t in self.tags if t.slug == slug), None)


def _tag_key(slug: str) -> str:
    return f"tag__{slug}"


def _agreement(ratings: QuerySet, value: str, metric: stats.Metric) -> tuple[float | None, int]:
    """Alpha over the outputs rated by two people or more, from per-output value counts grouped in SQL."""
    given = ratings.exclude(thumb="") if value == "thumb" else ratings.filter(stars__isnull=False)
    shared = given.values("generation_id").annotate(n=Count("id")).filter(n__gte=2).values("generation_id")
    units: dict = {}
    for generation_id, val, n in (
        given.filter(generation_id__in=shared)
        .values_list("generation_id", value)
        .annotate(n=Count("id"))
        .order_by()
        .iterator()
    ):
        units.setdefault(generation_id, {})[val] = n
    return stats.krippendorff_alpha_from_counts(units.values(), metric=metric), len(units)


def summary(
    repo: Repository, *, commit: Commit | None = None, include_maintainers: bool = False, trend: bool = True
) -> Summary:
    """All of a model's (or one exact commit's) feedback figures."""
    ratings = ratings_for(repo, commit=commit, include_maintainers=include_maintainers)
    tags = list(RatingTag.objects.all())
    totals = ratings.aggregate(
        ratings=Count("id"),
        raters=Count(RATER, distinct=True),
        up=Count("id", filter=Q(thumb=Rating.Thumb.UP)),
        down=Count("id", filter=Q(thumb=Rating.Thumb.DOWN)),
        star_mean=Avg("stars"),
        **{f"stars_{s}": Count("id", filter=Q(stars=s)) for s in STARS},
        # Tags are slugs in a JSON list; its text holds each one quoted, which every database can search.
        **{_tag_key(t.slug): Count("id", filter=Q(tags__icontains=f'"{t.slug}"')) for t in tags},
    )
    generations = Generation.objects.filter(repository=repo, status=Generation.Status.DONE)
    if commit is not None:
        generations = generations.filter(commit=commit)
    tag_counts = [
        TagCount(
            t.slug,
            t.label,
            t.negative,
            totals[_tag_key(t.slug)],
            stats.ratio(totals[_tag_key(t.slug)], totals["ratings"]),
        )
        for t in tags
        if t.active or totals[_tag_key(t.slug)]
    ]
    days = []
    alpha_thumbs = alpha_stars = None
    multi = 0
    if trend:
        days = [
            Day(row["day"], row["n"], row["up"], row["down"])
            for row in ratings.annotate(day=TruncDate("created_at"))
            .values("day")
            .annotate(
                n=Count("id"),
                up=Count("id", filter=Q(thumb=Rating.Thumb.UP)),
                down=Count("id", filter=Q(thumb=Rating.Thumb.DOWN)),
            )
            .order_by("day")
        ]
    if totals["ratings"]:
        alpha_thumbs, multi_thumbs = _agreement(ratings, "thumb", "nominal")
        alpha_stars, multi_stars = _agreement(ratings, "stars", "interval")
        multi = max(multi_thumbs, multi_stars)
    return Summary(
        generations=generations.count(),
        ratings=totals["ratings"],
        raters=totals["raters"],
        up=totals["up"],
        down=totals["down"],
        star_counts=[totals[f"stars_{s}"] for s in STARS],
        star_mean=totals["star_mean"],
        tags=tag_counts,
        days=days,
        alpha_thumbs=alpha_thumbs,
        alpha_stars=alpha_stars,
        multi_rated=multi,
    )


@dataclass(frozen=True)
class RatedRevision:
    oid: str
    title: str
    created_at: datetime
    ratings: int
    refs: list[str]

    @property
    def label(self) -> str:
        names = ", ".join(self.refs)
        return f"{self.oid[:7]} ({names})" if names else self.oid[:7]


def rated_revisions(repo: Repository, *, include_maintainers: bool = False) -> list[RatedRevision]:
    """The commits of `repo` whose outputs have ratings, newest first, with the branches and tags at each."""
    rows = list(
        ratings_for(repo, include_maintainers=include_maintainers)
        .values("generation__commit_id", "generation__commit__oid", "generation__commit__title")
        .annotate(n=Count("id"), created_at=Max("generation__commit__created_at"))
        .order_by("-created_at")
    )
    refs: dict[int, list[str]] = {}
    if rows:
        commit_ids = [row["generation__commit_id"] for row in rows]
        for commit_id, name in (
            Ref.objects.filter(commit_id__in=commit_ids).order_by("kind", "name").values_list("commit_id", "name")
        ):
            refs.setdefault(commit_id, []).append(name)
    return [
        RatedRevision(
            oid=row["generation__commit__oid"],
            title=row["generation__commit__title"],
            created_at=row["created_at"],
            ratings=row["n"],
            refs=refs.get(row["generation__commit_id"], []),
        )
        for row in rows
    ]


@dataclass(frozen=True)
class TagDifference:
    slug: str
    label: str
    share_a: float | None
    share_b: float | None

    @property
    def points(self) -> float | None:
        """B's share minus A's, in percentage points."""
        if self.share_a is None or self.share_b is None:
            return None
        return 100 * (self.share_b - self.share_a)


@dataclass(frozen=True)
class Comparison:
    commit_a: Commit
    commit_b: Commit
    a: Summary
    b: Summary

    @property
    def star_pairs(self) -> list[tuple[int, int, int]]:
        return list(zip(STARS, self.a.star_counts, self.b.star_counts, strict=True))

    @property
    def tags(self) -> list[TagDifference]:
        slugs = {t.slug: t.label for t in [*self.a.tags, *self.b.tags]}
        rows = []
        for slug, label in slugs.items():
            tag_a, tag_b = self.a.tag(slug), self.b.tag(slug)
            rows.append(TagDifference(slug, label, tag_a.share if tag_a else None, tag_b.share if tag_b else None))
        return rows


def compare(repo: Repository, commit_a: Commit, commit_b: Commit, *, include_maintainers: bool = False) -> Comparison:
    """Two exact revisions' figures side by side (A is usually the older, B the candidate)."""
    return Comparison(
        commit_a,
        commit_b,
        summary(repo, commit=commit_a, include_maintainers=include_maintainers, trend=False),
        summary(repo, commit=commit_b, include_maintainers=include_maintainers, trend=False),
    )
