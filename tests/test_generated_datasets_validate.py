"""Commits that other parts write (a feedback snapshot, the demo datasets) validate like any other."""

from __future__ import annotations

import pytest
import time_machine

from conftest import make_commit, make_repo, make_user
from feedback.tests.test_snapshots import DAY, build, make_generation, rate
from models_hub.dataset_selectors import dataset_validation_for
from models_hub.models import DatasetValidation
from models_hub.services.dataset_validation import dataset_validation_run

pytestmark = pytest.mark.django_db


def test_snapshot_commit_is_valid_with_a_format_per_config(alice):
    staff = make_user("maintainer", is_staff=True)
    raters = [make_user(f"rater{i}") for i in range(3)]
    model = make_repo(owner=alice)
    commit = make_commit(repo=model, author=alice, files={"config.json": b"{}"})
    with time_machine.travel(DAY, tick=False):
        for i in range(6):
            prompt = f"Tell me story number {i} <b>please</b>."
            liked = make_generation(repo=model, commit=commit, prompt=prompt, text=f" Once upon a time {i}.")
            disliked = make_generation(repo=model, commit=commit, prompt=prompt, text=" No.")
            rate(liked, raters[i % 3], "up")
            rate(disliked, raters[i % 3], "down")
    snapshot = build(staff, model, validation_fraction=0.5)
    assert snapshot.status == "done", snapshot.error

    dataset_validation_run(validation_id=DatasetValidation.objects.get(commit=snapshot.commit).pk)
    report = dataset_validation_for(snapshot.commit)
    assert report.status == "valid", report.problems
    formats = {(config.name, split.name): split.formats for config in report.configs for split in config.splits}
    assert formats[("sft", "train")] == ["messages", "prompt_completion"]
    assert formats[("preference", "train")] == ["preference"]
    assert formats[("kto", "train")] == ["kto", "prompt_completion"]
    assert {split for _config, split in formats} == {"train", "validation"}


def test_the_demo_datasets_are_valid_and_labelled():
    from training.management.commands.load_demo import corpus_repo_load, demo_user_ensure, prompts_repo_load
    from training.trainers.story_corpus import stories

    user = demo_user_ensure()
    labels = {}
    for repo in (corpus_repo_load(user, stories(30)), prompts_repo_load(user)):
        commit = repo.refs.get(name="main").commit
        dataset_validation_run(validation_id=DatasetValidation.objects.get(commit=commit).pk)
        report = dataset_validation_for(commit)
        assert report.status == "valid", report.problems
        labels[repo.name] = [(split.name, split.rows, split.format) for split in report.configs[0].splits]
    assert labels == {
        "tiny-stories-corpus": [("train", 30, "prompt_completion")],
        "story-prompts": [("train", 40, None)],
    }
