"""REST: POST /api/v1/training-runs/{id}/promote — staff only, a reason, 409 with a message for runs that did not
succeed, fast-forward or new commit as the service decides, in the OpenAPI schema. Then a model's history
(GET .../promotions) and POST .../rollback, which puts back the files of a revision main held."""

from __future__ import annotations

import json

import pytest

from accounts.services import token_create
from conftest import client_for, make_commit, make_repo, make_user
from models_hub.models import TreeEntry
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
    for body in ({}, {"reason": 5}, {"reason": "  "}, ["reason"], {"reason": "x" * 2001}, {"reason": "a\x00b"}):
        response = promote(client, run, body)
        assert response.status_code == 400, body
        assert "reason" in json.dumps(response.json())
    assert head_of(model) == run.base_commit and not Promotion.objects.exists()


def test_promote_is_in_the_openapi_schema(staff):
    schema = client_for(staff).get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()
    operation = schema["paths"]["/api/v1/training-runs/{run_id}/promote"]["post"]
    assert operation["operationId"] == "training_run_promote"
    assert {"201", "409"} <= set(operation["responses"])
    rollback = schema["paths"]["/api/v1/models/{namespace}/{name}/rollback"]["post"]
    assert rollback["operationId"] == "model_rollback" and {"201", "409"} <= set(rollback["responses"])
    assert schema["paths"]["/api/v1/models/{namespace}/{name}/promotions"]["get"]["operationId"] == "model_promotions"


def files_of(commit) -> dict:
    return dict(TreeEntry.objects.filter(commit=commit).values_list("path", "blob_id"))


def post_json(client, url, body, **headers):
    return client.post(url, json.dumps(body), content_type="application/json", **headers)


def test_staff_roll_a_promotion_back_through_the_api_and_the_history_lists_both(staff, alice):
    model, dataset = make_model_and_dataset(staff)
    run = make_run(model=model, dataset=dataset, user=staff)
    client = client_for(staff)
    assert promote(client, run, {"reason": "Lower validation loss"}).status_code == 201
    secret = token_create(user=staff, name="ops", scope="write").secret

    response = post_json(
        client_for(None),
        "/api/v1/models/staffer/tiny/rollback",
        {"commit": run.base_commit.oid, "reason": "Answers got worse"},
        HTTP_AUTHORIZATION=f"Bearer {secret}",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["kind"] == "rollback" and body["reason"] == "Answers got worse" and body["user"] == "staffer"
    assert body["from_commit"] == run.output_commit.oid and body["evidence"]["restored"] == run.base_commit.oid
    head = head_of(model)
    assert body["to_commit"] == head.oid and head.parent == run.output_commit  # a new commit: undoable
    assert files_of(head) == files_of(run.base_commit)
    history = client_for(alice).get("/api/v1/models/staffer/tiny/promotions").json()  # readers see the history
    assert history["count"] == 2 and [p["kind"] for p in history["results"]] == ["rollback", "promote"]


def test_rollback_refusals_say_why_and_change_nothing(staff, alice):
    model, dataset = make_model_and_dataset(staff)
    run = make_run(model=model, dataset=dataset, user=staff)  # its commit is on its branch, never on main
    base = run.base_commit
    url = "/api/v1/models/staffer/tiny/rollback"
    client = client_for(staff)

    assert post_json(client_for(None), url, {"commit": base.oid, "reason": "r"}).status_code == 401
    refused = post_json(client_for(alice), url, {"commit": base.oid, "reason": "r"})
    assert refused.status_code == 403 and "Only staff roll back" in refused.json()["error"]
    read_only = token_create(user=staff, name="ro", scope="read").secret
    assert post_json(client_for(None), url, {"commit": base.oid, "reason": "r"},
                     HTTP_AUTHORIZATION=f"Bearer {read_only}").status_code == 403  # fmt: skip
    for body in ({}, ["x"], {"commit": base.oid}, {"commit": base.oid, "reason": " "}, {"reason": "r"},
                 {"commit": base.oid[:12], "reason": "r"}, {"commit": 5, "reason": "r"},
                 {"commit": base.oid, "reason": "a\x00b"}, {"commit": "\x00" * 40, "reason": "r"},
                 {"commit": "g" * 40, "reason": "r"}):  # fmt: skip
        response = post_json(client, url, body)
        assert response.status_code == 400, body
        assert response.json()["error"]
    unknown = post_json(client, url, {"commit": "f" * 40, "reason": "r"})
    assert unknown.status_code == 404 and "has no commit ffffffffffff" in unknown.json()["error"]
    assert (
        post_json(client, "/api/v1/models/staffer/nope/rollback", {"commit": base.oid, "reason": "r"}).status_code
        == 404
    )
    same = post_json(client, url, {"commit": base.oid, "reason": "r"})
    assert same.status_code == 409 and "already holds" in same.json()["error"]
    never = post_json(client, url, {"commit": run.output_commit.oid, "reason": "r"})
    assert never.status_code == 400 and "never on main" in never.json()["error"]

    assert head_of(model) == base and not Promotion.objects.exists()


def test_a_private_model_s_history_is_404_to_those_who_cannot_see_it(alice):
    secret = make_repo(owner=alice, name="secret", private=True)
    make_commit(repo=secret, author=alice, files={"README.md": b"# Secret\n"})
    bob = make_user("bob")
    assert client_for(bob).get("/api/v1/models/alice/secret/promotions").status_code == 404
    assert client_for(None).get("/api/v1/models/alice/secret/promotions").status_code == 404
    own = client_for(alice).get("/api/v1/models/alice/secret/promotions")
    assert own.status_code == 200 and own.json()["results"] == []
