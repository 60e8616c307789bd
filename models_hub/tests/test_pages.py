import pytest

from conftest import client_for, make_commit, make_repo
from models_hub import selectors, services
from models_hub.errors import RepoExists
from models_hub.models import Like, Repository

pytestmark = pytest.mark.django_db

CARD = b"""---
license: mit
pipeline_tag: text-generation
tags: [tiny, demo]
---

# Tiny model

A very small model for tests.
"""


@pytest.fixture
def repo(alice):
    repo = make_repo(owner=alice, name="tiny")
    make_commit(
        repo=repo,
        author=alice,
        files={"README.md": CARD, "config.json": b'{"n_layer": 2}\n', "weights/model.bin": b"\x80\x04pickle"},
    )
    repo.refresh_from_db()
    return repo


@pytest.fixture
def private_repo(alice):
    repo = make_repo(owner=alice, name="secret", private=True)
    make_commit(repo=repo, author=alice, files={"README.md": b"# Secret\n", "a.txt": b"hidden"})
    return repo


def test_owner_sees_every_page_of_their_repo(alice, repo):
    client = client_for(alice)
    head = selectors.head_commit(repo)
    pages = [
        "/alice/tiny",
        "/alice/tiny/tree/main",
        "/alice/tiny/tree/main/weights",
        "/alice/tiny/blob/main/config.json",
        "/alice/tiny/blob/main/README.md",
        "/alice/tiny/commits/main",
        f"/alice/tiny/commit/{head.oid}",
        "/alice/tiny/settings",
        "/alice/tiny/edit/main/README.md",
        "/alice/tiny/upload/main",
        "/new",
        "/new-dataset",
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url


def test_repo_page_shows_card_metadata_and_writer_buttons(alice, repo):
    html = client_for(alice).get("/alice/tiny").content.decode()
    assert "<h1>Tiny model</h1>" in html
    assert "mit" in html and "text-generation" in html
    assert "pickle files" in html
    for action in ("/alice/tiny/upload/main", "/alice/tiny/edit/main/README.md", "/alice/tiny/settings"):
        assert f'href="{action}"' in html


def test_readers_do_not_see_write_buttons(bob, repo):
    html = client_for(bob).get("/alice/tiny").content.decode()
    assert "/alice/tiny/upload/main" not in html and "/alice/tiny/settings" not in html
    assert "♡ Like" in html


def test_dataset_pages_live_under_datasets(alice):
    make_repo(owner=alice, name="corpus", kind="dataset")
    client = client_for(alice)
    assert client.get("/datasets/alice/corpus").status_code == 200
    assert client.get("/datasets/alice/corpus/tree/main").status_code == 200
    assert client.get("/alice/corpus").status_code == 404


@pytest.mark.parametrize(
    "suffix",
    ["", "/tree/main", "/blob/main/a.txt", "/commits/main", "/settings", "/upload/main", "/edit/main/README.md"],
)
def test_private_repo_pages_are_404_to_strangers_and_anonymous(charlie, private_repo, suffix):
    assert client_for(charlie).get(f"/alice/secret{suffix}").status_code == 404
    assert client_for().get(f"/alice/secret{suffix}").status_code == 404


def test_private_commit_page_is_404_to_a_stranger(charlie, private_repo):
    oid = selectors.head_commit(private_repo).oid
    assert client_for(charlie).get(f"/alice/secret/commit/{oid}").status_code == 404


@pytest.mark.parametrize("suffix", ["/settings", "/upload/main", "/edit/main/README.md"])
def test_reader_without_rights_gets_403_on_write_pages(bob, repo, suffix):
    client = client_for(bob)
    assert client.get(f"/alice/tiny{suffix}").status_code == 403
    assert client.post(f"/alice/tiny{suffix}", {"action": "delete", "confirm": "alice/tiny"}).status_code in (403, 405)
    assert Repository.objects.filter(pk=repo.pk).exists()


def test_anonymous_visitor_is_sent_to_log_in_for_write_pages(repo):
    response = client_for().get("/alice/tiny/upload/main")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_card_scripts_and_javascript_links_are_not_active(alice):
    repo = make_repo(owner=alice, name="hostile")
    card = (
        b"# Hi\n\n<script>alert('x')</script>\n\n[click](javascript:alert(1))\n\n"
        b'<img src="x" onerror="alert(2)">\n\n<a href="javascript:alert(3)">raw</a>\n'
    )
    make_commit(repo=repo, author=alice, files={"README.md": card})
    html = client_for(alice).get("/alice/hostile").content.decode()
    body = html.split('class="markdown"', 1)[1]
    assert "<script>alert" not in body
    assert "javascript:" not in body
    assert "onerror" not in body


def test_tree_lists_sizes_and_flags_pickle_files(alice, repo):
    html = client_for(alice).get("/alice/tiny/tree/main/weights").content.decode()
    assert "model.bin" in html and "pickle format: not loaded" in html
    assert 'href="/alice/tiny/resolve/main/weights/model.bin?download=true"' in html
    root = client_for(alice).get("/alice/tiny/tree/main").content.decode()
    assert "config.json" in root and "15\xa0bytes" in root


def test_tree_and_blob_work_at_branches_with_slashes_tags_and_commits(alice, repo):
    services.branch_create(repo=repo, name="feature/x")
    make_commit(repo=repo, author=alice, files={"new.txt": b"on the branch"}, branch="feature/x")
    services.tag_create(repo=repo, name="v1")
    client = client_for(alice)
    assert "new.txt" in client.get("/alice/tiny/tree/feature/x").content.decode()
    assert "new.txt" not in client.get("/alice/tiny/tree/v1").content.decode()
    assert client.get("/alice/tiny/blob/feature/x/new.txt").status_code == 200
    oid = selectors.head_commit(repo).oid
    assert client.get(f"/alice/tiny/tree/{oid[:7]}").status_code == 200
    assert client.get("/alice/tiny/tree/nope").status_code == 404
    assert client.get("/alice/tiny/blob/main/missing.txt").status_code == 404


def test_blob_view_highlights_text_and_offers_download_for_binary(alice, repo):
    client = client_for(alice)
    html = client.get("/alice/tiny/blob/main/config.json").content.decode()
    assert 'class="highlight"' in html
    entry = selectors.file_entry(selectors.head_commit(repo), "config.json")
    assert entry.blob.sha256 in html
    assert 'href="/alice/tiny/resolve/main/config.json?download=true"' in html
    binary = client.get("/alice/tiny/blob/main/weights/model.bin").content.decode()
    assert "binary file" in binary and "pickle format: not loaded" in binary


def test_blob_view_escapes_html_in_text_files(alice):
    repo = make_repo(owner=alice, name="xss")
    make_commit(repo=repo, author=alice, files={"page.html": b"<script>alert(1)</script>"})
    html = client_for(alice).get("/alice/xss/blob/main/page.html").content.decode()
    assert "<script>alert(1)</script>" not in html


def test_commit_history_and_detail_list_changes(alice, repo):
    make_commit(repo=repo, author=alice, files={"config.json": b"{}"}, title="Shrink config")
    client = client_for(alice)
    history = client.get("/alice/tiny/commits/main").content.decode()
    assert history.index("Shrink config") < history.index("Add files") < history.index("initial commit")
    head = selectors.head_commit(repo)
    detail = client.get(f"/alice/tiny/commit/{head.oid}").content.decode()
    assert "modified" in detail and "config.json" in detail
    first = client.get(f"/alice/tiny/commit/{head.parent.oid}").content.decode()
    assert first.count("added") >= 3


def test_commit_history_is_paginated_by_50(alice):
    repo = make_repo(owner=alice, name="busy")
    for i in range(55):
        make_commit(repo=repo, author=alice, files={"n.txt": str(i).encode()}, title=f"Commit number {i}")
    client = client_for(alice)
    first = client.get("/alice/busy/commits/main").content.decode()
    assert "Commit number 54" in first and "Page 1" in first and "initial commit" not in first
    assert "?page=2" in first
    assert "initial commit" in client.get("/alice/busy/commits/main?page=2").content.decode()


def test_create_repo_redirects_to_it_and_explains_bad_names(alice):
    client = client_for(alice)
    response = client.post("/new", {"kind": "model", "owner": "alice", "name": "fresh", "private": "on"})
    assert response.status_code == 302 and response["Location"] == "/alice/fresh"
    assert Repository.objects.get(name="fresh").private
    bad = client.post("/new", {"kind": "model", "owner": "alice", "name": "bad name!"})
    assert bad.status_code == 400 and "Invalid repository name" in bad.content.decode()
    again = client.post("/new", {"kind": "model", "owner": "alice", "name": "fresh"})
    assert again.status_code == 400 and "already exists" in again.content.decode()
    dataset = client.post("/new-dataset", {"kind": "dataset", "owner": "alice", "name": "data"})
    assert dataset["Location"] == "/datasets/alice/data"


def test_creating_a_repo_that_exists_in_another_case_names_and_links_the_existing_one(alice):
    make_repo(owner=alice, name="tiny")

    response = client_for(alice).post("/new", {"kind": "model", "owner": "alice", "name": "Tiny"})

    html = response.content.decode()
    assert response.status_code == 400
    assert "A model repository called alice/tiny already exists." in html
    assert '<a href="/alice/tiny">Open alice/tiny</a>' in html
    assert "alice/Tiny" not in html
    assert Repository.objects.filter(name__iexact="tiny").count() == 1
    with pytest.raises(RepoExists, match="alice/tiny$"):  # what the Hub and REST APIs answer with a 409
        services.repo_create(kind="model", namespace="Alice", name="TINY", creator=alice)


def test_create_repo_under_someone_elses_namespace_is_refused(alice, bob):
    response = client_for(bob).post("/new", {"kind": "model", "owner": "alice", "name": "mine"})
    assert response.status_code == 400
    assert not Repository.objects.filter(name="mine").exists()


def test_like_and_unlike_with_and_without_htmx(bob, repo):
    client = client_for(bob)
    assert client.post("/alice/tiny/like", {"liked": "1"})["Location"] == "/alice/tiny"
    repo.refresh_from_db()
    assert repo.likes_count == 1
    fragment = client.post("/alice/tiny/like", {"liked": "0"}, headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "♡ Like · 0" in fragment.content.decode()
    assert not Like.objects.filter(user=bob).exists()


def test_visibility_toggle(alice, charlie, repo):
    client_for(alice).post("/alice/tiny/settings", {"action": "visibility", "private": "on"})
    repo.refresh_from_db()
    assert repo.private
    assert client_for(charlie).get("/alice/tiny").status_code == 404


def test_rename_redirects_old_urls_to_the_new_one(alice, repo):
    client = client_for(alice)
    response = client.post("/alice/tiny/settings", {"action": "move", "namespace": "alice", "name": "small"})
    assert response["Location"] == "/alice/small"
    old = client.get("/alice/tiny/tree/main/weights?x=1")
    assert old.status_code == 302 and old["Location"] == "/alice/small/tree/main/weights?x=1"
    assert client.get("/alice/small").status_code == 200


def test_rename_to_a_taken_name_explains_why(alice, repo):
    make_repo(owner=alice, name="other")
    response = client_for(alice).post("/alice/tiny/settings", {"action": "move", "namespace": "alice", "name": "other"})
    assert response.status_code == 400 and "already exists" in response.content.decode()


def test_delete_needs_the_repo_id_and_removes_it(alice, repo):
    client = client_for(alice)
    wrong = client.post("/alice/tiny/settings", {"action": "delete", "confirm": "tiny"})
    assert wrong.status_code == 400 and Repository.objects.filter(pk=repo.pk).exists()
    response = client.post("/alice/tiny/settings", {"action": "delete", "confirm": "alice/tiny"})
    assert response.status_code == 302
    assert not Repository.objects.filter(pk=repo.pk).exists()
    assert client.get("/alice/tiny").status_code == 404


def test_edit_card_commits_and_reindexes(alice, repo):
    client = client_for(alice)
    form = client.get("/alice/tiny/edit/main/README.md").content.decode()
    assert "license: mit" in form
    content = "---\nlicense: apache-2.0\ntags: [edited]\n---\n\n# Edited\n\nNew words.\n"
    response = client.post("/alice/tiny/edit/main/README.md", {"content": content, "summary": "Edit the card"})
    assert response["Location"] == "/alice/tiny"
    repo.refresh_from_db()
    assert repo.license == "apache-2.0"
    assert "edited" in repo.card_data["tags"]
    assert selectors.head_commit(repo).title == "Edit the card"
    assert "<h1>Edited</h1>" in client.get("/alice/tiny").content.decode()


def test_new_repo_edit_page_offers_a_card_template(alice):
    make_repo(owner=alice, name="blank")
    html = client_for(alice).get("/alice/blank/edit/main/README.md").content.decode()
    assert "---" in html and "# license:" in html
    assert "\nlicense: apache-2.0" not in html  # no licence the owner never chose


def test_large_files_are_not_displayed_inline(alice):
    repo = make_repo(owner=alice, name="large")
    make_commit(repo=repo, author=alice, files={"big.txt": b"a" * (1024 * 1024 + 1)})
    html = client_for(alice).get("/alice/large/blob/main/big.txt").content.decode()
    assert "too large to display" in html and "/alice/large/resolve/main/big.txt?download=true" in html


def test_missing_folder_is_404(alice, repo):
    assert client_for(alice).get("/alice/tiny/tree/main/nowhere").status_code == 404


@pytest.mark.parametrize("suffix", ["", "/tree/main", "/commits/main"])
def test_list_pages_use_a_bounded_number_of_queries(alice, repo, suffix, django_assert_max_num_queries):
    for i in range(30):
        make_commit(repo=repo, author=alice, files={f"dir{i % 3}/f{i}.txt": b"x"}, title=f"c{i}")
    client = client_for(alice)
    client.get(f"/alice/tiny{suffix}")  # warm the session and content types
    with django_assert_max_num_queries(15):
        assert client.get(f"/alice/tiny{suffix}").status_code == 200


def test_header_search_follows_the_section_and_caps_its_length(alice):
    make_repo(owner=alice, name="corpus", kind=Repository.Kind.DATASET)
    client = client_for()
    for url in ("/datasets", "/datasets/alice/corpus"):
        html = client.get(url).content.decode()
        assert 'action="/datasets" method="get" role="search"' in html and "Search datasets…" in html
    html = client.get("/models").content.decode()
    assert 'action="/models" method="get" role="search"' in html and 'maxlength="200"' in html
    assert 'rel="icon" href="/static/flywheel/favicon.svg"' in html


def test_repo_address_in_another_letter_case_redirects(repo, private_repo, bob):
    response = client_for().get("/Alice/TINY/tree/main")
    assert response.status_code == 302 and response["Location"] == "/alice/tiny/tree/main"
    # A private repo's existence is not revealed by the redirect.
    assert client_for(bob).get("/ALICE/secret").status_code == 404
