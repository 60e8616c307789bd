"""A training worker dies mid-run (SIGKILL to its whole process group, as when a machine goes away): the reaper
requeues the run, a new worker resumes it from its last checkpoint, and it finishes once; with no attempts left
the run fails with the reason instead of staying `running` forever."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from conftest import make_user
from inference.tests.conftest import make_model_repo
from inference.tests.conftest import tiny_model_files as tiny_model_files  # the tiny model fixture
from tests.conftest import broker_purge, wait_for
from training.job import run_dir, training_runs_reap
from training.models import TrainingRun
from training.tests.datasets import make_dataset_repo, simple_sft_files, start_run
from training.trainers.finetune import last_checkpoint

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parent.parent


def start_training_worker(tmp_path: Path) -> subprocess.Popen:
    """`celery -A config worker -Q training --concurrency 1` in its own session, on this test's database."""
    (tmp_path / "worker_settings.py").write_text(
        "from config.settings_test import *  # noqa\n"
        f"DATABASES['default']['NAME'] = {str(connection.settings_dict['NAME'])!r}\n"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "worker_settings",
        "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}",
        "FLYWHEEL_TRAINING_THREADS": "1",
        "FLYWHEEL_TRAINING_REPORT_MS": "200",
    }
    command = [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "training", "--concurrency", "1"]
    command += ["--prefetch-multiplier", "1", "--loglevel", "WARNING", "--without-heartbeat", "--without-mingle"]
    log = open(tmp_path / "worker.log", "ab")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log, start_new_session=True)


def kill(worker: subprocess.Popen) -> None:
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(timeout=30)


def test_a_killed_worker_s_run_resumes_from_its_checkpoint_and_finishes_once(tmp_path, tiny_model_files, settings):
    from config.celery_app import app

    broker_purge(app)
    staff = make_user("staffer", is_staff=True)
    model = make_model_repo(owner=staff, files=tiny_model_files)
    dataset = make_dataset_repo(owner=staff, files=simple_sft_files())
    worker = start_training_worker(tmp_path)
    try:
        run = start_run(
            staff,
            model,
            dataset,
            "sft",
            hyperparameters={"max_steps": 60, "save_steps": 5, "per_device_train_batch_size": 2, "learning_rate": 1e-3},
        )
        assert wait_for(lambda: TrainingRun.objects.get(pk=run.pk).step >= 12, timeout=180), (
            tmp_path / "worker.log"
        ).read_text()[-3000:]
        kill(worker)
        killed_at = TrainingRun.objects.get(pk=run.pk)
        assert killed_at.status == TrainingRun.Status.RUNNING and killed_at.step < 60
        checkpoint = last_checkpoint(run_dir(run.pk))
        assert checkpoint is not None and int(checkpoint.name.split("-")[1]) >= 10

        # Nothing is reaped while the heartbeat is fresh; once it is stale, the run goes back to the queue.
        assert training_runs_reap() == 0
        later = timezone.now() + timedelta(seconds=settings.FLYWHEEL_TRAINING_HEARTBEAT_TIMEOUT + 5)
        assert training_runs_reap(now=later) == 1
        requeued = TrainingRun.objects.get(pk=run.pk)
        assert requeued.status == TrainingRun.Status.QUEUED
        assert f"resuming from {checkpoint.name}" in requeued.log_tail[-1]

        worker = start_training_worker(tmp_path)
        assert wait_for(lambda: TrainingRun.objects.get(pk=run.pk).is_finished, timeout=180), (
            tmp_path / "worker.log"
        ).read_text()[-3000:]
    finally:
        kill(worker)
    run = TrainingRun.objects.get(pk=run.pk)
    assert run.status == TrainingRun.Status.SUCCEEDED, (run.error, run.log_tail)
    assert run.attempts == 2 and run.step == 60
    # The history holds each step once (the resumed attempt replaced the points after its checkpoint), and the
    # second attempt's clock starts at the step after the checkpoint: it resumed, it did not start over.
    points = [p for p in run.history if "loss" in p]
    steps = [p["step"] for p in points]
    assert steps == list(range(1, 61))
    timed = [p for p in points if "elapsed" in p]  # points replayed from the checkpoint have no clock
    restarts = [b["step"] for a, b in zip(timed, timed[1:], strict=False) if b["elapsed"] < a["elapsed"]]
    assert restarts == [int(checkpoint.name.split("-")[1]) + 1]
    assert run.output_commit is not None


def test_a_run_out_of_attempts_fails_with_the_reason(tiny_model_files, settings):
    staff = make_user("staffer", is_staff=True)
    model = make_model_repo(owner=staff, files=tiny_model_files)
    dataset = make_dataset_repo(owner=staff, files=simple_sft_files())
    run = start_run(staff, model, dataset, "sft", hyperparameters={"max_steps": 5})
    silent_since = timezone.now() - timedelta(seconds=settings.FLYWHEEL_TRAINING_HEARTBEAT_TIMEOUT + 30)
    TrainingRun.objects.filter(pk=run.pk).update(
        status=TrainingRun.Status.RUNNING,
        attempts=settings.FLYWHEEL_TRAINING_MAX_ATTEMPTS,
        step=3,
        heartbeat_at=silent_since,
    )
    assert training_runs_reap() == 1
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.FAILED and run.finished_at is not None
    assert run.error.startswith("Training stopped: the worker stopped responding at step 3 (no heartbeat for ")
    assert run.error.endswith(f"after {settings.FLYWHEEL_TRAINING_MAX_ATTEMPTS} attempts.")
    assert training_runs_reap() == 0  # reaped once
