"""Listing and searching repositories: one selector for the pages, the REST API and the Hub API."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.core.cache import cache
from django.core.paginator import EmptyPage, Page, PageNotAnInteger, Paginator
from django.db import connection
from django.db.models import BooleanField, Count, Exists, F, OuterRef, QuerySet
from django.db.models.expressions import RawSQL
from django.db.models.functions import Lower
from django.utils.functional import cached_property

from accounts.models import User
from models_hub.models import Repository, RepoTag

SORTS = {
    "downloads": ("-downloads", "-id"),
    "likes": ("-likes_count", "-id"),
    "updated": ("-updated_at", "-id"),
    "created": ("-created_at", "-id"),
    "name": ("namespace", "name"),
}
# What the listing pages offer, in the order shown.
SORT_LABELS = {"downloads": "Most downloads", "likes": "Most likes", "updated": "Recently updated"}
# The names the Hugging Face client sends for `sort`.
HUB_SORT_ALIASES = {
    "lastModified": "updated",
    "createdAt": "created",
    "trendingScore": "likes",
    "likes": "likes",
    "downloads": "downloads",
    "id": "name",
}
MAX_FILTER_CHARS = 200
MAX_SEARCH_WORDS = 8
MAX_TAG_FILTERS = 5
# Words as PostgreSQL's text-search parser splits them: letters and digits; '-', '_', '.' separate.
_WORD = re.compile(r"[^\W_]+")
FACETS_CACHE_SECONDS = 60
FACET_SIZE = 12
# Facet name -> Repository field; tags are counted from RepoTag.
FACET_FIELDS = {"task": "pipeline_tag", "library": "library_name", "license": "license", "owner": "namespace"}


@dataclass
class RepoQuery:
    kind: str = Repository.Kind.MODEL
    search: str = ""
    owner: str = ""
    task: str = ""
    library: str = ""
    license: str = ""
    tags: list[str] = field(default_factory=list)
    sort: str = "downloads"
    ascending: bool = False


def clean_filter(value: object) -> str:
    """A filter value as typed by anyone: NUL bytes removed (PostgreSQL refuses them), length bounded."""
    if not isinstance(value, str):
        return ""
    return value.replace("\x00", "").strip()[:MAX_FILTER_CHARS]


def repo_search(*, user: User | None, query: RepoQuery) -> QuerySet[Repository]:
    """Repositories of one kind visible to `user`, filtered and sorted. Private ones never leak."""
    repos = Repository.objects.visible_to(user).filter(kind=query.kind)
    owner = clean_filter(query.owner)
    if owner:
        # LOWER(namespace) is the first column of the unique index, so this is an index lookup.
        repos = repos.alias(namespace_lower=Lower("namespace")).filter(namespace_lower=owner.lower())
    for value, field_name in (
        (query.task, "pipeline_tag"),
        (query.library, "library_name"),
        (query.license, "license"),
    ):
        value = clean_filter(value)
        if value:
            repos = repos.filter(**{field_name: value})
    for tag in [clean_filter(t) for t in query.tags][:MAX_TAG_FILTERS]:
        if tag:
            # EXISTS, not a join: a per-row index probe that stops with the page (or the capped count),
            # where a join hashed every repository carrying a common tag first.
            repos = repos.filter(Exists(RepoTag.objects.filter(repository=OuterRef("pk"), name=tag)))
    text = " ".join(clean_filter(query.search).split())
    if text:
        repos = _text_filter(repos, text)
    ordering = SORTS.get(query.sort, SORTS["downloads"])
    if query.ascending:
        ordering = tuple(o[1:] if o.startswith("-") else f"-{o}" for o in ordering)
    return repos.order_by(*ordering)


def search_words(text: str) -> list[str]:
    return _WORD.findall(text.lower())[:MAX_SEARCH_WORDS]


def prefix_tsquery(text: str) -> str:
    """A tsquery matching every word, the last one as a prefix ('tiny gp' -> 'tiny & gp:*').

    Only letters and digits reach the query, so quotes, backslashes and `&|!():*` cannot
    break its syntax; the string itself is still passed as a bound parameter.
    """
    words = search_words(text)
    if not words:
        return ""
    return " & ".join([*words[:-1], f"{words[-1]}:*"])


# The stored, GIN-indexed tsvector that migration 0003 adds on PostgreSQL (not a model field).
_TSQUERY_MATCH = '"models_hub_repository"."search_vector" @@ to_tsquery(\'simple\'::regconfig, %s)'


def _text_filter(repos: QuerySet[Repository], text: str) -> QuerySet[Repository]:
    if connection.vendor == "postgresql":
        raw = prefix_tsquery(text)
        if not raw:
            return repos.none()
        return repos.filter(RawSQL(_TSQUERY_MATCH, (raw,), output_field=BooleanField()))  # noqa: S611 - fixed SQL, bound value
    words = search_words(text)
    if not words:
        return repos.none()
    for word in words:
        repos = repos.filter(search_text__icontains=word)
    return repos


def repo_facets(*, kind: str, user: User | None = None) -> dict[str, list[tuple[str, int]]]:
    """The most common values of each filter among the repositories of `kind` that `user` may see.

    The public part is cached briefly and is the same for everyone, so it never names a private
    repository; the private repositories this user may see are counted on top of it, per request.
    """
    key = f"flywheel:repo-facets:{kind}"
    facets = cache.get(key)
    if facets is None:
        facets = _compute_facets(Repository.objects.filter(kind=kind, private=False))
        cache.set(key, facets, FACETS_CACHE_SECONDS)
    if user is not None and user.is_authenticated:
        private = Repository.objects.visible_to(user).filter(kind=kind, private=True)
        if private.exists():
            facets = _merge_facets(facets, _compute_facets(private))
    return facets


def repo_facets_invalidate() -> None:
    """Forget cached facets, e.g. when a repository turns private and its tags must vanish at once."""
    cache.delete_many([f"flywheel:repo-facets:{kind}" for kind in Repository.Kind.values])


def _compute_facets(repos: QuerySet[Repository]) -> dict[str, list[tuple[str, int]]]:
    facets: dict[str, list[tuple[str, int]]] = {}
    for name, field_name in FACET_FIELDS.items():
        rows = (
            repos.exclude(**{field_name: ""})
            .values_list(field_name)
            .annotate(n=Count("id"))
            .order_by("-n", field_name)[:FACET_SIZE]
        )
        facets[name] = [(value, n) for value, n in rows]
    tags = (
        RepoTag.objects.filter(repository__in=repos)
        .exclude(name__startswith="license:")  # the licence has a filter of its own
        # So do the task and the library, which the card's metadata also adds as tags.
        .exclude(name=F("repository__pipeline_tag"))
        .exclude(name=F("repository__library_name"))
        .values_list("name")
        .annotate(n=Count("id"))
        .order_by("-n", "name")[:FACET_SIZE]
    )
    facets["tag"] = [(value, n) for value, n in tags]
    return facets


def _merge_facets(*parts: dict[str, list[tuple[str, int]]]) -> dict[str, list[tuple[str, int]]]:
    merged: dict[str, list[tuple[str, int]]] = {}
    for name in {name for part in parts for name in part}:
        counts: dict[str, int] = {}
        for part in parts:
            for value, n in part.get(name, []):
                counts[value] = counts.get(value, 0) + n
        merged[name] = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:FACET_SIZE]
    return merged


class OpenEndedPage(Page):
    """A page whose paginator never counted to the end: it knows only whether one more row exists."""

    def __init__(self, object_list, number: int, paginator: Paginator, *, has_more: bool) -> None:
        super().__init__(object_list, number, paginator)
        self.has_more = has_more

    def has_next(self) -> bool:
        return self.has_more


class CappedPaginator(Paginator):
    """A Paginator whose count stops at `cap`: COUNT(*) over 100k matching rows is never run.

    Up to the cap it is an ordinary Paginator. Beyond it the listing says "more than 1,000",
    pages are open-ended (each fetches one extra row to know whether a next page exists), and
    any page number can be asked for; a page past the end is empty rather than an error.
    """

    cap = 1_000

    @cached_property
    def count(self) -> int:
        # Unordered and limited: the database stops after cap + 1 matches instead of sorting them all.
        return self.object_list.order_by().values("pk")[: self.cap + 1].count()

    @property
    def capped(self) -> bool:
        return self.count > self.cap

    @cached_property
    def num_pages(self) -> int:
        """Exact below the cap; beyond it, the pages known to exist (there may be more)."""
        return super().num_pages if not self.capped else -(-self.cap // self.per_page)

    def validate_number(self, number) -> int:
        if not self.capped:
            return super().validate_number(number)
        try:
            number = int(number)
        except (TypeError, ValueError):
            raise PageNotAnInteger("That page number is not an integer") from None
        if number < 1:
            raise EmptyPage("That page number is less than 1")
        return number

    def page(self, number) -> Page:
        if not self.capped:
            return super().page(number)
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        rows = list(self.object_list[bottom : bottom + self.per_page + 1])
        if not rows and number > 1:
            raise EmptyPage("That page contains no results")
        return OpenEndedPage(rows[: self.per_page], number, self, has_more=len(rows) > self.per_page)

    def get_page(self, number) -> Page:
        try:
            return super().get_page(number) if not self.capped else self.page(number)
        except (PageNotAnInteger, EmptyPage):
            return self.page(1)
