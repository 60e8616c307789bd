"""The card editor in headless Chromium: invalid or hostile metadata is refused with the parser's
message, promptly, and nothing is committed; the card page keeps showing what was there."""

from __future__ import annotations

import pytest

from conftest import make_commit, make_repo
from models_hub import selectors
from tests.test_browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CARDS = {
    "invalid": ("---\nlicense: [mit\n---\n\n# Draft\n", "Invalid YAML: while parsing a flow sequence"),
    "hostile": ("---\nlicense: " + "[" * 13_000 + "\n---\n\n# Draft\n", "nests deeper than 32 levels"),
    "wrong type": ("---\nmodel-index: foo\n---\n\n# Draft\n", '"model-index" must be an array'),
}


@pytest.mark.timeout(120, func_only=True)  # a hang guard: before the fix the hostile card took minutes
@pytest.mark.parametrize(("content", "message"), CARDS.values(), ids=CARDS.keys())
def test_editor_refuses_bad_metadata_and_commits_nothing(page, live_server, alice, content, message):
    repo = make_repo(owner=alice, name="tiny")
    head = make_commit(repo=repo, author=alice, files={"README.md": b"---\nlicense: mit\n---\n\n# Tiny\n"})
    log_in(page, live_server, alice)

    page.goto("/alice/tiny/edit/main/README.md")
    page.fill("textarea[name=content]", content)
    page.fill("input[name=summary]", "Break the card")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.click("button:has-text('Commit changes to main')")

    assert answer.value.status == 400
    alert = page.inner_text("[role=alert]")
    assert alert.startswith("Invalid metadata in README.md:") and message in alert
    assert page.input_value("textarea[name=content]").endswith("# Draft\n")  # kept for fixing
    assert selectors.head_commit(repo) == head
    page.goto("/alice/tiny")
    assert page.inner_text("article.markdown h1") == "Tiny" and "mit" in page.inner_text("aside.repo-sidebar")
