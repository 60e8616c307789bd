"""The training job through a real Celery worker and database: result, lineage, progress, cancel."""

from __future__ import annotations

import pytest
import yaml

from conftest import make_user
from feedback.arena.models import Battle
from inference.models import Generation
from inference.services import generation_cancel
from inference.tests.conftest import make_model_repo
from models_hub.cards import split_card
from models_hub.models import Ref, TreeEntry
from models_hub.storage.blobs import blob_open
from tests.conftest import wait_for
from training.models import DeviceThroughput, TrainingRun
from training.services import training_run_cancel
from training.tests.datasets import kto_row, make_dataset_repo, preference_row, sft_row, snapshot_files, start_run

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def quick_reports(settings):
    settings.FLYWHEEL_TRAINING_REPORT_SECONDS = 0.2


def file_text(commit, path: str) -> str:
    entry = TreeEntry.objects.select_related("blob").get(commit=commit, path=path)
    with blob_open(entry.blob) as handle:
        return handle.read().decode()


def finished(run: TrainingRun, timeout: float = 120) -> TrainingRun:
    assert wait_for(lambda: TrainingRun.objects.get(pk=run.pk).is_finished, timeout=timeout)
    return TrainingRun.objects.get(pk=run.pk)


def test_an_sft_run_commits_weights_tokenizer_and_a_card_with_lineage_to_its_branch(celery_worker, tiny_model_files):
    staff = make_user("staffer", is_staff=True)
    model = make_model_repo(owner=staff, files=tiny_model_files)
    rows = [sft_row(f"Once upon a time {i}", " the cat played.") for i in range(12)]
    dataset = make_dataset_repo(owner=staff, files=snapshot_files(config="sft", train=rows, validation=rows[:3]))
    run = start_run(
        staff,
        model,
        dataset,
        "sft",
        hyperparameters={"max_steps": 4, "learning_rate": 1e-3, "per_device_train_batch_size": 4, "save_steps": 2},
    )
    run = finished(run)
    assert run.status == TrainingRun.Status.SUCCEEDED, (run.error, run.log_tail)
    assert run.step == run.total_steps == 4 and run.attempts == 1 and run.device == "cpu"
    assert [p["step"] for p in run.history if "loss" in p] == [1, 2, 3, 4]
    assert run.metrics["after"]["loss"] < run.metrics["before"]["loss"]
    assert run.metrics["after"]["perplexity"] > 1
    assert len(run.samples) == 3 and {"prompt", "parent", "child"} <= set(run.samples[0])
    branch = Ref.objects.get(repository=model, kind=Ref.Kind.BRANCH, name=f"run-{run.pk}")
    assert branch.commit == run.output_commit and run.output_commit.parent == run.base_commit
    paths = set(TreeEntry.objects.filter(commit=run.output_commit).values_list("path", flat=True))
    assert {"model.safetensors", "config.json", "tokenizer.json", "README.md"} <= paths
    assert not any(p.endswith((".bin", ".pt")) for p in paths)
    front, body = split_card(file_text(run.output_commit, "README.md"))
    card = yaml.safe_load(front)
    assert card["base_model"] == model.repo_id
    assert card["training"]["base_model"] == f"{model.repo_id}@{run.base_commit.oid}"
    assert card["training"]["datasets"] == [f"{dataset.repo_id}@{run.dataset_commit.oid}"]
    assert card["training"]["method"] == "sft" and card["training"]["hyperparameters"]["max_steps"] == 4
    assert card["training"]["metrics"]["after"]["loss"] == pytest.approx(run.metrics["after"]["loss"], rel=1e-4)
    assert f"## Training run run-{run.pk}" in body
    # main did not move: promotion is a separate, deliberate step.
    assert Ref.objects.get(repository=model, kind=Ref.Kind.BRANCH, name="main").commit == run.base_commit
    assert DeviceThroughput.objects.get(device="cpu", method="sft").tokens_per_second > 0
    # The arena's promotion gate: blind battles of run-<id> against main on the 3 held-out prompts.
    assert wait_for(lambda: Battle.objects.filter(pin__training_run_id=run.pk).count() == 3)
    for generation in Generation.objects.unfinished():  # their outputs are the arena's tests' subject, not this one's
        generation_cancel(generation=generation)


def test_a_dpo_run_with_lora_reports_preference_metrics(celery_worker, tiny_model_files):
    staff = make_user("staffer", is_staff=True)
    model = make_model_repo(owner=staff, files=tiny_model_files)
    rows = [
        preference_row(f"Once upon a time {i}", " a cat.", " the dog came to visit and played all day.")
        for i in range(10)
    ]
    dataset = make_dataset_repo(owner=staff, files=snapshot_files(config="preference", train=rows, validation=rows[:3]))
    run = start_run(
        staff,
        model,
        dataset,
        "dpo",
        hyperparameters={"max_steps": 3, "learning_rate": 5e-3, "per_device_train_batch_size": 4},
        use_lora=True,
    )
    run = finished(run)
    assert run.status == TrainingRun.Status.SUCCEEDED, (run.error, run.log_tail)
    assert run.metrics["before"]["reward_margin"] == pytest.approx(0.0, abs=1e-6)
    assert run.metrics["after"]["reward_margin"] > 0
    paths = set(TreeEntry.objects.filter(commit=run.output_commit).values_list("path", flat=True))
    assert "model.safetensors" in paths and "adapter_config.json" not in paths  # merged into full weights


def test_cancel_stops_a_running_job_at_its_next_step(celery_worker, tiny_model_files):
    staff = make_user("staffer", is_staff=True)
    model = make_model_repo(owner=staff, files=tiny_model_files)
    rows = [sft_row(f"Once upon a time {i}", " the cat played.") for i in range(12)]
    dataset = make_dataset_repo(owner=staff, files=snapshot_files(config="sft", train=rows, validation=rows[:2]))
    run = start_run(
        staff,
        model,
        dataset,
        "sft",
        hyperparameters={"max_steps": 100_000, "per_device_train_batch_size": 2, "save_steps": 100_000},
    )
    assert wait_for(lambda: TrainingRun.objects.get(pk=run.pk).step >= 2, timeout=60)
    training_run_cancel(run=run, user=staff)
    run = finished(run, timeout=30)
    assert run.status == TrainingRun.Status.CANCELLED
    assert 2 <= run.step < 100_000 and run.output_commit is None
    assert not Ref.objects.filter(repository=model, name=f"run-{run.pk}").exists()
    assert any("stopped at step" in line for line in run.log_tail)


def test_a_kto_run_on_thumbs_trains_and_reports_preference_metrics(celery_worker, tiny_model_files):
    staff = make_user("staffer", is_staff=True)
    model = make_model_repo(owner=staff, files=tiny_model_files)
    rows = [kto_row(f"Once upon a time {i}", " a cat." if i % 2 else " a dog ran off.", bool(i % 2)) for i in range(12)]
    dataset = make_dataset_repo(owner=staff, files=snapshot_files(config="kto", train=rows, validation=rows[:4]))
    hyperparameters = {"max_steps": 3, "learning_rate": 5e-3, "per_device_train_batch_size": 4}
    run = finished(start_run(staff, model, dataset, "kto", hyperparameters=hyperparameters))
    assert run.status == TrainingRun.Status.SUCCEEDED, (run.error, run.log_tail)
    assert run.metrics["before"]["preference_accuracy"] == 0.5  # the parent against itself: no reward either way
    assert run.metrics["after"]["reward_margin"] > run.metrics["before"]["reward_margin"]
