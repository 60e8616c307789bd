"""The inference worker: claim a generation, batch the ones queued for the same commit, run, record.

The ORM adapter around `inference.engine` (pure ML). A worker process keeps loaded models in an LRU,
so a revision is loaded once. Requests for one commit share one batch (continuous batching): the
first task to claim takes what is queued for that commit, and while the batch runs, generations queued later
join it between decode steps (`inference.batch`); the tasks of the generations it took find them claimed and
return. Each generation is marked finished as soon as its own row ends.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from inference.models import Generation

log = logging.getLogger(__name__)
_models = None
CANCEL_CHECK_SECONDS = 0.1
ADMIT_CHECK_SECONDS = 0.02  # how often a running batch looks for newly queued generations of its commit


def model_cache():
    global _models
    if _models is None:
        from inference.engine import ModelCache

        _models = ModelCache(settings.FLYWHEEL_INFERENCE_MEMORY_BYTES)
    return _models


def _claim(pks: list, now: datetime) -> list[Generation]:
    """Take queued generations for this worker; a pk another worker (or a retry of this task) took is skipped."""
    claimed = []
    for pk in pks:
        if Generation.objects.filter(pk=pk, status=Generation.Status.QUEUED).update(
            status=Generation.Status.RUNNING, started_at=now, heartbeat_at=now
        ):
            claimed.append(pk)
    return list(Generation.objects.filter(pk__in=claimed).select_related("commit", "repository"))


def generation_run(*, generation_id: str) -> int:
    """Run `generation_id` and whatever else is queued for its commit; returns how many ran (0: already taken)."""
    first = Generation.objects.filter(pk=generation_id, status=Generation.Status.QUEUED).values("commit_id").first()
    if first is None:
        return 0
    # Optional: later arrivals join the running batch anyway, so the default window is 0.
    time.sleep(settings.FLYWHEEL_BATCH_WINDOW_MS / 1000)
    others = list(
        Generation.objects.filter(status=Generation.Status.QUEUED, commit_id=first["commit_id"])
        .exclude(pk=generation_id)
        .order_by("created_at")
        .values_list("pk", flat=True)[: settings.FLYWHEEL_MAX_BATCH - 1]
    )
    batch = _claim([generation_id, *others], timezone.now())
    if not batch:
        return 0
    taken = [g.pk for g in batch]  # grows as generations join the running batch
    try:
        if settings.FLYWHEEL_INFERENCE_URL:
            from inference.remote import run_remote

            for generation in batch:
                run_remote(generation)
        else:
            _run_local(batch, taken)
    except Exception as exc:  # the reason goes to the people waiting; nothing is left running
        log.exception("Generation batch failed")
        Generation.objects.filter(pk__in=taken, status=Generation.Status.RUNNING).update(
            status=Generation.Status.FAILED, error=_reason(exc), finished_at=timezone.now()
        )
    return len(taken)


def _reason(exc: Exception) -> str:
    from inference.engine import NotACausalLM
    from inference.snapshot import UnusableModel

    if isinstance(exc, UnusableModel | NotACausalLM):
        return f"This revision cannot be run: {exc}"
    return f"Generation failed: {type(exc).__name__}: {str(exc)[:500]}"


class _Progress:
    """What a batch's rows report, written between decode steps: every row's pending text in one statement (the
    text updates double as heartbeats), and one query every CANCEL_CHECK_SECONDS for the cancel requests of all
    running rows, instead of a write and a query per row."""

    def __init__(self) -> None:
        self.rows: dict = {}
        self.pending: dict = {}  # pk -> Generation carrying the fields to write
        self.checked_at = 0.0

    def row(self, generation: Generation) -> _Row:
        row = self.rows[generation.pk] = _Row(generation.pk, self)
        return row

    def flush(self) -> None:
        if self.pending:
            # One executemany in one transaction: bulk_update's CASE expressions cost more to build than to run.
            table, quote = Generation._meta.db_table, connection.ops.quote_name
            sql = (
                f"UPDATE {quote(table)} SET text = %s, completion_tokens = %s, heartbeat_at = %s, "  # noqa: S608
                "first_token_at = %s WHERE id = %s"
            )
            field = Generation._meta.get_field
            rows = [
                [
                    g.text,
                    g.completion_tokens,
                    field("heartbeat_at").get_db_prep_save(g.heartbeat_at, connection),
                    field("first_token_at").get_db_prep_save(g.first_token_at, connection),
                    field("id").get_db_prep_save(g.pk, connection),
                ]
                for g in self.pending.values()
            ]
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.executemany(sql, rows)
            self.pending.clear()
        now = time.monotonic()
        if self.rows and now - self.checked_at >= CANCEL_CHECK_SECONDS:
            self.checked_at = now
            stopping = Generation.objects.filter(pk__in=list(self.rows), cancel_requested=True)
            for pk in stopping.values_list("pk", flat=True):
                self.rows[pk].cancelled = True

    def ended(self, pk) -> None:
        """The row's final state is written now: nothing older may overwrite it."""
        self.pending.pop(pk, None)
        self.rows.pop(pk, None)


class _Row:
    def __init__(self, pk, progress: _Progress) -> None:
        self.pk, self.progress = pk, progress
        self.cancelled = False
        self.first_token_at: datetime | None = None

    def on_text(self, text: str, tokens: int) -> None:
        now = timezone.now()
        if tokens and self.first_token_at is None:
            self.first_token_at = now
        self.progress.pending[self.pk] = Generation(
            pk=self.pk, text=text, completion_tokens=tokens, heartbeat_at=now, first_token_at=self.first_token_at
        )

    def should_stop(self) -> bool:
        return self.cancelled


def _run_local(batch: list[Generation], taken: list) -> None:
    from inference.engine import generate_batch, load_model
    from inference.snapshot import snapshot_dir

    if settings.FLYWHEEL_INFERENCE_THREADS:
        import torch

        torch.set_num_threads(settings.FLYWHEEL_INFERENCE_THREADS)
    commit = batch[0].commit
    loaded = model_cache().get(commit.oid, lambda: load_model(snapshot_dir(commit)))
    device = f"{loaded.device} {loaded.dtype}"
    progress = _Progress()
    last_look = [time.monotonic()]

    def admit(running: int) -> list:
        """Generations queued for this commit since the batch started join it (continuous batching)."""
        room = settings.FLYWHEEL_MAX_BATCH - running
        now = time.monotonic()
        if room <= 0 or now - last_look[0] < ADMIT_CHECK_SECONDS:
            return []
        last_look[0] = now
        pks = list(
            Generation.objects.filter(status=Generation.Status.QUEUED, commit_id=commit.pk)
            .order_by("created_at")
            .values_list("pk", flat=True)[:room]
        )
        if not pks:
            return []
        joining = _claim(pks, timezone.now())
        taken.extend(g.pk for g in joining)
        return _requests(loaded, joining, device, progress)

    generate_batch(loaded, _requests(loaded, batch, device, progress), admit=admit, on_step=progress.flush)


def _requests(loaded, generations: list[Generation], device: str, progress: _Progress) -> list:
    """An engine request for each generation whose prompt fits the model (the others fail with the reason); each
    is marked finished the moment its row ends, whatever the rest of the batch still does."""
    from inference.engine import Request, SamplingParams, encode_prompt

    requests = []
    for generation in generations:
        ids = encode_prompt(
            loaded, prompt=generation.prompt, system=generation.system_prompt, messages=generation.messages
        )
        if len(ids) > loaded.max_positions - generation.max_new_tokens:
            _finish(generation, status=Generation.Status.FAILED, error=_too_long(len(ids), loaded.max_positions))
            continue
        row = progress.row(generation)

        def on_end(request, generation=generation, row=row) -> None:
            progress.ended(generation.pk)
            _finish(
                generation,
                status=Generation.Status.CANCELLED if request.finish_reason == "cancelled" else Generation.Status.DONE,
                text=request.text,
                finish_reason=request.finish_reason,
                prompt_tokens=len(request.prompt_ids),
                completion_tokens=len(request.completion_ids),
                first_token_at=row.first_token_at,
                device=device,
            )

        requests.append(
            Request(
                prompt_ids=ids,
                params=SamplingParams(**generation.sampling()),
                on_text=row.on_text,
                should_stop=row.should_stop,
                on_end=on_end,
                stop=generation.stop,
            )
        )
    return requests


def _too_long(tokens: int, limit: int) -> str:
    return f"The prompt is {tokens} tokens; with max_new_tokens it exceeds the model's {limit}-token context."


def _finish(generation: Generation, *, status: str, **fields) -> None:
    Generation.objects.filter(pk=generation.pk).update(
        status=status, finished_at=timezone.now(), heartbeat_at=timezone.now(), **fields
    )
    if fields.get("error"):
        log.info("Generation %s failed: %s", generation.pk, fields["error"])
