"""A rater's profile says what their ratings went into: the snapshot, the runs trained on it, their promotion."""

from __future__ import annotations

import pytest

from conftest import client_for
from feedback.snapshots import services as snapshots
from feedback.tests.test_snapshots import make_generation, rate
from training.promotions import training_run_promote
from training.tests.runs import head_of, make_model_and_dataset, make_run

pytestmark = pytest.mark.django_db


def test_a_rater_sees_which_snapshot_and_trained_revision_their_ratings_went_into(staff, bob, alice):
    model, _ = make_model_and_dataset(staff)
    for i in range(3):
        generation = make_generation(repo=model, commit=head_of(model), prompt=f"Once {i}", text=" a cat")
        rate(generation, bob, thumb="up")
    snapshot = snapshots.snapshot_request(user=staff, model=model, dataset_id="staffer/tiny-feedback", filters={})
    snapshots.snapshot_build(snapshot_id=snapshot.pk)
    snapshot.refresh_from_db()
    run = make_run(model=model, dataset=snapshot.dataset, user=staff)
    failed = make_run(model=model, dataset=snapshot.dataset, user=staff, status="failed")
    promotion = training_run_promote(run=run, user=staff, reason="better")

    text = " ".join(client_for(bob).get("/training/contributions").content.decode().split())
    assert f"Your 3 ratings of staffer/tiny went into a private dataset (snapshot {snapshot.pk}," in text
    assert f"staffer/tiny run-{run.pk}</a>, promoted on {promotion.created_at:%Y-%m-%d}" in text
    assert f"staffer/tiny run-{failed.pk}</a> (failed)" in text

    assert client_for(alice).get("/training/contributions").content.decode().strip() == ""  # no ratings of hers
    assert client_for(None).get("/training/contributions").content.decode() == ""
    assert 'hx-get="/training/contributions"' in client_for(bob).get("/bob").content.decode()
    assert 'hx-get="/training/contributions"' not in client_for(alice).get("/bob").content.decode()


def test_the_dataset_is_named_to_raters_who_may_see_it(staff, bob):
    model, _ = make_model_and_dataset(staff)
    rate(make_generation(repo=model, commit=head_of(model), prompt="Once", text=" a cat"), bob, thumb="up")
    snapshot = snapshots.snapshot_request(
        user=staff, model=model, dataset_id="staffer/open-feedback", filters={}, private=False
    )
    snapshots.snapshot_build(snapshot_id=snapshot.pk)
    snapshot.refresh_from_db()
    text = client_for(bob).get("/training/contributions").content.decode()
    assert f'href="/datasets/staffer/open-feedback/commit/{snapshot.commit.oid}"' in text
    assert "Your 1 rating of staffer/tiny" in " ".join(text.split()) and "trained into" not in text
