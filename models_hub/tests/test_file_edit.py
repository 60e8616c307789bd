"""Editing and deleting any text file in the browser, as a commit through services.commit_create."""

from __future__ import annotations

import re

import pytest

from accounts.services import membership_set, organization_create
from conftest import client_for, make_commit, make_repo
from models_hub import selectors, services
from models_hub.storage.blobs import blob_open

pytestmark = pytest.mark.django_db

SCRIPT = b"def train(steps):\n    for step in range(steps):\n        print(step)\n"


def head_bytes(repo, path: str, revision: str = "main") -> bytes:
    entry = selectors.file_entry(selectors.revision_resolve(repo, revision), path)
    with blob_open(entry.blob) as handle:
        return handle.read()


def form_parent(html: str) -> str:
    return re.search(r'name="parent" value="([0-9a-f]{40})"', html).group(1)


@pytest.fixture
def repo(alice):
    repo = make_repo(owner=alice, name="tiny")
    make_commit(repo=repo, author=alice, files={"src/train.py": SCRIPT, "weights.bin": b"\x00\x01\x02"})
    return repo


def test_the_owner_edits_a_file_and_it_is_saved_exactly(alice, repo):
    client = client_for(alice)
    form = client.get("/alice/tiny/edit/main/src/train.py").content.decode()
    assert "    for step in range(steps):" in form and "Commit changes to main" in form
    edited = "def train(steps):\n    for step in range(steps * 2):\n        print(step)\n"

    response = client.post(
        "/alice/tiny/edit/main/src/train.py", {"content": edited, "summary": "", "parent": form_parent(form)}
    )
    assert response.status_code == 400  # a commit needs a message
    response = client.post(
        "/alice/tiny/edit/main/src/train.py",
        {"content": edited, "summary": "Train twice as long", "description": "Why not", "parent": form_parent(form)},
    )

    assert response.status_code == 302 and response["Location"] == "/alice/tiny/blob/main/src/train.py"
    assert head_bytes(repo, "src/train.py") == edited.encode()
    head = selectors.head_commit(repo)
    assert (head.title, head.description, head.author) == ("Train twice as long", "Why not", alice)
    assert [c.path for c in selectors.commit_changes(head)] == ["src/train.py"]


def test_windows_line_endings_are_kept(alice):
    repo = make_repo(owner=alice, name="crlf")
    make_commit(repo=repo, author=alice, files={"notes.txt": b"one\r\ntwo\r\n"})

    client_for(alice).post("/alice/crlf/edit/main/notes.txt", {"content": "one\r\n2\r\n", "summary": "Edit"})

    assert head_bytes(repo, "notes.txt") == b"one\r\n2\r\n"


def test_an_edit_on_a_branch_commits_there_only(alice, repo):
    services.branch_create(repo=repo, name="feature/x", start_revision="main")

    response = client_for(alice).post(
        "/alice/tiny/edit/feature%2Fx/src/train.py", {"content": "print('branch')\n", "summary": "On the branch"}
    )

    assert response.status_code == 302
    assert head_bytes(repo, "src/train.py", "feature/x") == b"print('branch')\n"
    assert head_bytes(repo, "src/train.py") == SCRIPT


def test_a_concurrent_edit_is_refused_and_the_text_kept(alice, bob, repo):
    client = client_for(alice)
    parent = form_parent(client.get("/alice/tiny/edit/main/src/train.py").content.decode())
    make_commit(repo=repo, author=alice, files={"src/train.py": b"print('someone else')\n"}, title="Meanwhile")

    response = client.post(
        "/alice/tiny/edit/main/src/train.py", {"content": "print('mine')\n", "summary": "Mine", "parent": parent}
    )

    html = response.content.decode()
    assert response.status_code == 409
    assert "was not saved: someone committed to main since you opened this page" in html
    assert "print(&#x27;mine&#x27;)" in html
    assert selectors.head_commit(repo).title == "Meanwhile"


def test_saving_the_same_text_commits_nothing(alice, repo):
    head = selectors.head_commit(repo)

    response = client_for(alice).post(
        "/alice/tiny/edit/main/src/train.py", {"content": SCRIPT.decode(), "summary": "Nothing"}, follow=True
    )

    assert "is unchanged: nothing was committed" in response.content.decode()
    assert selectors.head_commit(repo) == head


def test_binary_files_cannot_be_edited(alice, repo):
    client = client_for(alice)

    response = client.get("/alice/tiny/edit/main/weights.bin", follow=True)
    blob_page = client.get("/alice/tiny/blob/main/weights.bin").content.decode()

    assert "is binary or larger than" in response.content.decode()
    assert "/edit/main/weights.bin" not in blob_page and "/delete/main/weights.bin" in blob_page


@pytest.mark.parametrize("url", ["/alice/tiny/edit/main/nope.txt", "/alice/tiny/delete/main/nope.txt"])
def test_a_missing_file_is_404(alice, repo, url):
    assert client_for(alice).get(url).status_code == 404


def test_files_are_edited_on_branches_not_at_tags_or_commits(alice, repo):
    services.tag_create(repo=repo, name="v1", revision="main")
    oid = selectors.head_commit(repo).oid
    client = client_for(alice)

    assert client.get("/alice/tiny/edit/v1/src/train.py").status_code == 404
    assert client.get(f"/alice/tiny/edit/{oid}/src/train.py").status_code == 404
    assert "/edit/v1/" not in client.get("/alice/tiny/blob/v1/src/train.py").content.decode()


def test_the_owner_deletes_a_file_after_confirming(alice, repo):
    client = client_for(alice)
    confirm = client.get("/alice/tiny/delete/main/src/train.py").content.decode()
    assert 'Delete <span class="mono">src/train.py</span> from main?' in confirm

    response = client.post(
        "/alice/tiny/delete/main/src/train.py", {"summary": "Remove the script", "parent": form_parent(confirm)}
    )

    assert response.status_code == 302 and response["Location"] == "/alice/tiny/tree/main"
    head = selectors.head_commit(repo)
    assert head.title == "Remove the script"
    assert [(c.path, c.status) for c in selectors.commit_changes(head)] == [("src/train.py", "deleted")]


def test_a_delete_after_a_concurrent_commit_is_refused(alice, repo):
    client = client_for(alice)
    parent = form_parent(client.get("/alice/tiny/delete/main/src/train.py").content.decode())
    make_commit(repo=repo, author=alice, files={"other.txt": b"x"}, title="Meanwhile")

    response = client.post("/alice/tiny/delete/main/src/train.py", {"summary": "Remove", "parent": parent})

    assert response.status_code == 409 and "was not deleted" in response.content.decode()
    assert head_bytes(repo, "src/train.py") == SCRIPT


@pytest.mark.parametrize("action", ["edit", "delete"])
def test_a_reader_gets_403_and_a_visitor_is_sent_to_log_in(bob, repo, action):
    url = f"/alice/tiny/{action}/main/src/train.py"
    data = {"content": "x", "summary": "Nope"}

    assert client_for(bob).get(url).status_code == 403
    assert client_for(bob).post(url, data).status_code == 403
    assert client_for().post(url, data)["Location"].startswith("/accounts/login/")
    assert head_bytes(repo, "src/train.py") == SCRIPT
    blob_page = client_for(bob).get("/alice/tiny/blob/main/src/train.py").content.decode()
    assert "/edit/main/" not in blob_page and "/delete/main/" not in blob_page


@pytest.mark.parametrize("action", ["edit", "delete"])
def test_a_stranger_gets_404_on_a_private_repository(alice, charlie, action):
    repo = make_repo(owner=alice, name="secret", private=True)
    make_commit(repo=repo, author=alice, files={"a.txt": b"hidden\n"})

    assert client_for(charlie).post(f"/alice/secret/{action}/main/a.txt", {"summary": "x"}).status_code == 404


def test_an_organisation_writer_may_edit_and_a_reader_may_not(alice, bob, charlie):
    org = organization_create(creator=alice, name="lab")
    membership_set(org=org, actor=alice, username="bob", role="write")
    membership_set(org=org, actor=alice, username="charlie", role="read")
    repo = make_repo(owner=alice, name="model", namespace="lab", private=True)
    make_commit(repo=repo, author=alice, files={"a.txt": b"one\n"})
    data = {"content": "two\n", "summary": "Bob's edit"}

    assert client_for(charlie).post("/lab/model/edit/main/a.txt", data).status_code == 403
    assert client_for(bob).post("/lab/model/edit/main/a.txt", data).status_code == 302
    assert head_bytes(repo, "a.txt") == b"two\n"


def test_after_a_delete_the_folder_is_shown_while_it_still_holds_files(alice, repo):
    make_commit(repo=repo, author=alice, files={"src/eval.py": b"print('eval')\n"})

    response = client_for(alice).post("/alice/tiny/delete/main/src/train.py", {"summary": "Remove"})

    assert response["Location"] == "/alice/tiny/tree/main/src"
