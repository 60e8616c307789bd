"""Validating the data files of a dataset commit: queued by the commit, run by a Celery task.

Each data file is checked once per content (DataFileCheck, keyed by blob): a commit that changes one
file reads only that file. The commit's report puts the files together by config and split.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from config.stuck_work import stuck_work_resend
from models_hub import cards
from models_hub.dataset_files import formats, layout
from models_hub.dataset_files.report import VALIDATOR_VERSION, FileReport
from models_hub.dataset_files.stats import ColumnSketch, merge_kinds
from models_hub.dataset_selectors import DatasetReport, dataset_validation_for
from models_hub.models import Blob, Commit, DataFileCheck, DatasetValidation, Repository, TreeEntry
from models_hub.storable import without_nul
from models_hub.storage.blobs import blob_open

logger = logging.getLogger(__name__)

# A run whose heartbeat is older than this died (its worker was killed): another may claim it again.
STALE_AFTER = timedelta(minutes=10)
# A validation still queued after this lost its message (a broker outage when its commit landed).
RESEND_QUEUED_AFTER = timedelta(minutes=5)
PROGRESS_SECONDS = 1.0
MAX_REPORT_PROBLEMS = 100
MAX_FILE_PROBLEMS = 20


def dataset_validation_queue(*, commit: Commit) -> DatasetValidation:
    """The commit's validation, created queued and sent to a worker once the transaction commits.

    Idempotent: a commit has one validation; calling again returns it and enqueues nothing.
    """
    validation, created = DatasetValidation.objects.get_or_create(
        commit=commit, defaults={"created_at": timezone.now()}
    )
    if created:
        from models_hub.tasks import dataset_validate

        # robust: the commit has landed; a broker outage must not turn that into an error for the user.
        transaction.on_commit(lambda: dataset_validate.delay(validation.pk), robust=True)
    return validation


def dataset_validation_report(*, commit: Commit) -> DatasetReport:
    """The commit's validation report; a commit from before validation existed is queued now (once)."""
    report = dataset_validation_for(commit)
    if report is None:
        dataset_validation_queue(commit=commit)
        report = dataset_validation_for(commit)
    return report


def dataset_validations_restart(*, validation_ids: list[int]) -> int:
    """Validate these commits again (after the validator changed): each is queued and sent to a worker; files
    this validator version already checked are not read again. Running ones are left alone."""
    from models_hub.tasks import dataset_validate

    Status = DatasetValidation.Status
    ids = list(
        DatasetValidation.objects.filter(pk__in=validation_ids)
        .exclude(status=Status.RUNNING)
        .values_list("pk", flat=True)
    )
    DatasetValidation.objects.filter(pk__in=ids).update(
        status=Status.QUEUED, created_at=timezone.now(), started_at=None, finished_at=None, bytes_done=0
    )
    for validation_id in ids:
        transaction.on_commit(lambda validation_id=validation_id: dataset_validate.delay(validation_id), robust=True)
    return len(ids)


def dataset_validations_resend(*, limit: int = 100) -> int:
    """Send the task again for validations whose message was lost (queued for long) or whose worker died
    (heartbeat stale): run by Celery beat. A validation that is running fine ignores the extra message."""
    from models_hub.tasks import dataset_validate

    return stuck_work_resend(
        DatasetValidation, task=dataset_validate, queued_after=RESEND_QUEUED_AFTER, stale_after=STALE_AFTER, limit=limit
    )


def validate_file(handle, file_format: str, progress: Callable[[int], None] | None = None) -> FileReport:
    """Validate one file, read from `handle`, as `file_format` (jsonl, csv, tsv, parquet)."""
    if file_format == "jsonl":
        from models_hub.dataset_files.jsonl import validate_jsonl

        return validate_jsonl(handle, progress=progress)
    if file_format in ("csv", "tsv"):
        from models_hub.dataset_files.tabular import validate_csv

        return validate_csv(handle, delimiter="\t" if file_format == "tsv" else ",", progress=progress)
    from models_hub.dataset_files.parquet import validate_parquet

    return validate_parquet(handle, progress=progress)


class _Progress:
    """Bytes read so far, written to the validation row (with a heartbeat) at most once a second."""

    def __init__(self, validation_id: int) -> None:
        self.validation_id = validation_id
        self.done = 0
        self.written_at = 0.0

    def file_progress(self, before: int) -> Callable[[int], None]:
        def update(offset: int) -> None:
            self.done = before + offset
            if time.monotonic() - self.written_at >= PROGRESS_SECONDS:
                self.write()

        return update

    def write(self) -> None:
        self.written_at = time.monotonic()
        DatasetValidation.objects.filter(pk=self.validation_id, status=DatasetValidation.Status.RUNNING).update(
            bytes_done=self.done, heartbeat_at=timezone.now()
        )


def _claim(validation_id: int) -> bool:
    now = timezone.now()
    Status = DatasetValidation.Status
    return bool(
        DatasetValidation.objects.filter(pk=validation_id)
        .filter(Q(status=Status.QUEUED) | Q(status=Status.RUNNING, heartbeat_at__lt=now - STALE_AFTER))
        .update(status=Status.RUNNING, started_at=now, heartbeat_at=now, attempts=F("attempts") + 1)
    )


def _card_metadata(entries: dict[str, Blob]) -> dict:
    readme = entries.get("README.md")
    if readme is None:
        return {}
    with blob_open(readme) as handle:
        text = handle.read(cards.MAX_CARD_BYTES).decode("utf-8", errors="replace")
    return cards.parse_card(text, kind=Repository.Kind.DATASET).metadata


def dataset_validation_run(*, validation_id: int) -> None:
    """Validate the commit's data files and store its report. Safe to run twice: a second run finds the
    validation claimed (or finished) and returns; a run that died is taken over once its heartbeat is stale."""
    if not _claim(validation_id):
        return
    validation = DatasetValidation.objects.select_related("commit").get(pk=validation_id)
    entries = {
        entry.path: entry.blob for entry in TreeEntry.objects.filter(commit=validation.commit).select_related("blob")
    }
    files = layout.dataset_layout(_card_metadata(entries), list(entries))
    paths = sorted({path for config in files.configs for split in config.splits for path in split.files})
    checked = {path: layout.file_format(path) for path in paths if layout.file_format(path)}
    known = {
        (check.blob_id, check.file_format): check
        for check in DataFileCheck.objects.filter(
            blob_id__in={entries[path].sha256 for path in checked}, validator_version=VALIDATOR_VERSION
        )
    }
    to_read = [path for path, fmt in checked.items() if (entries[path].sha256, fmt) not in known]
    progress = _Progress(validation_id)
    DatasetValidation.objects.filter(pk=validation_id).update(
        bytes_total=sum(entries[path].size for path in to_read), bytes_done=0
    )
    read_errors: dict[str, str] = {}
    before = 0
    for path in to_read:
        blob, file_format = entries[path], checked[path]
        before += blob.size
        if (blob.sha256, file_format) in known:  # the same bytes at two paths
            continue
        try:
            with blob_open(blob) as handle:
                report = validate_file(handle, file_format, progress.file_progress(before - blob.size))
        except OSError as exc:  # storage trouble: no stored result, so a later validation reads it again
            read_errors[path] = f"The file could not be read from storage: {exc}"
            continue
        except Exception as exc:  # a file the readers trip over must not leave the commit pending for ever
            logger.exception("Validating %s (blob %s) failed", path, blob.sha256)
            read_errors[path] = f"The file could not be checked ({type(exc).__name__}: {str(exc)[:300]})."
            continue
        check, _created = DataFileCheck.objects.get_or_create(
            blob=blob,
            file_format=file_format,
            validator_version=VALIDATOR_VERSION,
            # Column names and sample values are the file's own text: a NUL in them is shown as U+FFFD.
            defaults={"result": without_nul(report.result()), "row_index": report.row_index},
        )
        known[(blob.sha256, file_format)] = check
        progress.done = before
        progress.write()
    checks = {path: known.get((entries[path].sha256, fmt)) for path, fmt in checked.items()}
    report = without_nul(commit_report(files, entries, checks, read_errors))
    status = DatasetValidation.Status.INVALID if report["problem_count"] else DatasetValidation.Status.VALID
    DatasetValidation.objects.filter(pk=validation_id, status=DatasetValidation.Status.RUNNING).update(
        status=status, report=report, finished_at=timezone.now(), bytes_done=F("bytes_total")
    )


def _split_report(config: layout.ConfigFiles, split: layout.SplitFiles, checks: dict, problems: list[dict]) -> dict:
    """Rows, columns with statistics and formats of one split: its files' results put together."""
    columns: dict[str, ColumnSketch] = {}
    rows = records = 0
    column_sets: dict[tuple[str, ...], str] = {}
    for path in split.files:
        check = checks.get(path)
        if check is None:
            continue
        result = check.result
        rows += result["rows"]
        records += result["records"]
        names = tuple(state["name"] for state in result["columns"])
        column_sets.setdefault(names, path)
        for state in result["columns"]:
            sketch = ColumnSketch.from_state(state)
            if state["name"] not in columns:
                columns[state["name"]] = sketch
                continue
            if merge_kinds(columns[state["name"]].kind, sketch.kind) is None:
                problems.append(
                    _problem(
                        path,
                        f"Mixed types across the files of {config.name}/{split.name}: column '{state['name']}' is "
                        f"{sketch.kind} here but {columns[state['name']].kind} in an earlier file.",
                    )
                )
            columns[state["name"]].merge(sketch)
    if len(column_sets) > 1:
        (first, first_path), (other, other_path) = list(column_sets.items())[:2]
        problems.append(
            _problem(
                other_path,
                f"The files of {config.name}/{split.name} have different columns: {other_path} has "
                f"{', '.join(other) or 'none'}, {first_path} has {', '.join(first) or 'none'}.",
            )
        )
    kinds = {name: sketch.kind for name, sketch in columns.items()}
    found = formats.training_formats(kinds, {name: sketch.nested_type for name, sketch in columns.items()})
    return {
        "name": split.name,
        "files": split.files,
        "rows": rows,
        "records": records,
        "columns": [sketch.summary(rows) for sketch in columns.values()],
        "formats": found,
        "format": found[0] if found else None,
        "file_records": [checks[path].result["records"] if checks.get(path) else 0 for path in split.files],
    }


def _problem(path: str | None, message: str, line: int | None = None, row: int | None = None) -> dict:
    return {"path": path, "line": line, "row": row, "message": message}


def commit_report(
    files: layout.Layout, entries: dict[str, Blob], checks: dict[str, DataFileCheck | None], read_errors: dict[str, str]
) -> dict:
    """The report stored for a commit (DatasetValidation.report)."""
    problems: list[dict] = [_problem("README.md", message) for message in files.problems]
    unlisted = 0  # problems counted in a file's result beyond those it lists
    file_rows = []
    for path in sorted(checks):
        check = checks[path]
        row = {"path": path, "format": layout.file_format(path), "size": entries[path].size}
        if check is None:
            problems.append(_problem(path, read_errors.get(path, "The file was not checked.")))
            file_rows.append({**row, "rows": None, "problem_count": 1, "problems": []})
            continue
        result = check.result
        problems.extend(_problem(path, p["message"], p["line"], p["row"]) for p in result["problems"])
        unlisted += result["problem_count"] - len(result["problems"])
        file_rows.append(
            {
                **row,
                "rows": result["rows"],
                "problem_count": result["problem_count"],
                "problems": result["problems"][:MAX_FILE_PROBLEMS],
            }
        )
    configs = [
        {
            "name": config.name,
            "default": config.default,
            "splits": [_split_report(config, split, checks, problems) for split in config.splits],
        }
        for config in files.configs
    ]
    unchecked = sorted(
        {path for config in files.configs for split in config.splits for path in split.files if path not in checks}
    )
    return {
        "configs": configs,
        "files": file_rows,
        "unchecked": unchecked,
        "problems": problems[:MAX_REPORT_PROBLEMS],
        "problem_count": len(problems) + unlisted,
    }
