"""REST v1 for feedback snapshots (staff only): ask for one, then follow it to its dataset commit."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from feedback.snapshots import selectors, services
from feedback.snapshots.filters import MAX_VALIDATION_FRACTION
from feedback.snapshots.models import COUNT_NAMES, FeedbackSnapshot
from models_hub.api.common import ERRORS, api_staff
from models_hub.errors import BadRequest


class SnapshotRequestSerializer(serializers.Serializer):
    """For the schema: the body is checked by feedback.snapshots.filters, whose messages every surface shares."""

    model = serializers.CharField(help_text="The model, owner/name.")
    dataset = serializers.CharField(
        required=False,
        help_text="The dataset to commit to, owner/name; created if missing. Default: <you>/<model>-feedback.",
    )
    private = serializers.BooleanField(required=False, default=True, help_text="For a dataset created now.")
    revisions = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="Branches, tags or commits; default: every revision."
    )
    since = serializers.DateTimeField(required=False, allow_null=True, help_text="Ratings last changed at or after.")
    until = serializers.DateTimeField(required=False, allow_null=True, help_text="Ratings last changed before.")
    thumbs = serializers.ChoiceField(choices=["up", "any"], required=False, default="any")
    min_stars = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=5)
    exclude_tags = serializers.ListField(child=serializers.CharField(), required=False)
    min_agreement = serializers.FloatField(required=False, allow_null=True, min_value=0, max_value=1)
    exclude_hidden_raters = serializers.BooleanField(required=False, default=True)
    include_maintainers = serializers.BooleanField(required=False, default=True)
    include_liked = serializers.BooleanField(required=False, default=True)
    include_corrections = serializers.BooleanField(required=False, default=True)
    include_pairs = serializers.BooleanField(required=False, default=True)
    include_battles = serializers.BooleanField(required=False, default=True)
    validation_fraction = serializers.FloatField(
        required=False, default=0.1, min_value=0, max_value=MAX_VALIDATION_FRACTION
    )


class SnapshotCountsSerializer(serializers.Serializer):
    sft_train = serializers.IntegerField()
    sft_validation = serializers.IntegerField()
    preference_train = serializers.IntegerField()
    preference_validation = serializers.IntegerField()
    kto_train = serializers.IntegerField()
    kto_validation = serializers.IntegerField()


class SnapshotSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField(help_text="queued, running, done or failed")
    progress = serializers.FloatField(help_text="From 0 to 1.")
    model = serializers.CharField()
    dataset = serializers.CharField(help_text="owner/name")
    commit = serializers.CharField(allow_null=True, help_text="The dataset commit it produced, once done.")
    counts = SnapshotCountsSerializer()
    ratings_used = serializers.IntegerField()
    filters = serializers.DictField()
    error = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)

    class Meta:
        ref_name = "FeedbackSnapshot"


def snapshot_data(snapshot: FeedbackSnapshot) -> dict:
    return {
        "id": snapshot.pk,
        "status": snapshot.status,
        "progress": snapshot.progress,
        "model": snapshot.model.repo_id,
        "dataset": snapshot.dataset.repo_id if snapshot.dataset else snapshot.dataset_name,
        "commit": snapshot.commit.oid if snapshot.commit else None,
        "counts": {name: snapshot.count_values()[name] for name in COUNT_NAMES},
        "ratings_used": snapshot.ratings_used,
        "filters": snapshot.filters,
        "error": snapshot.error,
        "created_at": snapshot.created_at,
        "finished_at": snapshot.finished_at,
    }


def _staff(request: Request, *, write: bool = False) -> User:
    return api_staff(request, write=write, refusal="Only staff build and read feedback snapshots.")


class SnapshotCreateApi(APIView):
    @extend_schema(
        operation_id="feedback_snapshot_create",
        summary="Build a dataset revision from a model's feedback (staff)",
        description=(
            "Queues a snapshot: the model's ratings that match the filters become `sft`, `preference` and `kto`"
            " configs, each with train and validation splits, in one commit on the dataset (created if missing)."
            " Answers 202 at once; follow `GET /api/v1/feedback-snapshots/{id}` to the commit."
        ),
        request=SnapshotRequestSerializer,
        responses={202: SnapshotSerializer, **ERRORS},
        examples=[
            OpenApiExample(
                "A day of ratings",
                value={
                    "model": "alice/tiny",
                    "dataset": "alice/tiny-feedback",
                    "since": "2026-01-30T00:00:00Z",
                    "min_stars": None,
                    "thumbs": "any",
                    "include_corrections": True,
                    "include_battles": True,
                    "validation_fraction": 0.1,
                },
                request_only=True,
            )
        ],
    )
    def post(self, request: Request) -> Response:
        user = _staff(request, write=True)
        body = request.data
        if not isinstance(body, dict):
            raise BadRequest("Send a JSON object with at least 'model' (owner/name).")
        model = services.snapshot_model(user=user, model_id=body.get("model"))
        private = body.get("private", True)
        if not isinstance(private, bool):
            raise BadRequest("'private' must be true or false.")
        dataset = body.get("dataset")
        if dataset is not None and not isinstance(dataset, str):
            raise BadRequest("'dataset' must be a repository id written as owner/name.")
        snapshot = services.snapshot_request(user=user, model=model, dataset_id=dataset, filters=body, private=private)
        return Response(snapshot_data(snapshot), status=202)


class SnapshotDetailApi(APIView):
    @extend_schema(
        operation_id="feedback_snapshot_get",
        summary="A feedback snapshot: status, progress, dataset commit and row counts (staff)",
        responses={200: SnapshotSerializer, **ERRORS},
    )
    def get(self, request: Request, snapshot_id: int) -> Response:
        _staff(request)
        return Response(snapshot_data(selectors.snapshot_get(snapshot_id=snapshot_id)))
