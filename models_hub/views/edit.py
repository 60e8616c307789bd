"""Editing and deleting a text file in the browser, as a commit on a branch (the card is README.md at the root)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from models_hub import cards, selectors, services
from models_hub.errors import EntryNotFound, HubError, PreconditionFailed
from models_hub.forms import FileDeleteForm, FileEditForm
from models_hub.highlight import MAX_HIGHLIGHT_BYTES
from models_hub.models import Commit, Ref, Repository, TreeEntry
from models_hub.storage.blobs import blob_open, blob_store_bytes
from models_hub.views.common import WRITE, repo_page, tab_context

README = "README.md"
# Files the editor opens: those the file view shows as text.
MAX_EDIT_BYTES = MAX_HIGHLIGHT_BYTES
CARD_TEMPLATE = """---
# license: choose one (e.g. mit, apache-2.0, cc-by-4.0) and remove the leading "#"
tags: []
---

# {name}

Describe what this {kind} is, how it was made and how to use it.
"""


@dataclass(frozen=True)
class Target:
    """A file on a branch, as the editor found it (entry is None for a card not written yet)."""

    branch: str
    head: Commit
    path: str
    entry: TreeEntry | None

    @property
    def is_card(self) -> bool:
        return self.path == README


def _target(repo: Repository, rest: str) -> Target:
    """The branch and file that `rest` (`<branch>/<path>`) names; 404 for a tag, a commit or a missing file."""
    branch, head, path = selectors.split_revision_and_path(repo, rest)
    if not path or not Ref.objects.filter(repository=repo, kind=Ref.Kind.BRANCH, name=branch).exists():
        raise Http404("Files are edited on a branch: give a branch name and a file path.")
    try:
        entry = selectors.file_entry(head, path)
    except EntryNotFound:
        if path != README:  # the card may be written for the first time; other files are uploaded
            raise
        entry = None
    return Target(branch, head, path, entry)


def _text(repo: Repository, target: Target) -> str | None:
    """The file's text, the card template for a missing card, or None when it is binary or too large."""
    if target.entry is None:
        return CARD_TEMPLATE.format(name=repo.name, kind=repo.kind)
    if target.entry.blob.size > MAX_EDIT_BYTES:
        return None
    with blob_open(target.entry.blob) as handle:
        data = handle.read(MAX_EDIT_BYTES)
    if b"\x00" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _file_url(repo: Repository, target: Target, view: str = "blob") -> str:
    return f"{repo.get_absolute_url()}/{view}/{quote(target.branch, safe='')}/{quote(target.path)}"


def _stale_message(repo: Repository, target: Target, action: str) -> str:
    head = selectors.revision_resolve(repo, target.branch)
    return (
        f"{target.path} was not {action}: someone committed to {target.branch} since you opened this page "
        f"(it is now at {head.short_oid}). Keep a copy of your text, reload the page and make your change again."
    )


@require_http_methods(["GET", "POST"])
@repo_page(WRITE)
def file_edit(request: HttpRequest, repo: Repository, rest: str) -> HttpResponse:
    """Edit a text file (README.md is the card: invalid metadata is refused, as the public hub refuses it)."""
    target = _target(repo, rest)
    original = _text(repo, target)
    if original is None:
        messages.error(
            request, f"{target.path} is binary or larger than {MAX_EDIT_BYTES:,} bytes: upload a new version."
        )
        return redirect(_file_url(repo, target))
    initial = {"content": original, "summary": f"Update {target.path}", "parent": target.head.oid}
    form = FileEditForm(request.POST or None, initial=initial)
    status = 200
    if request.method == "POST" and form.is_valid():
        content = form.cleaned_data["content"].replace("\r\n", "\n")
        if "\r\n" in original:  # keep the file's own line endings, so the diff shows only what changed
            content = content.replace("\n", "\r\n")
        card = cards.parse_card(content, kind=repo.kind) if target.is_card else None
        if card is not None and card.errors:
            form.add_error("content", f"Invalid metadata in README.md: {card.error}")
        else:
            try:
                commit = services.commit_create(
                    repo=repo,
                    author=request.user,
                    title=form.cleaned_data["summary"],
                    description=form.cleaned_data["description"],
                    branch=target.branch,
                    additions=[services.FileAddition(target.path, blob_store_bytes(content.encode()))],
                    parent_oid=form.cleaned_data["parent"] or None,
                )
            except PreconditionFailed:
                form.add_error(None, _stale_message(repo, target, "saved"))
                status = 409
            except HubError as exc:
                form.add_error(None, exc.message)
            else:
                if commit == target.head:
                    messages.info(request, f"{target.path} is unchanged: nothing was committed.")
                elif card is not None and card.warnings:
                    messages.warning(request, f"Saved {target.path}, with a warning: {'; '.join(card.warnings)}.")
                else:
                    messages.success(request, f"Saved {target.path}.")
                card_page = target.is_card and target.branch == "main"
                return redirect(repo.get_absolute_url() if card_page else _file_url(repo, target))
    if form.errors and status == 200:
        status = 400
    context = {**tab_context(request, "edit" if target.is_card else "files"), "form": form, "target": target}
    return render(request, "models_hub/file_edit.html", context, status=status)


def _remaining_folder(commit: Commit, folder: str) -> str:
    """`folder`, or its nearest parent that still holds a file after a deletion (folders exist through files)."""
    while folder and not TreeEntry.objects.filter(commit=commit, path__startswith=f"{folder}/").exists():
        folder = folder.rpartition("/")[0]
    return folder


@require_http_methods(["GET", "POST"])
@repo_page(WRITE)
def file_delete(request: HttpRequest, repo: Repository, rest: str) -> HttpResponse:
    """Confirm, then delete a file in a commit on its branch."""
    target = _target(repo, rest)
    if target.entry is None:
        raise Http404(f"{target.path} does not exist on {target.branch}.")
    initial = {"summary": f"Delete {target.path}", "parent": target.head.oid}
    form = FileDeleteForm(request.POST or None, initial=initial)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            commit = services.commit_create(
                repo=repo,
                author=request.user,
                title=form.cleaned_data["summary"],
                description=form.cleaned_data["description"],
                branch=target.branch,
                deletions=[target.path],
                parent_oid=form.cleaned_data["parent"] or None,
            )
        except PreconditionFailed:
            form.add_error(None, _stale_message(repo, target, "deleted"))
            status = 409
        except HubError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"Deleted {target.path}.")
            folder = _remaining_folder(commit, target.path.rpartition("/")[0])
            tree = f"{repo.get_absolute_url()}/tree/{quote(target.branch, safe='')}"
            return redirect(tree + (f"/{quote(folder)}" if folder else ""))
    if form.errors and status == 200:
        status = 400
    context = {**tab_context(request, "files"), "form": form, "target": target}
    return render(request, "models_hub/file_delete.html", context, status=status)
