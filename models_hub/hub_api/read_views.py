"""The read side of the Hub protocol: repo info, trees, paths-info, refs, commits, whoami, listings.

Every view is a thin adapter: a selector or a query, then a shape from serializers.py.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from accounts.models import Membership
from models_hub.errors import BadRequest
from models_hub.gitattributes import lfs_rules_of_tree
from models_hub.hub_api import serializers
from models_hub.hub_api.common import (
    HubErrorUnauthorized,
    check_gate,
    hub_endpoint,
    hub_error,
    repo_kind,
    with_next_link,
)
from models_hub.hub_api.reading import find_access, find_repo, hub_read
from models_hub.hub_api.trees import FileRow, commit_rows, file_row, folder_listing, paths_info
from models_hub.models import Blob, Ref, Repository, TreeEntry
from models_hub.search import HUB_SORT_ALIASES, RepoQuery, repo_search
from models_hub.selectors import commit_history, revision_resolve, split_revision_and_path
from models_hub.storage.blobs import blob_open
from models_hub.storage.safetensors_check import InvalidSafetensors, parameter_counts, read_safetensors_header

TREE_PAGE = 1000
TREE_PAGE_EXPANDED = 50
COMMITS_PAGE = 50
LIST_PAGE_DEFAULT = 100
LIST_PAGE_MAX = 1000
TRUE_VALUES = ("1", "true", "True", "yes")
# What the client's agent detection expects (a list here would crash the `hf` CLI).
EMPTY_HARNESS_REGISTRY = {"standardEnvVars": [], "harnesses": {}}


def _flag(value: str | None) -> bool:
    return value in TRUE_VALUES


def _int_param(request: HttpRequest, name: str, default: int) -> int:
    raw = request.GET.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"'{name}' must be an integer.") from None
    if value < 0:
        raise BadRequest(f"'{name}' must not be negative.")
    return value


# --- Repo info ---------------------------------------------------------------------------------


def _safetensors_info(repo: Repository, rows: list[FileRow]) -> dict | None:
    """Parameter counts per dtype, read from the headers of this revision's safetensors files."""
    if repo.kind != Repository.Kind.MODEL or repo.parameter_count is None:
        return None
    counts: dict[str, int] = {}
    for row in rows:
        if not row.path.endswith(".safetensors"):
            continue
        try:
            with blob_open(Blob(sha256=row.sha256, size=row.size)) as handle:
                tensors = read_safetensors_header(handle, row.size)
        except (InvalidSafetensors, OSError):
            continue
        for dtype, count in parameter_counts(tensors).items():
            counts[dtype] = counts.get(dtype, 0) + count
    if not counts:
        return {"parameters": {}, "total": repo.parameter_count}
    return {"parameters": counts, "total": sum(counts.values())}


@hub_read("GET", "HEAD")
def repo_info(
    request: HttpRequest, repo_type: str, namespace: str, name: str, revision: str | None = None
) -> HttpResponse:
    repo = find_repo(request, repo_type, namespace, name)
    commit = revision_resolve(repo, revision or "main")
    rows = commit_rows(commit)
    data = serializers.repo_info_json(
        repo,
        commit=commit,
        rows=rows,
        tags=list(repo.tag_rows.order_by("pk").values_list("name", flat=True)),
        blobs=_flag(request.GET.get("blobs")),
        safetensors=_safetensors_info(repo, rows),
    )
    return JsonResponse(data)


# --- Trees -------------------------------------------------------------------------------------


@hub_read("GET")
def tree(request: HttpRequest, repo_type: str, namespace: str, name: str, rest: str) -> HttpResponse:
    repo = find_repo(request, repo_type, namespace, name)
    _revision, commit, folder = split_revision_and_path(repo, rest)
    expand = _flag(request.GET.get("expand"))
    items = folder_listing(commit, folder, recursive=_flag(request.GET.get("recursive")))
    page = TREE_PAGE_EXPANDED if expand else TREE_PAGE
    start = _int_param(request, "cursor", 0)
    chunk = items[start : start + page]
    last_commit = commit if expand else None
    response = JsonResponse([serializers.tree_item_json(i, last_commit=last_commit) for i in chunk], safe=False)
    if start + page < len(items):
        with_next_link(response, request, cursor=start + page)
    return response


@hub_read("POST")
def paths_info_view(request: HttpRequest, repo_type: str, namespace: str, name: str, revision: str) -> HttpResponse:
    repo = find_repo(request, repo_type, namespace, name)
    commit = revision_resolve(repo, revision)
    expand = _flag(request.POST.get("expand"))
    items = paths_info(commit, request.POST.getlist("paths"))
    last_commit = commit if expand else None
    return JsonResponse([serializers.tree_item_json(i, last_commit=last_commit) for i in items], safe=False)


# --- Refs and commits --------------------------------------------------------------------------


@hub_read("GET")
def refs(request: HttpRequest, repo_type: str, namespace: str, name: str) -> HttpResponse:
    repo = find_repo(request, repo_type, namespace, name)
    all_refs = list(Ref.objects.filter(repository=repo).select_related("commit").order_by("name"))
    data: dict = {
        "branches": [serializers.ref_json(r, r.commit.oid) for r in all_refs if r.kind == Ref.Kind.BRANCH],
        "converts": [],
        "tags": [serializers.ref_json(r, r.commit.oid) for r in all_refs if r.kind == Ref.Kind.TAG],
    }
    if _flag(request.GET.get("include_prs")):
        data["pullRequests"] = []
    return JsonResponse(data)


@hub_read("GET")
def commits(request: HttpRequest, repo_type: str, namespace: str, name: str, revision: str) -> HttpResponse:
    repo = find_repo(request, repo_type, namespace, name)
    commit = revision_resolve(repo, revision)
    page = _int_param(request, "p", 0)
    # One commit past the page says whether a next page exists.
    history = commit_history(repo, commit, offset=page * COMMITS_PAGE, limit=COMMITS_PAGE + 1)
    formatted = "formatted" in request.GET.getlist("expand[]") + request.GET.getlist("expand")
    chunk = history[:COMMITS_PAGE]
    response = JsonResponse([serializers.commit_json(c, formatted=formatted) for c in chunk], safe=False)
    if len(history) > COMMITS_PAGE:
        with_next_link(response, request, p=page + 1)
    return response


# --- Identity ----------------------------------------------------------------------------------


@hub_read("GET")
def whoami(request: HttpRequest) -> HttpResponse:
    user, token = request.hub_user, request.hub_token
    if user is None or token is None:
        raise HubErrorUnauthorized("Invalid credentials in Authorization header")
    memberships = Membership.objects.filter(user=user).select_related("organization").order_by("organization__name")
    return JsonResponse(
        {
            "type": "user",
            "id": str(user.pk),
            "name": user.username,
            "fullname": user.full_name or user.username,
            "email": user.email or None,
            "emailVerified": _email_verified(user),
            "isPro": False,
            "canPay": False,
            "avatarUrl": "",
            "orgs": [
                {
                    "type": "org",
                    "name": m.organization.name,
                    "fullname": m.organization.full_name or m.organization.name,
                    "roleInOrg": m.role,
                }
                for m in memberships
            ],
            "auth": {"type": "access_token", "accessToken": {"displayName": token.name, "role": token.scope}},
        }
    )


def _email_verified(user) -> bool:
    from allauth.account.models import EmailAddress

    return EmailAddress.objects.filter(user=user, email__iexact=user.email, verified=True).exists()


@hub_read("GET")
def auth_check(request: HttpRequest, repo_type: str, namespace: str, name: str, write: bool = False) -> HttpResponse:
    access = find_access(request, repo_type, namespace, name)
    if write:
        access.require_write()
    check_gate(request, access)
    asked = access.access_request
    return JsonResponse({"accessRequest": {"status": asked.status} if asked else None})


# --- Listings ----------------------------------------------------------------------------------


def _list_page_size() -> int:
    return getattr(settings, "FLYWHEEL_HUB_LIST_PAGE_SIZE", LIST_PAGE_DEFAULT)


@hub_read("GET")
def repo_list(request: HttpRequest, repo_type: str) -> HttpResponse:
    if repo_type == "spaces":
        return JsonResponse([], safe=False)
    params = request.GET
    sort = params.get("sort") or "downloads"
    if sort not in HUB_SORT_ALIASES:
        raise BadRequest(f"Invalid sort '{sort}': use one of {', '.join(sorted(HUB_SORT_ALIASES))}.")
    query = RepoQuery(
        kind=repo_kind(repo_type),
        search=params.get("search", ""),
        owner=params.get("author", ""),
        task=params.get("pipeline_tag", ""),
        tags=[tag for tag in params.getlist("filter") if tag],
        sort=HUB_SORT_ALIASES[sort],
        ascending=params.get("direction") == "1",
    )
    limit = _int_param(request, "limit", 0)
    page = min(limit, _list_page_size()) if limit else _list_page_size()
    page = max(1, min(page, LIST_PAGE_MAX))
    start = _int_param(request, "cursor", 0)
    repos = list(repo_search(user=request.hub_user, query=query).prefetch_related("tag_rows")[start : start + page + 1])
    has_next = len(repos) > page
    repos = repos[:page]

    expand = set(params.getlist("expand"))
    full = _flag(params.get("full"))
    want_siblings = full or "siblings" in expand
    want_sha = want_siblings or "sha" in expand
    heads = _main_heads(repos) if want_sha else {}
    files = _files_of({commit_pk for _oid, commit_pk in heads.values()}) if want_siblings else {}
    data = [
        serializers.repo_list_json(
            repo,
            tags=[tag.name for tag in sorted(repo.tag_rows.all(), key=lambda t: t.pk)],
            sha=heads[repo.pk][0] if repo.pk in heads else None,
            rows=files.get(heads[repo.pk][1], []) if want_siblings and repo.pk in heads else None,
            card_data=full or _flag(params.get("cardData")) or "cardData" in expand,
        )
        for repo in repos
    ]
    response = JsonResponse(data, safe=False)
    if has_next:
        with_next_link(response, request, cursor=start + page)
    return response


def _main_heads(repos: list[Repository]) -> dict[int, tuple[str, int]]:
    """repo pk -> (oid, commit pk) of main, in one query."""
    refs = Ref.objects.filter(repository__in=repos, kind=Ref.Kind.BRANCH, name="main")
    return {repo_pk: (oid, pk) for repo_pk, oid, pk in refs.values_list("repository_id", "commit__oid", "commit_id")}


def _files_of(commit_pks: set[int]) -> dict[int, list[FileRow]]:
    found: dict[int, list[tuple[str, str, int, str]]] = {pk: [] for pk in commit_pks}
    entries = TreeEntry.objects.filter(commit_id__in=commit_pks).order_by("commit_id", "path")
    for commit_pk, *entry in entries.values_list("commit_id", "path", "blob__sha256", "blob__size", "blob__git_oid"):
        found[commit_pk].append(tuple(entry))
    files: dict[int, list[FileRow]] = {}
    for commit_pk, rows in found.items():
        rules = lfs_rules_of_tree({path: sha256 for path, sha256, _size, _oid in rows})
        files[commit_pk] = [file_row(*row, rules) for row in rows]
    return files


# --- Odds and ends -----------------------------------------------------------------------------


@hub_endpoint
def agent_harnesses(request: HttpRequest) -> HttpResponse:
    return JsonResponse(EMPTY_HARNESS_REGISTRY)


@hub_endpoint
def xet_read_token(request: HttpRequest, **_kwargs: str) -> HttpResponse:
    return hub_error(
        404, "Xet storage is not available on this server: files are downloaded over plain HTTP.", "XetNotEnabled"
    )


@hub_endpoint
def repo_without_owner(request: HttpRequest, name: str, **_kwargs: str) -> HttpResponse:
    return hub_error(
        404,
        f"Repository Not Found for url: {request.path}. Every repository here is named 'owner/name': "
        f"there is no '{name}' without an owner.",
        "RepoNotFound",
    )


@hub_endpoint
def api_not_found(request: HttpRequest, rest: str) -> HttpResponse:
    """Anything else under /api/: a JSON answer the client maps to RepositoryNotFoundError, never HTML."""
    return hub_error(404, f"Repository Not Found for url: /api/{rest}.", "RepoNotFound")
