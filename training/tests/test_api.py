from __future__ import annotations

import json

import pytest

from conftest import client_for
from inference.tests.conftest import make_model_repo
from training.models import TrainingRun
from training.tests.datasets import make_dataset_repo, simple_sft_files

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(staff, tiny_model_files):
    model = make_model_repo(owner=staff, files=tiny_model_files)
    dataset = make_dataset_repo(owner=staff, files=simple_sft_files())
    body = {
        "base_model": model.repo_id,
        "dataset": dataset.repo_id,
        "method": "sft",
        "hyperparameters": {"max_steps": 5},
    }
    return model, dataset, body


def post(client, url: str, body=None):
    return client.post(url, json.dumps(body or {}), content_type="application/json")


def test_staff_start_a_run_and_read_it_back(staff, setup, django_assert_max_num_queries):
    model, dataset, body = setup
    client = client_for(staff)
    response = post(client, "/api/v1/training-runs", body)
    assert response.status_code == 202, response.json()
    created = response.json()
    assert created["status"] == "queued" and created["estimate_seconds"] > 0
    with django_assert_max_num_queries(4):
        run = client.get(f"/api/v1/training-runs/{created['id']}").json()
    assert run["status"] == "queued"
    assert run["progress"] == {"step": 0, "total_steps": 0, "loss": None}
    assert run["output"] == {"model": model.repo_id, "branch": f"run-{created['id']}", "commit": None}
    assert run["base_model"].startswith(f"{model.repo_id}@") and run["dataset"].startswith(f"{dataset.repo_id}@")


def test_anonymous_get_401_and_non_staff_get_403_everywhere(staff, alice, setup):
    _, _, body = setup
    run_id = post(client_for(staff), "/api/v1/training-runs", body).json()["id"]
    for client, status in ((client_for(None), 401), (client_for(alice), 403)):
        assert post(client, "/api/v1/training-runs", body).status_code == status
        assert client.get(f"/api/v1/training-runs/{run_id}").status_code == status
        response = post(client, f"/api/v1/training-runs/{run_id}/cancel")
        assert response.status_code == status and response.json()["error"]
    assert TrainingRun.objects.get(pk=run_id).status == "queued"


def test_cancel_through_the_api_and_twice_is_a_conflict(staff, setup):
    _, _, body = setup
    client = client_for(staff)
    run_id = post(client, "/api/v1/training-runs", body).json()["id"]
    response = post(client, f"/api/v1/training-runs/{run_id}/cancel")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    again = post(client, f"/api/v1/training-runs/{run_id}/cancel")
    assert again.status_code == 409 and "already cancelled" in again.json()["error"]
    assert client.get("/api/v1/training-runs/999999").status_code == 404


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"base_model": "<script>alert(1)</script>"}, "'base_model' must be a repository id"),
        ({"base_model": "nobody/nothing"}, "Repository Not Found"),
        ({"dataset": 42}, "'dataset' must be a repository id"),
        ({"method": "ppo"}, "Unknown method 'ppo'"),
        ({"method": ["sft"]}, "Unknown method ''"),
        ({"revision": "x" * 10_000}, "'revision' must be a branch, tag or commit id."),
        ({"use_lora": "yes"}, "'use_lora' must be true or false."),
        ({"hyperparameters": {"learning_rate": 5}}, "learning_rate must be between"),
        ({"hyperparameters": {"max_steps": 1e300}}, "max_steps must be between"),
    ],
)
def test_bad_requests_get_400_with_a_reason_and_create_nothing(staff, setup, change, message):
    _, _, body = setup
    response = post(client_for(staff), "/api/v1/training-runs", {**body, **change})
    assert response.status_code in (400, 404)
    assert message in response.json()["error"]
    assert not TrainingRun.objects.exists()


def test_a_gate_refusal_reaches_the_api_as_400(staff, setup):
    model, _, body = setup
    tiny = make_dataset_repo(owner=staff, files=simple_sft_files(rows=2), name="tiny-feedback")
    response = post(client_for(staff), "/api/v1/training-runs", {**body, "dataset": tiny.repo_id})
    assert response.status_code == 400
    assert "Too few rows to train on" in response.json()["error"]


def test_the_runs_are_in_the_openapi_schema(staff):
    schema = client_for(staff).get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()
    assert {"/api/v1/training-runs/", "/api/v1/training-runs/{run_id}", "/api/v1/training-runs/{run_id}/cancel"} <= set(
        schema["paths"]
    )
