"""REST v1: a dataset revision's validation report, and its rows by config and split."""

from __future__ import annotations

import base64
import datetime
import decimal
import math

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from models_hub import dataset_selectors, selectors
from models_hub.api.common import ERRORS, access_for_reading
from models_hub.errors import BadRequest, Conflict, Forbidden
from models_hub.services.dataset_validation import dataset_validation_report

DATASET_PATH_PARAMETERS = [
    OpenApiParameter("namespace", OpenApiTypes.STR, OpenApiParameter.PATH, description="User or organisation"),
    OpenApiParameter("name", OpenApiTypes.STR, OpenApiParameter.PATH, description="Dataset name"),
]
REVISION_PARAMETER = OpenApiParameter(
    "revision", OpenApiTypes.STR, OpenApiParameter.QUERY, description="Branch, tag or commit (default main)"
)


class ProblemSerializer(serializers.Serializer):
    path = serializers.CharField(allow_null=True, help_text="The file (README.md for the card's configs)")
    line = serializers.IntegerField(allow_null=True, help_text="1-based line of the file")
    row = serializers.IntegerField(allow_null=True, help_text="1-based record of the file")
    message = serializers.CharField()

    class Meta:
        ref_name = "DatasetProblem"


class ColumnSerializer(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.CharField(help_text="string, int, float, bool, list, object or null")
    nulls = serializers.IntegerField()
    numbers = serializers.JSONField(required=False, help_text="min, max, mean, histogram (numbers)")
    lengths = serializers.JSONField(required=False, help_text="min, max, mean, log2 buckets (text, lists)")
    categories = serializers.JSONField(required=False, help_text="distinct, top values (few distinct values)")

    class Meta:
        ref_name = "DatasetColumn"


class SplitSerializer(serializers.Serializer):
    name = serializers.CharField()
    files = serializers.ListField(child=serializers.CharField())
    rows = serializers.IntegerField(help_text="Valid rows")
    records = serializers.IntegerField(help_text="Every record, bad ones included: how rows are numbered")
    columns = ColumnSerializer(many=True)
    format = serializers.CharField(
        allow_null=True, help_text="messages, prompt_completion, text, preference or kto: the most specific"
    )
    formats = serializers.ListField(child=serializers.CharField())

    class Meta:
        ref_name = "DatasetSplit"


class ConfigSerializer(serializers.Serializer):
    name = serializers.CharField()
    default = serializers.BooleanField()
    splits = SplitSerializer(many=True)

    class Meta:
        ref_name = "DatasetConfig"


class ValidationSerializer(serializers.Serializer):
    commit = serializers.CharField()
    status = serializers.ChoiceField(choices=["pending", "valid", "invalid"])
    progress = serializers.FloatField(help_text="Share of the bytes to read that were read (pending)")
    configs = ConfigSerializer(many=True)
    files = serializers.JSONField(help_text="Each checked file: path, format, size, rows, problem_count, problems")
    unchecked = serializers.ListField(child=serializers.CharField(), help_text="Data files of other formats")
    problems = ProblemSerializer(many=True)
    problem_count = serializers.IntegerField()

    class Meta:
        ref_name = "DatasetValidation"


class RowSerializer(serializers.Serializer):
    row_idx = serializers.IntegerField(help_text="0-based within the split")
    path = serializers.CharField()
    line = serializers.IntegerField(allow_null=True)
    row = serializers.JSONField(allow_null=True)
    error = serializers.CharField(allow_null=True, help_text="Why a bad record cannot be read")

    class Meta:
        ref_name = "DatasetRow"


class RowsColumnSerializer(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.CharField()

    class Meta:
        ref_name = "DatasetRowsColumn"


class RowsSerializer(serializers.Serializer):
    commit = serializers.CharField()
    config = serializers.CharField()
    split = serializers.CharField()
    offset = serializers.IntegerField()
    limit = serializers.IntegerField()
    total = serializers.IntegerField(help_text="Records in the split")
    columns = RowsColumnSerializer(many=True)
    rows = RowSerializer(many=True)
    search = serializers.CharField(required=False)
    search_next = serializers.IntegerField(
        required=False, allow_null=True, help_text="Offset to search on from, when records remain"
    )

    class Meta:
        ref_name = "DatasetRows"


def _report_json(report: dataset_selectors.DatasetReport) -> dict:
    return {
        "commit": report.commit_oid,
        "status": report.status,
        "progress": 1.0 if not report.is_pending else report.progress,
        "configs": [
            {
                "name": config.name,
                "default": config.default,
                "splits": [
                    {
                        "name": split.name,
                        "files": split.files,
                        "rows": split.rows,
                        "records": split.records,
                        "columns": split.columns,
                        "format": split.format,
                        "formats": split.formats,
                    }
                    for split in config.splits
                ],
            }
            for config in report.configs
        ],
        "files": report.files,
        "unchecked": report.unchecked,
        "problems": report.problems,
        "problem_count": report.problem_count,
    }


def plain(value: object) -> object:
    """A cell as JSON can carry it: Parquet's dates, decimals and bytes as text, NaN and infinities as null."""
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (datetime.date, datetime.time, datetime.timedelta, decimal.Decimal)):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value


def _number_param(request: Request, name: str, *, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18 or not low <= int(raw) <= high:
        raise BadRequest(f"{name} must be a whole number from {low:,} to {high:,}, not '{raw[:40]}'.")
    return int(raw)


def _readable_commit(request: Request, namespace: str, name: str):
    access = access_for_reading(request, "dataset", namespace, name)
    revision = request.query_params.get("revision", "").strip() or "main"
    return access, selectors.revision_resolve(access.repo, revision)


class DatasetValidationApi(APIView):
    @extend_schema(
        operation_id="dataset_validation",
        summary="The validation report of a dataset revision",
        description=(
            "Every commit to a dataset is validated in the background: each JSON Lines, CSV, TSV and Parquet"
            " file, by the card's `configs:` (or the train/validation/test file names). `status` is pending until"
            " the report is ready; `invalid` means training refuses the revision."
        ),
        parameters=[*DATASET_PATH_PARAMETERS, REVISION_PARAMETER],
        responses={200: ValidationSerializer, 404: ERRORS[404]},
    )
    def get(self, request: Request, namespace: str, name: str) -> Response:
        _access, commit = _readable_commit(request, namespace, name)
        return Response(_report_json(dataset_validation_report(commit=commit)))


class DatasetRowsApi(APIView):
    @extend_schema(
        operation_id="dataset_rows",
        summary="Rows of a dataset revision, by config and split",
        description=(
            f"At most {dataset_selectors.MAX_ROWS_PER_PAGE} rows from `offset` (0-based). With `search`, the rows"
            " whose text contains it (ignoring case), reading at most"
            f" {dataset_selectors.SEARCH_SCAN_RECORDS:,} rows a request; `search_next` says where to go on."
            " 409 while the revision is being validated."
        ),
        parameters=[
            *DATASET_PATH_PARAMETERS,
            REVISION_PARAMETER,
            OpenApiParameter("config", OpenApiTypes.STR, description="Config name (default: the first)"),
            OpenApiParameter("split", OpenApiTypes.STR, description="Split name (default: the config's first)"),
            OpenApiParameter("offset", OpenApiTypes.INT, description="First row, 0-based (default 0)"),
            OpenApiParameter(
                "limit", OpenApiTypes.INT, description=f"Rows, 1 to {dataset_selectors.MAX_ROWS_PER_PAGE} (default 100)"
            ),
            OpenApiParameter("search", OpenApiTypes.STR, description="Text to look for in the rows"),
        ],
        responses={200: RowsSerializer, **ERRORS, 409: ERRORS[400]},
    )
    def get(self, request: Request, namespace: str, name: str) -> Response:
        access, commit = _readable_commit(request, namespace, name)
        offset = _number_param(request, "offset", default=0, low=0, high=2**62)
        limit = _number_param(
            request,
            "limit",
            default=dataset_selectors.MAX_ROWS_PER_PAGE,
            low=1,
            high=dataset_selectors.MAX_ROWS_PER_PAGE,
        )
        refusal = access.gate_refusal()
        if refusal:
            raise Forbidden(refusal)
        report = dataset_validation_report(commit=commit)
        if report.is_pending:
            raise Conflict(f"The revision is still being validated ({report.progress:.0%} read); try again shortly.")
        split = dataset_selectors.split_pick(
            report, request.query_params.get("config", "").strip(), request.query_params.get("split", "").strip()
        )
        if split is None:
            raise BadRequest("This revision has no data files to read rows from.")
        search = request.query_params.get("search", "")
        if search.strip():
            page = dataset_selectors.dataset_search(
                commit=commit, split=split, query=search, offset=offset, limit=limit
            )
        else:
            page = dataset_selectors.dataset_rows(commit=commit, split=split, offset=offset, limit=limit)
        answer = {
            "commit": commit.oid,
            "config": split.config,
            "split": split.name,
            "offset": offset,
            "limit": limit,
            "total": page.total,
            "columns": [{"name": column["name"], "type": column["type"]} for column in split.columns],
            "rows": [
                {
                    "row_idx": row.number - 1,
                    "path": row.path,
                    "line": row.line,
                    "row": plain(row.values) if row.values is not None else None,
                    "error": row.error,
                }
                for row in page.rows
            ],
        }
        if page.search:
            answer["search"] = page.search
            answer["search_next"] = page.search_next
        return Response(answer)
