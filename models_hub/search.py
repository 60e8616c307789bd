"""Listing and searching repositories: one selector for the pages, the REST API and the Hub API."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import connection
from django.db.models import QuerySet

from accounts.models import User
from models_hub.models import Repository

SORTS = {
    "downloads": ("-downloads", "-id"),
    "likes": ("-likes_count", "-id"),
    "updated": ("-updated_at", "-id"),
    "created": ("-created_at", "-id"),
    "name": ("namespace", "name"),
}
# The names the Hugging Face client sends for `sort`.
HUB_SORT_ALIASES = {
    "lastModified": "updated",
    "createdAt": "created",
    "trendingScore": "likes",
    "likes": "likes",
    "downloads": "downloads",
    "id": "name",
}


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


def repo_search(*, user: User | None, query: RepoQuery) -> QuerySet[Repository]:
    """Repositories of one kind visible to `user`, filtered and sorted. Private ones never leak."""
    repos = Repository.objects.visible_to(user).filter(kind=query.kind)
    if query.owner:
        repos = repos.filter(namespace__iexact=query.owner)
    if query.task:
        repos = repos.filter(pipeline_tag=query.task)
    if query.library:
        repos = repos.filter(library_name=query.library)
    if query.license:
        repos = repos.filter(license=query.license)
    for tag in query.tags:
        repos = repos.filter(tag_rows__name=tag)
    text = " ".join(query.search.split())[:200]
    if text:
        repos = _text_filter(repos, text)
    ordering = SORTS.get(query.sort, SORTS["downloads"])
    if query.ascending:
        ordering = tuple(o[1:] if o.startswith("-") else f"-{o}" for o in ordering)
    return repos.order_by(*ordering)


def _text_filter(repos: QuerySet[Repository], text: str) -> QuerySet[Repository]:
    if connection.vendor == "postgresql":
        from django.contrib.postgres.search import SearchQuery, SearchVector

        vector = SearchVector("search_text", config="simple")
        return repos.annotate(search=vector).filter(search=SearchQuery(text, config="simple", search_type="websearch"))
    for word in text.split():
        repos = repos.filter(search_text__icontains=word)
    return repos
