"""The dataset viewer: the validation report and the rows of a config and split, paged and searched."""

from __future__ import annotations

import json
import math
from urllib.parse import urlencode

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from models_hub import dataset_selectors, selectors
from models_hub.dataset_files.formats import FORMAT_LABELS
from models_hub.errors import BadRequest
from models_hub.models import Commit, Repository
from models_hub.services.dataset_validation import dataset_validation_report
from models_hub.views.common import repo_page, tab_context

PAGE_ROWS = 20
FOLD_CHARS = 120  # a longer cell shows its start and unfolds to the rest
MAX_CELL_CHARS = 10_000  # what one cell shows at most
CHART_WIDTH, CHART_HEIGHT = 120, 36


def _int_param(request: HttpRequest, name: str, default: int = 0) -> int:
    raw = request.GET.get(name, "").strip()
    if not raw:
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise BadRequest(f"{name} must be a whole number of 0 or more.")
    return int(raw)


def _cell(value: object) -> dict:
    """How one cell shows: text (folded when long), a nested value as JSON, or a plain scalar."""
    if value is None:
        return {"null": True}
    if value == "":
        return {"empty": True}
    if isinstance(value, bool):  # as the file writes it, not Python's True/False
        value = "true" if value else "false"
    if isinstance(value, (dict, list)):
        text, nested = json.dumps(value, ensure_ascii=False, indent=1, default=str), True
    else:
        text, nested = str(value), False
    clipped = len(text) > MAX_CELL_CHARS
    text = text[:MAX_CELL_CHARS]
    folded = nested or len(text) > FOLD_CHARS or "\n" in text
    preview = " ".join(text.split())[:FOLD_CHARS]
    return {"text": text, "nested": nested, "folded": folded, "preview": preview, "clipped": clipped}


def _bars(values: list[tuple[str, float]]) -> list[dict]:
    """SVG bars (attributes, not styles: the CSP allows no inline style) for (label, amount) pairs."""
    if not values:
        return []
    top = max(amount for _label, amount in values) or 1
    width = CHART_WIDTH / len(values)
    bars = []
    for index, (label, amount) in enumerate(values):
        height = max(round(CHART_HEIGHT * amount / top, 1), 1 if amount else 0)
        bars.append(
            {
                "x": round(index * width, 2),
                "y": round(CHART_HEIGHT - height, 1),
                "width": round(max(width - 1, 1), 2),
                "height": height,
                "title": label,
            }
        )
    return bars


def _number(value: float) -> str:
    if value is None or not math.isfinite(value):
        return str(value)
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:,.4g}"


def column_chart(column: dict, rows: int) -> dict:
    """A small chart and a one-line summary of one column's statistics."""
    chart: dict = {"name": column["name"], "type": column["type"], "nulls": column["nulls"], "bars": [], "summary": ""}
    categories, numbers, lengths = column.get("categories"), column.get("numbers"), column.get("lengths")
    if categories:
        top = categories["top"]
        chart["bars"] = _bars([(f"{item['value']}: {item['count']:,}", item["count"]) for item in top])
        shown = ", ".join(f"{item['value'][:20]} ({item['count'] / max(rows, 1):.0%})" for item in top[:3])
        chart["summary"] = f"{categories['distinct']} value{'s' if categories['distinct'] != 1 else ''}: {shown}"
    elif numbers:
        chart["bars"] = _bars(
            [
                (f"{_number(b['low'])} – {_number(b['high'])}: {b['share']:.0%}", b["share"])
                for b in numbers["histogram"]
            ]
        )
        chart["summary"] = (
            f"min {_number(numbers['min'])} · mean {_number(numbers['mean'])} · max {_number(numbers['max'])}"
        )
    elif lengths:
        chart["bars"] = _bars(
            [(f"{b['label']} {lengths['of']}: {b['count']:,}", b["count"]) for b in lengths["buckets"]]
        )
        chart["summary"] = (
            f"{_number(lengths['min'])}–{_number(lengths['max'])} {lengths['of']}, mean {_number(lengths['mean'])}"
        )
    return chart


def _page_context(request: HttpRequest, repo: Repository, commit: Commit, revision: str) -> dict:
    report = dataset_validation_report(commit=commit)
    context: dict = {"report": report, "revision": revision, "commit": commit, "split": None, "page": None}
    context["viewer_url"] = f"{repo.get_absolute_url()}/viewer"
    if report.is_pending:
        return context
    split = dataset_selectors.split_pick(
        report, request.GET.get("config", "").strip(), request.GET.get("split", "").strip(), strict=False
    )
    context["split"] = split
    if split is None:
        return context
    context["split_names"] = [s.name for s in report.config(split.config).splits]
    if not request.repo_access.can_download:
        return context
    offset = _int_param(request, "offset")
    query = request.GET.get("q", "").strip()

    def url(**changes: object) -> str:
        params = {"revision": revision, "config": split.config, "split": split.name, "q": query, **changes}
        return context["viewer_url"] + "?" + urlencode({k: v for k, v in params.items() if v not in ("", None)})

    if query:
        page = dataset_selectors.dataset_search(commit=commit, split=split, query=query, offset=offset, limit=PAGE_ROWS)
    else:
        page = dataset_selectors.dataset_rows(commit=commit, split=split, offset=offset, limit=PAGE_ROWS)
    columns = page.columns
    context.update(
        {
            "page": page,
            "query": query,
            "columns": [column_chart(column, split.rows) for column in split.columns],
            "table": [
                {"row": row, "cells": [_cell(row.values.get(name)) for name in columns] if row.values else []}
                for row in page.rows
            ],
            "formats": [FORMAT_LABELS[name] for name in split.formats],
            "first_url": url(offset=0) if offset > 0 and not query else None,
            "previous_url": url(offset=max(offset - PAGE_ROWS, 0)) if offset > 0 and not query else None,
            "next_url": url(offset=offset + PAGE_ROWS) if not query and offset + PAGE_ROWS < page.total else None,
            "last_url": url(offset=max((page.total - 1) // PAGE_ROWS * PAGE_ROWS, 0))
            if not query and offset + PAGE_ROWS < page.total
            else None,
            "search_more_url": url(offset=page.search_next) if page.search_next is not None else None,
            "clear_search_url": url(q="") if query else None,
            "first_row": offset + 1,
            "last_row": offset + len(page.rows),
        }
    )
    return context


@require_safe
@repo_page()
def dataset_viewer(request: HttpRequest, repo: Repository) -> HttpResponse:
    """The full page; the same URL answers htmx with the viewer (polled while pending) or just the rows."""
    if repo.kind != Repository.Kind.DATASET:
        raise Http404("Only datasets have a viewer.")
    revision = request.GET.get("revision", "").strip() or "main"
    commit = selectors.revision_resolve(repo, revision)
    try:
        context = {**tab_context(request, "viewer"), **_page_context(request, repo, commit, revision)}
    except BadRequest as exc:
        context = {**tab_context(request, "viewer"), "error": exc.message, "revision": revision, "commit": commit}
        context["viewer_url"] = f"{repo.get_absolute_url()}/viewer"
        status = 200 if request.htmx else 400  # htmx swaps only successful answers; the message must show
    else:
        status = 200
    template = "models_hub/dataset_viewer.html"
    if request.htmx:
        target = request.htmx.target or ""
        template += "#viewer-rows" if target == "viewer-rows" and "error" not in context else "#viewer"
    return render(request, template, context, status=status)
