"""The process's watch reads every followed generation in one query per tick and wakes the streams."""

from __future__ import annotations

import time

import pytest
from django.utils import timezone

from inference import streaming, watch
from inference.models import Generation
from inference.tests.conftest import make_model_repo

pytestmark = pytest.mark.django_db(transaction=True)  # the watch reads on its own connection


def queued(repo, count: int) -> list[Generation]:
    commit = repo.refs.get(name="main").commit
    fields = dict(
        repository=repo, commit=commit, revision="main", prompt="Once", max_new_tokens=8, temperature=0.8,
        top_p=1.0, top_k=0, repetition_penalty=1.0, seed=1, created_at=timezone.now(),
    )  # fmt: skip
    return [Generation.objects.create(**fields) for _ in range(count)]


def test_three_followed_generations_are_read_in_one_query_a_tick_and_changes_reach_their_stream(
    alice, tiny_model_files, monkeypatch
):
    generations = queued(make_model_repo(owner=alice, files=tiny_model_files), 3)
    reads: list[list] = []
    read = watch.progress_read
    monkeypatch.setattr(watch, "progress_read", lambda pks: reads.append(sorted(pks)) or read(pks))
    followed = watch.Watch()
    for generation in generations:
        followed.follow(generation.pk)
    ticks = {}
    for generation in generations:
        ticks[generation.pk], progress = followed.next(generation.pk, -1, timeout=5)
        assert progress.status == "queued"
    started = time.monotonic()

    first = generations[0]
    Generation.objects.filter(pk=first.pk).update(status="running", text="Once upon", completion_tokens=2)
    tick, progress = followed.next(first.pk, ticks[first.pk], timeout=5)
    while progress.text != "Once upon" and time.monotonic() - started < 5:
        tick, progress = followed.next(first.pk, tick, timeout=5)
    seen_after = time.monotonic() - started
    time.sleep(0.5)
    for generation in generations:
        followed.leave(generation.pk)

    assert progress.text == "Once upon" and progress.completion_tokens == 2
    assert seen_after < 1  # a tick or two (50 ms each) after the write; the margin is for a loaded machine
    all_three = sorted(g.pk for g in generations)
    assert reads[-1] == all_three and all(pks == all_three for pks in reads[2:])  # once all three were followed
    assert len(reads) <= 2 + (time.monotonic() - started) / watch.POLL_SECONDS + 3  # one query a tick, not one a stream


def test_a_stream_whose_generation_is_deleted_ends_at_once(alice, tiny_model_files):
    """Deleting a repository deletes its generations; a page still following one gets its stream closed
    (not a wait for a row that will never change, nor an error when the stream tries to cancel it)."""
    generation = queued(make_model_repo(owner=alice, files=tiny_model_files), 1)[0]
    states = streaming.follow(generation)
    assert next(states).status == "queued"

    Generation.objects.filter(pk=generation.pk).delete()
    started = time.monotonic()
    rest = list(states)

    assert rest == [] and time.monotonic() - started < 3  # a tick or two, not a keep-alive wait or more
    assert watch.WATCH._followers == {}  # the watch no longer reads it
