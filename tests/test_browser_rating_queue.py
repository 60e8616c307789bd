"""The rating queue in headless Chromium: a rater works through two outputs with the keyboard alone."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from conftest import wait_until_held
from feedback.models import Rating
from feedback.tests.test_rate_next import make_campaign
from inference.tests.conftest import CARD, make_model_repo
from inference.tests.tiny_models import build_tiny_model
from tests.test_browser import log_in
from tests.test_browser_csp import assert_no_violations

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def model_files(tmp_path_factory) -> dict[str, bytes]:
    return {**build_tiny_model(tmp_path_factory.mktemp("tiny")), "README.md": CARD}


def test_a_rater_works_through_the_queue_with_the_keyboard(page, live_server, alice, bob, model_files):
    repo = make_model_repo(owner=alice, files=model_files)
    make_campaign(user=alice, repo=repo, prompts=("Once upon a time", "The cat"))
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    log_in(page, live_server, bob)

    page.goto("/rate")
    expect(page.locator(".rate-prompt")).to_have_text("Once upon a time")
    page.keyboard.press("u")
    page.keyboard.press("4")
    page.keyboard.press("Enter")

    expect(page.locator(".rate-prompt")).to_have_text("The cat")  # the next output, swapped in by htmx
    assert page.url == f"{live_server.url}/rate"
    page.keyboard.press("d")
    page.keyboard.press("c")  # the better answer, its text selected
    page.keyboard.type("Once there was a cat.")
    page.keyboard.press("Escape")
    page.keyboard.press("Enter")

    expect(page.get_by_text("Nothing left to rate.")).to_be_visible()
    ratings = {r.generation.prompt: r for r in Rating.objects.select_related("generation")}
    first, second = ratings["Once upon a time"], ratings["The cat"]
    assert (first.thumb, first.stars, first.correction) == ("up", 4, "")
    assert (second.thumb, second.stars, second.correction) == ("down", None, "Once there was a cat.")
    assert not [text for text in console if "Content Security Policy" in text]


def test_keys_pressed_while_the_next_output_loads_leave_the_saved_rating_alone(
    page, live_server, alice, bob, model_files
):
    """A fast rater's next keys arrive before the next output: they must not change the rating just saved."""
    repo = make_model_repo(owner=alice, files=model_files)
    make_campaign(user=alice, repo=repo, prompts=("Once upon a time", "The cat"))
    log_in(page, live_server, bob)
    page.goto("/rate")
    expect(page.locator(".rate-prompt")).to_have_text("Once upon a time")
    held = []  # the request for the next output, held so the keys below surely land before it arrives
    page.route(
        "**/rate",
        lambda route: held.append(route) if route.request.method == "GET" else route.continue_(),
    )

    page.keyboard.press("u")
    page.keyboard.press("Enter")
    expect(page.get_by_text("Saved. Loading the next output…")).to_be_visible()
    page.keyboard.press("d")
    page.keyboard.press("Enter")
    wait_until_held(page, held)
    held[0].continue_()

    expect(page.locator(".rate-prompt")).to_have_text("The cat")
    assert [(r.generation.prompt, r.thumb) for r in Rating.objects.select_related("generation")] == [
        ("Once upon a time", "up")
    ]


def test_keys_pressed_while_a_rating_is_being_saved_change_nothing_on_screen_or_saved(
    page, live_server, alice, bob, model_files
):
    """The save is on its way when the rater presses another thumb: the panel must not show a choice that the
    save in flight does not carry (it would be lost without a word)."""
    repo = make_model_repo(owner=alice, files=model_files)
    make_campaign(user=alice, repo=repo, prompts=("Once upon a time", "The cat"))
    log_in(page, live_server, bob)
    page.goto("/rate")
    expect(page.locator(".rate-prompt")).to_have_text("Once upon a time")
    held = []  # the save, held until the keys below have been pressed
    page.route("**/generations/*/rate", lambda route: held.append(route))

    page.keyboard.press("u")
    page.keyboard.press("Enter")
    wait_until_held(page, held)
    page.keyboard.press("d")
    page.keyboard.press("Enter")
    checked = page.locator("#rate-item input[name=thumb]:checked")
    assert checked.get_attribute("value") == "up"
    held[0].continue_()

    expect(page.locator(".rate-prompt")).to_have_text("The cat")
    assert [(r.generation.prompt, r.thumb) for r in Rating.objects.select_related("generation")] == [
        ("Once upon a time", "up")
    ]
    assert len(held) == 1  # one save sent, not a second one queued behind it


def test_an_empty_rating_is_refused_in_place_and_the_campaign_page_stops_polling(
    page, live_server, alice, bob, model_files
):
    repo = make_model_repo(owner=alice, files=model_files)
    campaign = make_campaign(user=alice, repo=repo, prompts=("Once",))
    page.csp_console = []
    page.on("console", lambda message: page.csp_console.append(message.text))
    log_in(page, live_server, bob)

    page.goto("/rate")
    page.keyboard.press("Enter")
    expect(page.locator("#rate-item .field-error")).to_contain_text("A rating needs at least a thumb")
    expect(page.locator(".rate-prompt")).to_have_text("Once")
    page.get_by_role("button", name="Skip").click()
    expect(page.get_by_text("Nothing left to rate.")).to_be_visible()
    assert not Rating.objects.exists()

    log_in(page, live_server, alice)
    page.goto(f"/alice/tiny/campaigns/{campaign.pk}")
    expect(page.locator(".campaign-status")).to_have_text("done")
    assert page.locator("#campaign-progress[hx-trigger]").count() == 0
    assert_no_violations(page, "campaign page")
