"""The write side of the Hugging Face Hub protocol: repos, commits, refs, settings, likes.

Every view is thin: parse the request, look the repository up with the permission selectors,
call a service. The commit body is parsed as a stream (commit_stream) and never read whole.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse, UnreadablePostError
from django.middleware.csrf import CsrfViewMiddleware

from accounts.models import User
from models_hub import cards, services
from models_hub.errors import BadRequest, Conflict, HubError, PayloadTooLarge, RevisionNotFound
from models_hub.gitignore import ignored_paths
from models_hub.hub_api.commit_stream import ParsedCommit, parse_commit_stream
from models_hub.hub_api.common import (
    get_write_access,
    hub_endpoint,
    hub_error,
    method_not_allowed,
    repo_kind,
    require_writer,
)
from models_hub.models import Blob, Ref, Repository, TreeEntry
from models_hub.selectors import blobs_usable_by, repo_access_any_case, revision_resolve
from models_hub.services.quotas import quota_check
from models_hub.services.upload_checks import check_parent, check_received_file, clean_path
from models_hub.storage.blobs import NewBlobs

KIND_OF_TYPE = {None: Repository.Kind.MODEL, "model": Repository.Kind.MODEL, "dataset": Repository.Kind.DATASET}
MAX_PREUPLOAD_FILES = 1000
NO_PULL_REQUESTS = "Pull requests are not supported by this server: commit to a branch instead (create_pr=False)."
LFS_HINT = (
    "Large files go through Git LFS on this server, which does not speak Xet: if the upload fails on "
    "'xet-write-token', set HF_HUB_DISABLE_XET=1 and retry."
)
XET_DISABLED = (
    "Xet uploads are not supported by this server. Set the environment variable HF_HUB_DISABLE_XET=1 "
    "(or uninstall hf_xet) and retry: large files then go through Git LFS."
)


def _csrf_rejected(request: HttpRequest) -> bool:
    """A browser session must prove same-origin; API tokens are not sent by browsers on their own."""
    return CsrfViewMiddleware(lambda _request: HttpResponse()).process_view(request, None, (), {}) is not None


def hub_write(*methods: str) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """hub_endpoint for `methods` only. Session-authenticated calls must pass Django's CSRF check."""
    allowed = set(methods)

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @hub_endpoint
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if request.method not in allowed:
                return method_not_allowed(request, allowed)
            if request.hub_user is not None and request.hub_token is None and _csrf_rejected(request):
                return hub_error(403, "CSRF check failed: send the X-CSRFToken header, or use an API token.")
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def json_body(request: HttpRequest) -> dict[str, Any]:
    try:
        raw = request.body
    except RequestDataTooBig:
        raise PayloadTooLarge("The request body is too large.") from None
    except UnreadablePostError as exc:
        raise BadRequest(str(exc)) from None
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: absurdly nested arrays
        raise BadRequest("The request body must be JSON.") from None
    if not isinstance(data, dict):
        raise BadRequest("The request body must be a JSON object.")
    return data


def optional_str(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise BadRequest(f"'{key}' must be a string.")
    return value


def _named_repo(data: dict[str, Any], user: User) -> tuple[str, str]:
    """(namespace, name) of create/delete bodies: `name`, under `organization` or else the caller."""
    name = optional_str(data, "name")
    if not name:
        raise BadRequest("'name' is required.")
    return optional_str(data, "organization") or user.username, name


def _kind_of(data: dict[str, Any]) -> str:
    repo_type = data.get("type")
    if repo_type == "space":
        raise BadRequest("Spaces are not supported by this server: use a model or a dataset repository.")
    if not (repo_type is None or isinstance(repo_type, str)) or repo_type not in KIND_OF_TYPE:
        raise BadRequest(f"Unknown repository type {repr(repo_type)[:100]}: use 'model' or 'dataset'.")
    return KIND_OF_TYPE[repo_type]


def _private_flag(data: dict[str, Any]) -> bool | None:
    """`private` (clients before 1.20) or `visibility` (1.20 and later); None when neither is given."""
    visibility = data.get("visibility")
    if visibility is not None:
        if visibility not in ("private", "public"):
            raise BadRequest(f"Unknown visibility {repr(visibility)[:100]}: use 'private' or 'public'.")
        return visibility == "private"
    private = data.get("private")
    if private is not None and not isinstance(private, bool):
        raise BadRequest("'private' must be true or false.")
    return private


def _gate_value(data: dict[str, Any]) -> str | None:
    """`gated`: false (open), "auto" or "manual"; None when not given."""
    gated = data.get("gated")
    if gated is None:
        return None
    if gated is False or gated == "false":
        return Repository.Gate.OFF
    if gated in (Repository.Gate.AUTO, Repository.Gate.MANUAL):
        return gated
    raise BadRequest(f"Unknown gate {repr(gated)[:100]}: use false, 'auto' or 'manual'.")


def _truthy(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true", "yes")


def repo_url(request: HttpRequest, repo: Repository) -> str:
    return request.build_absolute_uri(repo.get_absolute_url())


def _writable_repo(request: HttpRequest, repo_type: str, namespace: str, name: str) -> Repository:
    return get_write_access(request, repo_type, namespace, name).require_write().repo


def _administrable_repo(request: HttpRequest, kind: str, namespace: str, name: str) -> Repository:
    return repo_access_any_case(request.hub_user, kind=kind, namespace=namespace, name=name).require_admin().repo


def _split_repo_id(value: Any, field: str) -> tuple[str, str]:
    if not isinstance(value, str) or value.count("/") != 1:
        raise BadRequest(f"'{field}' must be a repository id like 'namespace/name'.")
    namespace, name = value.split("/")
    return namespace, name


# Repositories


@hub_write("POST")
def repo_create(request: HttpRequest) -> HttpResponse:
    user = require_writer(request)
    data = json_body(request)
    namespace, name = _named_repo(data, user)
    kind = _kind_of(data)
    try:
        repo = services.repo_create(
            kind=kind, namespace=namespace, name=name, creator=user, private=bool(_private_flag(data))
        )
    except Conflict as exc:
        # With exist_ok the client reads "url" from this 409 body, as the Hub sends it.
        existing = Repository.objects.filter(kind=kind, namespace__iexact=namespace, name__iexact=name).first()
        body = {"error": exc.message, "url": repo_url(request, existing)} if existing else {"error": exc.message}
        response = JsonResponse(body, status=exc.status)
        response["X-Error-Message"] = exc.message
        return response
    return JsonResponse({"url": repo_url(request, repo), "name": repo.repo_id, "id": repo.repo_id})


@hub_write("DELETE")
def repo_delete(request: HttpRequest) -> HttpResponse:
    user = require_writer(request)
    data = json_body(request)
    namespace, name = _named_repo(data, user)
    repo = _administrable_repo(request, _kind_of(data), namespace, name)
    services.repo_delete(repo=repo)
    return JsonResponse({"success": True})


@hub_write("POST")
def repo_move(request: HttpRequest) -> HttpResponse:
    user = require_writer(request)
    data = json_body(request)
    old_namespace, old_name = _split_repo_id(data.get("fromRepo"), "fromRepo")
    new_namespace, new_name = _split_repo_id(data.get("toRepo"), "toRepo")
    repo = _administrable_repo(request, _kind_of(data), old_namespace, old_name)
    repo = services.repo_move(repo=repo, new_namespace=new_namespace, new_name=new_name, user=user)
    return JsonResponse({"url": repo_url(request, repo), "name": repo.repo_id})


@hub_write("PUT")
def repo_settings(request: HttpRequest, repo_type: str, namespace: str, name: str) -> HttpResponse:
    require_writer(request)
    repo = _administrable_repo(request, repo_kind(repo_type), namespace, name)
    data = json_body(request)
    services.repo_update_settings(repo=repo, private=_private_flag(data), gated=_gate_value(data))
    return JsonResponse({"private": repo.private, "gated": repo.gated or False})


@hub_write("POST", "DELETE")
def repo_like(request: HttpRequest, repo_type: str, namespace: str, name: str) -> HttpResponse:
    user = require_writer(request)
    repo = get_write_access(request, repo_type, namespace, name).repo
    repo = services.like_set(user=user, repo=repo, liked=request.method == "POST")
    return JsonResponse({"likes": repo.likes_count})


def _yaml_verdict(status: int, errors: Sequence[str], warnings: Sequence[str] = ()) -> JsonResponse:
    """The public hub's answer: the client prints each warning, and each error of a 400 as ValueError."""
    body = {"errors": [{"message": m} for m in errors], "warnings": [{"message": m} for m in warnings]}
    return JsonResponse(body, status=status)


@hub_endpoint
def validate_yaml(request: HttpRequest) -> HttpResponse:
    """README.md metadata check; the client reads the JSON before the status, so always answer JSON."""
    if request.method != "POST":
        return hub_error(405, f"Method {request.method} is not allowed here.")
    try:
        data = json_body(request)
    except HubError as exc:
        return _yaml_verdict(exc.status, [exc.message])
    content, repo_type = data.get("content"), data.get("repoType") or "model"
    if not isinstance(content, str):
        return _yaml_verdict(400, ["'content' must be a string: the text of README.md."])
    if repo_type not in ("model", "dataset", "space"):
        return _yaml_verdict(400, ["'repoType' must be 'model', 'dataset' or 'space'."])
    card = cards.parse_card(content, kind=repo_type)
    return _yaml_verdict(400 if card.errors else 200, card.errors, card.warnings)


# Uploads


def _lfs_mode(size: int) -> bool:
    threshold = settings.FLYWHEEL_LFS_UPLOAD_THRESHOLD
    return threshold > 0 and size > 0 and size >= threshold


@hub_write("POST")
def preupload(request: HttpRequest, repo_type: str, namespace: str, name: str, revision: str) -> HttpResponse:
    """Upload mode per file: regular (inline in the commit) unless LFS is enabled and the file is big.

    `oid` is the current file's id (git blob sha1 for regular files, sha256 for LFS ones), so the
    client leaves unchanged files out of the commit. `shouldIgnore` marks paths the `.gitignore`
    ignores (the one being uploaded, sent as `gitIgnore`, else the repository's): the client skips them.
    """
    require_writer(request)
    repo = _writable_repo(request, repo_type, namespace, name)
    if _truthy(request.GET.get("create_pr")):
        raise BadRequest(NO_PULL_REQUESTS)
    body = json_body(request)
    files, gitignore = body.get("files"), optional_str(body, "gitIgnore")
    if not isinstance(files, list) or len(files) > MAX_PREUPLOAD_FILES:
        raise BadRequest(f"'files' must be a list of at most {MAX_PREUPLOAD_FILES} entries.")
    wanted: list[tuple[str, int]] = []
    for item in files:
        path, size = (item.get("path"), item.get("size", 0)) if isinstance(item, dict) else (None, None)
        if not isinstance(path, str) or not isinstance(size, int) or size < 0:
            raise BadRequest("Each file needs a string 'path' and a non-negative integer 'size'.")
        clean_path(path)
        if size > settings.FLYWHEEL_MAX_UPLOAD_BYTES:  # refuse before the client sends gigabytes
            raise PayloadTooLarge(f"{path} is larger than the limit of {settings.FLYWHEEL_MAX_UPLOAD_BYTES:,} bytes.")
        wanted.append((path, size))
    commit = revision_resolve(repo, revision)
    current = {
        entry.path: entry.blob
        for entry in TreeEntry.objects.filter(commit=commit, path__in=[p for p, _ in wanted]).select_related("blob")
    }
    ignored = ignored_paths(commit=commit, paths=[path for path, _ in wanted], gitignore=gitignore)
    # Before the client sends any bytes: files that may be new (not the same size at the same path)
    # must fit in the storage quota. The commit checks again, exactly.
    changed = [(None, size) for path, size in wanted if path not in ignored and _may_change(current.get(path), size)]
    quota_check(repo=repo, files=changed)
    answer = []
    for path, size in wanted:
        lfs = _lfs_mode(size)
        blob = current.get(path)
        oid = None if blob is None else (blob.sha256 if lfs else blob.git_oid or None)
        mode = "lfs" if lfs else "regular"
        answer.append({"path": path, "uploadMode": mode, "shouldIgnore": path in ignored, "oid": oid})
    response = JsonResponse({"files": answer, "commitOid": commit.oid})
    if any(item["uploadMode"] == "lfs" for item in answer):
        # hf_xet fetches xet-write-token itself and shows only "404" on failure; the client logs this header.
        response["X-HF-Warning"] = f"flywheel-lfs; {LFS_HINT}"
    return response


def _may_change(blob: Blob | None, size: int) -> bool:
    return blob is None or blob.size != size


def _branch_head_oid(repo: Repository, branch: str) -> str:
    oid = Ref.objects.filter(repository=repo, kind=Ref.Kind.BRANCH, name=branch).values_list("commit__oid", flat=True)
    found = oid.first()
    if found is None:
        raise RevisionNotFound(f"Invalid rev id: {branch} (commits go to an existing branch).")
    return found


def _refuse_stale_parent(head_oid: str, branch: str) -> Callable[[ParsedCommit], None]:
    """The parent check, as soon as the header line arrives: before gigabytes of files are received."""

    def check(parsed: ParsedCommit) -> None:
        check_parent(head_oid=head_oid, parent_oid=parsed.parent_commit, branch=branch)

    return check


def _lfs_blobs(parsed: ParsedCommit, user: User) -> dict[str, Blob]:
    """The stored blob of each lfsFile; 400 naming the path when it was never uploaded or differs.

    Only blobs the committer uploaded or may download count: a hash alone must not copy someone
    else's private or gated file (and a refusal reads the same as "never uploaded").
    """
    oids = blobs_usable_by(user, {ref.oid for ref in parsed.lfs_files.values()})
    blobs = {blob.sha256: blob for blob in Blob.objects.filter(sha256__in=oids)}
    found: dict[str, Blob] = {}
    for path, ref in parsed.lfs_files.items():
        blob = blobs.get(ref.oid)
        if blob is None:
            raise BadRequest(f"{path}: the LFS object {ref.oid} was never uploaded; upload it before committing.")
        if ref.size is not None and ref.size != blob.size:
            raise BadRequest(f"{path}: the LFS object {ref.oid} has {blob.size} bytes, not {ref.size}.")
        found[path] = blob
    return found


def _additions(parsed: ParsedCommit, user: User, stored: NewBlobs) -> list[services.FileAddition]:
    """Check what can be checked first, then store the streamed files as blobs."""
    for path, streamed in parsed.files.items():
        check_received_file(path, streamed.temp_path, streamed.size)
    lfs = _lfs_blobs(parsed, user)
    additions = [services.FileAddition(path, blob) for path, blob in lfs.items()]
    for path in list(parsed.files):
        streamed = parsed.files.pop(path)
        blob = stored.from_temp_file(path=streamed.temp_path, sha256=streamed.sha256, size=streamed.size)
        additions.append(services.FileAddition(path, blob))
    return additions


@hub_write("POST")
def commit(request: HttpRequest, repo_type: str, namespace: str, name: str, revision: str) -> HttpResponse:
    """NDJSON commit: header, file (base64, streamed to disk), lfsFile, deletedFile, deletedFolder."""
    user: User = require_writer(request)
    repo = _writable_repo(request, repo_type, namespace, name)
    if _truthy(request.GET.get("create_pr")):
        raise BadRequest(NO_PULL_REQUESTS)
    head_oid = _branch_head_oid(repo, revision)
    try:
        parsed = parse_commit_stream(request.read, on_header=_refuse_stale_parent(head_oid, revision))
    except UnreadablePostError as exc:  # the connection dropped: what arrived must not be applied
        raise BadRequest(f"{exc} Nothing was committed.") from None
    try:
        with NewBlobs() as stored:  # a refused commit leaves no blob behind
            new_commit = services.commit_create(
                repo=repo,
                author=user,
                title=parsed.summary,
                description=parsed.description,
                branch=revision,
                additions=_additions(parsed, user, stored),
                deletions=parsed.deleted_files,
                deleted_folders=parsed.deleted_folders,
                parent_oid=parsed.parent_commit,
            )
    finally:
        parsed.discard()
    return JsonResponse(
        {
            "commitOid": new_commit.oid,
            "commitUrl": f"{repo_url(request, repo)}/commit/{new_commit.oid}",
            "pullRequestUrl": None,
            "success": True,
        }
    )


@hub_endpoint
def xet_write_token(request: HttpRequest, repo_type: str, namespace: str, name: str, revision: str) -> HttpResponse:
    """hf_xet (huggingface_hub >= 1.20) asks for this for `lfs`-mode files; there is no Xet CAS here."""
    return hub_error(404, XET_DISABLED)


# Branches and tags


@hub_write("POST", "DELETE")
def branch(request: HttpRequest, repo_type: str, namespace: str, name: str, branch_name: str) -> HttpResponse:
    require_writer(request)
    repo = _writable_repo(request, repo_type, namespace, name)
    if request.method == "DELETE":
        services.branch_delete(repo=repo, name=branch_name)
        return JsonResponse({"success": True})
    start = optional_str(json_body(request), "startingPoint")
    try:
        ref = services.branch_create(repo=repo, name=branch_name, start_revision=start)
    except BadRequest as exc:
        raise BadRequest(f"Invalid reference for a branch: {exc.message}") from None
    return JsonResponse({"name": ref.name, "ref": ref.full_name, "targetCommit": ref.commit.oid})


@hub_write("POST", "DELETE")
def tag(request: HttpRequest, repo_type: str, namespace: str, name: str, revision: str) -> HttpResponse:
    """POST .../tag/{revision} {"tag": name} creates a tag; DELETE .../tag/{tag} removes one."""
    require_writer(request)
    repo = _writable_repo(request, repo_type, namespace, name)
    if request.method == "DELETE":
        services.tag_delete(repo=repo, name=revision)
        return JsonResponse({"success": True})
    tag_name = optional_str(json_body(request), "tag")
    if not tag_name:
        raise BadRequest("'tag' is required.")
    try:
        ref = services.tag_create(repo=repo, name=tag_name, revision=revision)
    except BadRequest as exc:
        raise BadRequest(f"Invalid reference for a tag: {exc.message}") from None
    return JsonResponse({"name": ref.name, "ref": ref.full_name, "targetCommit": ref.commit.oid})
