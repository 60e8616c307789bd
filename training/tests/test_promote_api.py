"""REST: POST /api/v1/training-runs/{id}/promote — staff only, a reason, 409 with a message for runs that did not
succeed, fast-forward or new commit as the service decides, in the OpenAPI schema."""

from __future__ import annotations

import json

import pytest

from accounts.services import token_create
from conftest import client_for, make_commit
from training.models import Promotion
from training.tests.runs import head_of, make_model_and_dataset, make_run

pytestmark = pytest.mark.django_db


def promote(client, run, body, **headers):
    return client.post(
        f"/api/v1/training-runs/{run.pk}/promote", json.dumps(body), content_type="application/json", **headers
    )


def test_staff_promote_a_succeeded_run_and_get_the_record_back(staff):
    model, dataset = make_model_and_dataset(staff)
    run = make_run(model=model, dataset=dataset, user=staff)
    response = promote(client_for(staff), run, {"reason": "Lower validation loss"})
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["kind"] == "promote" and body["fast_forward"] is True and body["run"] == run.pk
    assert body["from_commit"] == run.base_commit.oid and body["to_commit"] == run.output_commit.oid
    assert body["user"] == staff.username and body["reason"] == "Lower validation loss"
    assert body["evidence"]["metrics"]["after"]["eval_loss"] == 2.1
    assert head_of(model) == run.output_commit


def test_a_write_token_promotes_and_main_that_moved_gets_a_new_commit(staff):
    model, dataset = make_model_and_dataset(staff)
    run = make_run(model=model, dataset=dataset, user=staff)
    moved = make_commit(repo=model, author=staff, files={"notes.txt": b"x"}, title="Moved")
    secret = token_create(user=staff, name="ci", scope="write").secret
    response = promote(client_for(None), run, {"reason": "ship"}, HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 201, response.json()
    assert response.json()["fast_forward"] is False and head_of(model).parent == moved


@pytest.mark.parametrize("status", ["failed", "cancelled", "running"])
def test_promoting_a_run_that_did_not_succeed_is_409_with_a_message(staff, status):
    model, dataset = make_model_and_dataset(staff)
    run = make_run(model=model, dataset=dataset, user=staff, status=status)
    response = promote(client_for(staff), run, {"reason": "try"})
    assert response.status_code == 409
    assert "only a run that succeeded can be promoted" in json.dumps(response.json())
    assert head_of(model) == run.base_commit and not Promotion.objects.exists()


def test_anonymous_401_non_staff_403_unknown_404_bad_body_400(staff, alice):
    model, dataset = make_model_and_dataset(alice)
    run = make_run(model=model, dataset=dataset, user=alice)
    assert promote(client_for(None), run, {"reason": "r"}).status_code == 401
    refused = promote(client_for(alice), run, {"reason": "r"})  # owning the model is not enough
    assert refused.status_code == 403 and "Only staff promote" in refused.json()["error"]
    client = client_for(staff)
    assert client.post("/api/v1/training-runs/999/promote", "{}", content_type="application/json").status_code == 404
    for body in ({}, {"reason": 5}, {"reason": "  "}, ["reason"], {"reason": "x" * 2001}):
        response = promote(client, run, body)
        assert response.status_code == 400, body
        assert "reason" in json.dumps(response.json())
    assert head_of(model) == run.base_commit and not Promotion.objects.exists()


def test_promote_is_in_the_openapi_schema(staff):
    schema = client_for(staff).get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()
    operation = schema["paths"]["/api/v1/training-runs/{run_id}/promote"]["post"]
    assert operation["operationId"] == "training_run_promote"
    assert {"201", "409"} <= set(operation["responses"])
