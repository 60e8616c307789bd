"""Read-only repository pages: the card, the file tree, a file, the commit history; plus likes."""

from __future__ import annotations

import hashlib

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST, require_safe
from django_htmx.http import HttpResponseClientRedirect, HttpResponseClientRefresh

from models_hub import cards, dataset_selectors, diffs, highlight, selectors, services
from models_hub.errors import BadRequest, EntryNotFound, RevisionNotFound
from models_hub.models import AccessRequest, Commit, Like, Ref, Repository
from models_hub.storage.blobs import blob_open
from models_hub.views.common import repo_page, resolve_url, tab_context

COMMITS_PER_PAGE = 50
CARD_HTML_SECONDS = 7 * 24 * 3600
CARD_HTML_VERSION = "cmark-1"  # change when rendering changes, so cached cards are rendered again
PICKLE_PATHS_SHOWN = 20


def _card_html(repo: Repository, commit: Commit) -> str:
    """README.md's body at `commit`, rendered through the sanitiser (safe to mark safe).

    Its metadata is read once, when it is committed (repo.card_data): a page view reads no YAML.
    The HTML is cached by content and place: rendering a large card costs up to a second of CPU.
    """
    try:
        entry = selectors.file_entry(commit, "README.md")
    except EntryNotFound:
        return ""
    repo_url = repo.get_absolute_url()

    def render() -> str:
        with blob_open(entry.blob) as handle:
            text = handle.read(cards.MAX_CARD_BYTES).decode("utf-8", errors="replace")
        _front_matter, body = cards.split_card(text)
        return cards.render_markdown(body, repo_url=repo_url, revision=commit.oid)

    place = f"{CARD_HTML_VERSION}\0{entry.blob_id}\0{repo_url}\0{commit.oid}"
    key = "card-html:" + hashlib.sha256(place.encode()).hexdigest()
    return cache.get_or_set(key, render, CARD_HTML_SECONDS)


def _refs(repo: Repository) -> dict[str, list[str]]:
    refs = Ref.objects.filter(repository=repo).values_list("kind", "name")
    return {
        "branches": sorted(n for k, n in refs if k == Ref.Kind.BRANCH),
        "tags": sorted(n for k, n in refs if k == Ref.Kind.TAG),
    }


@require_safe
@repo_page()
def repo_detail(request: HttpRequest, repo: Repository) -> HttpResponse:
    head = selectors.head_commit(repo)
    fields = cards.indexed_fields(repo.card_data)
    context = {
        **tab_context(request, "card"),
        "head": head,
        "card_html": mark_safe(_card_html(repo, head)),  # noqa: S308 - nh3 allow-list output
        "fields": fields,
        "base_models": cards.repo_links(fields["base_model"], kind=Repository.Kind.MODEL),
        "card_datasets": cards.repo_links(fields["datasets"], kind=Repository.Kind.DATASET),
        "files": selectors.tree_listing(head)[:12],
        "pickle_paths": selectors.pickle_paths(head, limit=PICKLE_PATHS_SHOWN) if repo.has_unsafe_files else [],
        "pickle_paths_shown": PICKLE_PATHS_SHOWN,
        "liked": request.user.is_authenticated and Like.objects.filter(user=request.user, repository=repo).exists(),
        "try_it": repo.kind == Repository.Kind.MODEL and repo.pipeline_tag == "text-generation",
        **_gate_context(request.repo_access),
    }
    return render(request, "models_hub/repo_detail.html", context)


def _gate_context(access: selectors.RepoAccess) -> dict:
    """What the gate panel shows: the visitor's request, and the pending count to maintainers."""
    repo = access.repo
    if not repo.gated:
        return {}
    pending = repo.access_requests.filter(status=AccessRequest.Status.PENDING).count() if access.can_write else 0
    return {
        "gate": {
            "access": access.access_request,
            "member": access.member,
            "can_download": access.can_download,
            "pending": pending,
            "maintainer": access.can_write,
        }
    }


@require_POST
@repo_page()
def repo_access_request(request: HttpRequest, repo: Repository) -> HttpResponse:
    """Ask for access from the gate panel; errors and logging in lead back to the card."""
    if not request.user.is_authenticated:
        login = redirect_to_login(repo.get_absolute_url())
        return HttpResponseClientRedirect(login["Location"]) if request.htmx else login
    try:
        services.access_request_submit(repo=repo, user=request.user)
    except BadRequest as exc:
        messages.error(request, exc.message)
        return HttpResponseClientRefresh() if request.htmx else redirect(repo.get_absolute_url())
    if request.htmx:
        # The request just made changes what the panel shows: decide again.
        access = selectors.repo_access(repo, request.user)
        context = {"repo": repo, "base": repo.get_absolute_url(), **_gate_context(access)}
        return render(request, "models_hub/repo_detail.html#gate-panel", context)
    return redirect(repo.get_absolute_url())


@require_POST
@login_required
@repo_page()
def repo_like(request: HttpRequest, repo: Repository) -> HttpResponse:
    repo = services.like_set(user=request.user, repo=repo, liked=request.POST.get("liked") == "1")
    liked = Like.objects.filter(user=request.user, repository=repo).exists()
    if request.htmx:
        context = {"repo": repo, "liked": liked, "base": repo.get_absolute_url()}
        return render(request, "models_hub/repo_detail.html#like-button", context)
    return redirect(repo.get_absolute_url())


@require_safe
@repo_page()
def tree(request: HttpRequest, repo: Repository, rest: str = "main") -> HttpResponse:
    revision, commit, folder = selectors.split_revision_and_path(repo, rest.strip("/") or "main")
    items = selectors.tree_listing(commit, folder)
    downloadable = request.repo_access.can_download
    crumbs = []
    parts = folder.split("/") if folder else []
    for i, part in enumerate(parts):
        crumbs.append({"name": part, "path": "/".join(parts[: i + 1])})
    rows = [
        {
            "item": item,
            "unsafe": not item.is_dir and bool(item.blob.is_pickle),
            "download_url": None
            if item.is_dir or not downloadable and item.path not in selectors.UNGATED_FILES
            else resolve_url(repo, revision, item.path, download=True),
        }
        for item in items
    ]
    context = {
        **tab_context(request, "files"),
        **_refs(repo),
        "revision": revision,
        "commit": commit,
        "folder": folder,
        "crumbs": crumbs,
        "rows": rows,
    }
    return render(request, "models_hub/tree.html", context)


@require_safe
@repo_page()
def blob(request: HttpRequest, repo: Repository, rest: str) -> HttpResponse:
    revision, commit, path = selectors.split_revision_and_path(repo, rest)
    if not path:
        raise RevisionNotFound("Give a file path after the revision.")
    entry = selectors.file_entry(commit, path)
    refusal = request.repo_access.gate_refusal(path)
    if refusal:
        context = {
            **tab_context(request, "files"),
            "path": path,
            "refusal": refusal,
            "access": request.repo_access.access_request,
        }
        return render(request, "models_hub/gated_file.html", context, status=403)
    preview = highlight.preview_blob(path, entry.blob)
    rendered = ""
    if preview.text is not None and path.lower().endswith(".md"):
        rendered = cards.render_markdown(cards.split_card(preview.text)[1])
    parts = path.split("/")
    refs = _refs(repo)
    context = {
        **tab_context(request, "files"),
        **refs,
        # Files are edited and deleted on branches, never at a tag or a commit.
        "on_branch": revision in refs["branches"],
        "revision": revision,
        "commit": commit,
        "entry": entry,
        "path": path,
        "crumbs": [{"name": p, "path": "/".join(parts[: i + 1])} for i, p in enumerate(parts)],
        "preview": preview,
        "code_html": mark_safe(preview.html),  # noqa: S308 - pygments escapes the file's text
        "rendered_html": mark_safe(rendered),  # noqa: S308 - nh3 allow-list output
        "raw_url": resolve_url(repo, revision, path),
        "download_url": resolve_url(repo, revision, path, download=True),
    }
    return render(request, "models_hub/blob.html", context)


@require_safe
@repo_page()
def commits(request: HttpRequest, repo: Repository, revision: str = "main") -> HttpResponse:
    revision, head, path = selectors.split_revision_and_path(repo, revision.strip("/") or "main")
    if path:
        return _file_history(request, repo, revision, head, path)
    try:
        number = max(int(request.GET.get("page", 1)), 1)
    except ValueError:
        number = 1
    # One commit past the page says whether an older page exists, without counting the whole history.
    history = selectors.commit_history(repo, head, offset=(number - 1) * COMMITS_PER_PAGE, limit=COMMITS_PER_PAGE + 1)
    if repo.kind == Repository.Kind.DATASET:
        statuses = dataset_selectors.validation_statuses(history[:COMMITS_PER_PAGE])
        for commit in history:
            commit.validation_status = statuses.get(commit.pk)
    context = {
        **tab_context(request, "commits"),
        **_refs(repo),
        "revision": revision,
        "commits": history[:COMMITS_PER_PAGE],
        "page_number": number,
        # A page past the end links back to the newest commits rather than to another empty page.
        "newer_page": (number - 1 if history else 1) if number > 1 else None,
        "older_page": number + 1 if len(history) > COMMITS_PER_PAGE else None,
    }
    return render(request, "models_hub/commits.html", context)


def _file_history(request: HttpRequest, repo: Repository, revision: str, head: Commit, path: str) -> HttpResponse:
    """The commits that changed one file, newest first; `?before=<oid>` continues below a commit of this repo."""
    start: Commit | None = head
    before = request.GET.get("before", "").lower()
    if before:
        cursor = Commit.objects.filter(repository=repo, oid=before).only("parent").first()
        if cursor is None:
            raise RevisionNotFound(f"Invalid rev id: {before}")
        start = cursor.parent
    history = selectors.path_history(repo, start, path, limit=COMMITS_PER_PAGE) if start else None
    parts = path.split("/")
    context = {
        **tab_context(request, "commits"),
        **_refs(repo),
        "revision": revision,
        "path": path,
        "crumbs": [{"name": p, "path": "/".join(parts[: i + 1])} for i, p in enumerate(parts)],
        "commits": history.commits if history else [],
        "older": history.older if history else None,
        "paged": bool(before),
    }
    return render(request, "models_hub/file_history.html", context)


@require_safe
@repo_page()
def commit_detail(request: HttpRequest, repo: Repository, oid: str) -> HttpResponse:
    commit = selectors.revision_resolve(repo, oid)
    changes = selectors.commit_changes(commit)
    hidden = {change.path for change in changes if request.repo_access.gate_refusal(change.path)}
    context = {**tab_context(request, "commits"), "commit": commit, "diffs": diffs.commit_diffs(changes, hidden=hidden)}
    return render(request, "models_hub/commit_detail.html", context)
