"""A feedback snapshot end to end: ratings given through the service, the snapshot asked for over REST and built
by a real Celery worker, then every config loaded with `datasets.load_dataset` through the Hub protocol from a
live server, in a child process with HF_ENDPOINT set (the stock client reads it when imported)."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest
import time_machine
from django.core.cache import caches

from accounts.services import token_create
from conftest import client_for, make_commit, make_repo, make_user
from feedback.services import RatingInput, rating_submit
from feedback.snapshots.models import FeedbackSnapshot
from inference.models import Generation
from models_hub.dataset_selectors import dataset_validation_for
from tests.conftest import wait_for
from tests.hub_fixtures import child_env

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.hub_client]

ROOT = Path(__file__).resolve().parent.parent
DAY = dt.datetime(2026, 3, 2, 12, tzinfo=dt.UTC)

LOAD_CONFIGS = """
import json, sys
import datasets
repo = sys.argv[1]
out = {}
for config in ("sft", "preference", "kto"):
    loaded = datasets.load_dataset(repo, config)
    out[config] = {split: [dict(row) for row in loaded[split]] for split in loaded}
print("RESULT " + json.dumps(out))
"""


def generation(repo, commit, prompt: str, text: str) -> Generation:
    return Generation.objects.create(
        repository=repo, commit=commit, revision="main", source="batch", prompt=prompt, text=text, status="done",
        max_new_tokens=8, temperature=0.8, top_p=1.0, top_k=0, repetition_penalty=1.0, seed=1, created_at=DAY,
        finished_at=DAY,
    )  # fmt: skip


def test_a_snapshot_built_by_the_worker_loads_with_datasets(live_server, celery_worker, alice, tmp_path):
    caches["downloads"].clear()
    staff = make_user("maintainer", is_staff=True)
    raters = [make_user(f"rater{i}") for i in range(3)]
    model = make_repo(owner=alice)
    commit = make_commit(repo=model, author=alice, files={"config.json": b"{}"})
    hostile = "<script>alert(1)</script> & friends"
    with time_machine.travel(DAY, tick=False):
        for i in range(12):
            liked = generation(model, commit, f"Story {i}: a cat", f" The cat {i} sat.")
            disliked = generation(model, commit, f"story {i} - A CAT", f" Dog {i}.")
            for rater in raters[:2]:
                rating_submit(generation=liked, user=rater, data=RatingInput(thumb="up"))
            rating_submit(generation=disliked, user=raters[2], data=RatingInput(thumb="down", correction=hostile))

    token = token_create(user=staff, name="ci", scope="write").secret
    body = {
        "model": "alice/tiny",
        "dataset": "maintainer/tiny-feedback",
        "min_stars": None,
        "thumbs": "any",
        "include_corrections": True,
        "include_battles": True,
        "validation_fraction": 0.25,
    }
    answer = client_for().post(
        "/api/v1/feedback-snapshots",
        json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert answer.status_code == 202, answer.content
    snapshot_id = answer.json()["id"]
    assert wait_for(lambda: FeedbackSnapshot.objects.get(pk=snapshot_id).is_finished, timeout=60)
    detail = client_for(staff).get(f"/api/v1/feedback-snapshots/{snapshot_id}").json()
    assert detail["status"] == "done", detail["error"]
    commit_row = FeedbackSnapshot.objects.get(pk=snapshot_id).commit
    # The dataset validation every dataset commit gets (models_hub) recognises each config's format.
    assert wait_for(lambda: getattr(dataset_validation_for(commit_row), "is_pending", True) is False, timeout=60)
    report = dataset_validation_for(commit_row)
    assert report.status == "valid", report.problems
    assert {"messages", "prompt_completion"} <= set(report.split("sft", "train").formats)
    assert report.split("preference", "validation").format == "preference"
    assert report.split("kto", "train").format == "kto"
    viewer = client_for(staff).get("/datasets/maintainer/tiny-feedback/viewer?config=sft&split=train")
    assert viewer.status_code == 200
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in viewer.content.decode()
    assert hostile not in viewer.content.decode()  # the corrections' HTML is shown as text, never run
    counts = detail["counts"]
    assert counts["sft_train"] + counts["sft_validation"] == 24  # 12 liked outputs, 12 corrections
    assert counts["preference_train"] + counts["preference_validation"] == 24  # 12 thumbs pairs, 12 corrections
    assert counts["kto_train"] + counts["kto_validation"] == 36
    assert counts["sft_validation"] > 0

    child = subprocess.run(
        [sys.executable, "-c", LOAD_CONFIGS, "maintainer/tiny-feedback"],
        cwd=ROOT,
        env={**child_env(endpoint=live_server.url, home=tmp_path / "client"), "HF_TOKEN": token},
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [line for line in child.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, child.stderr[-3000:]
    loaded = json.loads(lines[0][len("RESULT ") :])

    for config in ("sft", "preference", "kto"):
        assert set(loaded[config]) == {"train", "validation"}
        for split in ("train", "validation"):
            assert len(loaded[config][split]) == counts[f"{config}_{split}"]
    validation_prompts = {row["prompt"] for row in loaded["sft"]["validation"]}
    for config in ("sft", "preference", "kto"):  # a prompt never in both splits, in any config
        assert not {row["prompt"] for row in loaded[config]["train"]} & validation_prompts
        assert {row["prompt"] for row in loaded[config]["validation"]} <= validation_prompts

    sft = loaded["sft"]["train"] + loaded["sft"]["validation"]
    liked = sorted((r for r in sft if r["source"] == "rating"), key=lambda r: r["completion"])
    assert [r["completion"] for r in liked] == sorted(f" The cat {i} sat." for i in range(12))
    first = liked[0]
    assert first["messages"] == [
        {"role": "user", "content": first["prompt"]},
        {"role": "assistant", "content": first["completion"]},
    ]
    assert len(first["rating_ids"]) == 2 and len(first["raters"]) == 2 and first["agreement"] == 1.0
    assert first["model_commits"] == [commit.oid]
    corrections = [r for r in sft if r["source"] == "correction"]
    assert len(corrections) == 12 and {r["completion"] for r in corrections} == {hostile}
    assert all(r["agreement"] is None for r in corrections)  # null on every row of a split, still float64

    preference = loaded["preference"]["train"] + loaded["preference"]["validation"]
    pairs = {(r["chosen"], r["rejected"]) for r in preference if r["source"] == "rating"}
    assert pairs == {(f" The cat {i} sat.", f" Dog {i}.") for i in range(12)}  # near-duplicate prompts pair up
    kto = loaded["kto"]["train"] + loaded["kto"]["validation"]
    assert sum(r["label"] for r in kto) == 24 and sum(not r["label"] for r in kto) == 12
