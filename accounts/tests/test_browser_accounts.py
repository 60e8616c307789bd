"""In headless Chromium against a live server: sign up, create and use a token, revoke it with htmx,
create an organisation and add a member."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from playwright.sync_api import expect

from accounts.models import ApiToken, Membership, User
from conftest import make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def api_me(live_server, secret: str) -> tuple[int, dict]:
    # The live server's own http:// URL: no user-controlled scheme.
    url = f"{live_server.url}/api/v1/me/"
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {secret}"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_sign_up_create_a_token_use_it_and_revoke_it(page, live_server):
    page.goto("/accounts/signup/")
    page.fill("#id_username", "newbie")
    page.fill("#id_email", "newbie@example.com")
    page.fill("#id_password1", "a-Long-passphrase-42")
    page.fill("#id_password2", "a-Long-passphrase-42")
    page.locator("main").get_by_role("button", name="Sign up").click()
    page.wait_for_url(f"{live_server.url}/")
    assert page.get_by_role("link", name="newbie").is_visible()

    page.goto("/settings/tokens")
    page.fill("#id_name", "laptop")
    page.check("input[name=scope][value=write]")
    page.get_by_role("button", name="Create token").click()
    secret = page.input_value("#token-secret")
    assert secret.startswith("fw_")
    page.get_by_role("button", name="Copy").click()  # shown only with JavaScript; copies without a library
    expect(page.locator("#token-copy-status")).to_have_text("Copied to the clipboard.")
    assert api_me(live_server, secret) == (
        200,
        {
            "username": "newbie",
            "full_name": "",
            "email": "newbie@example.com",
            "orgs": [],
            "auth": {"type": "token", "name": "laptop", "scope": "write"},
            "scope": "write",
        },
    )

    page.goto("/settings/tokens")
    assert secret not in page.content()
    token = ApiToken.objects.get(user__username="newbie")
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(f"#token-{token.pk}").get_by_role("button", name="Revoke").click()
    page.locator(f"#token-{token.pk}.token-revoked").wait_for()
    assert page.url == f"{live_server.url}/settings/tokens"  # swapped in place by htmx, no navigation
    status, body = api_me(live_server, secret)
    assert status == 401 and body["error"].startswith("This token was revoked on ")


def test_create_an_organisation_and_add_a_member(page, live_server):
    make_user("bob")
    alice = make_user("alice")
    page.goto("/accounts/login/")
    page.fill("#id_login", "alice")
    page.fill("#id_password", "pw-alice")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/")

    page.goto("/organizations/new")
    page.fill("#id_name", "acme")
    page.fill("#id_full_name", "Acme Research")
    page.get_by_role("button", name="Create organisation").click()
    page.wait_for_url(f"{live_server.url}/acme")
    page.get_by_role("button", name="Organisation settings").click()

    page.fill("#id_username", "bob")
    page.select_option("#id_role", "write")
    page.get_by_role("button", name="Add member").click()
    page.get_by_text("bob is now a member (write).").wait_for()
    assert Membership.objects.get(organization__name="acme", user__username="bob").role == "write"

    page.locator("#member-alice").get_by_role("button", name="Leave").click()
    page.get_by_text("needs at least one admin").wait_for()
    assert Membership.objects.get(organization__name="acme", user=alice).role == "admin"
    assert User.objects.filter(username="acme").count() == 0
