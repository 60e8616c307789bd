"""REST v1: promote a training run (staff). The run page's Promote form calls the same service."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from models_hub.api.common import ERRORS, api_staff
from models_hub.errors import BadRequest
from training.api import _run
from training.models import Promotion
from training.promotions import MAX_REASON_CHARS, training_run_promote


class PromoteSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=MAX_REASON_CHARS, help_text="Why: recorded with the promotion.")


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
        body = request.data
        reason = body.get("reason") if isinstance(body, dict) else None
        if not isinstance(reason, str):
            raise BadRequest("Send a JSON object with a 'reason' (text): why this run should be promoted.")
        promotion = training_run_promote(run=run, user=user, reason=reason)
        return Response(promotion_data(promotion), status=201)
