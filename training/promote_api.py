"""REST v1: promote a training run, roll a model back (staff), and a model's promotion history. The run page's
Promote form and the promotions page's Roll back form call the same services."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from models_hub.api.common import ERRORS, CappedPagination, api_staff, repo_for_reading
from models_hub.errors import BadRequest, RepoNotFound
from models_hub.models import Commit, Repository
from training.api import _run
from training.models import Promotion
from training.promotions import COMMIT_ID, MAX_REASON_CHARS, promotion_rollback, training_run_promote

MODEL_PATH_PARAMETERS = [
    OpenApiParameter("namespace", OpenApiTypes.STR, OpenApiParameter.PATH, description="User or organisation"),
    OpenApiParameter("name", OpenApiTypes.STR, OpenApiParameter.PATH, description="Model name"),
]


class PromoteSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=MAX_REASON_CHARS, help_text="Why: recorded with the promotion.")


class RollbackSerializer(serializers.Serializer):
    commit = serializers.CharField(min_length=40, max_length=40, help_text="The 40-hex id of a revision main held")
    reason = serializers.CharField(max_length=MAX_REASON_CHARS, help_text="Why: recorded with the rollback.")


class PromotionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=Promotion.Kind.values)
    model = serializers.CharField()
    run = serializers.IntegerField(allow_null=True)
    from_commit = serializers.CharField(help_text="main before")
    to_commit = serializers.CharField(help_text="main after")
    fast_forward = serializers.BooleanField(help_text="main moved to the run's own commit (no new commit)")
    user = serializers.CharField(allow_null=True)
    reason = serializers.CharField()
    evidence = serializers.DictField(help_text="The run's lineage and its metrics before/after")
    created_at = serializers.DateTimeField()

    class Meta:
        ref_name = "Promotion"


def promotion_data(promotion: Promotion) -> dict:
    return {
        "id": promotion.pk,
        "kind": promotion.kind,
        "model": promotion.repository.repo_id,
        "run": promotion.run_id,
        "from_commit": promotion.from_commit.oid,
        "to_commit": promotion.to_commit.oid,
        "fast_forward": promotion.fast_forward,
        "user": promotion.user.username if promotion.user else None,
        "reason": promotion.reason,
        "evidence": promotion.evidence,
        "created_at": promotion.created_at,
    }


class RunPromoteApi(APIView):
    @extend_schema(
        operation_id="training_run_promote",
        summary="Promote a training run: main gets its files (staff)",
        description=(
            "A fast-forward of main to the run's commit when main has not moved since the run's base commit,"
            " otherwise a new commit on main with the run's files (so it can be rolled back). New generations on"
            " `main` then use it. Recorded with who, when, the reason and the run's metrics as evidence."
            " 409 for a run that did not succeed, or when main already holds its files."
        ),
        request=PromoteSerializer,
        responses={201: PromotionSerializer, **ERRORS, 409: OpenApiResponse(description="Not promotable")},
        examples=[OpenApiExample("A reason", value={"reason": "Lower validation loss"}, request_only=True)],
    )
    def post(self, request: Request, run_id: int) -> Response:
        user = api_staff(request, write=True, refusal="Only staff promote training runs.")
        run = _run(run_id)
        reason = _reason(request.data, "this run should be promoted")
        promotion = training_run_promote(run=run, user=user, reason=reason)
        return Response(promotion_data(promotion), status=201)


def _reason(body: object, what: str) -> str:
    reason = body.get("reason") if isinstance(body, dict) else None
    if not isinstance(reason, str):
        raise BadRequest(f"Send a JSON object with a 'reason' (text): why {what}.")
    return reason


class ModelRollbackApi(APIView):
    @extend_schema(
        operation_id="model_rollback",
        summary="Roll a model back: main gets the files of a revision it held before (staff)",
        description=(
            "A new commit on main with the files of `commit`, which main must have held (its history, or a"
            " promotion's starting point), so the rollback can itself be undone. Recorded like a promotion."
            " 409 when main already holds those files."
        ),
        parameters=MODEL_PATH_PARAMETERS,
        request=RollbackSerializer,
        responses={201: PromotionSerializer, **ERRORS, 409: OpenApiResponse(description="Nothing to roll back")},
        examples=[
            OpenApiExample(
                "Back to the last good revision",
                value={"commit": "0123456789abcdef0123456789abcdef01234567", "reason": "Answers got worse"},
                request_only=True,
            )
        ],
    )
    def post(self, request: Request, namespace: str, name: str) -> Response:
        user = api_staff(request, write=True, refusal="Only staff roll back models.")
        repo = repo_for_reading(request, Repository.Kind.MODEL, namespace, name)
        body = request.data
        reason = _reason(body, "this model is rolled back")
        oid = body.get("commit")
        if not isinstance(oid, str) or not COMMIT_ID.fullmatch(oid.lower()):
            raise BadRequest("Send 'commit': the 40-hex id of the revision main should hold again.")
        to_commit = Commit.objects.filter(repository=repo, oid=oid.lower()).first()
        if to_commit is None:
            raise RepoNotFound(f"{repo.repo_id} has no commit {oid[:12]}.")
        rollback = promotion_rollback(repo=repo, to_commit=to_commit, user=user, reason=reason)
        return Response(promotion_data(rollback), status=201)


class ModelPromotionListApi(APIView):
    @extend_schema(
        operation_id="model_promotions",
        summary="A model's promotions and rollbacks, newest first",
        parameters=[
            *MODEL_PATH_PARAMETERS,
            OpenApiParameter("page", OpenApiTypes.INT),
            OpenApiParameter("per_page", OpenApiTypes.INT, description="At most 100 (default 30)"),
        ],
        responses={200: PromotionSerializer(many=True), 404: ERRORS[404]},
    )
    def get(self, request: Request, namespace: str, name: str) -> Response:
        repo = repo_for_reading(request, Repository.Kind.MODEL, namespace, name)
        pages = CappedPagination()
        page = pages.paginate_queryset(Promotion.objects.for_model(repo), request, view=self)
        return pages.get_paginated_response([promotion_data(p) for p in page])
