"""The Content-Security-Policy in headless Chromium: every main page is served with it, runs under it
(htmx, the upload page, the token page's copy button, highlighted code) and reports no violation."""

from __future__ import annotations

import pytest

from conftest import make_commit, make_repo, make_user
from models_hub import selectors
from tests.test_browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CARD = b"---\nlicense: mit\npipeline_tag: text-generation\n---\n# Tiny\n\nA *tiny* model.\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(e.violatedDirective + " blocked " + (e.blockedURI || "inline") + " at " + e.sourceFile);
});
"""


@pytest.fixture
def watched_page(page):
    """The page, recording CSP violations both from the console and from the DOM event."""
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    page.add_init_script(RECORD_VIOLATIONS)
    page.csp_console = console
    return page


# ReDoc always tries to show Redocly's logo from the internet; the policy blocking it is the point.
EXPECTED_BLOCKS = {"/api/v1/redoc/": "https://cdn.redoc.ly/redoc/logo-mini.svg"}


def visit(page, url: str) -> None:
    response = page.goto(url)
    assert response.status == 200, url
    policy = response.headers.get("content-security-policy", "")
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy, (url, policy)
    page.wait_for_load_state("networkidle")
    assert_no_violations(page, url, expected=EXPECTED_BLOCKS.get(url))


def assert_no_violations(page, where: str, expected: str | None = None) -> None:
    reported = [text for text in page.evaluate("window.__cspViolations || []") if not (expected and expected in text)]
    console = [
        text for text in page.csp_console if "Content Security Policy" in text and not (expected and expected in text)
    ]
    page.csp_console.clear()
    assert not reported and not console, (where, reported, console)


def test_main_pages_run_under_the_policy_without_violations(watched_page, live_server):
    page = watched_page
    alice = make_user("alice", is_staff=True)
    repo = make_repo(owner=alice, name="tiny")
    make_commit(
        repo=repo,
        author=alice,
        files={"README.md": CARD, "train.py": b"def train(steps: int = 3) -> None:\n    print('hi', steps)\n"},
    )

    for url in (
        "/accounts/login/",
        "/",
        "/models",
        "/models?search=tiny&sort=likes",
        "/alice/tiny",
        "/alice/tiny/tree/main",
        "/alice/tiny/blob/main/train.py",
        "/alice/tiny/blob/main/README.md",
        "/alice/tiny/commits/main",
        "/api/v1/docs/",
        "/api/v1/redoc/",
    ):
        visit(page, url)

    # Highlighted code is styled by the site's stylesheet, not by an inline <style>.
    page.goto("/alice/tiny/blob/main/train.py")
    keyword = page.locator(".highlight .k").first
    assert keyword.evaluate("e => getComputedStyle(e).fontWeight") == "700"
    # The docs actually render the schema.
    page.goto("/api/v1/docs/")
    page.wait_for_selector(".swagger-ui .opblock", timeout=20_000)
    assert_no_violations(page, "swagger rendered")

    log_in(page, live_server, alice)
    head = selectors.head_commit(repo).oid
    for url in (
        "/alice/tiny/upload/main",
        "/alice/tiny/edit/main/train.py",
        "/alice/tiny/delete/main/train.py",
        f"/alice/tiny/commit/{head}",
        "/alice/tiny/commits/main/train.py",
        "/settings/tokens",
        "/admin/",
    ):
        visit(page, url)

    # htmx still swaps fragments under the policy.
    visit(page, "/alice/tiny")
    page.click("#like-button button")
    page.wait_for_selector("#like-button button:has-text('Unlike')")
    assert_no_violations(page, "like")

    # The token page's copy button is wired by a static script.
    page.goto("/settings/tokens")
    page.fill("input[name=name]", "laptop")
    page.click("button:has-text('Create token')")
    page.wait_for_url("**/settings/tokens/created")
    assert page.locator("#token-copy").is_visible()
    assert_no_violations(page, "token created")
