"""In headless Chromium against a live server: search as you type, facets and pages swap the results
in place (htmx) and keep the address bar in step."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from django.core.cache import cache
from playwright.sync_api import expect

from conftest import make_commit, make_repo, wait_until_held

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def card_titles(page) -> list[str]:
    return page.locator("#results .repo-card h3 a").all_inner_texts()


SECOND_PAGE = re.compile(r"[?&]page=2(&|$)")  # not per_page=2


def five_models(alice) -> None:
    """alice/tiny-gpt2 (text-generation), alice/big-bert and alice/other-0..2."""
    tiny = make_repo(owner=alice, name="tiny-gpt2")
    make_commit(repo=tiny, author=alice, files={"README.md": b"---\npipeline_tag: text-generation\n---\nTiny."})
    make_repo(owner=alice, name="big-bert")
    for i in range(3):
        make_repo(owner=alice, name=f"other-{i}")


def test_search_as_you_type_and_facets_swap_results_in_place(page, alice):
    cache.clear()
    five_models(alice)

    page.goto("/models?per_page=2")
    page.evaluate("window.notReloaded = true")  # survives only if the page is never reloaded
    page.fill("#repo-filters input[name=search]", "tin")
    expect(page.locator("#results .repo-card")).to_have_count(1)

    assert card_titles(page) == ["alice/tiny-gpt2"]
    assert "search=tin" in page.url
    assert page.evaluate("window.notReloaded") is True

    page.fill("#repo-filters input[name=search]", "")
    expect(page.locator("#results .repo-card")).to_have_count(2)
    page.click("#results a[rel=next]")
    page.wait_for_url(SECOND_PAGE)
    assert len(card_titles(page)) == 2
    page.click(".facets a:text-is('text-generation')")
    page.wait_for_url("**task=text-generation**")
    expect(page.locator("#results .repo-card")).to_have_count(1)

    assert card_titles(page) == ["alice/tiny-gpt2"]
    assert page.evaluate("window.notReloaded") is True
    page.click("#results .repo-card h3 a")  # repository links are ordinary links, not swapped into the list
    page.wait_for_url("**/alice/tiny-gpt2")


def test_a_late_answer_never_replaces_newer_results(page, alice):
    """A facet clicked while the next page is still loading wins: the page's request is aborted, so
    its answer cannot arrive afterwards and put the unfiltered second page back under the filter."""
    cache.clear()
    five_models(alice)
    page.goto("/models?per_page=2")
    held = []
    page.route(SECOND_PAGE, lambda route: held.append(route))

    page.click("#results a[rel=next]")
    wait_until_held(page, held)
    page.click(".facets a:text-is('text-generation')")
    expect(page.locator("#results .repo-card")).to_have_count(1)
    held[0].continue_()
    page.wait_for_timeout(500)  # room for a late answer to be swapped in, were the request not aborted

    assert card_titles(page) == ["alice/tiny-gpt2"]
    assert "task=text-generation" in page.url


def form_state(page) -> dict[str, str]:
    return {
        "search": page.input_value("#repo-filters input[name=search]"),
        "sort": page.input_value("#repo-filters select[name=sort]"),
    }


def test_back_and_forward_restore_the_form_with_the_results(page, alice):
    """Search, sort and a facet each push a history entry; going back shows each step's results
    together with the search text and sort order that produced them."""
    cache.clear()
    tiny = make_repo(owner=alice, name="tiny-gpt2")
    make_commit(repo=tiny, author=alice, files={"README.md": b"---\npipeline_tag: text-generation\n---\nTiny."})
    make_repo(owner=alice, name="tiny-bert")
    make_repo(owner=alice, name="big-bert")

    page.goto("/models")
    page.fill("#repo-filters input[name=search]", "tiny")
    expect(page.locator("#results .repo-card")).to_have_count(2)
    page.select_option("#repo-filters select[name=sort]", "likes")
    page.wait_for_url("**sort=likes**")
    page.click(".facets a:text-is('text-generation')")
    page.wait_for_url("**task=text-generation**")
    expect(page.locator("#results .repo-card")).to_have_count(1)

    page.go_back()
    page.wait_for_url(lambda url: "task=" not in url)
    assert form_state(page) == {"search": "tiny", "sort": "likes"}
    assert sorted(card_titles(page)) == ["alice/tiny-bert", "alice/tiny-gpt2"]

    page.go_back()
    page.wait_for_url(lambda url: "sort=likes" not in url)
    assert form_state(page) == {"search": "tiny", "sort": "downloads"}

    page.go_back()
    page.wait_for_url(lambda url: urlsplit(url).query == "")
    expect(page.locator("#results .repo-card")).to_have_count(3)
    assert form_state(page) == {"search": "", "sort": "downloads"}

    page.go_forward()
    page.wait_for_url(lambda url: "search=tiny" in url)
    expect(page.locator("#results .repo-card")).to_have_count(2)
    assert form_state(page) == {"search": "tiny", "sort": "downloads"}
