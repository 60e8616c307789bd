from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from conftest import make_commit, make_repo
from inference.tests.conftest import make_model_repo
from models_hub.errors import Conflict, Forbidden
from training.models import TrainingRun
from training.services import training_run_cancel
from training.tests.datasets import (
    kto_row,
    make_dataset_repo,
    preference_row,
    sft_row,
    simple_sft_files,
    snapshot_card,
    snapshot_files,
    start_run,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def model(staff, tiny_model_files):
    return make_model_repo(owner=staff, files=tiny_model_files)


def refusal(user, model, dataset, **kwargs) -> str:
    with pytest.raises(ValidationError) as caught:
        start_run(user, model, dataset, **kwargs)
    return " ".join(caught.value.messages)


def test_staff_start_a_run_on_a_snapshot_with_every_default_filled_in(staff, model):
    dataset = make_dataset_repo(owner=staff, files=simple_sft_files())
    run = start_run(staff, model, dataset)
    assert run.status == TrainingRun.Status.QUEUED
    assert run.output_branch == f"run-{run.pk}"
    assert run.base_commit.repository == model and run.dataset_commit.repository == dataset
    assert run.hyperparameters["max_steps"] == 2 and run.hyperparameters["learning_rate"] == 2e-5
    assert run.estimate_seconds and run.estimate_seconds > 0


def test_non_staff_cannot_start_or_cancel(staff, alice, model):
    dataset = make_dataset_repo(owner=staff, files=simple_sft_files())
    with pytest.raises(Forbidden):
        start_run(alice, model, dataset)
    run = start_run(staff, model, dataset)
    with pytest.raises(Forbidden):
        training_run_cancel(run=run, user=alice)


def test_too_few_rows_are_refused(staff, model):
    dataset = make_dataset_repo(owner=staff, files=simple_sft_files(rows=3))
    assert "Too few rows to train on: the train split of 'sft' has 3, at least 8" in refusal(staff, model, dataset)
    assert not TrainingRun.objects.exists()


def test_a_dataset_without_a_validation_split_is_refused(staff, model):
    files = simple_sft_files()
    del files["sft/validation.jsonl"]
    files["README.md"] = snapshot_card(["sft"], splits=["train"])
    dataset = make_dataset_repo(owner=staff, files=files)
    assert "no validation split for the 'sft' config" in refusal(staff, model, dataset)


def test_a_format_that_does_not_fit_the_method_is_refused(staff, model):
    sft = make_dataset_repo(owner=staff, files=simple_sft_files(), name="sft-only")
    assert "no train split for the 'preference' config that DPO reads" in refusal(staff, model, sft, method="dpo")
    pairs = [preference_row("p", " a", " b")] * 10
    wrong = snapshot_files(config="kto", train=pairs, validation=pairs[:2])
    dataset = make_dataset_repo(owner=staff, files=wrong, name="wrong-columns")
    message = refusal(staff, model, dataset, method="kto", hyperparameters={"per_device_train_batch_size": 2})
    assert "KTO needs prompt/completion/label rows; the train split of 'kto' has chosen, prompt, rejected." in message


def test_a_dataset_still_being_validated_is_refused_until_its_report_is_in(staff, model):
    dataset = make_dataset_repo(owner=staff, files=simple_sft_files(), validate=False)
    assert "still being validated" in refusal(staff, model, dataset)


def test_a_dataset_whose_validation_failed_is_refused_with_its_problems(staff, model):
    files = simple_sft_files()
    files["sft/train.jsonl"] += b'{"prompt": "broken line\n'
    dataset = make_dataset_repo(owner=staff, files=files)
    message = refusal(staff, model, dataset)
    assert message.startswith("The dataset revision failed validation: sft/train.jsonl:13: ")


def test_kto_needs_two_rows_per_batch(staff, model):
    rows = [kto_row("p", " a", True), kto_row("p", " b", False)] * 5
    dataset = make_dataset_repo(owner=staff, files=snapshot_files(config="kto", train=rows, validation=rows[:2]))
    message = refusal(staff, model, dataset, method="kto", hyperparameters={"per_device_train_batch_size": 1})
    assert "KTO needs per_device_train_batch_size of at least 2" in message


def test_pickle_only_models_are_refused(staff, tiny_model_files):
    files = {k: v for k, v in tiny_model_files.items() if not k.endswith(".safetensors")}
    files["pytorch_model.bin"] = b"\x80\x04not really a pickle"
    repo = make_repo(owner=staff, name="pickled")
    make_commit(repo=repo, author=staff, files=files)
    dataset = make_dataset_repo(owner=staff, files=simple_sft_files())
    assert "only has pickle-based weights (pytorch_model.bin)" in refusal(staff, repo, dataset)


@pytest.mark.parametrize(
    ("hyperparameters", "message"),
    [
        ({"max_steps": -1}, "max_steps must be between 0 and 1e+06."),
        ({"learning_rate": "fast"}, "learning_rate must be a number."),
        ({"max_steps": 2.5}, "max_steps must be a whole number."),
        ({"<script>": 1}, "Unknown hyper-parameters: <script>"),
        ("not an object", "hyperparameters must be an object"),
    ],
)
def test_bad_hyperparameters_are_refused_by_name(staff, model, hyperparameters, message):
    dataset = make_dataset_repo(owner=staff, files=simple_sft_files())
    assert message in refusal(staff, model, dataset, hyperparameters=hyperparameters)


def test_unknown_revisions_and_methods_are_refused(staff, model):
    dataset = make_dataset_repo(owner=staff, files=simple_sft_files())
    assert "has no revision 'nope'" in refusal(staff, model, dataset, revision="nope")
    assert "Unknown method 'ppo'" in refusal(staff, model, dataset, method="ppo")


def test_cancel_a_queued_run_ends_it_and_a_finished_one_cannot_be_cancelled(staff, model):
    dataset = make_dataset_repo(owner=staff, files=simple_sft_files())
    run = start_run(staff, model, dataset)
    run = training_run_cancel(run=run, user=staff)
    assert run.status == TrainingRun.Status.CANCELLED and run.finished_at is not None
    with pytest.raises(Conflict, match="has already cancelled"):
        training_run_cancel(run=run, user=staff)


def test_sft_reads_messages_rows_too(staff, model):
    rows = [{"messages": sft_row("p", " a")["messages"]}] * 10
    dataset = make_dataset_repo(owner=staff, files=snapshot_files(config="sft", train=rows, validation=rows[:2]))
    assert start_run(staff, model, dataset).status == TrainingRun.Status.QUEUED
