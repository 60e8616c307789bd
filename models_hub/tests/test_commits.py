import pytest

from conftest import make_commit, make_repo
from models_hub import selectors, services
from models_hub.blobs import blob_store_bytes
from models_hub.errors import BadRequest, EntryNotFound, PreconditionFailed, RevisionNotFound
from models_hub.models import Blob, Commit

pytestmark = pytest.mark.django_db


def test_new_repo_has_main_with_an_initial_commit(alice):
    repo = make_repo(owner=alice)
    head = selectors.head_commit(repo)
    assert len(head.oid) == 40 and head.oid == head.oid.lower()
    assert [e.path for e in selectors.tree_entries(head)] == [".gitattributes"]


def test_commit_adds_files_and_identical_bytes_are_stored_once(alice):
    repo = make_repo(owner=alice)
    commit = make_commit(repo=repo, author=alice, files={"a.txt": b"same", "dir/b.txt": b"same"})
    entries = selectors.tree_entries(commit)
    assert [e.path for e in entries] == [".gitattributes", "a.txt", "dir/b.txt"]
    assert entries[1].blob_id == entries[2].blob_id
    assert Blob.objects.filter(sha256=entries[1].blob_id).count() == 1
    assert len(entries[1].blob.git_oid) == 40


def test_git_blob_oid_matches_git(alice):
    blob = blob_store_bytes(b"hello\n")
    assert blob.git_oid == "ce013625030ba8dba906f756967f9e9ca394464a"  # `git hash-object` of "hello\n"


def test_retried_commit_does_not_create_a_twin(alice):
    repo = make_repo(owner=alice)
    first = make_commit(repo=repo, author=alice, files={"a.txt": b"1"}, title="Add a")
    again = make_commit(repo=repo, author=alice, files={"a.txt": b"1"}, title="Add a")
    assert again.pk == first.pk
    assert Commit.objects.filter(repository=repo).count() == 2


def test_stale_parent_is_refused_and_nothing_is_written(alice):
    repo = make_repo(owner=alice)
    initial = selectors.head_commit(repo)
    make_commit(repo=repo, author=alice, files={"a.txt": b"1"})
    with pytest.raises(PreconditionFailed):
        services.commit_create(
            repo=repo,
            author=alice,
            title="late",
            parent_oid=initial.oid,
            additions=[services.FileAddition("b.txt", blob_store_bytes(b"2"))],
        )
    assert "b.txt" not in {e.path for e in selectors.tree_entries(selectors.head_commit(repo))}


@pytest.mark.parametrize(
    "path", ["../x", "/etc/passwd", "a/../../b", "a\\b", "nul\x00byte", "a//b", ".git/config", "x" * 300, "./a"]
)
def test_hostile_paths_are_refused(alice, path):
    repo = make_repo(owner=alice)
    with pytest.raises(BadRequest):
        make_commit(repo=repo, author=alice, files={path: b"x"})
    assert Commit.objects.filter(repository=repo).count() == 1


def test_deleting_a_missing_file_is_an_entry_error(alice):
    repo = make_repo(owner=alice)
    with pytest.raises(EntryNotFound):
        services.commit_create(repo=repo, author=alice, title="rm", deletions=["nope.txt"])


def test_revisions_resolve_by_branch_tag_and_short_sha(alice):
    repo = make_repo(owner=alice)
    commit = make_commit(repo=repo, author=alice, files={"a.txt": b"1"})
    services.tag_create(repo=repo, name="v1")
    services.branch_create(repo=repo, name="feature/x")
    for rev in ("main", "v1", "feature/x", commit.oid, commit.oid[:7], commit.oid.upper()):
        assert selectors.revision_resolve(repo, rev) == commit
    with pytest.raises(RevisionNotFound):
        selectors.revision_resolve(repo, "nope")
    rev, resolved, path = selectors.split_revision_and_path(repo, "feature/x/dir/a.txt")
    assert (rev, resolved, path) == ("feature/x", commit, "dir/a.txt")


def test_card_metadata_is_indexed_on_main(alice):
    repo = make_repo(owner=alice)
    card = b"---\nlicense: mit\ntags: [tiny, demo]\npipeline_tag: text-generation\n---\n# Tiny\n\nA tiny model.\n"
    make_commit(repo=repo, author=alice, files={"README.md": card})
    repo.refresh_from_db()
    assert (repo.license, repo.pipeline_tag, repo.summary) == ("mit", "text-generation", "A tiny model.")
    assert set(repo.tag_rows.values_list("name", flat=True)) >= {"tiny", "demo", "license:mit", "text-generation"}


def test_card_summary_is_plain_text_whatever_the_markup(alice):
    repo = make_repo(owner=alice)
    body = b"# T\n\nHello [click me](javascript:alert(1)) <img src=x onerror=alert(1)> **bold** a < b\n"
    make_commit(repo=repo, author=alice, files={"README.md": body})
    repo.refresh_from_db()
    assert repo.summary == "Hello click me bold a < b"


def test_card_with_a_yaml_date_commits_and_indexes(alice):
    repo = make_repo(owner=alice)
    make_commit(repo=repo, author=alice, files={"README.md": b"---\ndate: 2024-01-02\nlicense: mit\n---\nHi\n"})
    repo.refresh_from_db()
    assert repo.card_data["date"] == "2024-01-02" and repo.license == "mit"
