"""The playground in headless Chromium with a real worker: generate, watch the text stream in, see the exact
commit, then rate the output from the keyboard (thumbs up and a better answer)."""

from __future__ import annotations

import pytest

from feedback.models import Rating
from inference.models import Generation
from inference.tests.conftest import make_model_repo
from tests.conftest import wait_for
from tests.test_browser import SHOTS, log_in
from tests.test_browser_csp import RECORD_VIOLATIONS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Every text the output element shows, in order: proof that it filled while the page followed the stream.
RECORD_OUTPUT = """
window.__seen = [];
new MutationObserver(function () {
  var completion = document.querySelector("#output [data-completion]");
  var status = document.querySelector("#output [data-status]");
  if (completion && status) window.__seen.push([status.textContent, completion.textContent]);
}).observe(document, {subtree: true, childList: true, characterData: true});
"""


def as_html_shows(text: str) -> str:
    """HTML parsing turns carriage returns into line feeds (a random tiny model writes any character)."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def test_generate_watch_it_stream_and_rate_it_from_the_keyboard(
    page, live_server, celery_worker, alice, tiny_model_files
):
    repo = make_model_repo(owner=alice, files=tiny_model_files)
    head = repo.refs.get(name="main").commit.oid
    log_in(page, live_server, alice)
    page.add_init_script(RECORD_OUTPUT)
    page.add_init_script(RECORD_VIOLATIONS)

    page.goto("/alice/tiny/playground")
    page.fill("#id_prompt", "Once upon a time")
    page.click("summary:has-text('Parameters')")
    page.fill("#id_max_new_tokens", "48")
    page.fill("#id_seed", "7")
    page.click("#generate-button")

    page.wait_for_selector("#output [data-commit]")
    generation = Generation.objects.get()
    assert generation.status == "done" and generation.source == "playground" and generation.seed == 7
    assert page.url.endswith(f"/alice/tiny/playground/{generation.pk}")  # a page to come back to
    assert page.inner_text("#output [data-commit]") == head[:7]
    assert page.get_attribute("#output [data-commit]", "href") == f"/alice/tiny/commit/{head}"
    assert page.inner_text("#output [data-seed]") == "7"
    assert page.text_content("#output [data-completion]") == as_html_shows(generation.text) != ""
    seen = page.evaluate("window.__seen")
    streamed = [text for status, text in seen if status in ("Generating…",) or "in the queue" in status]
    assert any(text for text in streamed), seen  # text arrived while the generation was still running

    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "playground-done.png"), full_page=True)
    page.keyboard.press("u")
    page.keyboard.press("c")
    assert page.evaluate("document.activeElement.name") == "correction"
    page.keyboard.type("Once upon a time there was a cat.")
    page.keyboard.press("Control+Enter")

    page.wait_for_selector("[data-rating-status]:has-text('Saved.')")
    page.screenshot(path=str(SHOTS / "playground-rated.png"), full_page=True)
    rating = Rating.objects.get()
    assert (rating.user, rating.generation_id, rating.thumb) == (alice, generation.pk, "up")
    assert rating.correction == "Once upon a time there was a cat."

    page.keyboard.press("d")  # changing it updates the one rating
    page.keyboard.press("4")
    page.keyboard.press("Control+Enter")
    assert wait_for(lambda: Rating.objects.get().thumb == "down")
    assert Rating.objects.count() == 1 and Rating.objects.get().stars == 4
    assert page.evaluate("window.__cspViolations") == []  # the page, the stream and htmx run under the policy


def test_the_queue_position_shows_until_stop_cancels(page, live_server, alice, tiny_model_files):
    make_model_repo(owner=alice, files=tiny_model_files)
    log_in(page, live_server, alice)
    page.goto("/alice/tiny/playground")
    page.fill("#id_prompt", "Once upon a time")

    page.click("#generate-button")  # no worker runs in this test: the generation waits in the queue

    page.wait_for_selector("#output [data-status]:has-text('1st in the queue')")
    page.click("#output [data-stop]")
    page.wait_for_selector("#output .status-cancelled")
    assert Generation.objects.get().status == "cancelled"
    assert "Stopped" in page.inner_text("#output [data-status]")


def test_try_it_on_the_model_card_streams_into_the_panel(page, live_server, celery_worker, alice, tiny_model_files):
    make_model_repo(owner=alice, files=tiny_model_files)
    log_in(page, live_server, alice)
    page.add_init_script(RECORD_VIOLATIONS)

    page.goto("/alice/tiny")
    page.fill("#try-it-prompt", "The cat")
    page.click("#try-it button:has-text('Generate')")

    page.wait_for_selector("#try-it-output [data-commit]")
    generation = Generation.objects.get()
    assert page.text_content("#try-it-output [data-completion]") == as_html_shows(generation.text)
    assert page.url.endswith("/alice/tiny")  # the card stays where it was
    assert page.get_attribute("#try-it a:has-text('Open in the playground')", "href") == (
        f"/alice/tiny/playground/{generation.pk}"
    )
    assert page.evaluate("window.__cspViolations") == []
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "try-it.png"), full_page=True)


def test_anonymous_visitors_are_invited_to_log_in_from_the_try_it_panel(page, alice, tiny_model_files):
    make_model_repo(owner=alice, files=tiny_model_files)

    page.goto("/alice/tiny")

    page.click("#try-it a:has-text('Log in to try it')")
    page.wait_for_url("**/accounts/login/?next=/alice/tiny")


def test_an_output_that_starts_with_a_newline_keeps_it_and_an_untouched_correction_is_not_saved(
    page, live_server, alice, tiny_model_files
):
    """The HTML parser drops a newline right after <textarea>: the panel writes one there, so the correction field
    holds the output exactly (chat models often start with a newline) and saving it untouched saves no correction."""
    from inference import services
    from inference.tests.test_playground import finish

    repo = make_model_repo(owner=alice, files=tiny_model_files)
    generation = finish(services.generation_request(user=alice, repo=repo, prompt="The cat"), text="\n\nThe end.")
    log_in(page, live_server, alice)
    page.goto(f"/alice/tiny/playground/{generation.pk}")

    assert page.input_value("[data-correction]") == "\n\nThe end."
    page.keyboard.press("u")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("[data-rating-status]:has-text('Saved.')")

    rating = Rating.objects.get()
    assert rating.thumb == "up" and rating.correction == ""
