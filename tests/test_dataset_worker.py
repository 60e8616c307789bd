"""A real Celery worker validates what a commit to a dataset puts in: queued on commit, run once, reused."""

from __future__ import annotations

import json

import pytest

from conftest import make_commit, make_repo
from models_hub.dataset_selectors import dataset_validation_for
from models_hub.models import DataFileCheck, DatasetValidation
from tests.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def status_of(commit) -> str:
    report = dataset_validation_for(commit)
    return report.status if report else "none"


def test_worker_validates_each_commit_and_reuses_unchanged_files(celery_worker, finished_task_ids, alice):
    repo = make_repo(owner=alice, name="worked", kind="dataset")
    train = b"".join(json.dumps({"text": f"story {i}"}).encode() + b"\n" for i in range(500))
    first = make_commit(
        repo=repo, author=alice, files={"train.jsonl": train, "validation.csv": b"text\nend\n"}, title="Add data"
    )
    assert wait_for(lambda: status_of(first) == "valid", timeout=30), status_of(first)
    report = dataset_validation_for(first)
    assert report.split("default", "train").rows == 500 and report.split("default", "train").format == "text"
    checks = set(DataFileCheck.objects.values_list("pk", flat=True))

    second = make_commit(
        repo=repo, author=alice, files={"validation.csv": b"text\nend\nmore\n\xff\n"}, title="Break it"
    )
    assert wait_for(lambda: status_of(second) == "invalid", timeout=30), status_of(second)
    problems = dataset_validation_for(second).problems
    assert [(p["path"], p["line"]) for p in problems] == [("validation.csv", 4)]
    # Only the changed file was read again: the train file's check is the same row.
    assert len(set(DataFileCheck.objects.values_list("pk", flat=True)) - checks) == 1

    from models_hub.tasks import dataset_validate

    validation = DatasetValidation.objects.get(commit=second)
    finished_at = validation.finished_at
    run = dataset_validate.delay(validation.pk)  # a redelivered message
    assert wait_for(lambda: run.id in finished_task_ids)
    validation.refresh_from_db()
    assert validation.finished_at == finished_at and validation.attempts == 1
