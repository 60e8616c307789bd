"""Commits: the one write path that every upload surface ends in."""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from models_hub import cards
from models_hub.errors import (
    BadRequest,
    Conflict,
    EntryNotFound,
    PreconditionFailed,
    RevisionNotFound,
    refuse_nul,
)
from models_hub.models import (
    Blob,
    Commit,
    Ref,
    Repository,
    RepositoryBlob,
    RepoTag,
    TreeEntry,
)
from models_hub.services.dataset_validation import dataset_validation_queue
from models_hub.services.quotas import quota_check
from models_hub.services.upload_checks import check_blob, check_parent, clean_folder_path, clean_path
from models_hub.storage.blobs import blob_open

README = "README.md"


@dataclass(frozen=True)
class FileAddition:
    path: str
    blob: Blob


@dataclass(frozen=True)
class FileCopy:
    src_path: str
    dest_path: str
    src_revision: str | None = None  # None: the head of the branch being committed to


def upload_title(paths: Sequence[str]) -> str:
    """The default title of a commit that uploads `paths`: "Upload config.json", "Upload 3 files"."""
    if len(paths) == 1:
        return f"Upload {paths[0]}"
    return f"Upload {len(paths)} files"


def _tree_hash(tree: dict[str, str]) -> str:
    digest = hashlib.sha1(usedforsecurity=False)
    for path in sorted(tree):
        digest.update(f"{path}\0{tree[path]}\n".encode())
    return digest.hexdigest()


def _commit_oid(
    *,
    repo: Repository,
    parent: Commit | None,
    tree: dict[str, str],
    title: str,
    description: str,
    author: User | None,
    when,
) -> str:
    text = "\n".join(
        [
            f"repo {repo.pk}",
            f"tree {_tree_hash(tree)}",
            f"parent {parent.oid if parent else ''}",
            f"author {author.pk if author else ''}",
            f"date {when.isoformat()}",
            "",
            title,
            description,
        ]
    )
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()


def _write_commit(
    *,
    repo: Repository,
    parent: Commit | None,
    tree: dict[str, str],
    title: str,
    description: str,
    author: User | None,
    when,
    added_blobs: Collection[str],
) -> Commit:
    """Write a commit and its tree. `added_blobs`: the blobs that may be new to the repository (those
    added by this commit), recorded once per repository for the storage quota."""
    commit = Commit.objects.create(
        repository=repo,
        oid=_commit_oid(
            repo=repo, parent=parent, tree=tree, title=title, description=description, author=author, when=when
        ),
        parent=parent,
        author=author,
        title=title[:500],
        description=description,
        created_at=when,
    )
    TreeEntry.objects.bulk_create(
        [TreeEntry(commit=commit, path=path, blob_id=sha) for path, sha in tree.items()], batch_size=1000
    )
    RepositoryBlob.objects.bulk_create(
        [RepositoryBlob(repository=repo, blob_id=sha) for sha in sorted(added_blobs)],
        batch_size=1000,
        ignore_conflicts=True,
    )
    return commit


def _lock_added_blobs(additions: Sequence[FileAddition]) -> None:
    """Lock the rows of the blobs being added; one removed meanwhile (see NewBlobs) must not be committed."""
    wanted = sorted({addition.blob.sha256 for addition in additions})
    found: set[str] = set()
    for start in range(0, len(wanted), 1000):  # a bounded number of query parameters
        batch = wanted[start : start + 1000]
        found.update(Blob.objects.select_for_update().filter(sha256__in=batch).values_list("sha256", flat=True))
    missing = [addition.path for addition in additions if addition.blob.sha256 not in found]
    if missing:
        raise Conflict(f"{missing[0]} was removed from storage while this commit was made: upload it again.")


def _check_no_file_folder_clash(tree: dict[str, str]) -> None:
    folders = set()
    for path in tree:
        parts = path.split("/")
        for i in range(1, len(parts)):
            folders.add("/".join(parts[:i]))
    clash = folders.intersection(tree)
    if clash:
        raise BadRequest(f"'{sorted(clash)[0]}' cannot be both a file and a folder.")


def _delete_folder(tree: dict[str, str], folder: str) -> bool:
    """Remove every file under `folder` from `tree`; False if there is none."""
    prefix = folder + "/"
    doomed = [path for path in tree if path.startswith(prefix)]
    for path in doomed:
        del tree[path]
    return bool(doomed)


def commit_create(
    *,
    repo: Repository,
    author: User | None,
    title: str,
    description: str = "",
    branch: str = "main",
    additions: Sequence[FileAddition] = (),
    deletions: Sequence[str] = (),
    deleted_folders: Sequence[str] = (),
    copies: Sequence[FileCopy] = (),
    parent_oid: str | None = None,
) -> Commit:
    """Apply file operations on top of `branch` and move it to the new commit, atomically.

    All blobs are already stored; this checks them (models_hub.services.upload_checks: paths, contents,
    the parent), then writes the commit in one transaction.
    Raises PreconditionFailed when `parent_oid` is given and is no longer the branch head.
    A commit that changes no file (a retried request, the same bytes at the same paths, whatever the
    title) creates nothing and returns the branch head.
    """
    title = refuse_nul((title or "").strip(), "The commit title")
    if not title:
        raise BadRequest("A commit needs a title (summary).")
    refuse_nul(description or "", "The commit description")
    additions = [FileAddition(clean_path(a.path), a.blob) for a in additions]
    deletions = [clean_path(p) for p in deletions]
    deleted_folders = [clean_folder_path(p) for p in deleted_folders]
    copies = [FileCopy(clean_path(c.src_path), clean_path(c.dest_path), c.src_revision) for c in copies]
    for addition in additions:
        check_blob(addition.path, addition.blob)

    from models_hub.selectors import revision_resolve

    readme_cards = _readme_cards(repo=repo, branch=branch, additions=additions, copies=copies)
    now = timezone.now()
    with transaction.atomic():
        ref = (
            # No select_related here: PostgreSQL re-checks a join against the old commit row after
            # waiting for the lock, and the ref would vanish (404) instead of failing the parent check.
            Ref.objects.select_for_update().filter(repository=repo, kind=Ref.Kind.BRANCH, name=branch).first()
        )
        if ref is None:
            raise RevisionNotFound(f"Invalid rev id: {branch}")
        head = ref.commit
        check_parent(head_oid=head.oid, parent_oid=parent_oid, branch=branch)
        _lock_added_blobs(additions)
        old_tree = dict(TreeEntry.objects.filter(commit=head).values_list("path", "blob_id"))
        tree = dict(old_tree)
        for copy in copies:
            source = head if copy.src_revision is None else revision_resolve(repo, copy.src_revision)
            source_tree = (
                tree if source == head else dict(TreeEntry.objects.filter(commit=source).values_list("path", "blob_id"))
            )
            if copy.src_path not in source_tree:
                raise EntryNotFound(f"Cannot copy {copy.src_path}: no such file.", commit_oid=source.oid)
            tree[copy.dest_path] = source_tree[copy.src_path]
        for path in deletions:
            if path in tree:
                del tree[path]
            elif not _delete_folder(tree, path):  # a folder named without its trailing slash, as git rm -r
                raise EntryNotFound(f"Cannot delete {path}: no such file or folder.", commit_oid=head.oid)
        for folder in deleted_folders:
            if not _delete_folder(tree, folder):
                raise EntryNotFound(f"Cannot delete folder {folder}: no such folder.", commit_oid=head.oid)
        for addition in additions:
            tree[addition.path] = addition.blob.sha256
        _check_no_file_folder_clash(tree)
        readme = tree.get(README)
        readme_changed = readme != old_tree.get(README)
        if readme_changed and readme is not None and readme not in readme_cards:
            # A copy onto README.md from a head that moved after its card was read: no parsing under the lock.
            raise PreconditionFailed(f"{README} changed while this commit was prepared. Please try again.")
        if tree == old_tree:
            # Nothing changes (a retried upload, the same bytes again): no empty commit, the head answers,
            # as on the public hub.
            return head
        quota_check(repo=repo, files=[(a.blob.sha256, a.blob.size) for a in additions], lock=True)
        commit = _write_commit(
            repo=repo,
            parent=head,
            tree=tree,
            title=title,
            description=description,
            author=author,
            when=now,
            added_blobs={a.blob.sha256 for a in additions},
        )
        ref.commit = commit
        ref.save(update_fields=["commit", "updated_at"])
        if repo.kind == Repository.Kind.DATASET:
            dataset_validation_queue(commit=commit)
        card = (readme_cards[readme] if readme else cards.Card()) if readme_changed else None
        _reindex(repo=repo, tree=tree if branch == "main" else None, card=card, when=now)
    from models_hub.tasks import commit_analyze

    # robust: the commit has landed; a broker outage must not turn that into an error for the user.
    transaction.on_commit(lambda: commit_analyze.delay(commit.pk), robust=True)
    return commit


def _readme_card(repo: Repository, blob: Blob) -> cards.Card:
    with blob_open(blob) as handle:
        text = handle.read(cards.MAX_CARD_BYTES).decode("utf-8", errors="replace")
    card = cards.parse_card(text, kind=repo.kind)
    if card.errors:
        raise BadRequest(f"Invalid metadata in {README}: {card.error}")
    return card


def _readme_cards(
    *, repo: Repository, branch: str, additions: Sequence[FileAddition], copies: Sequence[FileCopy]
) -> dict[str, cards.Card]:
    """The cards of every README.md this commit may put at the root, by blob, checked before any lock.

    Reading YAML takes time: under the branch lock (and SQLite's single writer) it would stall
    every other commit for as long, so it happens here, and the transaction only looks results up.
    """
    from models_hub.selectors import revision_resolve

    blobs = {a.blob.sha256: a.blob for a in additions if a.path == README}
    for copy in copies:
        if copy.dest_path == README:
            source = revision_resolve(repo, copy.src_revision or branch)
            entry = TreeEntry.objects.filter(commit=source, path=copy.src_path).select_related("blob").first()
            if entry is not None:
                blobs[entry.blob_id] = entry.blob
    return {sha: _readme_card(repo, blob) for sha, blob in blobs.items()}


def _reindex(*, repo: Repository, tree: dict[str, str] | None, card: cards.Card | None, when) -> None:
    """Refresh what listings and search read: card metadata, tags, the unsafe-file flag.

    `tree` is the new tree of main (None for other branches); `card` its README's card, None when
    README.md did not change (what was indexed from it still holds).
    """
    fields = ["updated_at"]
    repo.updated_at = when
    if tree is not None:
        # Blobs stored before pickle detection (None) are judged when the commit is analysed.
        repo.has_unsafe_files = Blob.objects.filter(sha256__in=tree.values(), is_pickle=True).exists()
        fields.append("has_unsafe_files")
    if tree is not None and card is not None:
        indexed = cards.indexed_fields(card.metadata)
        tags = cards.card_tags(card.metadata)
        repo.card_data = card.metadata
        repo.summary = cards.summary_of(card.body)
        repo.license = indexed["license"]
        repo.pipeline_tag = indexed["pipeline_tag"]
        repo.library_name = indexed["library_name"]
        repo.search_text = _search_text(repo, tags)
        fields += ["card_data", "summary", "license", "pipeline_tag", "library_name", "search_text"]
        RepoTag.objects.filter(repository=repo).exclude(name__in=tags).delete()
        existing = set(RepoTag.objects.filter(repository=repo).values_list("name", flat=True))
        RepoTag.objects.bulk_create([RepoTag(repository=repo, name=t) for t in tags if t not in existing])
    repo.save(update_fields=fields)


def _search_text(repo: Repository, tags: Sequence[str]) -> str:
    """What full-text search matches: the id, the card's summary and its tags."""
    return " ".join([repo.namespace, repo.name, repo.summary, *tags])


MAX_ANCESTRY_WALK = 1_000  # parents followed to prove a fast-forward; branches made by jobs are a few commits long


def descends_from(commit: Commit, ancestor: Commit) -> bool:
    """Whether `ancestor` is `commit` or one of its ancestors, within MAX_ANCESTRY_WALK parents."""
    current: int | None = commit.pk
    for _ in range(MAX_ANCESTRY_WALK):
        if current is None:
            return False
        if current == ancestor.pk:
            return True
        current = Commit.objects.filter(pk=current).values_list("parent_id", flat=True).first()
    return False


def branch_fast_forward(*, repo: Repository, branch: str, to_commit: Commit, expected_oid: str) -> Commit:
    """Move `branch` from `expected_oid` to `to_commit`, which descends from it: no new commit, as `git merge
    --ff-only`. The listings are re-indexed from the new head's card when the branch is main.

    Raises PreconditionFailed when the branch is no longer at `expected_oid`, Conflict when `to_commit` does
    not descend from it.
    """
    if to_commit.repository_id != repo.pk:
        raise BadRequest(f"Commit {to_commit.short_oid} is not a commit of {repo.repo_id}.")
    new_tree = dict(TreeEntry.objects.filter(commit=to_commit).values_list("path", "blob_id"))
    readme = new_tree.get(README)
    card = _readme_card(repo, Blob.objects.get(pk=readme)) if readme else cards.Card()  # parsed before any lock
    now = timezone.now()
    with transaction.atomic():
        ref = Ref.objects.select_for_update().filter(repository=repo, kind=Ref.Kind.BRANCH, name=branch).first()
        if ref is None:
            raise RevisionNotFound(f"Invalid rev id: {branch}")
        head = ref.commit
        check_parent(head_oid=head.oid, parent_oid=expected_oid, branch=branch)
        if head.pk == to_commit.pk:
            return head
        if not descends_from(to_commit, head):
            raise Conflict(f"{to_commit.short_oid} does not descend from {head.short_oid}: not a fast-forward.")
        old_readme = TreeEntry.objects.filter(commit=head, path=README).values_list("blob_id", flat=True).first()
        ref.commit = to_commit
        ref.save(update_fields=["commit", "updated_at"])
        _reindex(
            repo=repo,
            tree=new_tree if branch == "main" else None,
            card=card if readme != old_readme else None,
            when=now,
        )
    from models_hub.tasks import commit_analyze

    # The parameter count and pickle flag follow the head of main.
    transaction.on_commit(lambda: commit_analyze.delay(to_commit.pk), robust=True)
    return to_commit
