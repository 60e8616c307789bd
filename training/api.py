"""REST v1 for training runs (staff only): start one, follow it, cancel it."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from models_hub.api.common import ERRORS, api_staff
from models_hub.card_schema import is_repo_id
from models_hub.errors import BadRequest
from models_hub.models import Repository
from models_hub.selectors import repo_access_for
from training import services
from training.models import TrainingRun


class RunStartSerializer(serializers.Serializer):
    """For the schema: the body is checked by training.services, whose messages every surface shares."""

    base_model = serializers.CharField(help_text="The model to train, owner/name.")
    revision = serializers.CharField(required=False, default="main", help_text="Branch, tag or commit of the model.")
    dataset = serializers.CharField(help_text="A dataset with train and validation splits, owner/name.")
    dataset_revision = serializers.CharField(required=False, default="main")
    method = serializers.ChoiceField(choices=TrainingRun.Method.values)
    use_lora = serializers.BooleanField(required=False, default=False, help_text="LoRA, merged into full weights.")
    hyperparameters = serializers.DictField(
        required=False, help_text="max_steps, num_train_epochs, learning_rate, per_device_train_batch_size, ..."
    )


class RunCreatedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=TrainingRun.Status.choices)
    estimate_seconds = serializers.FloatField(allow_null=True)


class RunProgressSerializer(serializers.Serializer):
    step = serializers.IntegerField()
    total_steps = serializers.IntegerField()
    loss = serializers.FloatField(allow_null=True)


class RunOutputSerializer(serializers.Serializer):
    model = serializers.CharField()
    branch = serializers.CharField()
    commit = serializers.CharField(allow_null=True)


class RunSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=TrainingRun.Status.choices)
    method = serializers.ChoiceField(choices=TrainingRun.Method.values)
    base_model = serializers.CharField(help_text="owner/name@commit")
    dataset = serializers.CharField(help_text="owner/name@commit")
    use_lora = serializers.BooleanField()
    hyperparameters = serializers.DictField()
    progress = RunProgressSerializer()
    history = serializers.ListField(child=serializers.DictField())
    metrics = serializers.DictField(help_text='{"before": {...}, "after": {...}} on the validation split')
    samples = serializers.ListField(child=serializers.DictField(), help_text="[{prompt, parent, child}]")
    output = RunOutputSerializer()
    device = serializers.CharField()
    log_tail = serializers.ListField(child=serializers.CharField())
    error = serializers.CharField(allow_blank=True)
    attempts = serializers.IntegerField()
    cancel_requested = serializers.BooleanField()
    estimate_seconds = serializers.FloatField(allow_null=True)
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)

    class Meta:
        ref_name = "TrainingRun"


def run_data(run: TrainingRun) -> dict:
    return {
        "id": run.pk,
        "status": run.status,
        "method": run.method,
        "base_model": f"{run.base_repository.repo_id}@{run.base_commit.oid}",
        "dataset": f"{run.dataset_repository.repo_id}@{run.dataset_commit.oid}",
        "use_lora": run.use_lora,
        "hyperparameters": run.hyperparameters,
        "progress": {"step": run.step, "total_steps": run.total_steps, "loss": run.latest_loss},
        "history": run.history,
        "metrics": run.metrics,
        "samples": run.samples,
        "output": {
            "model": run.base_repository.repo_id,
            "branch": run.output_branch,
            "commit": run.output_commit.oid if run.output_commit else None,
        },
        "device": run.device,
        "log_tail": run.log_tail,
        "error": run.error,
        "attempts": run.attempts,
        "cancel_requested": run.cancel_requested,
        "estimate_seconds": run.estimate_seconds,
        "created_at": run.created_at,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
    }


def _staff(request: Request, *, write: bool = False) -> User:
    return api_staff(request, write=write, refusal="Only staff start, follow and cancel training runs.")


def _repo(user: User, value: object, *, kind: str, field: str) -> Repository:
    if not isinstance(value, str) or not is_repo_id(value):
        raise BadRequest(f"'{field}' must be a repository id written as owner/name.")
    namespace, name = value.split("/", 1)
    return repo_access_for(user, kind=kind, namespace=namespace, name=name).repo


def _text(body: dict, field: str, default: str) -> str:
    value = body.get(field, default)
    if not isinstance(value, str) or not value or len(value) > 255:
        raise BadRequest(f"'{field}' must be a branch, tag or commit id.")
    return value


def _run(run_id: int) -> TrainingRun:
    runs = TrainingRun.objects.select_related("base_repository", "base_commit", "dataset_repository", "dataset_commit")
    return get_object_or_404(runs.select_related("output_commit"), pk=run_id)


class RunStartApi(APIView):
    @extend_schema(
        operation_id="training_run_start",
        summary="Start a training run (staff)",
        description=(
            "Queues a run after the quality gates (a runnable safetensors model; a dataset with train and validation"
            " splits in the method's format and enough rows). Answers 202 at once; follow"
            " `GET /api/v1/training-runs/{id}`. The result is committed to branch `run-<id>` of the model."
        ),
        request=RunStartSerializer,
        responses={202: RunCreatedSerializer, **ERRORS},
        examples=[
            OpenApiExample(
                "SFT on a feedback snapshot",
                value={
                    "base_model": "demo/tiny-stories",
                    "revision": "main",
                    "dataset": "demo/tiny-stories-feedback",
                    "dataset_revision": "main",
                    "method": "sft",
                    "hyperparameters": {"max_steps": 5, "learning_rate": 0.001},
                },
                request_only=True,
            )
        ],
    )
    def post(self, request: Request) -> Response:
        user = _staff(request, write=True)
        body = request.data
        if not isinstance(body, dict):
            raise BadRequest("Send a JSON object with base_model, dataset and method.")
        use_lora = body.get("use_lora", False)
        if not isinstance(use_lora, bool):
            raise BadRequest("'use_lora' must be true or false.")
        try:
            run = services.training_run_start(
                user=user,
                base_repository=_repo(user, body.get("base_model"), kind="model", field="base_model"),
                revision=_text(body, "revision", "main"),
                dataset_repository=_repo(user, body.get("dataset"), kind="dataset", field="dataset"),
                dataset_revision=_text(body, "dataset_revision", "main"),
                method=body.get("method") if isinstance(body.get("method"), str) else "",
                hyperparameters=body.get("hyperparameters"),
                use_lora=use_lora,
            )
        except ValidationError as exc:
            raise BadRequest(" ".join(exc.messages)) from None
        return Response({"id": run.pk, "status": run.status, "estimate_seconds": run.estimate_seconds}, status=202)


class RunDetailApi(APIView):
    @extend_schema(
        operation_id="training_run_get",
        summary="A training run: status, progress, metrics, samples and output (staff)",
        responses={200: RunSerializer, **ERRORS},
    )
    def get(self, request: Request, run_id: int) -> Response:
        _staff(request)
        return Response(run_data(_run(run_id)))


class RunCancelApi(APIView):
    @extend_schema(
        operation_id="training_run_cancel",
        summary="Cancel a training run (staff): a queued run ends now, a running one at its next step",
        request=None,
        responses={200: RunSerializer, 409: ERRORS[400], **ERRORS},
    )
    def post(self, request: Request, run_id: int) -> Response:
        user = _staff(request, write=True)
        run = services.training_run_cancel(run=_run(run_id), user=user)
        return Response(run_data(_run(run.pk)))
