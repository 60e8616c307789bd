"""The admin panel: "Retrain from feedback…" on a model, the retrain form (check, start), training runs read only
with a link to their page, cancel, promotions; the demo user of `make run` can do all of it."""

from __future__ import annotations

import pytest

from conftest import client_for
from inference.tests.conftest import make_model_repo
from training.management.commands.load_demo import demo_user_ensure
from training.models import Promotion, TrainingRun
from training.promotions import training_run_promote
from training.tests.datasets import make_dataset_repo, simple_sft_files
from training.tests.runs import make_model_and_dataset, make_run

pytestmark = pytest.mark.django_db

RETRAIN = "/admin/training/trainingrun/retrain/"


@pytest.fixture
def demo(db):
    return demo_user_ensure()


def test_the_demo_user_retrains_a_model_from_the_admin_panel(demo, tiny_model_files):
    model = make_model_repo(owner=demo, files=tiny_model_files)
    make_dataset_repo(owner=demo, files=simple_sft_files(rows=12))
    client = client_for(demo)

    response = client.post(
        "/admin/models_hub/repository/",
        {"action": "retrain_from_feedback", "_selected_action": [model.pk]},
    )
    assert response.status_code == 302 and response["Location"] == f"{RETRAIN}?base=demo%2Ftiny"
    form = client.get(response["Location"]).content.decode()
    assert 'value="demo/tiny"' in form and 'hx-post="/training/runs/new/check"' in form
    assert "Hyper-parameters" in form and "htmx.min.js" in form and "{#" not in form

    data = {
        "base_model": "demo/tiny",
        "revision": "main",
        "dataset": "demo/feedback",
        "dataset_revision": "main",
        "method": "sft",
        "use_lora": "on",
        "max_steps": "3",
        "per_device_train_batch_size": "2",
        "gradient_accumulation_steps": "1",
        "max_length": "64",
        "seed": "1",
    }
    checked = client.post(f"{RETRAIN}?base=demo%2Ftiny", {**data, "check": "1"}).content.decode()
    assert "Estimated time: About" in checked and not TrainingRun.objects.exists()

    started = client.post(f"{RETRAIN}?base=demo%2Ftiny", {**data, "start": "1"})
    run = TrainingRun.objects.get()
    assert started.status_code == 302 and started["Location"] == f"/training/runs/{run.pk}"
    assert run.use_lora and run.created_by == demo

    listing = client.get("/admin/training/trainingrun/?status__exact=queued").content.decode()
    assert f"run-{run.pk}" in listing and "Cancel the selected runs" in listing
    change = client.get(f"/admin/training/trainingrun/{run.pk}/change/").content.decode()
    assert f'href="/training/runs/{run.pk}"' in change and "<progress" in change
    assert f'hx-get="/training/runs/{run.pk}" hx-trigger="load"' in change and 'id="loss-chart"' in change
    assert client.get("/admin/training/trainingrun/add/")["Location"] == RETRAIN

    client.post("/admin/training/trainingrun/", {"action": "cancel_runs", "_selected_action": [run.pk]})
    assert TrainingRun.objects.get().status == "cancelled"


def test_the_action_wants_exactly_one_model(demo):
    model, dataset = make_model_and_dataset(demo)
    client = client_for(demo)
    response = client.post(
        "/admin/models_hub/repository/",
        {"action": "retrain_from_feedback", "_selected_action": [model.pk, dataset.pk]},
        follow=True,
    )
    assert "Choose exactly one model repository" in response.content.decode()
    response = client.post(
        "/admin/models_hub/repository/", {"action": "retrain_from_feedback", "_selected_action": [dataset.pk]}
    )
    assert response.status_code == 302 and "retrain" not in response["Location"]


def test_people_who_are_not_staff_never_reach_the_retrain_form(alice):
    response = client_for(alice).post(RETRAIN, {"start": "1"})
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    assert client_for(None).get(RETRAIN)["Location"].startswith("/admin/login/")
    assert not TrainingRun.objects.exists()


def test_promotions_are_listed_read_only(demo):
    model, dataset = make_model_and_dataset(demo)
    run = make_run(model=model, dataset=dataset, user=demo)
    promotion = training_run_promote(run=run, user=demo, reason="lower loss")
    client = client_for(demo)
    assert "lower loss" in client.get(f"/admin/training/promotion/{promotion.pk}/change/").content.decode()
    assert "/admin/training/promotion/add/" not in client.get("/admin/training/promotion/").content.decode()
    assert Promotion.objects.count() == 1
