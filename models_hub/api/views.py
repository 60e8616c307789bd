"""REST v1: listing, creating and managing repositories, reading their trees, commits and refs, likes."""

from __future__ import annotations

from django.db.models import Prefetch
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from models_hub import selectors, services
from models_hub.api.common import (
    ERRORS,
    REPO_PATH_PARAMETERS,
    CappedPagination,
    access_for_reading,
    api_writer,
    repo_for_admin,
    repo_for_reading,
    revision_parameter,
)
from models_hub.models import AccessRequest, Commit, Ref, Repository, RepoTag
from models_hub.search import MAX_FILTER_CHARS, SORT_LABELS, RepoQuery, repo_search


class RepoSerializer(serializers.Serializer):
    """A repository as listings show it."""

    id = serializers.CharField(source="repo_id")
    kind = serializers.CharField(help_text="model or dataset")
    namespace = serializers.CharField()
    name = serializers.CharField()
    private = serializers.BooleanField()
    gated = serializers.ChoiceField(
        choices=["", "auto", "manual"], help_text="'' (open), 'auto' or 'manual': who may download the files"
    )
    summary = serializers.CharField()
    pipeline_tag = serializers.CharField()
    library_name = serializers.CharField()
    license = serializers.CharField()
    tags = serializers.SerializerMethodField()
    downloads = serializers.IntegerField()
    likes = serializers.IntegerField(source="likes_count")
    has_unsafe_files = serializers.BooleanField()
    parameter_count = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    url = serializers.CharField(source="get_absolute_url")

    class Meta:
        ref_name = "Repository"

    def get_tags(self, repo: Repository) -> list[str]:
        # Read from the prefetched rows: one query for the whole page, none per repository.
        return [tag.name for tag in repo.tag_rows.all()]


class RepoDetailSerializer(RepoSerializer):
    card_data = serializers.JSONField()

    class Meta:
        ref_name = "RepositoryDetail"


def _with_tags(repos):
    return repos.prefetch_related(Prefetch("tag_rows", queryset=RepoTag.objects.order_by("name")))


def _bounded_int(raw: str | None, *, default: int, low: int, high: int) -> int:
    """A query-string number clamped to [low, high]; anything that is not a plain number gives the default."""
    if raw is None or not raw.isascii() or not raw.strip().isdigit():
        return default
    return min(max(int(raw), low), high)


def _detail(repo: Repository) -> dict:
    repo = _with_tags(Repository.objects.filter(pk=repo.pk)).get()
    return RepoDetailSerializer(repo).data


class RepoListApi(APIView):
    """GET /api/v1/models/ and /api/v1/datasets/: search, filter, sort, page."""

    class FilterSerializer(serializers.Serializer):
        search = serializers.CharField(required=False, allow_blank=True, max_length=MAX_FILTER_CHARS)
        task = serializers.CharField(required=False, allow_blank=True, max_length=MAX_FILTER_CHARS)
        library = serializers.CharField(required=False, allow_blank=True, max_length=MAX_FILTER_CHARS)
        license = serializers.CharField(required=False, allow_blank=True, max_length=MAX_FILTER_CHARS)
        tag = serializers.ListField(
            child=serializers.CharField(max_length=MAX_FILTER_CHARS), required=False, max_length=5
        )
        owner = serializers.CharField(required=False, allow_blank=True, max_length=MAX_FILTER_CHARS)
        sort = serializers.ChoiceField(choices=list(SORT_LABELS), required=False, default="downloads")
        page = serializers.IntegerField(required=False, min_value=1)
        per_page = serializers.IntegerField(required=False, min_value=1, max_value=100)

        class Meta:
            ref_name = "RepoListFilter"

    class PageSerializer(serializers.Serializer):
        count = serializers.IntegerField(help_text="Matching repositories, counted up to 1,000")
        count_capped = serializers.BooleanField(
            help_text="True when more than 1,000 match; pages then go on while `next` is set"
        )
        next = serializers.URLField(allow_null=True)
        previous = serializers.URLField(allow_null=True)
        results = RepoSerializer(many=True)

        class Meta:
            ref_name = "RepositoryPage"

    kind = Repository.Kind.MODEL

    @extend_schema(parameters=[FilterSerializer], responses={200: PageSerializer, 400: ERRORS[400]})
    def get(self, request: Request, kind: str) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        data = filters.validated_data
        query = RepoQuery(
            kind=kind,
            search=data.get("search", ""),
            task=data.get("task", ""),
            library=data.get("library", ""),
            license=data.get("license", ""),
            tags=data.get("tag", []),
            owner=data.get("owner", ""),
            sort=data["sort"],
        )
        paginator = CappedPagination()
        page = paginator.paginate_queryset(_with_tags(repo_search(user=request.user, query=query)), request, view=self)
        return paginator.get_paginated_response(RepoSerializer(page, many=True).data)


class RepoCreateApi(APIView):
    class InputSerializer(serializers.Serializer):
        kind = serializers.ChoiceField(choices=Repository.Kind.values, default=Repository.Kind.MODEL)
        namespace = serializers.CharField(required=False, max_length=96, help_text="Defaults to your username")
        name = serializers.CharField(max_length=96)
        private = serializers.BooleanField(default=False)

        class Meta:
            ref_name = "RepositoryCreate"

    @extend_schema(request=InputSerializer, responses={201: RepoDetailSerializer, **ERRORS, 409: ERRORS[400]})
    def post(self, request: Request) -> Response:
        user = api_writer(request)
        body = self.InputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        repo = services.repo_create(
            kind=data["kind"],
            namespace=data.get("namespace") or user.username,
            name=data["name"],
            creator=user,
            private=data["private"],
        )
        return Response(_detail(repo), status=status.HTTP_201_CREATED)


class RepoDetailApi(APIView):
    """One repository: read it, change its visibility or id, delete it."""

    class UpdateSerializer(serializers.Serializer):
        private = serializers.BooleanField(required=False)
        gated = serializers.ChoiceField(
            choices=Repository.Gate.values, required=False, help_text="'' (open), 'auto' or 'manual'"
        )
        namespace = serializers.CharField(required=False, max_length=96, help_text="Move to this user or organisation")
        name = serializers.CharField(required=False, max_length=96, help_text="Rename")

        class Meta:
            ref_name = "RepositoryUpdate"

    @extend_schema(parameters=REPO_PATH_PARAMETERS, responses={200: RepoDetailSerializer, 404: ERRORS[404]})
    def get(self, request: Request, kind: str, namespace: str, name: str) -> Response:
        repo = repo_for_reading(request, kind, namespace, name)
        return Response(_detail(repo))

    @extend_schema(
        parameters=REPO_PATH_PARAMETERS, request=UpdateSerializer, responses={200: RepoDetailSerializer, **ERRORS}
    )
    def patch(self, request: Request, kind: str, namespace: str, name: str) -> Response:
        repo = repo_for_admin(request, kind, namespace, name)
        body = self.UpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        if "private" in data or "gated" in data:
            repo = services.repo_update_settings(repo=repo, private=data.get("private"), gated=data.get("gated"))
        if "namespace" in data or "name" in data:
            repo = services.repo_move(
                repo=repo,
                new_namespace=data.get("namespace", repo.namespace),
                new_name=data.get("name", repo.name),
                user=request.user,
            )
        return Response(_detail(repo))

    @extend_schema(parameters=REPO_PATH_PARAMETERS, request=None, responses={204: None, **ERRORS})
    def delete(self, request: Request, kind: str, namespace: str, name: str) -> Response:
        repo = repo_for_admin(request, kind, namespace, name)
        services.repo_delete(repo=repo)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TreeApi(APIView):
    class OutputSerializer(serializers.Serializer):
        class FileSerializer(serializers.Serializer):
            path = serializers.CharField()
            size = serializers.IntegerField(source="blob.size")
            sha256 = serializers.CharField(source="blob.sha256")
            unsafe = serializers.BooleanField(
                source="is_unsafe", help_text="Pickle-based: may run code when loaded; never loaded by Flywheel"
            )

            class Meta:
                ref_name = "TreeFile"

        commit = serializers.CharField(source="oid")
        files = FileSerializer(many=True)

        class Meta:
            ref_name = "Tree"

    @extend_schema(
        parameters=[*REPO_PATH_PARAMETERS, revision_parameter("rev", "Branch, tag or commit id")],
        responses={200: OutputSerializer, 404: ERRORS[404]},
    )
    def get(self, request: Request, kind: str, namespace: str, name: str, rev: str) -> Response:
        repo = repo_for_reading(request, kind, namespace, name)
        commit = selectors.revision_resolve(repo, rev)
        commit.files = selectors.tree_entries(commit)
        return Response(self.OutputSerializer(commit).data)


class CommitListApi(APIView):
    class OutputSerializer(serializers.Serializer):
        id = serializers.CharField(source="oid")
        title = serializers.CharField()
        message = serializers.CharField(source="description")
        author = serializers.CharField(source="author.username", allow_null=True, default=None)
        parent = serializers.SerializerMethodField()
        created_at = serializers.DateTimeField()

        class Meta:
            ref_name = "Commit"

        def get_parent(self, commit) -> str | None:
            return self.context["parent_oids"].get(commit.parent_id)

    @extend_schema(
        parameters=[
            *REPO_PATH_PARAMETERS,
            revision_parameter("rev", "Branch, tag or commit id to start from"),
            OpenApiParameter("limit", OpenApiTypes.INT, description="At most this many commits (default 100)"),
            OpenApiParameter("offset", OpenApiTypes.INT, description="Skip this many of the newest (default 0)"),
        ],
        responses={200: OutputSerializer(many=True), 404: ERRORS[404]},
    )
    def get(self, request: Request, kind: str, namespace: str, name: str, rev: str) -> Response:
        repo = repo_for_reading(request, kind, namespace, name)
        commit = selectors.revision_resolve(repo, rev)
        limit = _bounded_int(request.query_params.get("limit"), default=100, low=1, high=1000)
        offset = _bounded_int(request.query_params.get("offset"), default=0, low=0, high=2**31 - 1)
        history = selectors.commit_history(repo, commit, offset=offset, limit=limit)
        # One query for every parent id, rather than one per commit.
        parent_ids = {c.parent_id for c in history if c.parent_id}
        parent_oids = dict(Commit.objects.filter(pk__in=parent_ids).values_list("pk", "oid"))
        return Response(self.OutputSerializer(history, many=True, context={"parent_oids": parent_oids}).data)


class RefListApi(APIView):
    class OutputSerializer(serializers.Serializer):
        class RefSerializer(serializers.Serializer):
            name = serializers.CharField()
            ref = serializers.CharField(source="full_name")
            target_commit = serializers.CharField(source="commit.oid")

            class Meta:
                ref_name = "Ref"

        branches = RefSerializer(many=True)
        tags = RefSerializer(many=True)

        class Meta:
            ref_name = "Refs"

    @extend_schema(parameters=REPO_PATH_PARAMETERS, responses={200: OutputSerializer, 404: ERRORS[404]})
    def get(self, request: Request, kind: str, namespace: str, name: str) -> Response:
        repo = repo_for_reading(request, kind, namespace, name)
        refs = list(Ref.objects.filter(repository=repo).select_related("commit").order_by("kind", "name"))
        body = {
            "branches": [r for r in refs if r.kind == Ref.Kind.BRANCH],
            "tags": [r for r in refs if r.kind == Ref.Kind.TAG],
        }
        return Response(self.OutputSerializer(body).data)


class LikeApi(APIView):
    class OutputSerializer(serializers.Serializer):
        liked = serializers.BooleanField()
        likes = serializers.IntegerField()

        class Meta:
            ref_name = "LikeState"

    def _set(self, request: Request, kind: str, namespace: str, name: str, liked: bool) -> Response:
        user = api_writer(request)
        repo = repo_for_reading(request, kind, namespace, name)
        repo = services.like_set(user=user, repo=repo, liked=liked)
        return Response(self.OutputSerializer({"liked": liked, "likes": repo.likes_count}).data)

    @extend_schema(parameters=REPO_PATH_PARAMETERS, request=None, responses={200: OutputSerializer, **ERRORS})
    def post(self, request: Request, kind: str, namespace: str, name: str) -> Response:
        return self._set(request, kind, namespace, name, True)

    @extend_schema(parameters=REPO_PATH_PARAMETERS, request=None, responses={200: OutputSerializer, **ERRORS})
    def delete(self, request: Request, kind: str, namespace: str, name: str) -> Response:
        return self._set(request, kind, namespace, name, False)


class AccessRequestApi(APIView):
    """Your access to a gated repository: read it, or ask for it."""

    class OutputSerializer(serializers.Serializer):
        status = serializers.ChoiceField(
            choices=["none", *AccessRequest.Status.values],
            help_text="'none' until you ask; 'accepted' means you can download the files",
        )
        can_download = serializers.BooleanField()
        rejection_reason = serializers.CharField(allow_blank=True)

        class Meta:
            ref_name = "AccessRequestState"

    def _state(self, access: selectors.RepoAccess) -> Response:
        asked = access.access_request
        data = {
            "status": asked.status if asked else "none",
            "can_download": access.can_download,
            "rejection_reason": asked.rejection_reason if asked else "",
        }
        return Response(self.OutputSerializer(data).data)

    @extend_schema(parameters=REPO_PATH_PARAMETERS, responses={200: OutputSerializer, **ERRORS})
    def get(self, request: Request, kind: str, namespace: str, name: str) -> Response:
        return self._state(access_for_reading(request, kind, namespace, name))

    @extend_schema(parameters=REPO_PATH_PARAMETERS, request=None, responses={200: OutputSerializer, **ERRORS})
    def post(self, request: Request, kind: str, namespace: str, name: str) -> Response:
        user = api_writer(request)
        repo = repo_for_reading(request, kind, namespace, name)
        services.access_request_submit(repo=repo, user=user)
        return self._state(selectors.repo_access(repo, user))  # decided again: the request just changed it
