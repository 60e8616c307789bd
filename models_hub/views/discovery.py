"""The home page and the /models and /datasets listings (search, facets, sort, pages)."""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from models_hub.models import Repository
from models_hub.search import (
    FACET_FIELDS,
    SORT_LABELS,
    CappedPaginator,
    RepoQuery,
    clean_filter,
    repo_facets,
    repo_search,
)

PAGE_SIZE = 30
MAX_PAGE_SIZE = 100
HOME_ROWS = 6
FILTER_LABELS = {"task": "Task", "library": "Library", "license": "License", "tag": "Tag", "owner": "Owner"}


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    visible = Repository.objects.visible_to(request.user)
    context = {
        "trending_models": visible.models().order_by("-likes_count", "-downloads", "-id")[:HOME_ROWS],
        "trending_datasets": visible.datasets().order_by("-likes_count", "-downloads", "-id")[:HOME_ROWS],
        "recent": visible.order_by("-updated_at", "-id")[:HOME_ROWS],
    }
    return render(request, "models_hub/home.html", context)


def repo_query_from_params(params, *, kind: str) -> RepoQuery:
    """The listing filters from a query string (the pages and the REST API read the same names)."""
    sort = params.get("sort", "downloads")
    return RepoQuery(
        kind=kind,
        search=clean_filter(params.get("search", "")),
        owner=clean_filter(params.get("owner", "")),
        task=clean_filter(params.get("task", "")),
        library=clean_filter(params.get("library", "")),
        license=clean_filter(params.get("license", "")),
        tags=[clean_filter(t) for t in params.getlist("tag") if clean_filter(t)],
        sort=sort if sort in SORT_LABELS else "downloads",
    )


def page_size(params) -> int:
    try:
        return min(max(int(params.get("per_page", PAGE_SIZE)), 1), MAX_PAGE_SIZE)
    except (TypeError, ValueError):
        return PAGE_SIZE


def _query_string(params: QueryDict, *, drop: tuple[str, str] | None = None, add: tuple[str, str] | None = None) -> str:
    """The current query string with one filter value removed or added, back on the first page."""
    changed = params.copy()
    changed.pop("page", None)
    if drop is not None:
        changed.setlist(drop[0], [v for v in changed.getlist(drop[0]) if v != drop[1]])
    if add is not None:
        name, value = add
        changed.setlist(name, [*changed.getlist(name), value] if name == "tag" else [value])
    return "?" + changed.urlencode() if changed else "?"


@dataclass(frozen=True)
class FacetLink:
    value: str
    count: int
    href: str
    active: bool


def facet_groups(params: QueryDict, query: RepoQuery, facets: dict[str, list[tuple[str, int]]]) -> list[dict]:
    groups = []
    for name in ("task", "library", "license", "tag", "owner"):
        chosen = set(query.tags) if name == "tag" else {getattr(query, name)}
        links = [
            FacetLink(
                value=value,
                count=count,
                href=_query_string(params, drop=(name, value))
                if value in chosen
                else _query_string(params, add=(name, value)),
                active=value in chosen,
            )
            for value, count in facets.get(name, [])
        ]
        if links:
            groups.append({"name": name, "label": FILTER_LABELS[name], "links": links})
    return groups


def active_filters(params: QueryDict, query: RepoQuery) -> list[dict]:
    """The filters in force, each with the link that removes it (and the hidden input that keeps it)."""
    pairs = [(name, getattr(query, name)) for name in FACET_FIELDS if getattr(query, name)]
    pairs += [("tag", tag) for tag in query.tags]
    return [
        {
            "name": name,
            "label": FILTER_LABELS[name],
            "value": value,
            "remove": _query_string(params, drop=(name, value)),
        }
        for name, value in pairs
    ]


@require_GET
@vary_on_headers("HX-Request")
def repo_list(request: HttpRequest, kind: str) -> HttpResponse:
    """One URL for the whole page and, for htmx, only the results (search-as-you-type, facets, pages)."""
    query = repo_query_from_params(request.GET, kind=kind)
    paginator = CappedPaginator(repo_search(user=request.user, query=query), page_size(request.GET))
    page = paginator.get_page(request.GET.get("page"))
    context = {
        "kind": kind,
        "kind_plural": "datasets" if kind == Repository.Kind.DATASET else "models",
        "query": query,
        "page": page,
        "paginator": paginator,
        "facet_groups": facet_groups(request.GET, query, repo_facets(kind=kind, user=request.user)),
        "active_filters": active_filters(request.GET, query),
        "sort_labels": SORT_LABELS,
        "default_page_size": PAGE_SIZE,
    }
    fragment = request.htmx and not request.htmx.history_restore_request
    template = "models_hub/list.html#results" if fragment else "models_hub/list.html"
    return render(request, template, context)
