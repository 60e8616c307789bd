"""Sign-up, log-in, log-out, password reset and change through allauth's real views."""

from __future__ import annotations

import re

import pytest
from django.core import mail

from accounts.models import User
from accounts.services import organization_create

pytestmark = pytest.mark.django_db

PASSWORD = "a-Long-passphrase-42"


def signup(client, username: str, email: str = "new@example.com", password: str = PASSWORD):
    return client.post(
        "/accounts/signup/",
        {"username": username, "email": email, "password1": password, "password2": password},
    )


def test_signup_page_renders_in_the_site_layout(client):
    response = client.get("/accounts/signup/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Create your account" in html
    assert 'href="/static/flywheel/site.css"' in html or "flywheel/site.css" in html
    assert 'name="username"' in html and 'name="password2"' in html


def test_signup_creates_the_account_and_logs_in(client):
    response = signup(client, "newbie")
    assert response.status_code == 302
    user = User.objects.get(username="newbie")
    assert user.email == "new@example.com"
    assert client.get("/").context["user"] == user


@pytest.mark.parametrize("name", ["models", "datasets", "api", "admin", "accounts", "static", "settings", "new"])
def test_reserved_usernames_are_refused_with_a_message(client, name):
    response = signup(client, name)
    assert response.status_code == 200
    assert f"&#x27;{name}&#x27; is reserved by the site" in response.content.decode()
    assert not User.objects.filter(username=name).exists()


def test_reserved_names_are_refused_whatever_their_case(client):
    response = signup(client, "Models")
    assert "is reserved by the site" in response.content.decode()


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("a--b", "cannot contain"),
        ("a..b", "cannot contain"),
        ("has space", "Use letters, digits"),
        ("-dash", "Use letters, digits"),
        ("x" * 97, "at most 96 characters"),
    ],
)
def test_invalid_usernames_are_refused_with_a_message(client, name, message):
    response = signup(client, name)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not User.objects.filter(username=name).exists()


def test_a_96_character_username_is_accepted(client):
    assert signup(client, "x" * 96).status_code == 302


def test_username_equal_to_an_organisation_is_refused(client, alice):
    organization_create(creator=alice, name="acme")
    response = signup(client, "ACME")
    assert "The name &#x27;ACME&#x27; is already taken." in response.content.decode()
    assert not User.objects.filter(username__iexact="acme").exists()


def test_username_taken_by_a_user_is_refused_case_insensitively(client, alice):
    response = signup(client, "Alice", email="other@example.com")
    assert response.status_code == 200
    assert "already" in response.content.decode()
    assert User.objects.filter(username__iexact="alice").count() == 1


def test_login_with_username_and_with_email(client, alice):
    page = client.get("/accounts/login/")
    assert page.status_code == 200 and "Log in" in page.content.decode()
    assert client.post("/accounts/login/", {"login": "alice", "password": "pw-alice"}).status_code == 302
    assert client.get("/").context["user"] == alice
    client.logout()
    assert client.post("/accounts/login/", {"login": "alice@example.com", "password": "pw-alice"}).status_code == 302
    assert client.get("/").context["user"] == alice


def test_login_with_a_wrong_password_shows_an_error(client, alice):
    response = client.post("/accounts/login/", {"login": "alice", "password": "nope"})
    assert response.status_code == 200
    assert "not correct" in response.content.decode()
    assert not client.get("/").context["user"].is_authenticated


def test_logout_needs_a_post(client, alice):
    client.force_login(alice)
    page = client.get("/accounts/logout/")
    assert page.status_code == 200  # a confirmation page, not a log-out
    assert client.get("/").context["user"] == alice
    assert client.post("/accounts/logout/").status_code == 302
    assert not client.get("/").context["user"].is_authenticated


def test_password_reset_through_the_emailed_link(client, alice, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    response = client.post("/accounts/password/reset/", {"email": "alice@example.com"})
    assert response.status_code == 302
    assert "Check your e-mail" in client.get(response["Location"]).content.decode()
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["alice@example.com"]

    link = re.search(r"https?://[^/\s]+(/accounts/password/reset/key/\S+)", mail.outbox[0].body).group(1)
    form_page = client.get(link, follow=True)
    assert "Choose a new password" in form_page.content.decode()
    action = form_page.redirect_chain[-1][0] if form_page.redirect_chain else link
    done = client.post(action, {"password1": PASSWORD, "password2": PASSWORD}, follow=True)
    assert "Password changed" in done.content.decode()

    alice.refresh_from_db()
    assert alice.check_password(PASSWORD)
    # The link works once.
    assert "This link is invalid" in client.get(link, follow=True).content.decode()


def test_password_reset_for_an_unknown_address_reveals_nothing(client, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    response = client.post("/accounts/password/reset/", {"email": "nobody@example.com"})
    assert response.status_code == 302


def test_password_change(client, alice):
    client.force_login(alice)
    page = client.get("/accounts/password/change/")
    assert page.status_code == 200 and "Change your password" in page.content.decode()
    wrong = client.post(
        "/accounts/password/change/", {"oldpassword": "nope", "password1": PASSWORD, "password2": PASSWORD}
    )
    assert wrong.status_code == 200 and "current password" in wrong.content.decode().lower()
    response = client.post(
        "/accounts/password/change/", {"oldpassword": "pw-alice", "password1": PASSWORD, "password2": PASSWORD}
    )
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.check_password(PASSWORD)
    # Still logged in after changing it.
    assert client.get("/").context["user"] == alice


def test_password_change_needs_login(client):
    response = client.get("/accounts/password/change/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_email_page_lists_and_adds_addresses(client, alice):
    client.force_login(alice)
    page = client.get("/accounts/email/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "alice@example.com" in html and "Access tokens" in html  # inside the settings layout
    response = client.post("/accounts/email/", {"action_add": "", "email": "alice@work.example"})
    assert response.status_code == 302
    assert alice.emailaddress_set.filter(email="alice@work.example").exists()


def test_allauth_pages_without_an_override_use_the_site_layout(client, alice):
    client.force_login(alice)
    response = client.get("/accounts/reauthenticate/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "flywheel/site.css" in html and 'name="password"' in html
