"""The dashboard's charts draw in headless Chromium under the site's Content-Security-Policy."""

from __future__ import annotations

import pytest

from conftest import make_commit, make_repo, make_user
from feedback.tests.test_dashboards import ensure_tags, make_generation, rate
from models_hub import services as hub_services

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DRAWN = """id => {
  const canvas = document.getElementById(id);
  if (!canvas || !canvas.chart || canvas.width === 0) return false;
  const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  for (let i = 3; i < pixels.length; i += 4) if (pixels[i] !== 0) return true;
  return false;
}"""


def log_in(page, live_server, user) -> None:
    from django.test import Client

    client = Client()
    client.force_login(user)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )


def test_the_dashboard_and_compare_charts_render_without_console_errors(page, live_server, alice, bob, charlie):
    ensure_tags()
    repo = make_repo(owner=alice)
    first = make_commit(repo=repo, author=alice, files={"a.txt": b"one"})
    hub_services.tag_create(repo=repo, name="v0.1", revision=first.oid)
    second = make_commit(repo=repo, author=alice, files={"a.txt": b"two"})
    for commit, thumbs in ((first, ("down", "up")), (second, ("up", "up"))):
        generation = make_generation(repo=repo, commit=commit)
        rate(generation, bob, thumbs[0], 3, ["helpful"])
        rate(generation, charlie, thumbs[1], 4)
    rate(make_generation(repo=repo, commit=second), make_user("dave"), "up", 5, ["too-long"])
    console_errors: list[str] = []
    page.on("console", lambda message: console_errors.append(message.text) if message.type == "error" else None)
    log_in(page, live_server, alice)

    page.goto("/alice/tiny")
    page.get_by_role("link", name="Feedback").click()
    page.wait_for_url("**/alice/tiny/feedback")

    assert page.locator("#count-ratings").inner_text() == "5"
    for canvas in ("chart-trend", "chart-stars", "chart-tags"):
        page.wait_for_function(DRAWN, arg=canvas)
    page.get_by_text("Compare two revisions").click()
    page.wait_for_url("**/feedback/compare")
    for canvas in ("chart-compare-up", "chart-compare-stars"):
        page.wait_for_function(DRAWN, arg=canvas)
    assert "50.0%" in page.locator("#table-compare").inner_text()
    assert console_errors == []
