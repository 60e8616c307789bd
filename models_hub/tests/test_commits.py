import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from conftest import make_commit, make_repo
from models_hub import selectors, services
from models_hub.errors import BadRequest, EntryNotFound, PreconditionFailed, RevisionNotFound
from models_hub.models import Blob, Commit
from models_hub.storage.blobs import blob_store_bytes

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


def test_commit_that_changes_nothing_returns_the_head_whatever_its_title(alice):
    repo = make_repo(owner=alice)
    first = make_commit(repo=repo, author=alice, files={"a.txt": b"1", "b.txt": b"2"}, title="Add a and b")

    again = make_commit(repo=repo, author=alice, files={"a.txt": b"1"}, title="Upload a.txt (part 2)")
    nothing = services.commit_create(repo=repo, author=alice, title="Empty")

    assert again.pk == nothing.pk == first.pk == selectors.head_commit(repo).pk
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


# --- History -------------------------------------------------------------------------------------


def make_history(*, owner, name: str = "long", length: int = 120):
    """A repository with `length` commits on main after the initial one, titled "step 0" (oldest) onwards."""
    repo = make_repo(owner=owner, name=name)
    for i in range(length):
        make_commit(repo=repo, author=owner, files={"n.txt": str(i).encode()}, title=f"step {i}")
    return repo


def titles(history) -> list[str]:
    return [c.title for c in history]


def newest_first(start: int, stop: int) -> list[str]:
    """The titles "step start" down to "step stop" inclusive."""
    return [f"step {i}" for i in range(start, stop - 1, -1)]


def test_history_follows_parents_newest_first_and_pages_by_offset(alice):
    repo = make_history(owner=alice)
    head = selectors.head_commit(repo)

    assert titles(selectors.commit_history(repo, head)) == [*newest_first(119, 0), "initial commit"]
    assert titles(selectors.commit_history(repo, head, limit=3)) == newest_first(119, 117)
    assert titles(selectors.commit_history(repo, head, offset=50, limit=50)) == newest_first(69, 20)
    assert titles(selectors.commit_history(repo, head, offset=100, limit=50)) == [
        *newest_first(19, 0),
        "initial commit",
    ]
    assert selectors.commit_history(repo, head, offset=121, limit=50) == []
    assert selectors.commit_history(repo, head, offset=10**30, limit=50) == []


def test_history_of_a_branch_from_an_older_commit_holds_only_its_ancestors(alice):
    repo = make_history(owner=alice, length=10)
    services.branch_create(
        repo=repo, name="old", start_revision=selectors.commit_history(repo, selectors.head_commit(repo))[6].oid
    )
    make_commit(repo=repo, author=alice, files={"b.txt": b"b"}, title="on old", branch="old")
    make_commit(repo=repo, author=alice, files={"m.txt": b"m"}, title="on main")

    old = selectors.revision_resolve(repo, "old")
    assert titles(selectors.commit_history(repo, old)) == ["on old", *newest_first(3, 0), "initial commit"]
    assert titles(selectors.commit_history(repo, old, offset=1, limit=2)) == newest_first(3, 2)


def test_history_costs_the_same_queries_however_long_it_is(alice, django_assert_max_num_queries):
    short, long = make_history(owner=alice, name="short", length=3), make_history(owner=alice)
    for repo in (short, long):
        head = selectors.head_commit(repo)
        with django_assert_max_num_queries(2):
            history = selectors.commit_history(repo, head, offset=1, limit=51)
        with django_assert_max_num_queries(0):
            assert all(c.author == alice for c in history)


def test_a_cycle_of_parents_ends_the_history(alice):
    repo = make_history(owner=alice, length=5)
    head = selectors.head_commit(repo)
    Commit.objects.filter(repository=repo, parent=None).update(parent=head)  # corrupt: the root points at the head

    assert titles(selectors.commit_history(repo, head)) == [*newest_first(4, 0), "initial commit"]
    assert titles(selectors.commit_history(repo, head, limit=8)) == [*newest_first(4, 0), "initial commit"]


def test_commits_page_two_shows_the_next_fifty(alice, django_assert_max_num_queries):
    make_history(owner=alice)
    with django_assert_max_num_queries(8):
        html = Client().get("/alice/long/commits/main?page=2").content.decode()

    shown = [f"step {i}" for i in range(120) if f">step {i}<" in html]
    assert shown == [f"step {i}" for i in range(20, 70)]
    assert 'href="?page=1"' in html and 'href="?page=3"' in html and "Page 2" in html
    last = Client().get("/alice/long/commits/main?page=3").content.decode()
    assert "initial commit" in last and 'href="?page=4"' not in last


def test_commits_page_queries_do_not_grow_with_history(alice):
    make_history(owner=alice, name="short", length=3)
    make_history(owner=alice)
    counts = []
    for name in ("short", "long"):
        with CaptureQueriesContext(connection) as queries:
            assert Client().get(f"/alice/{name}/commits/main").status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]


@pytest.mark.parametrize("page", ["-1", "0", "abc", "1e9", "", " 1", "9" * 5000])
def test_unreadable_page_numbers_show_the_first_page(alice, page):
    make_history(owner=alice, length=3)
    response = Client().get("/alice/long/commits/main", {"page": page})
    assert response.status_code == 200 and ">step 2<" in response.content.decode()


@pytest.mark.parametrize("page", ["2", "99999", "9" * 40])
def test_page_numbers_past_the_end_are_empty_with_a_link_back(alice, page):
    make_history(owner=alice, length=3)
    response = Client().get("/alice/long/commits/main", {"page": page})
    html = response.content.decode()
    assert response.status_code == 200 and "No commits on this page" in html and 'href="?page=1"' in html


def test_hub_commits_page_two_shows_the_next_fifty(alice):
    make_history(owner=alice)
    first = Client().get("/api/models/alice/long/commits/main")
    second = Client().get("/api/models/alice/long/commits/main", {"p": "1"})
    last = Client().get("/api/models/alice/long/commits/main", {"p": "2"})

    assert [c["title"] for c in first.json()] == newest_first(119, 70)
    assert [c["title"] for c in second.json()] == newest_first(69, 20)
    assert [c["title"] for c in last.json()] == [*newest_first(19, 0), "initial commit"]
    assert "p=1" in first["Link"] and "p=2" in second["Link"] and "Link" not in last
    beyond = Client().get("/api/models/alice/long/commits/main", {"p": "9" * 30})
    assert beyond.status_code == 200 and beyond.json() == []


def test_fast_forward_moves_main_to_a_descendant_and_refuses_anything_else(alice):
    from models_hub.errors import Conflict

    repo = make_repo(owner=alice)
    base = selectors.head_commit(repo)
    services.branch_create(repo=repo, name="run-1", start_revision="main")
    ahead = make_commit(repo=repo, author=alice, files={"README.md": b"---\nlicense: mit\n---\n"}, branch="run-1")
    with pytest.raises(PreconditionFailed):  # main is not where the caller saw it
        services.branch_fast_forward(repo=repo, branch="main", to_commit=ahead, expected_oid=ahead.oid)

    assert services.branch_fast_forward(repo=repo, branch="main", to_commit=ahead, expected_oid=base.oid) == ahead
    assert selectors.head_commit(repo) == ahead
    repo.refresh_from_db()
    assert repo.license == "mit"  # main's card is indexed, as after a commit
    with pytest.raises(Conflict, match="not a fast-forward"):  # backwards is not forwards
        services.branch_fast_forward(repo=repo, branch="main", to_commit=base, expected_oid=ahead.oid)
    assert selectors.head_commit(repo) == ahead
