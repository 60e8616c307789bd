"""The real Celery worker does the work that commits enqueue: counting a model's parameters."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import make_commit, make_repo
from models_hub.models import Repository
from tests.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def safetensors_bytes(tmp_path: Path, shapes: dict[str, tuple[int, ...]]) -> bytes:
    import torch
    from safetensors.torch import save_file

    path = tmp_path / "model.safetensors"
    save_file({name: torch.zeros(shape) for name, shape in shapes.items()}, str(path))
    return path.read_bytes()


def parameter_count(repo: Repository) -> int | None:
    return Repository.objects.values_list("parameter_count", flat=True).get(pk=repo.pk)


def test_worker_counts_the_parameters_of_a_committed_model(celery_worker, alice, tmp_path):
    repo = make_repo(owner=alice)
    weights = safetensors_bytes(tmp_path, {"embed.weight": (16, 8), "head.bias": (16,)})

    make_commit(repo=repo, author=alice, files={"model.safetensors": weights}, title="Add weights")

    assert wait_for(lambda: parameter_count(repo) == 16 * 8 + 16), parameter_count(repo)


def test_analysing_a_commit_twice_is_harmless(celery_worker, finished_task_ids, alice, tmp_path):
    from models_hub.tasks import commit_analyze

    repo = make_repo(owner=alice)
    weights = safetensors_bytes(tmp_path, {"w": (4, 4)})
    commit = make_commit(repo=repo, author=alice, files={"model.safetensors": weights})
    assert wait_for(lambda: parameter_count(repo) == 16)
    Repository.objects.filter(pk=repo.pk).update(parameter_count=None)

    runs = [commit_analyze.delay(commit.pk), commit_analyze.delay(commit.pk)]

    assert wait_for(lambda: all(run.id in finished_task_ids for run in runs)), finished_task_ids
    assert parameter_count(repo) == 16


def test_commit_without_weights_leaves_the_count_empty(celery_worker, finished_task_ids, alice):
    from models_hub.tasks import commit_analyze

    repo = make_repo(owner=alice)
    commit = make_commit(repo=repo, author=alice, files={"README.md": b"# no weights\n"})

    run = commit_analyze.delay(commit.pk)

    assert wait_for(lambda: run.id in finished_task_ids)
    assert parameter_count(repo) is None


def test_analysis_of_a_commit_that_is_no_longer_the_head_changes_nothing(
    celery_worker, finished_task_ids, alice, tmp_path
):
    from models_hub.tasks import commit_analyze

    repo = make_repo(owner=alice)
    old = make_commit(repo=repo, author=alice, files={"model.safetensors": safetensors_bytes(tmp_path, {"w": (2, 2)})})
    make_commit(repo=repo, author=alice, files={"model.safetensors": safetensors_bytes(tmp_path, {"w": (3, 3)})})
    assert wait_for(lambda: parameter_count(repo) == 9)

    run = commit_analyze.delay(old.pk)

    assert wait_for(lambda: run.id in finished_task_ids)
    assert parameter_count(repo) == 9


def test_worker_runs_the_storage_cleanup_that_beat_sends(celery_worker, finished_task_ids, alice):
    from datetime import timedelta

    from django.utils import timezone

    from models_hub.models import UploadSession
    from models_hub.storage import uploads
    from models_hub.tasks import storage_cleanup

    repo = make_repo(owner=alice)
    stale = uploads.upload_create(user=alice, repo=repo, path="abandoned.bin", size=10)
    UploadSession.objects.filter(pk=stale.pk).update(updated_at=timezone.now() - timedelta(days=2))
    fresh = uploads.upload_create(user=alice, repo=repo, path="on-its-way.bin", size=10)

    run = storage_cleanup.delay()

    assert wait_for(lambda: run.id in finished_task_ids)
    assert list(UploadSession.objects.values_list("pk", flat=True)) == [fresh.pk]
    assert not uploads.upload_file(stale).exists()
