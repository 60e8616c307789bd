"""Writes to repositories: creation, commits, refs, settings, likes. Views and the Hub API call these."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import Membership, Organization, User
from accounts.validators import validate_hub_name
from models_hub import cards
from models_hub.blobs import blob_open, blob_store_bytes
from models_hub.errors import (
    BadRequest,
    Conflict,
    EntryNotFound,
    Forbidden,
    NotFound,
    PreconditionFailed,
    RevisionNotFound,
)
from models_hub.models import (
    AccessRequest,
    Blob,
    Commit,
    Like,
    Ref,
    RepoRedirect,
    Repository,
    RepoTag,
    TreeEntry,
    is_pickle_path,
)
from models_hub.paths import InvalidPath, normalize_folder_path, normalize_repo_path
from models_hub.refnames import validate_ref_name
from models_hub.safetensors_check import InvalidSafetensors, read_safetensors_header
from models_hub.search import repo_facets_invalidate

DEFAULT_GITATTRIBUTES = b"""*.7z filter=lfs diff=lfs merge=lfs -text
*.bin filter=lfs diff=lfs merge=lfs -text
*.ckpt filter=lfs diff=lfs merge=lfs -text
*.gguf filter=lfs diff=lfs merge=lfs -text
*.h5 filter=lfs diff=lfs merge=lfs -text
*.onnx filter=lfs diff=lfs merge=lfs -text
*.parquet filter=lfs diff=lfs merge=lfs -text
*.pkl filter=lfs diff=lfs merge=lfs -text
*.pt filter=lfs diff=lfs merge=lfs -text
*.pth filter=lfs diff=lfs merge=lfs -text
*.safetensors filter=lfs diff=lfs merge=lfs -text
*.tar.gz filter=lfs diff=lfs merge=lfs -text
*.zip filter=lfs diff=lfs merge=lfs -text
"""


@dataclass(frozen=True)
class FileAddition:
    path: str
    blob: Blob


@dataclass(frozen=True)
class FileCopy:
    src_path: str
    dest_path: str
    src_revision: str | None = None  # None: the head of the branch being committed to


def _validation_message(exc: ValidationError) -> str:
    return " ".join(exc.messages)


def namespace_check_writable(*, namespace: str, user: User) -> tuple[User | None, Organization | None]:
    """Return (owner, organization) for a repository created under `namespace` by `user`."""
    if namespace.lower() == user.username.lower():
        return user, None
    org = Organization.objects.filter(name__iexact=namespace).first()
    if org is None:
        raise Forbidden(f"You cannot create repositories under '{namespace}': no such user or organisation.")
    role = Membership.objects.filter(organization=org, user=user).values_list("role", flat=True).first()
    if role not in (Membership.Role.ADMIN, Membership.Role.WRITE) and not user.is_superuser:
        raise Forbidden(f"You don't have the rights to create repositories under '{org.name}'.")
    return None, org


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
) -> Commit:
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
    return commit


@transaction.atomic
def repo_create(*, kind: str, namespace: str, name: str, creator: User, private: bool = False) -> Repository:
    """Create a repository with its initial commit (a .gitattributes file, as on the public hub) on main."""
    if kind not in Repository.Kind.values:
        raise BadRequest(f"Unknown repository type {kind!r}: use 'model' or 'dataset'.")
    try:
        validate_hub_name(name)
    except ValidationError as exc:
        raise BadRequest(f"Invalid repository name '{name}': {_validation_message(exc)}") from None
    owner, org = namespace_check_writable(namespace=namespace, user=creator)
    canonical_namespace = owner.username if owner else org.name
    if Repository.objects.filter(kind=kind, namespace__iexact=canonical_namespace, name__iexact=name).exists():
        raise Conflict(f"You already created this {kind} repo: {canonical_namespace}/{name}")
    now = timezone.now()
    try:
        with transaction.atomic():
            repo = Repository.objects.create(
                kind=kind,
                namespace=canonical_namespace,
                name=name,
                owner=owner,
                organization=org,
                private=private,
                created_at=now,
                updated_at=now,
                # Searchable by its id from the start, before any README is committed.
                search_text=f"{canonical_namespace} {name}",
            )
    except IntegrityError:
        raise Conflict(f"You already created this {kind} repo: {canonical_namespace}/{name}") from None
    RepoRedirect.objects.filter(kind=kind, namespace__iexact=canonical_namespace, name__iexact=name).delete()
    attributes = blob_store_bytes(DEFAULT_GITATTRIBUTES)
    commit = _write_commit(
        repo=repo,
        parent=None,
        tree={".gitattributes": attributes.sha256},
        title="initial commit",
        description="",
        author=creator,
        when=now,
    )
    Ref.objects.create(repository=repo, kind=Ref.Kind.BRANCH, name="main", commit=commit)
    return repo


def _check_safetensors(path: str, blob: Blob) -> None:
    if not path.lower().endswith(".safetensors"):
        return
    try:
        with blob_open(blob) as handle:
            read_safetensors_header(handle, blob.size)
    except InvalidSafetensors as exc:
        raise BadRequest(f"{path} is not a valid safetensors file: {exc}") from None


def _check_no_file_folder_clash(tree: dict[str, str]) -> None:
    folders = set()
    for path in tree:
        parts = path.split("/")
        for i in range(1, len(parts)):
            folders.add("/".join(parts[:i]))
    clash = folders.intersection(tree)
    if clash:
        raise BadRequest(f"'{sorted(clash)[0]}' cannot be both a file and a folder.")


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

    All blobs are already stored; this checks them, then writes the commit in one transaction.
    Raises PreconditionFailed when `parent_oid` is given and is no longer the branch head.
    Re-sending the same commit (a retried request) returns the existing commit instead of a twin.
    """
    title = (title or "").strip()
    if not title:
        raise BadRequest("A commit needs a title (summary).")
    try:
        additions = [FileAddition(normalize_repo_path(a.path), a.blob) for a in additions]
        deletions = [normalize_repo_path(p) for p in deletions]
        deleted_folders = [normalize_folder_path(p) for p in deleted_folders]
        copies = [
            FileCopy(normalize_repo_path(c.src_path), normalize_repo_path(c.dest_path), c.src_revision) for c in copies
        ]
    except InvalidPath as exc:
        raise BadRequest(str(exc)) from None
    for addition in additions:
        _check_safetensors(addition.path, addition.blob)

    from models_hub.selectors import revision_resolve

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
        if parent_oid and not (len(parent_oid) >= 4 and head.oid.startswith(parent_oid.lower())):
            raise PreconditionFailed(
                f"A commit has happened since {parent_oid[:7]}: the head of {branch} is now {head.oid[:7]}. "
                "Please refresh and try again."
            )
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
            if path not in tree:
                raise EntryNotFound(f"Cannot delete {path}: no such file.", commit_oid=head.oid)
            del tree[path]
        for folder in deleted_folders:
            prefix = folder + "/"
            doomed = [p for p in tree if p.startswith(prefix)]
            if not doomed:
                raise EntryNotFound(f"Cannot delete folder {folder}: no such folder.", commit_oid=head.oid)
            for path in doomed:
                del tree[path]
        for addition in additions:
            tree[addition.path] = addition.blob.sha256
        _check_no_file_folder_clash(tree)
        if tree == old_tree and head.title == title[:500] and head.description == description:
            return head  # the same commit sent twice (a client retry): nothing new to record
        commit = _write_commit(
            repo=repo, parent=head, tree=tree, title=title, description=description, author=author, when=now
        )
        ref.commit = commit
        ref.save(update_fields=["commit", "updated_at"])
        _reindex(repo=repo, tree=tree if branch == "main" else None, when=now)
    from models_hub.tasks import commit_analyze

    # robust: the commit has landed; a broker outage must not turn that into an error for the user.
    transaction.on_commit(lambda: commit_analyze.delay(commit.pk), robust=True)
    return commit


def _reindex(*, repo: Repository, tree: dict[str, str] | None, when) -> None:
    """Refresh what listings and search read: card metadata, tags, the unsafe-file flag."""
    fields = ["updated_at"]
    repo.updated_at = when
    if tree is not None:
        readme_sha = tree.get("README.md")
        metadata: dict = {}
        body = ""
        if readme_sha:
            blob = Blob.objects.get(sha256=readme_sha)
            with blob_open(blob) as handle:
                text = handle.read(cards.MAX_CARD_BYTES).decode("utf-8", errors="replace")
            card = cards.parse_card(text)
            metadata, body = card.metadata, card.body
        indexed = cards.indexed_fields(metadata)
        tags = cards.card_tags(metadata)
        repo.card_data = metadata
        repo.summary = cards.summary_of(body)
        repo.license = indexed["license"]
        repo.pipeline_tag = indexed["pipeline_tag"]
        repo.library_name = indexed["library_name"]
        repo.has_unsafe_files = any(is_pickle_path(p) for p in tree)
        repo.search_text = _search_text(repo, tags)
        fields += ["card_data", "summary", "license", "pipeline_tag", "library_name", "has_unsafe_files", "search_text"]
        RepoTag.objects.filter(repository=repo).exclude(name__in=tags).delete()
        existing = set(RepoTag.objects.filter(repository=repo).values_list("name", flat=True))
        RepoTag.objects.bulk_create([RepoTag(repository=repo, name=t) for t in tags if t not in existing])
    repo.save(update_fields=fields)


def _search_text(repo: Repository, tags: Sequence[str]) -> str:
    """What full-text search matches: the id, the card's summary and its tags."""
    return " ".join([repo.namespace, repo.name, repo.summary, *tags])


def _check_new_ref_name(name: str) -> None:
    problem = validate_ref_name(name)
    if problem:
        raise BadRequest(problem)


def branch_create(*, repo: Repository, name: str, start_revision: str | None = None) -> Ref:
    from models_hub.selectors import revision_resolve

    _check_new_ref_name(name)
    start = revision_resolve(repo, start_revision or "main")
    try:
        with transaction.atomic():
            return Ref.objects.create(repository=repo, kind=Ref.Kind.BRANCH, name=name, commit=start)
    except IntegrityError:
        raise Conflict(f"Reference refs/heads/{name} already exists") from None


def branch_delete(*, repo: Repository, name: str) -> None:
    if name == "main":
        raise Forbidden("Cannot delete refs/heads/main")
    deleted, _ = Ref.objects.filter(repository=repo, kind=Ref.Kind.BRANCH, name=name).delete()
    if not deleted:
        raise RevisionNotFound(f"Invalid rev id: {name}")


def tag_create(*, repo: Repository, name: str, revision: str = "main") -> Ref:
    from models_hub.selectors import revision_resolve

    _check_new_ref_name(name)
    target = revision_resolve(repo, revision)
    try:
        with transaction.atomic():
            return Ref.objects.create(repository=repo, kind=Ref.Kind.TAG, name=name, commit=target)
    except IntegrityError:
        raise Conflict(f"Reference refs/tags/{name} already exists") from None


def tag_delete(*, repo: Repository, name: str) -> None:
    deleted, _ = Ref.objects.filter(repository=repo, kind=Ref.Kind.TAG, name=name).delete()
    if not deleted:
        raise RevisionNotFound(f"Invalid rev id: {name}")


@transaction.atomic
def repo_update_settings(*, repo: Repository, private: bool | None = None, gated: str | None = None) -> Repository:
    """Visibility and gate. Switching a gate to automatic approval accepts the requests still pending."""
    if private is not None and private != repo.private:
        repo.private = private
        repo.save(update_fields=["private"])
        transaction.on_commit(repo_facets_invalidate)
    if gated is not None and gated != repo.gated:
        if gated not in Repository.Gate.values:
            raise BadRequest(f"Invalid gate '{gated}': use false, 'auto' or 'manual'.")
        repo.gated = gated
        repo.save(update_fields=["gated"])
        if gated == Repository.Gate.AUTO:
            AccessRequest.objects.filter(repository=repo, status=AccessRequest.Status.PENDING).update(
                status=AccessRequest.Status.ACCEPTED, updated_at=timezone.now()
            )
    return repo


@transaction.atomic
def repo_move(*, repo: Repository, new_namespace: str, new_name: str, user: User) -> Repository:
    """Rename or transfer a repository; the old id keeps redirecting to the new one."""
    try:
        validate_hub_name(new_name)
    except ValidationError as exc:
        raise BadRequest(f"Invalid repository name '{new_name}': {_validation_message(exc)}") from None
    owner, org = namespace_check_writable(namespace=new_namespace, user=user)
    namespace = owner.username if owner else org.name
    clash = Repository.objects.filter(kind=repo.kind, namespace__iexact=namespace, name__iexact=new_name)
    if clash.exclude(pk=repo.pk).exists():
        raise Conflict(f"A {repo.kind} repo named {namespace}/{new_name} already exists.")
    RepoRedirect.objects.update_or_create(
        kind=repo.kind, namespace=repo.namespace, name=repo.name, defaults={"repository": repo}
    )
    RepoRedirect.objects.filter(kind=repo.kind, namespace__iexact=namespace, name__iexact=new_name).delete()
    repo.namespace, repo.name, repo.owner, repo.organization = namespace, new_name, owner, org
    tags = list(RepoTag.objects.filter(repository=repo).values_list("name", flat=True))
    repo.search_text = _search_text(repo, tags)
    repo.save(update_fields=["namespace", "name", "owner", "organization", "search_text"])
    transaction.on_commit(repo_facets_invalidate)
    return repo


@transaction.atomic
def repo_delete(*, repo: Repository) -> None:
    # Refs protect their commits, so they go first; commits, trees, likes then cascade with the repo.
    Ref.objects.filter(repository=repo).delete()
    repo.delete()
    transaction.on_commit(repo_facets_invalidate)


def like_set(*, user: User, repo: Repository, liked: bool) -> Repository:
    with transaction.atomic():
        if liked:
            _, created = Like.objects.get_or_create(user=user, repository=repo)
            delta = 1 if created else 0
        else:
            deleted, _ = Like.objects.filter(user=user, repository=repo).delete()
            delta = -deleted
        if delta:
            Repository.objects.filter(pk=repo.pk).update(likes_count=F("likes_count") + delta)
    repo.refresh_from_db(fields=["likes_count"])
    return repo


def repo_record_download(*, repo: Repository) -> None:
    Repository.objects.filter(pk=repo.pk).update(downloads=F("downloads") + 1)


# Gated repositories: who may download the files of a repo whose gate is on.

REQUEST_ID_RE = re.compile(r"[0-9]{1,18}")  # ASCII digits only: str.isdigit() also takes "²"


def _require_gate(repo: Repository) -> None:
    if not repo.gated:
        raise BadRequest(f"{repo.repo_id} is not gated: everyone who can see it can download its files.")


def access_request_submit(*, repo: Repository, user: User) -> AccessRequest:
    """Ask for access; accepted at once under automatic approval. Asking again changes nothing."""
    _require_gate(repo)
    if repo.is_member(user):
        raise BadRequest(f"You already have access to {repo.repo_id} as one of its maintainers.")
    now = timezone.now()
    status = AccessRequest.Status.ACCEPTED if repo.gated == Repository.Gate.AUTO else AccessRequest.Status.PENDING
    try:
        with transaction.atomic():
            request, _ = AccessRequest.objects.get_or_create(
                repository=repo, user=user, defaults={"status": status, "created_at": now, "updated_at": now}
            )
    except IntegrityError:  # the same user asked twice at the same moment
        request = AccessRequest.objects.get(repository=repo, user=user)
    return request


def _find_request(*, repo: Repository, username: str | None, request_id: str | None) -> AccessRequest:
    requests = AccessRequest.objects.select_related("user").filter(repository=repo)
    if username is not None:
        request = requests.filter(user__username__iexact=username).first()
        missing = f"There is no access request from '{username}' for {repo.repo_id}."
    else:
        valid = REQUEST_ID_RE.fullmatch(str(request_id))
        request = requests.filter(pk=int(request_id)).first() if valid else None
        missing = f"There is no access request '{request_id}' for {repo.repo_id}."
    if request is None:
        raise NotFound(missing)
    return request


@transaction.atomic
def access_request_decide(
    *,
    repo: Repository,
    actor: User,
    status: str,
    username: str | None = None,
    request_id: str | None = None,
    rejection_reason: str = "",
) -> AccessRequest:
    """Accept, reject, or move back to pending (which takes access away) one user's request."""
    _require_gate(repo)
    if status not in AccessRequest.Status.values:
        raise BadRequest(f"Invalid status '{status}': use 'accepted', 'rejected' or 'pending'.")
    if (username is None) == (request_id is None):
        raise BadRequest("Give either 'user' or 'requestId'.")
    request = _find_request(repo=repo, username=username, request_id=request_id)
    if request.status == status:
        raise NotFound(f"The access request from '{request.user.username}' is already {status}.")
    request.status = status
    request.rejection_reason = rejection_reason[:500] if status == AccessRequest.Status.REJECTED else ""
    request.decided_by = None if status == AccessRequest.Status.PENDING else actor
    request.updated_at = timezone.now()
    request.save(update_fields=["status", "rejection_reason", "decided_by", "updated_at"])
    return request


@transaction.atomic
def access_grant(*, repo: Repository, actor: User, username: str) -> AccessRequest:
    """Give a user access without waiting for them to ask."""
    _require_gate(repo)
    user = User.objects.filter(username__iexact=username).first()
    if user is None:
        raise NotFound(f"There is no user named '{username}'.")
    if repo.is_member(user):
        raise BadRequest(f"{user.username} already has access to {repo.repo_id} as one of its maintainers.")
    now = timezone.now()
    request, created = AccessRequest.objects.select_for_update().get_or_create(
        repository=repo,
        user=user,
        defaults={"status": AccessRequest.Status.ACCEPTED, "decided_by": actor, "created_at": now, "updated_at": now},
    )
    if not created:
        if request.status == AccessRequest.Status.ACCEPTED:
            raise BadRequest(f"{user.username} already has access to {repo.repo_id}.")
        request.status, request.decided_by, request.rejection_reason, request.updated_at = (
            AccessRequest.Status.ACCEPTED,
            actor,
            "",
            now,
        )
        request.save(update_fields=["status", "decided_by", "rejection_reason", "updated_at"])
    return request
