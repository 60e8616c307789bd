"""The loop, end to end: raters rate a model's outputs through the API, a snapshot of that feedback becomes a
dataset revision, a training run learns from it, the run is promoted, and on fresh prompts the model now does
what the raters asked for. Real worker, real database, the real services and REST API throughout.

SFT: raters thumb down outputs that lack a marker word and write a correction that has it (thumbs up where it is
there); the promoted revision says the marker in at least 30 percentage points more of its outputs than the base.
DPO: raters like the shorter of a prompt's outputs; the promoted revision's answers are shorter on average.
"""

from __future__ import annotations

import json

import pytest

from conftest import client_for, make_user
from inference.tests.conftest import make_model_repo
from models_hub.dataset_selectors import dataset_validation_for
from models_hub.models import Commit
from tests.conftest import wait_for
from training.models import TrainingRun
from training.tests.story_model import MARKER, OPENINGS, SUBJECTS, build_story_model, prompts

pytestmark = pytest.mark.django_db(transaction=True)

RATED_SUBJECTS, FRESH_SUBJECTS = SUBJECTS[:8], SUBJECTS[8:]
RATED_PROMPTS = [p for opening in OPENINGS for p in prompts(RATED_SUBJECTS, opening)]
FRESH_PROMPTS = [p for opening in OPENINGS for p in prompts(FRESH_SUBJECTS, opening)]
CORRECTION = f" saw a {MARKER}."
SAMPLING = {"max_new_tokens": 32, "temperature": 0.8}


@pytest.fixture(scope="session")
def story_model_files(tmp_path_factory) -> dict[str, bytes]:
    import torch

    torch.set_num_threads(1)  # tiny matrices: one thread is fastest, and the machine is shared
    card = b"---\npipeline_tag: text-generation\nlibrary_name: transformers\n---\n# Story\n"
    return {**build_story_model(tmp_path_factory.mktemp("story")), "README.md": card}


@pytest.fixture
def loop_settings(settings):
    settings.FLYWHEEL_TRAINING_THREADS = 1
    settings.FLYWHEEL_TRAINING_REPORT_SECONDS = 0.2
    settings.FLYWHEEL_GENERATIONS_PER_MINUTE = 1000
    return settings


def api(client, method: str, url: str, body: dict | None = None):
    response = getattr(client, method)(url, json.dumps(body or {}), content_type="application/json")
    assert response.status_code < 300, (url, response.status_code, response.content[:500])
    return response.json()


def generate(client, model_id: str, prompt_list: list[str], *, seeds: range, revision: str = "main") -> list[dict]:
    """Outputs for every prompt and seed, asked through the API and waited for."""
    ids = [
        api(
            client,
            "post",
            "/api/v1/generations",
            {"model": model_id, "revision": revision, "prompt": p, "seed": s, **SAMPLING},
        )["id"]
        for p in prompt_list
        for s in seeds
    ]

    def all_done() -> bool:
        return all(client.get(f"/api/v1/generations/{i}").json()["status"] == "done" for i in ids)

    assert wait_for(all_done, timeout=120, interval=0.5)
    return [client.get(f"/api/v1/generations/{i}").json() for i in ids]


def snapshot_and_train(staff_client, model_id: str, *, method: str, hyperparameters: dict) -> TrainingRun:
    """Snapshot the model's feedback into a dataset, train on it, promote the run; return the run."""
    snapshot = api(
        staff_client,
        "post",
        "/api/v1/feedback-snapshots",
        {"model": model_id, "dataset": f"{model_id}-feedback", "validation_fraction": 0.2},
    )
    url = f"/api/v1/feedback-snapshots/{snapshot['id']}"
    assert wait_for(lambda: staff_client.get(url).json()["status"] in ("done", "failed"), timeout=60)
    snapshot = staff_client.get(url).json()
    assert snapshot["status"] == "done", snapshot
    dataset_commit = Commit.objects.get(oid=snapshot["commit"])
    assert wait_for(lambda: not dataset_validation_for(dataset_commit).is_pending, timeout=60)
    created = api(
        staff_client,
        "post",
        "/api/v1/training-runs",
        {
            "base_model": model_id,
            "dataset": snapshot["dataset"],
            "dataset_revision": snapshot["commit"],
            "method": method,
            "hyperparameters": hyperparameters,
        },
    )
    run_url = f"/api/v1/training-runs/{created['id']}"
    assert wait_for(lambda: staff_client.get(run_url).json()["status"] not in ("queued", "running"), timeout=240)
    run = staff_client.get(run_url).json()
    assert run["status"] == "succeeded", (run["error"], run["log_tail"])
    api(staff_client, "post", f"{run_url}/promote", {"reason": f"The loop test: {method} on the raters' feedback"})
    return TrainingRun.objects.select_related("base_commit").get(pk=created["id"])


def test_sft_on_corrections_teaches_the_marker_word(celery_worker, loop_settings, story_model_files):
    staff = make_user("maintainer", is_staff=True)
    raters = [client_for(make_user(f"rater{i}")) for i in range(3)]
    model = make_model_repo(owner=staff, files=story_model_files, name="story")
    for i, rater in enumerate(raters):  # each rater tries a share of the prompts and rates what they got
        for output in generate(rater, model.repo_id, RATED_PROMPTS[i :: len(raters)], seeds=range(1)):
            rating = {"thumb": "up"} if MARKER in output["text"] else {"thumb": "down", "correction": CORRECTION}
            api(rater, "put", f"/api/v1/generations/{output['id']}/rating", rating)

    staff_client = client_for(staff)
    run = snapshot_and_train(
        staff_client,
        model.repo_id,
        method="sft",
        hyperparameters={"max_steps": 40, "learning_rate": 5e-3, "per_device_train_batch_size": 8, "seed": 1},
    )
    assert run.metrics["after"]["loss"] < run.metrics["before"]["loss"]
    seeds = range(3)
    base = generate(raters[1], model.repo_id, FRESH_PROMPTS, seeds=seeds, revision=run.base_commit.oid)
    promoted = generate(raters[1], model.repo_id, FRESH_PROMPTS, seeds=seeds, revision="main")
    assert {o["commit"] for o in promoted} == {run.output_commit.oid}
    base_rate = sum(MARKER in o["text"] for o in base) / len(base)
    promoted_rate = sum(MARKER in o["text"] for o in promoted) / len(promoted)
    print(f"\nSFT loop: '{MARKER}' in {base_rate:.0%} of the base's outputs, {promoted_rate:.0%} after promotion")
    assert promoted_rate - base_rate >= 0.30


def test_dpo_on_preferred_short_answers_shortens_answers(celery_worker, loop_settings, story_model_files):
    staff = make_user("maintainer", is_staff=True)
    rater = client_for(make_user("rater"))
    model = make_model_repo(owner=staff, files=story_model_files, name="story")
    outputs = generate(rater, model.repo_id, RATED_PROMPTS, seeds=range(3))
    by_prompt: dict[str, list[dict]] = {}
    for output in outputs:
        by_prompt.setdefault(output["prompt"], []).append(output)
    for group in by_prompt.values():
        shortest = min(len(o["text"]) for o in group)
        longest = max(len(o["text"]) for o in group)
        for output in group:
            if shortest < longest and len(output["text"]) in (shortest, longest):
                thumb = "up" if len(output["text"]) == shortest else "down"
                api(rater, "put", f"/api/v1/generations/{output['id']}/rating", {"thumb": thumb})

    run = snapshot_and_train(
        client_for(staff),
        model.repo_id,
        method="dpo",
        hyperparameters={"max_steps": 30, "learning_rate": 1e-3, "per_device_train_batch_size": 8, "seed": 1},
    )
    assert run.metrics["after"]["reward_margin"] > run.metrics["before"]["reward_margin"]
    seeds = range(3)
    base = generate(rater, model.repo_id, FRESH_PROMPTS, seeds=seeds, revision=run.base_commit.oid)
    promoted = generate(rater, model.repo_id, FRESH_PROMPTS, seeds=seeds, revision="main")
    base_length = sum(len(o["text"]) for o in base) / len(base)
    promoted_length = sum(len(o["text"]) for o in promoted) / len(promoted)
    print(f"\nDPO loop: mean answer {base_length:.1f} characters from the base, {promoted_length:.1f} after promotion")
    assert promoted_length < base_length
