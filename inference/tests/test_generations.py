"""Generations through the REST API and a real Celery worker on the configured broker."""

from __future__ import annotations

import json

import pytest

from accounts.services import token_create
from conftest import client_for, make_commit, make_repo
from inference import services
from inference.models import Generation
from inference.tests.conftest import CARD, make_model_repo
from inference.tests.tiny_models import build_tiny_model
from tests.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def bearer(user) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token_create(user=user, name='t').secret}"}


def post(client, body: dict, **headers):
    return client.post("/api/v1/generations", json.dumps(body), content_type="application/json", **headers)


def finished(pk) -> Generation | None:
    generation = Generation.objects.get(pk=pk)
    return generation if generation.is_finished else None


def test_generate_through_the_api_pins_the_commit_and_records_everything(celery_worker, alice, tiny_model_files):
    repo = make_model_repo(owner=alice, files=tiny_model_files)
    head = repo.refs.get(name="main").commit.oid
    client = client_for()

    response = post(
        client, {"model": "alice/tiny", "prompt": "The cat", "max_new_tokens": 12, "seed": 5}, **bearer(alice)
    )

    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "queued" and body["commit"] == head and len(head) == 40
    assert wait_for(lambda: finished(body["id"]))
    detail = client.get(f"/api/v1/generations/{body['id']}", **bearer(alice)).json()
    assert detail["status"] == "done", detail
    assert detail["text"] and detail["commit"] == head and detail["model"] == "alice/tiny"
    assert detail["parameters"]["seed"] == 5 and detail["parameters"]["max_new_tokens"] == 12
    assert 0 < detail["usage"]["completion_tokens"] <= 12 and detail["usage"]["prompt_tokens"] > 0
    timings = detail["timings"]
    assert 0 <= timings["queue_seconds"] <= timings["first_token_seconds"] <= timings["total_seconds"]


def test_same_seed_commit_and_parameters_give_the_same_text(celery_worker, alice, tiny_model_files):
    make_model_repo(owner=alice, files=tiny_model_files)
    client = client_for()
    body = {"model": "alice/tiny", "prompt": "Once upon", "max_new_tokens": 16, "temperature": 1.0, "seed": 42}

    ids = [post(client, body, **bearer(alice)).json()["id"] for _ in range(2)]
    other = post(client, {**body, "seed": 43}, **bearer(alice)).json()["id"]

    assert wait_for(lambda: all(finished(pk) for pk in [*ids, other]))
    texts = [Generation.objects.get(pk=pk).text for pk in ids]
    assert texts[0] == texts[1]
    assert Generation.objects.get(pk=other).text != texts[0]


def test_requests_queued_together_for_one_commit_run_as_one_batch(alice, tiny_model_files):
    from inference.runner import generation_run

    repo = make_model_repo(owner=alice, files=tiny_model_files)
    # No worker here: the generations stay queued until this test runs the first one's task by hand.
    generations = [
        services.generation_request(user=alice, repo=repo, prompt="The dog", params={"max_new_tokens": 8, "seed": s})
        for s in range(4)
    ]

    ran = generation_run(generation_id=str(generations[0].pk))

    assert ran == 4
    assert all(finished(g.pk) for g in generations)
    # The other tasks find their generation taken and do nothing.
    assert generation_run(generation_id=str(generations[1].pk)) == 0


def test_an_inference_worker_uses_the_configured_torch_threads(alice, tiny_model_files, settings):
    import torch

    from inference.runner import generation_run

    repo = make_model_repo(owner=alice, files=tiny_model_files)
    generation = services.generation_request(user=alice, repo=repo, prompt="The dog", params={"max_new_tokens": 2})
    before = torch.get_num_threads()
    settings.FLYWHEEL_INFERENCE_THREADS = 1
    try:
        assert generation_run(generation_id=str(generation.pk)) == 1
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_a_generation_queued_while_a_batch_runs_joins_it_and_gets_the_text_it_gets_alone(
    celery_worker, alice, tiny_model_files
):
    make_model_repo(owner=alice, files=tiny_model_files)
    client, headers = client_for(), bearer(alice)
    running_body = {"model": "alice/tiny", "prompt": "Once", "max_new_tokens": 120, "temperature": 1.0, "seed": 1}
    running = post(client, running_body, **headers).json()["id"]
    assert wait_for(lambda: Generation.objects.get(pk=running).completion_tokens > 0, interval=0.005)
    late_body = {"model": "alice/tiny", "prompt": "The cat liked", "max_new_tokens": 8, "temperature": 1.0, "seed": 9}

    late = post(client, late_body, **headers).json()["id"]

    assert wait_for(lambda: finished(running) and finished(late))
    first, joined = Generation.objects.get(pk=running), Generation.objects.get(pk=late)
    # One worker, one task at a time: the late one ran before the first ended only by joining its batch, and
    # was marked done when its own row ended.
    assert joined.started_at < first.finished_at and joined.finished_at < first.finished_at
    assert (first.status, first.completion_tokens, joined.status) == ("done", 120, "done")
    alone = post(client, late_body, **headers).json()["id"]
    assert wait_for(lambda: finished(alone))
    assert Generation.objects.get(pk=alone).text == joined.text and joined.text


def test_cancelling_one_running_row_stops_it_and_leaves_the_rest_of_its_batch_running(celery_worker, alice, tmp_path):
    # 500 tokens (a tiny model with 512 positions): 120 could all be written before the worker's next cancel check.
    files = {**build_tiny_model(tmp_path, size=(32, 2, 2, 512)), "README.md": CARD}
    repo = make_model_repo(owner=alice, files=files)
    params = {"max_new_tokens": 500, "temperature": 1.0}
    kept, stopped = (
        services.generation_request(user=alice, repo=repo, prompt="Once", params={**params, "seed": s}) for s in (1, 2)
    )
    assert wait_for(lambda: Generation.objects.get(pk=stopped.pk).completion_tokens > 0, interval=0.005)

    services.generation_cancel(generation=stopped)

    assert wait_for(lambda: finished(kept.pk) and finished(stopped.pk))
    stopped, kept = Generation.objects.get(pk=stopped.pk), Generation.objects.get(pk=kept.pk)
    assert (stopped.status, stopped.finish_reason) == ("cancelled", "cancelled")
    assert 0 < stopped.completion_tokens < kept.completion_tokens and stopped.finished_at < kept.finished_at
    assert kept.status == "done" and kept.finish_reason in ("length", "stop")  # it ran to its own end


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"max_new_tokens": 0}, "'max_new_tokens' must be between 1 and"),
        ({"max_new_tokens": 10**6}, "'max_new_tokens' must be between 1 and"),
        ({"temperature": "hot"}, "'temperature' must be a number"),
        ({"temperature": True}, "'temperature' must be a number"),
        ({"top_p": 0}, "'top_p' must be between"),
        ({"seed": -1}, "'seed' must be between"),
        ({"seed": 1.5}, "'seed' must be an integer"),
        ({"prompt": ""}, "The prompt is empty"),
        ({"prompt": "x" * 20_000}, "The prompt is too long"),
        ({"model": "tiny"}, "'model' must be 'owner/name'"),
        ({"revision": "nope"}, "Invalid rev id: nope"),
        ({"revision": "ma\x00in"}, "'revision': Null characters are not allowed"),
        ({"prompt": "a\x00b"}, "'prompt': Null characters are not allowed"),  # PostgreSQL refuses them
        ({"stop": ["\n", "\x00"]}, "'stop' item 2: Null characters are not allowed"),
    ],
)
def test_bad_requests_are_refused_with_a_reason(alice, tiny_model_files, body, message):
    make_model_repo(owner=alice, files=tiny_model_files)

    response = post(client_for(), {"model": "alice/tiny", "prompt": "Hi", **body}, **bearer(alice))

    assert response.status_code in (400, 404), response.content
    assert message in response.json()["error"]
    assert not Generation.objects.exists()


def test_pickle_only_weights_are_refused(alice):
    repo = make_repo(owner=alice)
    make_commit(
        repo=repo,
        author=alice,
        files={"config.json": b'{"architectures": ["GPT2LMHeadModel"]}', "pytorch_model.bin": b"\x80\x04"},
    )

    response = post(client_for(), {"model": "alice/tiny", "prompt": "Hi"}, **bearer(alice))

    assert response.status_code == 400
    assert "only has pickle-based weights (pytorch_model.bin)" in response.json()["error"]


def test_a_private_model_is_not_found_for_strangers(alice, charlie, tiny_model_files):
    make_model_repo(owner=alice, files=tiny_model_files, private=True)

    response = post(client_for(), {"model": "alice/tiny", "prompt": "Hi"}, **bearer(charlie))

    assert response.status_code == 404


def test_another_persons_generation_is_not_found(alice, charlie, tiny_model_files):
    repo = make_model_repo(owner=alice, files=tiny_model_files)
    generation = services.generation_request(user=alice, repo=repo, prompt="Hi")

    assert client_for(charlie).get(f"/api/v1/generations/{generation.pk}").status_code == 404
    assert client_for(alice).get(f"/api/v1/generations/{generation.pk}").status_code == 200
    assert client_for(alice).get("/api/v1/generations/not-a-uuid").status_code == 404


def test_anonymous_callers_must_authenticate(alice, tiny_model_files):
    make_model_repo(owner=alice, files=tiny_model_files)

    assert post(client_for(), {"model": "alice/tiny", "prompt": "Hi"}).status_code == 401


def test_the_rate_limit_answers_429_with_retry_after(alice, tiny_model_files, settings):
    settings.FLYWHEEL_GENERATIONS_PER_MINUTE = 2
    make_model_repo(owner=alice, files=tiny_model_files)
    client = client_for()

    statuses = [post(client, {"model": "alice/tiny", "prompt": "Hi"}, **bearer(alice)) for _ in range(3)]

    assert [r.status_code for r in statuses] == [202, 202, 429]
    assert 1 <= int(statuses[2]["Retry-After"]) <= 61
    assert Generation.objects.count() == 2


def test_cancelling_a_queued_generation_ends_it(alice, tiny_model_files):
    make_model_repo(owner=alice, files=tiny_model_files)
    client = client_for(alice)
    pk = post(client, {"model": "alice/tiny", "prompt": "Hi"}).json()["id"]

    response = client.post(f"/api/v1/generations/{pk}/cancel")

    assert response.json()["status"] == "cancelled"


def test_the_stream_sends_text_then_the_finished_generation(celery_worker, alice, tiny_model_files):
    make_model_repo(owner=alice, files=tiny_model_files)
    client = client_for(alice)
    pk = post(client, {"model": "alice/tiny", "prompt": "The cat", "max_new_tokens": 10, "seed": 1}).json()["id"]

    response = client.get(f"/api/v1/generations/{pk}/stream")
    events = b"".join(response.streaming_content).decode()

    assert response["Content-Type"] == "text/event-stream"
    assert "event: text" in events
    final = json.loads(events.rsplit("event: done\ndata: ", 1)[1])
    assert final["text"] == Generation.objects.get(pk=pk).text


def test_the_stream_answers_browsers_that_accept_only_event_streams(alice, tiny_model_files):
    make_model_repo(owner=alice, files=tiny_model_files)
    client = client_for(alice)
    pk = post(client, {"model": "alice/tiny", "prompt": "The cat"}).json()["id"]
    client.post(f"/api/v1/generations/{pk}/cancel")

    # What EventSource sends: DRF's content negotiation used to refuse it with 406.
    response = client.get(f"/api/v1/generations/{pk}/stream", HTTP_ACCEPT="text/event-stream")

    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/event-stream"
    assert "event: cancelled" in b"".join(response.streaming_content).decode()
    missing = client.get("/api/v1/generations/not-a-uuid/stream", HTTP_ACCEPT="text/event-stream")
    assert missing.status_code == 404 and "There is no generation" in missing.json()["error"]


def test_a_worker_that_died_leaves_no_generation_running_forever(alice, tiny_model_files):
    from datetime import timedelta

    from django.utils import timezone

    repo = make_model_repo(owner=alice, files=tiny_model_files)
    generation = services.generation_request(user=alice, repo=repo, prompt="Hi")
    Generation.objects.filter(pk=generation.pk).update(
        status="running", heartbeat_at=timezone.now() - timedelta(minutes=5)
    )

    assert services.generations_reap() == 1
    generation.refresh_from_db()
    assert generation.status == "failed" and "worker stopped" in generation.error


def test_a_gated_model_runs_only_for_people_with_access(alice, charlie, tiny_model_files):
    from models_hub import services as hub_services

    repo = make_model_repo(owner=alice, files=tiny_model_files)
    hub_services.repo_update_settings(repo=repo, gated="manual")

    refused = post(client_for(), {"model": "alice/tiny", "prompt": "Hi"}, **bearer(charlie))
    hub_services.access_grant(repo=repo, actor=alice, username="charlie")
    allowed = post(client_for(), {"model": "alice/tiny", "prompt": "Hi"}, **bearer(charlie))

    assert refused.status_code == 403 and "restricted" in refused.json()["error"]
    assert allowed.status_code == 202
