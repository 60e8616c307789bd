"""Writes for training runs: start (behind the quality gates), cancel, estimate, and the job's bookkeeping."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import User
from inference.snapshot import UnusableModel, check_runnable, model_files
from models_hub.dataset_selectors import dataset_validation_for
from models_hub.errors import Conflict, Forbidden, RevisionNotFound
from models_hub.models import Commit, Repository, TreeEntry
from models_hub.selectors import repo_access, revision_resolve
from training.dataset_files import FORMAT_NAMES, PROVENANCE_COLUMNS, DatasetLayout, dataset_layout, format_fits
from training.hyperparameters import hyperparameters_clean
from training.models import DeviceThroughput, TrainingRun

# Training tokens per second assumed before this installation has measured any run (a tiny model on CPU
# trains far faster, a 1B model far slower: the first run's measurement replaces it).
DEFAULT_TOKENS_PER_SECOND = 2000.0
# Tokens processed per dataset token: DPO/KTO run chosen and rejected (or the KL pair) and a reference model.
METHOD_COST = {"sft": 1.0, "dpo": 3.0, "kto": 3.0}


def min_train_rows() -> int:
    return settings.FLYWHEEL_TRAINING_MIN_ROWS


def _require_staff(user: User | None) -> None:
    if user is None or not user.is_authenticated or not user.is_staff:
        raise Forbidden("Only staff can start or cancel training runs.")


def _resolve(repo: Repository, revision: str, what: str) -> Commit:
    try:
        return revision_resolve(repo, revision or "main")
    except RevisionNotFound:
        raise ValidationError(f"The {what} {repo.repo_id} has no revision {revision[:100]!r}.") from None


def _problem_text(problem: dict) -> str:
    where = f"{problem.get('path', '')}:{problem['line']}" if problem.get("line") else problem.get("path", "")
    message = str(problem.get("message", "")).rstrip(".")
    return f"{where}: {message}" if where else message


def training_gates(*, base_commit: Commit, dataset_commit: Commit, method: str) -> DatasetLayout:
    """Refuse what cannot train, each with a reason a maintainer can act on; the dataset's layout otherwise."""
    files = model_files(base_commit)
    all_paths = set(TreeEntry.objects.filter(commit=base_commit).values_list("path", flat=True))
    try:
        check_runnable(set(files), all_paths)
    except UnusableModel as exc:
        raise ValidationError(f"The base model cannot be trained: {exc}") from None
    report = dataset_validation_for(dataset_commit)
    if report is not None and report.is_pending:
        raise ValidationError(
            "The dataset revision is still being validated; try again in a moment (the dataset page shows the report)."
        )
    if report is not None and not report.is_valid:
        problems = "; ".join(_problem_text(p) for p in report.problems[:3])
        more = f" (and {report.problem_count - 3} more)" if report.problem_count > 3 else ""
        raise ValidationError(
            f"The dataset revision failed validation: {problems or 'see its validation report'}{more}."
        )
    layout = dataset_layout(dataset_commit, method)
    config = layout.config
    if layout.train is None:
        raise ValidationError(
            f"The dataset has no train split for the {config!r} config that {method.upper()} reads "
            f"(expected {config}/train.jsonl or a `configs:` entry named {config!r} in README.md)."
        )
    if layout.validation is None:
        raise ValidationError(
            f"The dataset has no validation split for the {config!r} config: the run is evaluated on it "
            f"before and after training (expected {config}/validation.jsonl)."
        )
    for split in (layout.train, layout.validation):
        if not format_fits(method, split.columns):
            found = ", ".join(c for c in split.columns if c not in PROVENANCE_COLUMNS) or "no usable columns"
            raise ValidationError(
                f"{method.upper()} needs {FORMAT_NAMES[method]} rows; the {split.split} split of {config!r} "
                f"has {found}."
            )
    if layout.train.rows < min_train_rows():
        raise ValidationError(
            f"Too few rows to train on: the train split of {config!r} has {layout.train.rows}, "
            f"at least {min_train_rows()} are needed."
        )
    if layout.validation.rows < 1:
        raise ValidationError(f"The validation split of {config!r} is empty.")
    return layout


@dataclass(frozen=True)
class Estimate:
    seconds: float
    reason: str


def _throughput(method: str) -> tuple[float, str]:
    measured = DeviceThroughput.objects.filter(method=method).order_by("-updated_at").first()
    if measured is None:
        return (
            DEFAULT_TOKENS_PER_SECOND,
            f"no {method.upper()} run measured yet, assuming {DEFAULT_TOKENS_PER_SECOND:.0f}",
        )
    return measured.tokens_per_second, f"measured on {measured.device}: {measured.tokens_per_second:.0f}"


def training_run_estimate(*, layout: DatasetLayout, method: str, hyperparameters: dict) -> Estimate | None:
    """Seconds the run should take, from the dataset's size and the last measured throughput; None if unknown."""
    train = layout.train
    if train is None or train.rows == 0:
        return None
    # About four bytes of JSON Lines per token; a row never counts past max_length.
    tokens_per_row = min(train.bytes / 4 / train.rows, hyperparameters["max_length"])
    rows_per_step = hyperparameters["per_device_train_batch_size"] * hyperparameters["gradient_accumulation_steps"]
    if hyperparameters["max_steps"]:
        rows = hyperparameters["max_steps"] * rows_per_step
    else:
        rows = train.rows * hyperparameters["num_train_epochs"]
    tokens = rows * tokens_per_row * METHOD_COST[method]
    rate, source = _throughput(method)
    seconds = tokens / rate
    return Estimate(seconds, f"about {tokens:,.0f} training tokens at {source} tokens/s")


def training_run_start(
    *,
    user: User,
    base_repository: Repository,
    revision: str,
    dataset_repository: Repository,
    dataset_revision: str,
    method: str,
    hyperparameters: dict | None,
    use_lora: bool = False,
) -> TrainingRun:
    """Queue a run after the quality gates; raises ValidationError with the reason when one refuses."""
    _require_staff(user)
    if method not in TrainingRun.Method.values:
        raise ValidationError(f"Unknown method {str(method)[:20]!r}: choose sft, dpo or kto.")
    if base_repository.kind != Repository.Kind.MODEL:
        raise ValidationError(f"{base_repository.repo_id} is not a model repository.")
    if dataset_repository.kind != Repository.Kind.DATASET:
        raise ValidationError(f"{dataset_repository.repo_id} is not a dataset repository.")
    for repo in (base_repository, dataset_repository):
        if not repo_access(repo, user).can_read:
            raise ValidationError(f"You cannot read {repo.kind} {repo.repo_id}.")
    params = hyperparameters_clean(hyperparameters, method=method)
    base_commit = _resolve(base_repository, revision, "model")
    dataset_commit = _resolve(dataset_repository, dataset_revision, "dataset")
    layout = training_gates(base_commit=base_commit, dataset_commit=dataset_commit, method=method)
    estimate = training_run_estimate(layout=layout, method=method, hyperparameters=params)
    with transaction.atomic():
        run = TrainingRun.objects.create(
            base_repository=base_repository,
            base_commit=base_commit,
            dataset_repository=dataset_repository,
            dataset_commit=dataset_commit,
            method=method,
            use_lora=bool(use_lora),
            hyperparameters=params,
            estimate_seconds=estimate.seconds if estimate else None,
            created_by=user,
            created_at=timezone.now(),
        )
        run.output_branch = run.branch_name
        run.save(update_fields=["output_branch"])
        transaction.on_commit(lambda: training_run_enqueue(run.pk), robust=True)
    return run


def training_run_enqueue(run_id: int) -> None:
    from training.tasks import training_run_execute

    result = training_run_execute.delay(run_id)
    TrainingRun.objects.filter(pk=run_id).update(celery_task_id=result.id)


def training_run_cancel(*, run: TrainingRun, user: User) -> TrainingRun:
    """A queued run ends now; a running one stops at its next step (the job marks it cancelled)."""
    _require_staff(user)
    now = timezone.now()
    if TrainingRun.objects.filter(pk=run.pk, status=TrainingRun.Status.QUEUED).update(
        status=TrainingRun.Status.CANCELLED, cancel_requested=True, finished_at=now
    ):
        run.refresh_from_db()
        return run
    if not TrainingRun.objects.filter(pk=run.pk, status=TrainingRun.Status.RUNNING).update(cancel_requested=True):
        run.refresh_from_db()
        raise Conflict(f"Run {run.pk} has already {run.status}; there is nothing to cancel.")
    run.refresh_from_db()
    return run


def throughput_record(*, device: str, method: str, tokens_per_second: float) -> None:
    """Remember what this device trained at, for the next estimates (a running mean weighted to the latest)."""
    if tokens_per_second <= 0:
        return
    row, created = DeviceThroughput.objects.get_or_create(
        device=device, method=method, defaults={"tokens_per_second": tokens_per_second, "runs": 1}
    )
    if not created:
        DeviceThroughput.objects.filter(pk=row.pk).update(
            tokens_per_second=(F("tokens_per_second") + tokens_per_second) / 2, runs=F("runs") + 1
        )


def stale_before() -> timedelta:
    return timedelta(seconds=settings.FLYWHEEL_TRAINING_HEARTBEAT_TIMEOUT)
