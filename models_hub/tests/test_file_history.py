"""Per-file history: /<owner>/<name>/commits/<rev>/<path> lists the commits that changed that file."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conftest import client_for, make_commit, make_repo
from models_hub import selectors, services
from models_hub.storage.blobs import blob_store_bytes
from models_hub.views import pages

pytestmark = pytest.mark.django_db


def titles(html: str) -> list[str]:
    return re.findall(r'<td><a href="/[^"]+/commit/[0-9a-f]{40}">([^<]+)</a>', html)


def history(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    return response.content.decode()


@pytest.fixture
def repo(alice):
    repo = make_repo(owner=alice, name="tiny")
    make_commit(repo=repo, author=alice, files={"config.json": b"{}", "src/a.py": b"a = 1\n"}, title="Add both")
    make_commit(repo=repo, author=alice, files={"README.md": b"# Tiny\n"}, title="Write the card")
    make_commit(repo=repo, author=alice, files={"src/a.py": b"a = 2\n"}, title="Change a")
    make_commit(repo=repo, author=alice, files={"config.json": b"{}"}, title="Same bytes again")
    services.commit_create(repo=repo, author=alice, title="Remove a", deletions=["src/a.py"])
    make_commit(repo=repo, author=alice, files={"src/a.py": b"a = 3\n"}, title="Bring a back")
    return repo


def test_only_the_commits_that_changed_the_file_are_listed_newest_first(repo):
    html = history(client_for(), "/alice/tiny/commits/main/src/a.py")

    assert titles(html) == ["Bring a back", "Remove a", "Change a", "Add both"]
    assert "History of" in html and "Older" not in html


def test_a_file_that_never_changed_after_it_was_added(repo):
    assert titles(history(client_for(), "/alice/tiny/commits/main/config.json")) == ["Add both"]


def test_history_at_a_branch_with_a_slash_and_at_an_older_commit(alice, repo):
    services.branch_create(repo=repo, name="feature/x", start_revision="main")
    make_commit(repo=repo, author=alice, files={"src/a.py": b"a = 4\n"}, title="On the branch", branch="feature/x")
    change_a = next(c for c in repo.commits.all() if c.title == "Change a")

    on_branch = titles(history(client_for(), "/alice/tiny/commits/feature%2Fx/src/a.py"))
    at_commit = titles(history(client_for(), f"/alice/tiny/commits/{change_a.oid}/src/a.py"))

    assert on_branch == ["On the branch", "Bring a back", "Remove a", "Change a", "Add both"]
    assert at_commit == ["Change a", "Add both"]


def test_history_pages_continue_below_the_last_commit_shown(repo, monkeypatch):
    monkeypatch.setattr(pages, "COMMITS_PER_PAGE", 2)
    client = client_for()

    first = history(client, "/alice/tiny/commits/main/src/a.py")
    older = re.search(r'href="\?before=([0-9a-f]{40})">Older', first).group(1)
    second = history(client, f"/alice/tiny/commits/main/src/a.py?before={older}")

    assert titles(first) == ["Bring a back", "Remove a"]
    assert titles(second) == ["Change a", "Add both"]
    assert "← Newest" in second and "Older" not in second


def test_a_page_looks_through_a_bounded_number_of_commits(repo, monkeypatch):
    monkeypatch.setattr(selectors, "PATH_HISTORY_SCAN", 2)
    client = client_for()

    first = history(client, "/alice/tiny/commits/main/config.json")
    older = re.search(r'href="\?before=([0-9a-f]{40})">Older', first).group(1)
    pages_seen = [titles(first)]
    while older:
        page = history(client, f"/alice/tiny/commits/main/config.json?before={older}")
        pages_seen.append(titles(page))
        found = re.search(r'href="\?before=([0-9a-f]{40})">Older', page)
        older = found.group(1) if found else None

    assert pages_seen[0] == [] and "in the commits looked at on this page" in first
    assert [title for page in pages_seen for title in page] == ["Add both"]


def test_an_unknown_cursor_is_404(repo):
    assert client_for().get("/alice/tiny/commits/main/src/a.py?before=" + "0" * 40).status_code == 404


def test_the_file_view_links_to_its_history(repo):
    html = client_for().get("/alice/tiny/blob/main/src/a.py").content.decode()

    assert 'href="/alice/tiny/commits/main/src/a.py"' in html


def test_a_private_file_history_is_404_to_a_stranger(alice, charlie):
    repo = make_repo(owner=alice, name="secret", private=True)
    make_commit(repo=repo, author=alice, files={"a.txt": b"x"})

    assert client_for(charlie).get("/alice/secret/commits/main/a.txt").status_code == 404
    assert client_for(alice).get("/alice/secret/commits/main/a.txt").status_code == 200


def test_file_history_reads_the_same_number_of_rows_however_long_the_history(alice):
    repo = make_repo(owner=alice, name="long")
    client = client_for(alice)
    counts = []
    for round_ in range(2):
        for n in range(30):
            services.commit_create(
                repo=repo,
                author=alice,
                title=f"Round {round_} step {n}",
                additions=[services.FileAddition("n.txt", blob_store_bytes(f"{round_}-{n}".encode()))],
            )
        with CaptureQueriesContext(connection) as queries:
            history(client, "/alice/long/commits/main/n.txt")
        counts.append(len(queries))

    assert counts[0] == counts[1] <= 12
