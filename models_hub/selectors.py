"""Reads that check permission. Anyone who may not see a repository is told it does not exist."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

from django.core.paginator import Page, Paginator
from django.db import connection
from django.db.models import OuterRef, Subquery, prefetch_related_objects
from django.db.models.functions import Lower

from accounts.models import Membership, User
from models_hub.errors import EntryNotFound, Forbidden, RepoNotFound, RevisionNotFound
from models_hub.models import AccessRequest, Blob, BlobUpload, Commit, Ref, RepoRedirect, Repository, TreeEntry

HEX_PREFIX = re.compile(r"^[0-9a-f]{4,40}$")
# A history read without a limit stops this deep: longer than any real history, and it ends a cycle of parents.
HISTORY_WALK_CAP = 100_000
# No walk goes deeper, whatever the offset asked for: it keeps the depth within every database's integers.
HISTORY_MAX_DEPTH = 2**31 - 1
# A file history page looks at most this many commits back; "Older" continues from where it stopped.
PATH_HISTORY_SCAN = 2_000


# The card is shown on the repository page to everyone, so it can be fetched from a gated repo too; every
# other file, .gitattributes included, is behind the gate, as on the public hub.
UNGATED_FILES = frozenset({"README.md"})


@dataclass(frozen=True)
class RepoAccess:
    """What one user may do with one repository: decided once per request, read by every view and template.

    `member` is the owner, staff, or anyone in the owning organisation (any role): they pass any gate.
    `role` is the user's role in that organisation, if any.
    """

    repo: Repository
    user: User | None
    can_read: bool
    can_write: bool
    can_admin: bool
    member: bool
    role: str | None = None

    @cached_property
    def access_request(self) -> AccessRequest | None:
        """The user's request for a gated repository, read once and only when asked for; None for members,
        anonymous visitors and open repositories, whose files need none."""
        if not self.repo.gated or self.member or not self.can_read or not _signed_in(self.user):
            return None
        return AccessRequest.objects.filter(repository=self.repo, user=self.user).first()

    @property
    def can_download(self) -> bool:
        """Readers may download the files, except from a gated repo, where outsiders need an accepted request."""
        if not self.can_read:
            return False
        if not self.repo.gated or self.member:
            return True
        return self.access_request is not None and self.access_request.status == AccessRequest.Status.ACCEPTED

    def gate_refusal(self, path: str | None = None, *, repo_url: str | None = None) -> str | None:
        """Why the user may not download `path` (any file when None), or None if they may.

        `repo_url` is where to ask for access (absolute for API clients); the page's path by default.
        """
        if path in UNGATED_FILES or self.can_download:
            return None
        repo, request = self.repo, self.access_request
        if self.user is None or not self.user.is_authenticated:
            return (
                f"Access to {repo.kind} {repo.repo_id} is restricted. You must have access to it and be "
                "authenticated to access it. Please log in."
            )
        if request is not None and request.status == AccessRequest.Status.PENDING:
            return f"Your request to access {repo.kind} {repo.repo_id} is awaiting a review from the repo authors."
        if request is not None and request.status == AccessRequest.Status.REJECTED:
            reason = f" Reason: {request.rejection_reason}" if request.rejection_reason else ""
            return f"Your request to access {repo.kind} {repo.repo_id} was declined by its maintainers.{reason}"
        return (
            f"Access to {repo.kind} {repo.repo_id} is restricted and you are not in the authorized list. "
            f"Visit {repo_url or repo.get_absolute_url()} to ask for access."
        )

    def require_write(self) -> RepoAccess:
        """Itself, if the user may write; Forbidden (403) for readers. Non-readers never get an access value."""
        if not self.can_write:
            raise Forbidden(f"You don't have write access to {self.repo.repo_id}.")
        return self

    def require_admin(self, message: str | None = None) -> RepoAccess:
        """Itself, if the user may change settings, rename or delete; Forbidden (403) otherwise."""
        if not self.can_admin:
            raise Forbidden(
                message or f"Only the owner or an organisation admin can change the settings of {self.repo.repo_id}."
            )
        return self


def _signed_in(user: User | None) -> bool:
    return user is not None and user.is_authenticated


def _decide(repo: Repository, user: User | None, role: str | None) -> RepoAccess:
    """The rules, from the repository row and the user's role in its organisation (no query)."""
    if not _signed_in(user):
        return RepoAccess(repo, None, can_read=not repo.private, can_write=False, can_admin=False, member=False)
    if user.is_superuser or repo.owner_id == user.pk:
        return RepoAccess(repo, user, can_read=True, can_write=True, can_admin=True, member=True, role=role)
    if role is not None:
        return RepoAccess(
            repo,
            user,
            can_read=True,
            can_write=role in (Membership.Role.ADMIN, Membership.Role.WRITE),
            can_admin=role == Membership.Role.ADMIN,
            member=True,
            role=role,
        )
    return RepoAccess(repo, user, can_read=not repo.private, can_write=False, can_admin=False, member=False)


def _role_of(user: User) -> Subquery:
    return Subquery(
        Membership.objects.filter(organization_id=OuterRef("organization_id"), user=user).values("role")[:1]
    )


def repo_access_for(user: User | None, *, kind: str, namespace: str, name: str) -> RepoAccess:
    """The repository and what `user` may do with it; RepoNotFound when it is missing or private to someone else.

    One query reads the repository with the user's organisation role; reading the access request of an
    outsider to a gated repository costs a second.
    """
    if "\x00" in namespace or "\x00" in name:  # no repository is named so, and PostgreSQL refuses it in a query
        raise RepoNotFound("Repository Not Found: a repository id cannot contain a NUL character.")
    repos = Repository.objects.select_related("owner", "organization").filter(kind=kind, namespace=namespace, name=name)
    if _signed_in(user):
        repos = repos.annotate(viewer_role=_role_of(user))
    repo = repos.first()
    access = _decide(repo, user, getattr(repo, "viewer_role", None)) if repo is not None else None
    if access is None or not access.can_read:
        raise RepoNotFound(f"Repository Not Found for url: {kind}s/{namespace}/{name}.")
    return access


def repo_access(repo: Repository, user: User | None) -> RepoAccess:
    """What `user` may do with a repository already in hand (which they may not be able to read)."""
    role = None
    if _signed_in(user) and repo.organization_id is not None and not user.is_superuser:
        role = (
            Membership.objects.filter(organization_id=repo.organization_id, user=user)
            .values_list("role", flat=True)
            .first()
        )
    return _decide(repo, user, role)


def blobs_usable_by(user: User, sha256s: set[str]) -> set[str]:
    """Of these blobs, those `user` may commit by hash: sent by them, or in a repo they may download."""
    if not sha256s:
        return set()
    uploaded = set(BlobUpload.objects.filter(user=user, blob_id__in=sha256s).values_list("blob_id", flat=True))
    missing = sha256s - uploaded
    if not missing:
        return uploaded
    reachable = TreeEntry.objects.filter(
        blob_id__in=missing, commit__repository__in=Repository.objects.downloadable_by(user)
    ).values_list("blob_id", flat=True)
    return uploaded | set(reachable.distinct())


def repo_redirect_target(*, kind: str, namespace: str, name: str) -> Repository | None:
    """Where an id that names no repository should lead: a renamed repo's new id, or the same id in its
    own letter case (ids are unique whatever the case, so `Alice/Tiny` can only mean `alice/tiny`)."""
    redirect = (
        RepoRedirect.objects.select_related("repository").filter(kind=kind, namespace=namespace, name=name).first()
    )
    if redirect:
        return redirect.repository
    return repo_in_any_case(kind=kind, namespace=namespace, name=name)


def repo_in_any_case(*, kind: str, namespace: str, name: str) -> Repository | None:
    """The repository whose id is this one in another letter case (ids are unique whatever the case)."""
    # Matches the expression index behind the case-insensitive unique constraint.
    return (
        Repository.objects.alias(lower_namespace=Lower("namespace"), lower_name=Lower("name"))
        .filter(kind=kind, lower_namespace=namespace.lower(), lower_name=name.lower())
        .first()
    )


def repo_access_any_case(user: User | None, *, kind: str, namespace: str, name: str) -> RepoAccess:
    """repo_access_for, taking the id in any letter case: a write cannot follow a redirect as a read does."""
    try:
        return repo_access_for(user, kind=kind, namespace=namespace, name=name)
    except RepoNotFound:
        repo = repo_in_any_case(kind=kind, namespace=namespace, name=name)
        if repo is None or (repo.namespace, repo.name) == (namespace, name):
            raise
        return repo_access_for(user, kind=kind, namespace=repo.namespace, name=repo.name)


def revision_resolve(repo: Repository, revision: str) -> Commit:
    """A branch, a tag (branches win on a clash, as in git), a full commit id or a unique prefix of one."""
    if "\x00" in revision:  # no ref name or commit id holds one, and PostgreSQL refuses it in a query
        raise RevisionNotFound("Invalid rev id: a revision cannot contain a NUL character.")
    refs = {
        (kind, name): commit
        for kind, name, commit in Ref.objects.filter(repository=repo, name=revision)
        .select_related("commit")
        .values_list("kind", "name", "commit")
    }
    commit_pk = refs.get((Ref.Kind.BRANCH, revision)) or refs.get((Ref.Kind.TAG, revision))
    if commit_pk:
        return Commit.objects.get(pk=commit_pk)
    lowered = revision.lower()
    if HEX_PREFIX.match(lowered):
        matches = list(Commit.objects.filter(repository=repo, oid__startswith=lowered)[:2])
        if len(matches) == 1:
            return matches[0]
    raise RevisionNotFound(f"Invalid rev id: {revision}")


def split_revision_and_path(repo: Repository, rest: str) -> tuple[str, Commit, str]:
    """Split 'feature/x/dir/file' into (revision, commit, path).

    Django decodes %2F, so a revision with '/' cannot be told apart from the path by the URL alone:
    the longest prefix that names a branch or tag wins, else the first segment is the revision.
    """
    segments = rest.split("/")
    if len(segments) > 1:
        names = set(Ref.objects.filter(repository=repo).values_list("name", flat=True))
        for cut in range(len(segments), 1, -1):
            candidate = "/".join(segments[:cut])
            if candidate in names:
                return candidate, revision_resolve(repo, candidate), "/".join(segments[cut:])
    return segments[0], revision_resolve(repo, segments[0]), "/".join(segments[1:])


def head_commit(repo: Repository, branch: str = "main") -> Commit:
    return revision_resolve(repo, branch)


def tree_entries(commit: Commit) -> list[TreeEntry]:
    """Every file of a commit with its blob, sorted by path (one query)."""
    return list(TreeEntry.objects.filter(commit=commit).select_related("blob").order_by("path"))


def pickle_paths(commit: Commit, *, limit: int = 20) -> list[str]:
    """The first `limit` + 1 paths (by name) whose bytes are in a pickle-based format: one query."""
    entries = TreeEntry.objects.filter(commit=commit, blob__is_pickle=True).order_by("path")
    return list(entries.values_list("path", flat=True)[: limit + 1])


def file_entry(commit: Commit, path: str) -> TreeEntry:
    entry = TreeEntry.objects.select_related("blob").filter(commit=commit, path=path).first()
    if entry is None:
        raise EntryNotFound(f"{path} does not exist at {commit.oid[:7]}.", commit_oid=commit.oid)
    return entry


@dataclass(frozen=True)
class TreeItem:
    """A file or a folder in a directory listing."""

    path: str
    is_dir: bool
    size: int = 0
    blob: Blob | None = None

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


def tree_listing(commit: Commit, folder: str = "", *, recursive: bool = False) -> list[TreeItem]:
    """Files and folders under `folder` (the root when empty). EntryNotFound if the folder is missing."""
    prefix = f"{folder.strip('/')}/" if folder.strip("/") else ""
    entries = TreeEntry.objects.filter(commit=commit).select_related("blob").order_by("path")
    if prefix:
        entries = entries.filter(path__startswith=prefix)
    items: dict[str, TreeItem] = {}
    for entry in entries:
        rest = entry.path[len(prefix) :]
        parts = rest.split("/")
        for depth in range(1, len(parts)):
            folder_path = prefix + "/".join(parts[:depth])
            if recursive or depth == 1:
                items.setdefault(folder_path, TreeItem(path=folder_path, is_dir=True))
            if not recursive:
                break
        if recursive or len(parts) == 1:
            items[entry.path] = TreeItem(path=entry.path, is_dir=False, size=entry.blob.size, blob=entry.blob)
    if prefix and not items:
        raise EntryNotFound(f"{folder} does not exist at {commit.oid[:7]}.", commit_oid=commit.oid)
    return sorted(items.values(), key=lambda item: (not item.is_dir, item.path))


@dataclass(frozen=True)
class FileChange:
    path: str
    status: str  # added | modified | deleted
    size: int
    old_blob: Blob | None = None  # before the commit (None when added)
    new_blob: Blob | None = None  # after it (None when deleted)


def commit_changes(commit: Commit) -> list[FileChange]:
    """Files added, modified and deleted by a commit, compared with its parent."""
    new = {e.path: e.blob for e in tree_entries(commit)}
    old = {e.path: e.blob for e in tree_entries(commit.parent)} if commit.parent_id else {}
    changes = []
    for path in sorted(set(new) | set(old)):
        before, after = old.get(path), new.get(path)
        if before is None:
            changes.append(FileChange(path, "added", after.size, None, after))
        elif after is None:
            changes.append(FileChange(path, "deleted", before.size, before, None))
        elif after.sha256 != before.sha256:
            changes.append(FileChange(path, "modified", after.size, before, after))
    return changes


@dataclass(frozen=True)
class PathHistory:
    commits: list[Commit]  # newest first: each added, changed or deleted the path
    older: Commit | None  # the oldest commit looked at when the history goes on: the next page starts below it


def path_history(repo: Repository, start: Commit, path: str, *, limit: int, scan: int | None = None) -> PathHistory:
    """The commits from `start` back (itself included) that changed the file at `path`, newest first.

    One recursive query walks at most `scan` ancestors, reading the blob at `path` in each through the
    (commit, path) index; a second loads the first `limit` commits that changed it, with their authors. A
    commit changed the file when its blob there differs from its parent's. `older` is set when the history
    may go on: a change beyond `limit` was seen, or the walk stopped before the first commit.
    """
    scan = PATH_HISTORY_SCAN if scan is None else scan  # read at call time: a test may lower it
    quote = connection.ops.quote_name
    table, entries = quote(Commit._meta.db_table), quote(TreeEntry._meta.db_table)
    pk, parent, repository = (quote(Commit._meta.get_field(name).column) for name in ("id", "parent", "repository"))
    entry_commit, entry_path, entry_blob = (
        quote(TreeEntry._meta.get_field(name).column) for name in ("commit", "path", "blob")
    )
    sql = f"""
        WITH RECURSIVE walk(commit_id, parent_id, depth) AS (
            SELECT {pk}, {parent}, 0 FROM {table} WHERE {pk} = %s AND {repository} = %s
            UNION ALL
            SELECT c.{pk}, c.{parent}, walk.depth + 1 FROM {table} c JOIN walk ON c.{pk} = walk.parent_id
            WHERE walk.depth + 1 <= %s AND c.{repository} = %s
        )
        SELECT walk.commit_id, walk.parent_id, e.{entry_blob} FROM walk
        LEFT JOIN {entries} e ON e.{entry_commit} = walk.commit_id AND e.{entry_path} = %s
        ORDER BY walk.depth
    """  # noqa: S608 - table and column names come from the models, quoted; every value is bound
    with connection.cursor() as cursor:
        cursor.execute(sql, [start.pk, repo.pk, scan, repo.pk, path])
        rows = cursor.fetchall()
    changed: list[int] = []
    older_id = None
    seen: set[int] = set()
    for index, (commit_id, parent_id, blob_id) in enumerate(rows):
        if commit_id in seen:  # a (corrupt) cycle of parents ends the history
            break
        seen.add(commit_id)
        if parent_id is not None and not (index + 1 < len(rows) and rows[index + 1][0] == parent_id):
            # The walk stopped before this commit's parent: the next page starts at this commit.
            older_id = changed[-1] if len(changed) == limit else rows[index - 1][0] if index else None
            break
        parent_blob = rows[index + 1][2] if parent_id is not None else None
        if blob_id != parent_blob:
            if len(changed) == limit:  # one more exists: the next page starts below the last one shown
                older_id = changed[-1]
                break
            changed.append(commit_id)
    found = Commit.objects.select_related("author").in_bulk([*changed, *([older_id] if older_id else [])])
    return PathHistory([found[pk] for pk in changed], found.get(older_id) if older_id else None)


def commit_history(repo: Repository, commit: Commit, *, offset: int = 0, limit: int | None = None) -> list[Commit]:
    """The commit and its ancestors, newest first: `limit` of them after skipping the `offset` newest.

    One recursive query follows the parent pointers from `commit` and stops after offset + limit steps, so a page
    costs its size plus the walk, never the whole repository; a second query loads the authors. Without a limit
    the walk stops at HISTORY_WALK_CAP commits, which also ends a (corrupt) cycle of parents.
    """
    end = min(offset + limit if limit is not None else HISTORY_WALK_CAP, HISTORY_MAX_DEPTH)
    if offset >= end:
        return []
    quote = connection.ops.quote_name
    table = quote(Commit._meta.db_table)
    pk, parent, repository = (quote(Commit._meta.get_field(name).column) for name in ("id", "parent", "repository"))
    sql = f"""
        WITH RECURSIVE walk(commit_id, parent_id, depth) AS (
            SELECT {pk}, {parent}, 0 FROM {table} WHERE {pk} = %s AND {repository} = %s
            UNION ALL
            SELECT c.{pk}, c.{parent}, walk.depth + 1 FROM {table} c JOIN walk ON c.{pk} = walk.parent_id
            WHERE walk.depth + 1 < %s AND c.{repository} = %s
        )
        SELECT c.* FROM walk JOIN {table} c ON c.{pk} = walk.commit_id WHERE walk.depth >= %s ORDER BY walk.depth
    """  # noqa: S608 - table and column names come from the model, quoted; every value is bound
    history: list[Commit] = []
    seen: set[int] = set()
    for row in Commit.objects.raw(sql, [commit.pk, repo.pk, end, repo.pk, offset]).iterator():
        if row.pk in seen:  # a cycle of parents: the history ends where it starts repeating
            break
        seen.add(row.pk)
        history.append(row)
    prefetch_related_objects(history, "author")
    return history


PROFILE_PAGE_SIZE = 30


def profile_repo_page(
    *, viewer: User | None, kind: str, owner: User | None = None, organization=None, number: object = 1
) -> Page:
    """One page of the `kind` repositories of a user or an organisation that `viewer` may see, most
    recently updated first: two queries (the count and the rows), however many there are."""
    repos = Repository.objects.visible_to(viewer).filter(kind=kind)
    repos = repos.filter(owner=owner) if owner is not None else repos.filter(organization=organization)
    return Paginator(repos.order_by("-updated_at", "-id"), PROFILE_PAGE_SIZE).get_page(number)
