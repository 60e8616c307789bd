"""In headless Chromium against a live server: search as you type, facets and pages swap the results
in place (htmx) and keep the address bar in step."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from django.core.cache import cache

from conftest import make_commit, make_repo

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def page(live_server) -> Iterator:
    if not os.path.exists(CHROMIUM):
        if os.environ.get("FLYWHEEL_REQUIRE_BROWSER") == "1":
            pytest.fail(f"Chromium is not installed at {CHROMIUM}, and FLYWHEEL_REQUIRE_BROWSER=1 requires it.")
        pytest.skip(f"Chromium is not installed at {CHROMIUM} (set FLYWHEEL_REQUIRE_BROWSER=1 to fail instead).")
    from playwright.sync_api import sync_playwright

    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    errors: list[str] = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
            page = context.new_page()
            page.set_default_timeout(20_000)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            yield page
            browser.close()
    finally:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    assert not errors, f"JavaScript errors on the page: {errors}"


def card_titles(page) -> list[str]:
    return page.locator("#results .repo-card h3 a").all_inner_texts()


def test_search_as_you_type_and_facets_swap_results_in_place(page, alice):
    cache.clear()
    tiny = make_repo(owner=alice, name="tiny-gpt2")
    make_commit(repo=tiny, author=alice, files={"README.md": b"---\npipeline_tag: text-generation\n---\nTiny."})
    make_repo(owner=alice, name="big-bert")
    for i in range(3):
        make_repo(owner=alice, name=f"other-{i}")

    page.goto("/models?per_page=2")
    page.evaluate("window.notReloaded = true")  # survives only if the page is never reloaded
    page.fill("#repo-filters input[name=search]", "tin")
    page.wait_for_function("document.querySelectorAll('#results .repo-card').length === 1")

    assert card_titles(page) == ["alice/tiny-gpt2"]
    assert "search=tin" in page.url
    assert page.evaluate("window.notReloaded") is True

    page.fill("#repo-filters input[name=search]", "")
    page.wait_for_function("document.querySelectorAll('#results .repo-card').length === 2")
    page.click("#results a[rel=next]")
    page.wait_for_url("**page=2**")
    assert len(card_titles(page)) == 2
    page.click(".facets a:text-is('text-generation')")
    page.wait_for_url("**task=text-generation**")
    page.wait_for_function("document.querySelectorAll('#results .repo-card').length === 1")

    assert card_titles(page) == ["alice/tiny-gpt2"]
    assert page.evaluate("window.notReloaded") is True
    page.click("#results .repo-card h3 a")  # repository links are ordinary links, not swapped into the list
    page.wait_for_url("**/alice/tiny-gpt2")
