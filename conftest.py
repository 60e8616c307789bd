"""The shared cast and helpers: alice owns things, bob collaborates, charlie has no access."""

from __future__ import annotations

import os

import pytest

from accounts.models import User
from models_hub import services
from models_hub.models import Repository
from models_hub.storage.blobs import blob_store_bytes


def make_user(username: str, **fields) -> User:
    return User.objects.create_user(
        username=username, email=f"{username}@example.com", password="pw-" + username, **fields
    )


def client_for(user: User | None = None):
    """A Django test client, logged in as `user` when given."""
    from django.test import Client

    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def make_repo(
    *, owner: User, name: str = "tiny", kind: str = "model", private: bool = False, namespace: str | None = None
) -> Repository:
    return services.repo_create(
        kind=kind, namespace=namespace or owner.username, name=name, creator=owner, private=private
    )


def make_commit(
    *, repo: Repository, author: User, files: dict[str, bytes], title: str = "Add files", branch: str = "main"
):
    additions = [services.FileAddition(path, blob_store_bytes(data)) for path, data in files.items()]
    return services.commit_create(repo=repo, author=author, title=title, branch=branch, additions=additions)


@pytest.fixture
def alice(db) -> User:
    return make_user("alice")


@pytest.fixture
def bob(db) -> User:
    return make_user("bob")


@pytest.fixture
def charlie(db) -> User:
    return make_user("charlie")


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
def browser():
    """Debian's Chromium driven by Playwright. CI (FLYWHEEL_REQUIRE_BROWSER=1) fails instead of skipping."""
    if not os.path.exists(CHROMIUM):
        if os.environ.get("FLYWHEEL_REQUIRE_BROWSER") == "1":
            pytest.fail(f"Chromium is not installed at {CHROMIUM}, and FLYWHEEL_REQUIRE_BROWSER=1 requires it.")
        pytest.skip(f"Chromium is not installed at {CHROMIUM} (set FLYWHEEL_REQUIRE_BROWSER=1 to fail instead).")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; the ORM calls in the tests are still synchronous.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield chromium
            chromium.close()
    finally:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture(scope="session")
def live_server_sessions_ended(django_db_setup, django_db_blocker):
    """Chromium keeps its connections open, so a request thread of the live server (a daemon) can
    still hold a PostgreSQL session when the test database is dropped: end such sessions first."""
    yield
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


@pytest.fixture
def page(browser, live_server, live_server_sessions_ended):
    """A tab on the live server; any JavaScript error on the page fails the test."""
    context = browser.new_context(
        base_url=live_server.url, accept_downloads=True, viewport={"width": 1280, "height": 900}
    )
    page = context.new_page()
    page.set_default_timeout(20_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def wait_until_held(page, held: list, seconds: float = 5) -> None:
    """Let the page run until a route handler has held a request (Playwright dispatches only while it waits)."""
    for _ in range(int(seconds * 10)):
        if held:
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"The page sent no request to hold within {seconds} s.")
