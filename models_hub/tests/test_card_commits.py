"""README.md metadata on the way in (every commit path refuses invalid metadata, reading it outside
the commit's transaction) and on the way out (pages read the stored card, never the YAML)."""

from __future__ import annotations

import pytest
import yaml
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from accounts.services import token_create
from conftest import client_for, make_commit, make_repo
from models_hub import cards, selectors, services
from models_hub.errors import BadRequest
from models_hub.models import Blob, TreeEntry
from models_hub.storage.blobs import blob_store_bytes

pytestmark = pytest.mark.django_db

GOOD_CARD = b"---\nlicense: mit\ntags: [tiny]\nbase_model: alice/base\n---\n# Tiny\n\nA tiny model.\n"
HOSTILE_CARD = b"---\nlicense: " + b"[" * 13_000 + b"\n---\n# Hostile\n"
HANG_GUARD = pytest.mark.timeout(20, func_only=True)  # before the fix, a hostile card held the worker for minutes


@pytest.fixture
def repo(alice):
    repo = make_repo(owner=alice, name="tiny")
    make_commit(repo=repo, author=alice, files={"README.md": GOOD_CARD})
    repo.refresh_from_db()
    return repo


@pytest.fixture
def yaml_reads(monkeypatch) -> list[bool]:
    """Each time card YAML is read, whether a transaction was open (the real reader still runs)."""
    reads: list[bool] = []
    real = yaml.parse

    def recording(*args, **kwargs):
        reads.append(connection.in_atomic_block)
        return real(*args, **kwargs)

    monkeypatch.setattr(yaml, "parse", recording)
    return reads


def bearer(user) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token_create(user=user, name='t', scope='write').secret}"}


# The one commit path


@pytest.mark.parametrize(
    ("card", "message"),
    [
        (b"---\nlicense: [mit\n---\n", "Invalid metadata in README.md: Invalid YAML: while parsing a flow sequence"),
        (b"---\nmodel-index: foo\n---\n", 'Invalid metadata in README.md: "model-index" must be an array'),
        (b"---\nbase_model: //evil.example/x\n---\n", "\"base_model\" with value '//evil.example/x' is not valid"),
        # PostgreSQL stores no NUL character: a "\0" escape in a value or a key was a 500.
        (b'---\nlicense: "mi\\0t"\n---\n', "The YAML metadata contains a NUL character"),
        (b'---\n"a\\0": 1\n---\n', "The YAML metadata contains a NUL character"),
    ],
)
def test_commit_with_invalid_metadata_is_refused_and_nothing_changes(alice, repo, card, message):
    head = selectors.head_commit(repo)
    with pytest.raises(BadRequest) as refused:
        make_commit(repo=repo, author=alice, files={"README.md": card, "other.txt": b"x"})
    assert message in refused.value.message
    assert selectors.head_commit(repo) == head
    repo.refresh_from_db()
    assert repo.license == "mit"


def test_branches_refuse_invalid_metadata_too(alice, repo):
    services.branch_create(repo=repo, name="draft")
    with pytest.raises(BadRequest, match="Invalid metadata in README.md"):
        make_commit(repo=repo, author=alice, files={"README.md": b"---\ntags: [a\n---\n"}, branch="draft")


def test_copy_onto_readme_is_checked_like_an_upload(alice, repo):
    make_commit(repo=repo, author=alice, files={"docs/draft.md": b"---\nlicense: [mit\n---\n"})
    with pytest.raises(BadRequest, match="Invalid metadata in README.md"):
        services.commit_create(
            repo=repo, author=alice, title="Promote", copies=[services.FileCopy("docs/draft.md", "README.md")]
        )


@HANG_GUARD
def test_hostile_card_is_refused_quickly(alice, repo):
    with pytest.raises(BadRequest, match="nests deeper than"):
        make_commit(repo=repo, author=alice, files={"README.md": HOSTILE_CARD})


@pytest.mark.django_db(transaction=True)
def test_readme_is_read_before_the_commit_transaction(alice, yaml_reads):
    repo = make_repo(owner=alice, name="tiny")
    make_commit(repo=repo, author=alice, files={"README.md": GOOD_CARD})
    # Read under the branch lock, a slow card stalled every other commit ("database is locked").
    assert yaml_reads == [False]
    repo.refresh_from_db()
    assert repo.card_data["base_model"] == "alice/base" and repo.summary == "A tiny model."


def test_commit_that_leaves_the_card_alone_does_not_read_it_again(alice, repo, yaml_reads):
    make_commit(repo=repo, author=alice, files={"weights.bin": b"\x80\x04pickle"})
    assert yaml_reads == []
    repo.refresh_from_db()
    assert repo.license == "mit" and repo.has_unsafe_files and "tiny" in repo.tag_rows.values_list("name", flat=True)


def test_deleting_the_card_clears_its_metadata(alice, repo):
    services.commit_create(repo=repo, author=alice, title="No card", deletions=["README.md"])
    repo.refresh_from_db()
    assert (repo.card_data, repo.license, repo.summary) == ({}, "", "")


# REST API v1


def test_rest_upload_of_invalid_card_is_400_and_commits_nothing(client, alice, repo):
    head = selectors.head_commit(repo)
    files = [SimpleUploadedFile("README.md", b"---\nlicense: [mit\n---\n")]
    response = client.post("/api/v1/repos/model/alice/tiny/upload/main/", {"files": files}, **bearer(alice))
    assert response.status_code == 400
    assert response.json()["error"].startswith("Invalid metadata in README.md: Invalid YAML")
    assert selectors.head_commit(repo) == head


@HANG_GUARD
def test_rest_raw_put_of_hostile_card_is_400_and_commits_nothing(client, alice, repo):
    head = selectors.head_commit(repo)
    response = client.put(
        "/api/v1/repos/model/alice/tiny/files/main/README.md",
        HOSTILE_CARD,
        content_type="application/octet-stream",
        **bearer(alice),
    )
    assert response.status_code == 400 and "nests deeper than" in response.json()["error"]
    assert selectors.head_commit(repo) == head


# The card editor


def test_editor_refuses_invalid_metadata_with_the_parsers_message(alice, repo):
    head = selectors.head_commit(repo)
    content = "---\nlicense: [unclosed\n---\n\n# Not saved\n"
    response = client_for(alice).post("/alice/tiny/edit/main/README.md", {"content": content, "summary": "Bad"})
    html = response.content.decode()
    assert response.status_code == 400
    assert "Invalid metadata in README.md: Invalid YAML: while parsing a flow sequence" in html
    assert "# Not saved" in html  # the text is kept in the editor to fix
    assert selectors.head_commit(repo) == head
    assert not Blob.objects.filter(size=len(content)).exists()  # nothing stored either


@HANG_GUARD
def test_editor_refuses_hostile_metadata_quickly(alice, repo):
    content = HOSTILE_CARD.decode()
    response = client_for(alice).post("/alice/tiny/edit/main/README.md", {"content": content, "summary": "Bad"})
    assert response.status_code == 400 and "nests deeper than" in response.content.decode()


def test_editor_saves_a_card_without_metadata_with_the_hubs_warning(alice, repo):
    response = client_for(alice).post(
        "/alice/tiny/edit/main/README.md", {"content": "# Plain\n", "summary": "Plain"}, follow=True
    )
    assert "empty or missing yaml metadata in repo card" in response.content.decode()
    assert selectors.head_commit(repo).title == "Plain"


# Card pages


def test_card_page_reads_no_yaml(alice, repo, yaml_reads):
    html = client_for(alice).get("/alice/tiny").content.decode()
    assert "<h1>Tiny</h1>" in html and "license:" not in html
    assert yaml_reads == []


def _store_legacy_card(repo, data: bytes) -> None:
    """A README.md stored before metadata was checked: put its bytes under the head commit directly."""
    blob = blob_store_bytes(data)
    TreeEntry.objects.filter(commit=selectors.head_commit(repo), path="README.md").update(blob=blob)


@HANG_GUARD
@pytest.mark.parametrize("card", [HOSTILE_CARD, b"---\nlicense: [mit\n---\n# Hostile\n"])
def test_existing_bad_card_renders_without_metadata_or_parser_errors(alice, charlie, repo, card):
    _store_legacy_card(repo, card)
    for user in (alice, charlie, None):
        response = client_for(user).get("/alice/tiny")
        html = response.content.decode()
        assert response.status_code == 200 and "<h1>Hostile</h1>" in html
        assert "Invalid YAML" not in html and "while parsing" not in html and "[[[" not in html


def test_markdown_files_are_shown_without_their_front_matter_and_without_reading_it(alice, repo, yaml_reads):
    make_commit(repo=repo, author=alice, files={"docs/notes.md": b"---\ntitle: [x\n---\n# Notes\n"})
    html = client_for(alice).get("/alice/tiny/blob/main/docs/notes.md").content.decode()
    assert "<h1>Notes</h1>" in html and yaml_reads == []


def test_base_model_and_datasets_link_only_to_repository_ids(alice, repo):
    hostile = ["//evil.example/x", "\\\\evil.example", "javascript:alert(1)", "http://evil.example/a"]
    # Metadata stored before base_model was checked: rendering must not trust it either.
    repo.card_data = {"base_model": [*hostile, "alice/base"], "datasets": ["//evil.example/d", "alice/corpus"]}
    repo.save(update_fields=["card_data"])
    sidebar = client_for(alice).get("/alice/tiny").content.decode().split('class="repo-sidebar"', 1)[1]
    assert 'href="/alice/base"' in sidebar and 'href="/datasets/alice/corpus"' in sidebar
    for value in [*hostile, "//evil.example/d", "/evil.example"]:
        assert f'href="{value}' not in sidebar and f'href="/{value}' not in sidebar
    assert "evil.example/x" in sidebar  # still shown, as text


@HANG_GUARD
def test_card_with_a_hostile_markdown_body_commits_and_renders_quickly(alice, repo):
    make_commit(repo=repo, author=alice, files={"README.md": b"---\nlicense: mit\n---\n" + b"[" * 100_000})
    repo.refresh_from_db()
    assert repo.summary == "[" * 300
    assert client_for(alice).get("/alice/tiny").status_code == 200


def test_card_page_renders_a_card_once(alice, repo, monkeypatch):
    renders: list[str] = []
    real = cards.render_markdown
    monkeypatch.setattr(cards, "render_markdown", lambda text, **kw: renders.append(text) or real(text, **kw))
    for _ in range(3):
        assert "<h1>Tiny</h1>" in client_for(alice).get("/alice/tiny").content.decode()
    assert len(renders) == 1
