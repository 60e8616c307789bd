"""A maintainer turns a day of ratings into a dataset revision in two clicks, in headless Chromium with a real
worker: the model's Feedback tab, then "Build a dataset from the last 24 hours"; the progress bar (htmx) ends on
a link to the dataset commit."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from conftest import make_commit, make_repo, make_user
from feedback.services import RatingInput, rating_submit
from feedback.snapshots.models import FeedbackSnapshot
from inference.models import Generation
from tests.test_browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_two_clicks_from_a_model_to_a_dataset_revision(page, live_server, celery_worker, alice):
    staff = make_user("maintainer", is_staff=True)
    rater = make_user("rater")
    model = make_repo(owner=alice)
    commit = make_commit(repo=model, author=alice, files={"config.json": b"{}"})
    now = timezone.now()
    for i, thumb in enumerate(["up", "down", "up"]):
        generation = Generation.objects.create(
            repository=model, commit=commit, revision="main", source="batch", prompt=f"Prompt {i}",
            text=f" output {i}", status="done", max_new_tokens=8, temperature=0.8, top_p=1.0, top_k=0,
            repetition_penalty=1.0, seed=1, created_at=now - dt.timedelta(hours=1), finished_at=now,
        )  # fmt: skip
        rating_submit(generation=generation, user=rater, data=RatingInput(thumb=thumb))
    log_in(page, live_server, staff)

    page.goto("/alice/tiny")
    page.get_by_role("link", name="Feedback", exact=True).click()  # click 1: the Feedback tab
    page.locator("#snapshot-day").click()  # click 2
    link = page.locator("#snapshot-commit")
    expect(link).to_be_visible(timeout=60_000)
    expect(page.locator(".snapshot-status")).to_have_text("done")
    snapshot = FeedbackSnapshot.objects.get()
    assert link.get_attribute("href") == f"/datasets/maintainer/tiny-feedback/commit/{snapshot.commit.oid}"
    assert page.locator("#snapshot-progress").get_attribute("hx-trigger") is None  # polling stopped
    link.click()
    expect(page.get_by_text("Feedback snapshot", exact=False).first).to_be_visible()
