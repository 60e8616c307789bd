"""What a new visitor meets first, in headless Chromium: the header at desktop and phone widths, the
skip link, and a Like button that leads an anonymous visitor through log-in and back."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from conftest import make_repo, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def box(page, selector: str) -> dict[str, float]:
    return page.locator(selector).first.bounding_box()


@pytest.mark.parametrize("width", [1280, 390])
def test_header_puts_log_in_before_sign_up_on_one_line_and_keeps_search(page, width):
    page.set_viewport_size({"width": width, "height": 800})
    page.goto("/models")

    log_in, sign_up = box(page, ".site-header >> text=Log in"), box(page, ".site-header >> text=Sign up")
    assert log_in["x"] + log_in["width"] <= sign_up["x"]  # Log in first, to the left
    centre = lambda b: b["y"] + b["height"] / 2  # noqa: E731
    assert abs(centre(log_in) - centre(sign_up)) < 2  # on one line

    search = page.locator(".site-header input[name=search]")
    expect(search).to_be_visible()
    assert search.bounding_box()["width"] >= 150  # wide enough to type into
    assert page.evaluate("document.documentElement.scrollWidth") <= width  # nothing pushed off-screen
    search.fill("tiny")
    search.press("Enter")
    page.wait_for_url("**/models?search=tiny")


def test_skip_link_is_the_first_stop_and_moves_focus_to_the_content(page):
    page.goto("/models")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "content"
    assert page.evaluate("document.activeElement.tagName") == "MAIN"


def test_anonymous_like_leads_to_log_in_and_back_to_the_repository(page, live_server):
    alice = make_user("alice")
    make_user("bob")
    make_repo(owner=alice, name="tiny")

    page.goto("/alice/tiny")
    page.get_by_role("button", name="♡ Like · 0").click()
    page.wait_for_url("**/accounts/login/?next=/alice/tiny")
    page.fill("#id_login", "bob")
    page.fill("#id_password", "pw-bob")
    page.locator("main").get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/alice/tiny")
    page.get_by_role("button", name="♡ Like · 0").click()
    expect(page.get_by_role("button", name="♥ Unlike · 1")).to_be_visible()
