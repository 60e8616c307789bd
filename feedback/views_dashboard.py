"""Feedback dashboards: one model (or one of its revisions), and two revisions side by side."""

from __future__ import annotations

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from feedback import dashboards
from feedback.dashboards import Summary
from models_hub.models import Repository
from models_hub.selectors import revision_resolve
from models_hub.views.common import repo_page, tab_context


def _login_first(request: HttpRequest) -> HttpResponse | None:
    """Anonymous visitors of a public model are asked to log in (a maintainer may not be logged in yet)."""
    return None if request.user.is_authenticated else redirect_to_login(request.get_full_path())


def _include_maintainers(request: HttpRequest) -> bool:
    return request.GET.get("maintainers") == "1"


def _chart_data(summary: Summary) -> dict:
    return {
        "days": [d.day.isoformat() for d in summary.days],
        "ratingsPerDay": [d.ratings for d in summary.days],
        "upRatioPerDay": [d.up_ratio for d in summary.days],
        "stars": summary.star_counts,
        "tagLabels": [t.label for t in summary.tags],
        "tagCounts": [t.count for t in summary.tags],
    }


@repo_page()
def dashboard(request: HttpRequest, repo: Repository) -> HttpResponse:
    if (login := _login_first(request)) is not None:
        return login
    dashboards.dashboard_require(request.repo_access)
    include_maintainers = _include_maintainers(request)
    revision = request.GET.get("revision", "").strip()
    commit = revision_resolve(repo, revision) if revision else None
    summary = dashboards.summary(repo, commit=commit, include_maintainers=include_maintainers)
    context = {
        **tab_context(request, "feedback"),
        "summary": summary,
        "chart_data": _chart_data(summary),
        "revision": revision,
        "commit": commit,
        "revisions": dashboards.rated_revisions(repo, include_maintainers=include_maintainers),
        "include_maintainers": include_maintainers,
    }
    return render(request, "feedback/dashboard.html", context)


@repo_page()
def compare(request: HttpRequest, repo: Repository) -> HttpResponse:
    if (login := _login_first(request)) is not None:
        return login
    dashboards.dashboard_require(request.repo_access)
    include_maintainers = _include_maintainers(request)
    revisions = dashboards.rated_revisions(repo, include_maintainers=include_maintainers)
    a = request.GET.get("a", "").strip() or (revisions[1].oid if len(revisions) > 1 else "")
    b = request.GET.get("b", "").strip() or (revisions[0].oid if revisions else "")
    context = {
        **tab_context(request, "feedback"),
        "revisions": revisions,
        "a": a,
        "b": b,
        "include_maintainers": include_maintainers,
        "comparison": None,
    }
    if a and b:
        commit_a, commit_b = revision_resolve(repo, a), revision_resolve(repo, b)
        comparison = dashboards.compare(repo, commit_a, commit_b, include_maintainers=include_maintainers)
        context["comparison"] = comparison
        context["chart_data"] = {
            "labels": [a, b],
            "upRatio": [comparison.a.up_ratio, comparison.b.up_ratio],
            "upLow": [i[0] if i else None for i in (comparison.a.up_interval, comparison.b.up_interval)],
            "upHigh": [i[1] if i else None for i in (comparison.a.up_interval, comparison.b.up_interval)],
            "starsA": comparison.a.star_counts,
            "starsB": comparison.b.star_counts,
        }
    return render(request, "feedback/dashboard_compare.html", context)
