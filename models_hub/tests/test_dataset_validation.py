"""A commit to a dataset repository is validated by config and split; results are reused by content."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from conftest import client_for, make_commit, make_repo
from models_hub.dataset_selectors import dataset_validation_for
from models_hub.models import DataFileCheck, DatasetValidation
from models_hub.services import dataset_validation
from models_hub.services.dataset_validation import dataset_validation_run, dataset_validations_resend

pytestmark = pytest.mark.django_db

SNAPSHOT_CARD = b"""---
license: mit
configs:
- config_name: sft
  data_files:
  - split: train
    path: sft/train.jsonl
  - split: validation
    path: sft/validation.jsonl
- config_name: preference
  data_files:
  - split: train
    path: preference/train.jsonl
---
# Snapshot
"""


def lines(rows: list[dict]) -> bytes:
    return b"".join(json.dumps(row).encode() + b"\n" for row in rows)


def sft_rows(count: int) -> list[dict]:
    return [
        {
            "prompt": f"Tell me about {i}",
            "completion": f" It is {i}.",
            "messages": [
                {"role": "user", "content": f"Tell me about {i}"},
                {"role": "assistant", "content": f" It is {i}."},
            ],
        }
        for i in range(count)
    ]


def validate(commit) -> DatasetValidation:
    validation = DatasetValidation.objects.get(commit=commit)
    dataset_validation_run(validation_id=validation.pk)
    validation.refresh_from_db()
    return validation


def test_a_dataset_commit_is_queued_and_a_model_commit_is_not(alice):
    data = make_repo(owner=alice, name="data", kind="dataset")
    model = make_repo(owner=alice, name="model")
    commit = make_commit(repo=data, author=alice, files={"train.jsonl": lines(sft_rows(3))})
    model_commit = make_commit(repo=model, author=alice, files={"config.json": b"{}"})
    assert DatasetValidation.objects.get(commit=commit).status == DatasetValidation.Status.QUEUED
    assert dataset_validation_for(commit).status == "pending"
    assert dataset_validation_for(model_commit) is None


def test_snapshot_layout_is_reported_by_config_and_split_with_formats(alice):
    repo = make_repo(owner=alice, name="snap", kind="dataset")
    commit = make_commit(
        repo=repo,
        author=alice,
        files={
            "README.md": SNAPSHOT_CARD,
            "sft/train.jsonl": lines(sft_rows(8)),
            "sft/validation.jsonl": lines(sft_rows(2)),
            "preference/train.jsonl": lines([{"prompt": "p", "chosen": " a", "rejected": " b"}] * 4),
        },
    )
    assert validate(commit).status == DatasetValidation.Status.VALID
    report = dataset_validation_for(commit)
    assert report.status == "valid" and report.is_valid and report.problem_count == 0
    assert [config.name for config in report.configs] == ["sft", "preference"]
    train = report.split("sft", "train")
    assert (train.rows, train.format, train.formats) == (8, "messages", ["messages", "prompt_completion"])
    assert train.column_names == ["prompt", "completion", "messages"]
    assert report.split("sft", "validation").rows == 2
    assert report.split("preference", "train").format == "preference"
    assert report.split("sft", "test") is None and report.config("kto") is None


def test_broken_file_marks_the_commit_invalid_but_keeps_it(alice):
    repo = make_repo(owner=alice, name="broken", kind="dataset")
    body = lines(sft_rows(5)) + b'{"prompt": oops}\n' + lines(sft_rows(2))
    commit = make_commit(repo=repo, author=alice, files={"train.jsonl": body, "validation.csv": b"a,b\n1,2\n3\n"})
    assert validate(commit).status == DatasetValidation.Status.INVALID
    report = dataset_validation_for(commit)
    assert report.status == "invalid" and report.problem_count == 2
    assert [(p["path"], p["line"]) for p in report.problems] == [("train.jsonl", 6), ("validation.csv", 3)]
    assert report.split("default", "train").rows == 7
    assert repo.refs.get(name="main").commit == commit


def test_nul_characters_in_the_data_are_stored_as_replacement_characters_and_the_rows_keep_them(alice):
    """PostgreSQL's jsonb refuses NUL: a column name or value holding one (JSON's \\u0000) used to leave the
    validation running for ever. The report shows U+FFFD; the rows, read from the file, are served as they are."""
    repo = make_repo(owner=alice, name="nul-chars", kind="dataset")
    body = b'{"text": "a\\u0000b", "k\\u0000": 1}\n{"text": "c", "k\\u0000": 2}\n'
    commit = make_commit(repo=repo, author=alice, files={"train.jsonl": body})

    assert validate(commit).status == DatasetValidation.Status.VALID
    split = dataset_validation_for(commit).split("default", "train")
    assert split.rows == 2 and "k\ufffd" in [column["name"] for column in split.columns]
    rows = client_for(alice).get("/api/v1/datasets/alice/nul-chars/rows").json()["rows"]
    assert rows[0]["row"] == {"text": "a\x00b", "k\x00": 1}


def test_a_commit_that_changes_one_file_reads_only_that_file(alice, monkeypatch):
    repo = make_repo(owner=alice, name="reuse", kind="dataset")
    first = make_commit(
        repo=repo, author=alice, files={"train.jsonl": lines(sft_rows(10)), "validation.jsonl": lines(sft_rows(3))}
    )
    validate(first)
    read: list[str] = []
    real = dataset_validation.validate_file

    def recording(handle, file_format, progress=None):
        read.append(file_format)
        return real(handle, file_format, progress)

    monkeypatch.setattr(dataset_validation, "validate_file", recording)
    second = make_commit(repo=repo, author=alice, files={"validation.jsonl": lines(sft_rows(4))})
    validate(second)
    assert read == ["jsonl"]
    assert DataFileCheck.objects.count() == 3
    report = dataset_validation_for(second)
    assert (report.split("default", "train").rows, report.split("default", "validation").rows) == (10, 4)


def test_running_twice_does_the_work_once(alice):
    repo = make_repo(owner=alice, name="twice", kind="dataset")
    commit = make_commit(repo=repo, author=alice, files={"train.csv": b"text\nhello\n"})
    validation = validate(commit)
    finished_at = validation.finished_at
    dataset_validation_run(validation_id=validation.pk)
    validation.refresh_from_db()
    assert validation.finished_at == finished_at and validation.attempts == 1


def test_card_config_matching_nothing_is_a_problem(alice):
    repo = make_repo(owner=alice, name="nomatch", kind="dataset")
    card = b"---\nconfigs:\n- config_name: main\n  data_files: data/*.parquet\n---\n"
    commit = make_commit(repo=repo, author=alice, files={"README.md": card, "other.jsonl": b'{"text": "x"}\n'})
    assert validate(commit).status == DatasetValidation.Status.INVALID
    assert dataset_validation_for(commit).problems[0]["message"] == (
        "Config 'main', split 'train': no data file matches data/*.parquet."
    )


def test_lost_and_stale_validations_are_sent_again_and_a_dead_run_is_taken_over(alice, time_machine):
    repo = make_repo(owner=alice, name="stuck", kind="dataset")
    commit = make_commit(repo=repo, author=alice, files={"train.jsonl": b'{"text": "a"}\n'})
    validation = DatasetValidation.objects.get(commit=commit)
    assert dataset_validations_resend() == 0  # just queued: its message is on its way
    time_machine.move_to(timezone.now() + timedelta(minutes=6))
    assert dataset_validations_resend() == 1
    # A worker claimed it, then died: its heartbeat goes stale and another run takes over.
    DatasetValidation.objects.filter(pk=validation.pk).update(
        status=DatasetValidation.Status.RUNNING, heartbeat_at=timezone.now()
    )
    dataset_validation_run(validation_id=validation.pk)
    assert DatasetValidation.objects.get(pk=validation.pk).status == DatasetValidation.Status.RUNNING
    time_machine.move_to(timezone.now() + timedelta(minutes=11))
    assert dataset_validations_resend() == 1
    dataset_validation_run(validation_id=validation.pk)
    validation.refresh_from_db()
    assert (validation.status, validation.attempts) == (DatasetValidation.Status.VALID, 1)


def test_staff_validate_a_commit_again_from_the_admin(alice):
    from conftest import client_for, make_user

    repo = make_repo(owner=alice, name="again", kind="dataset")
    commit = make_commit(repo=repo, author=alice, files={"train.jsonl": b'{"text": "a"}\n'})
    validation = validate(commit)
    admin = make_user("root", is_staff=True, is_superuser=True)
    client = client_for(admin)
    assert client.get("/admin/models_hub/datasetvalidation/").status_code == 200
    response = client.post(
        "/admin/models_hub/datasetvalidation/",
        {"action": "validate_again", "_selected_action": [validation.pk]},
        follow=True,
    )
    assert "1 validation queued again." in response.content.decode()
    assert dataset_validation_for(commit).status == "pending"
    dataset_validation_run(validation_id=validation.pk)
    assert dataset_validation_for(commit).status == "valid"


def test_a_file_the_reader_trips_over_is_a_problem_not_a_stuck_validation(alice, monkeypatch):
    def trip(handle, file_format, progress=None):
        raise ValueError("unexpected bytes")

    monkeypatch.setattr(dataset_validation, "validate_file", trip)
    repo = make_repo(owner=alice, name="trips", kind="dataset")
    commit = make_commit(repo=repo, author=alice, files={"train.jsonl": b'{"text": "a"}\n'})
    assert validate(commit).status == DatasetValidation.Status.INVALID
    assert dataset_validation_for(commit).problems[0]["message"] == (
        "The file could not be checked (ValueError: unexpected bytes)."
    )
    assert not DataFileCheck.objects.exists()  # nothing stored: validating again reads it again
