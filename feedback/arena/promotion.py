"""Promotion gated on people: when a training run succeeds, blind battles between its revision (branch
run-<id>) and main's commit on held-out prompts; the head-to-head that the run page shows and a promotion
records as evidence."""

from __future__ import annotations

import json
import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from feedback.arena.leaderboard import HeadToHead, head_to_head
from feedback.arena.models import ArenaPin, Battle
from feedback.arena.services import Side, pin_create, pin_open_battles
from feedback.models import Prompt, PromptSet
from models_hub.errors import HubError, RevisionNotFound
from models_hub.selectors import revision_resolve

logger = logging.getLogger(__name__)
MAX_PROMPT_FILE_BYTES = 16 * 1024 * 1024


def held_out_prompts(run, limit: int) -> list[str]:
    """Prompts the run did not train on: its dataset's validation split (the `prompt` column, or the first
    user message), then the prompts of its parent-vs-child samples; distinct, at most `limit`."""
    from models_hub.models import TreeEntry
    from models_hub.storage.blobs import blob_open
    from training.dataset_files import dataset_layout

    prompts: dict[str, None] = {}
    try:
        layout = dataset_layout(run.dataset_commit, run.method)
    except Exception:  # a dataset the gates let through but this reader cannot lay out: the samples remain
        logger.warning("run-%s: no validation split to take battle prompts from", run.pk, exc_info=True)
        layout = None
    paths = layout.validation.paths if layout is not None and layout.validation is not None else []
    entries = TreeEntry.objects.filter(commit=run.dataset_commit, path__in=paths).select_related("blob")
    for entry in entries:
        if len(prompts) >= limit or entry.blob.size > MAX_PROMPT_FILE_BYTES:
            continue
        with blob_open(entry.blob) as handle:
            for line in handle:
                prompt = _prompt_of(line)
                if prompt:
                    prompts.setdefault(prompt, None)
                if len(prompts) >= limit:
                    break
    for sample in run.samples or []:
        if len(prompts) < limit and isinstance(sample, dict) and str(sample.get("prompt", "")).strip():
            prompts.setdefault(str(sample["prompt"]), None)
    cap = settings.FLYWHEEL_ARENA_MAX_PROMPT_CHARS
    return [p for p in prompts if len(p) <= cap][:limit]


def _prompt_of(line: bytes) -> str:
    try:
        row = json.loads(line)
    except ValueError:
        return ""
    if not isinstance(row, dict):
        return ""
    if isinstance(row.get("prompt"), str):
        return row["prompt"].strip() and row["prompt"]
    for message in row.get("messages") or []:
        if isinstance(message, dict) and message.get("role") == "user" and isinstance(message.get("content"), str):
            return message["content"]
    return ""


def run_pin(run) -> ArenaPin | None:
    return ArenaPin.objects.filter(training_run_id=run.pk).select_related("commit_a", "commit_b").first()


def run_battles_open(run) -> ArenaPin | None:
    """Pin the run's revision against main's commit and open one blind battle per held-out prompt (at most
    FLYWHEEL_ARENA_PIN_BATTLES). Safe to call twice: a run has one pin, and prompts that have a battle get no
    second. Returns None for a run that did not succeed or whose output main already holds."""
    from training.models import TrainingRun

    if run.status != TrainingRun.Status.SUCCEEDED or run.output_commit_id is None:
        return None
    repo = run.base_repository
    try:
        main = revision_resolve(repo, "main")
    except RevisionNotFound:
        return None
    if main.pk == run.output_commit_id:
        return None
    with transaction.atomic():
        pin = run_pin(run)
        if pin is None:
            prompts = held_out_prompts(run, settings.FLYWHEEL_ARENA_PIN_BATTLES)
            if not prompts:
                logger.warning("run-%s: no held-out prompts, so no battles against main", run.pk)
                return None
            prompt_set = PromptSet.objects.create(
                name=f"run-{run.pk} held-out prompts"[:100],
                source_name="validation split and samples",
                source_dataset=run.dataset_repository,
                source_commit=run.dataset_commit,
                prompt_count=len(prompts),
                created_at=timezone.now(),
            )
            Prompt.objects.bulk_create(
                [Prompt(prompt_set=prompt_set, position=k, line=0, text=text) for k, text in enumerate(prompts)]
            )
            branch = run.output_branch or f"run-{run.pk}"
            pin = pin_create(
                name=f"{repo.repo_id}: {branch} vs main ({main.short_oid})",
                a=Side(repo, run.output_commit, branch),
                b=Side(repo, main, "main"),
                prompt_set=prompt_set,
                training_run_id=run.pk,
            )
        pin_open_battles(pin=pin)
    return pin


def run_battles_open_by_id(run_id: int) -> int:
    """For the Celery task: open the run's battles; returns how many battles its pin has. Never raises for a
    run the arena cannot battle (the run itself has succeeded either way)."""
    from training.models import TrainingRun

    run = TrainingRun.objects.select_related("base_repository", "output_commit", "dataset_commit").filter(pk=run_id)
    run = run.first()
    if run is None:
        return 0
    try:
        pin = run_battles_open(run)
    except HubError as exc:
        logger.warning("run-%s: battles against main not opened: %s", run_id, exc.message)
        return 0
    return Battle.objects.filter(pin=pin).count() if pin else 0


def run_head_to_head(run) -> tuple[ArenaPin | None, HeadToHead | None]:
    """The run's revision against the commit it is battling (main's when the battles opened)."""
    pin = run_pin(run)
    if pin is None:
        return None, None
    return pin, head_to_head(new=pin.commit_a, old=pin.commit_b)


def run_evidence(run) -> dict | None:
    """What people said, for a promotion's evidence: the head-to-head and whether it recommends promoting."""
    pin, result = run_head_to_head(run)
    if pin is None:
        return None
    return {"against": pin.commit_b.oid, **result.as_evidence()}
