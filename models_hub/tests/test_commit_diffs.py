"""The commit page: a unified diff with line numbers per changed text file, notes for binary and large files."""

from __future__ import annotations

import random
import re

import pytest

from conftest import client_for, make_commit, make_repo
from models_hub import diffs, services
from models_hub.diffs import BoundedMatcher

pytestmark = pytest.mark.django_db

TEN_LINES = "".join(f"line {n}\n" for n in range(1, 11)).encode()


def rows(html: str) -> list[tuple[str, str, str, str]]:
    """(kind, old number, new number, code) of every diff row, tags stripped."""
    pattern = re.compile(
        r'<tr class="diff-(context|add|delete)"><td class="diff-number">([^<]*)</td><td class="diff-number">([^<]*)</td>'
        r'<td class="diff-code">([^<]*)</td></tr>'
    )
    return pattern.findall(html)


def commit_page(client, repo, commit) -> str:
    response = client.get(f"{repo.get_absolute_url()}/commit/{commit.oid}")
    assert response.status_code == 200
    return response.content.decode()


def test_a_modified_text_file_shows_a_unified_diff_with_line_numbers(alice):
    repo = make_repo(owner=alice, name="tiny")
    make_commit(repo=repo, author=alice, files={"notes.txt": TEN_LINES})
    changed = TEN_LINES.replace(b"line 5\n", b"line five\n")
    commit = make_commit(repo=repo, author=alice, files={"notes.txt": changed}, title="Spell five")

    html = commit_page(client_for(), repo, commit)

    assert "@@ -2,7 +2,7 @@" in html
    assert rows(html) == [
        ("context", "2", "2", " line 2"),
        ("context", "3", "3", " line 3"),
        ("context", "4", "4", " line 4"),
        ("delete", "5", "", "-line 5"),
        ("add", "", "5", "+line five"),
        ("context", "6", "6", " line 6"),
        ("context", "7", "7", " line 7"),
        ("context", "8", "8", " line 8"),
    ]
    assert '<span class="diff-count-add">+1</span> <span class="diff-count-delete">−1</span>' in html


def test_added_and_deleted_files_are_all_additions_or_deletions(alice):
    repo = make_repo(owner=alice, name="tiny")
    make_commit(repo=repo, author=alice, files={"old.txt": b"a\nb\n"})
    commit = services.commit_create(
        repo=repo,
        author=alice,
        title="Swap",
        additions=[services.FileAddition("new.txt", make_blob(b"x\ny\nz\n"))],
        deletions=["old.txt"],
    )

    html = commit_page(client_for(), repo, commit)
    found = rows(html)

    assert "@@ -0,0 +1,3 @@" in html and "@@ -1,2 +0,0 @@" in html
    assert found == [
        ("add", "", "1", "+x"),
        ("add", "", "2", "+y"),
        ("add", "", "3", "+z"),
        ("delete", "1", "", "-a"),
        ("delete", "2", "", "-b"),
    ]


def make_blob(data: bytes):
    from models_hub.storage.blobs import blob_store_bytes

    return blob_store_bytes(data)


def test_file_content_is_escaped_not_rendered(alice):
    repo = make_repo(owner=alice, name="tiny")
    commit = make_commit(repo=repo, author=alice, files={"page.html": b"<script>alert(1)</script>\n"})

    html = commit_page(client_for(), repo, commit)

    assert "<script>alert(1)" not in html
    assert "+&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_binary_and_large_files_show_their_sizes_instead(alice, monkeypatch):
    monkeypatch.setattr(diffs, "MAX_FILE_BYTES", 1000)
    repo = make_repo(owner=alice, name="tiny")
    make_commit(repo=repo, author=alice, files={"w.bin": b"\x00\x01" * 5, "big.txt": b"a\n" * 400})
    commit = make_commit(repo=repo, author=alice, files={"w.bin": b"\x00\x01" * 6, "big.txt": b"b\n" * 600})

    html = commit_page(client_for(), repo, commit)

    assert "Binary file changed, size 10 → 12 bytes." in html
    assert "File too large to show a diff: changed, size 800 → 1,200 bytes." in html
    assert rows(html) == []


def test_long_diffs_are_cut_with_a_link_to_the_file(alice, monkeypatch):
    monkeypatch.setattr(diffs, "MAX_SHOWN_LINES", 10)
    repo = make_repo(owner=alice, name="tiny")
    commit = make_commit(repo=repo, author=alice, files={"long.txt": b"x\n" * 50})

    html = commit_page(client_for(), repo, commit)

    assert len(rows(html)) == 10
    assert "The diff is cut here" in html
    assert '<span class="diff-count-add">+50</span>' in html


def test_a_gated_repository_hides_file_content_from_outsiders_but_not_the_card(alice, charlie):
    repo = make_repo(owner=alice, name="tiny")
    services.repo_update_settings(repo=repo, gated="manual")
    commit = make_commit(repo=repo, author=alice, files={"README.md": b"# Tiny\n", "secret.txt": b"the weights\n"})

    outsider = commit_page(client_for(charlie), repo, commit)
    owner = commit_page(client_for(alice), repo, commit)

    assert "+# Tiny" in outsider and "the weights" not in outsider
    assert "shown to people with access" in outsider
    assert "+the weights" in owner


def test_a_private_commit_page_is_404_to_a_stranger(alice, charlie):
    repo = make_repo(owner=alice, name="secret", private=True)
    commit = make_commit(repo=repo, author=alice, files={"a.txt": b"hidden\n"})

    assert client_for(charlie).get(f"/alice/secret/commit/{commit.oid}").status_code == 404


def test_the_commit_page_reads_a_bounded_number_of_rows(alice, django_assert_max_num_queries):
    repo = make_repo(owner=alice, name="tiny")
    make_commit(repo=repo, author=alice, files={f"f{n}.txt": b"a\n" for n in range(30)})
    commit = make_commit(repo=repo, author=alice, files={f"f{n}.txt": b"b\n" for n in range(30)})
    client = client_for(alice)

    with django_assert_max_num_queries(12):
        html = commit_page(client, repo, commit)
    assert html.count('class="file-diff"') == 30


def apply(a: list[str], b: list[str], opcodes) -> list[str]:
    out: list[str] = []
    for tag, i1, i2, j1, j2 in opcodes:
        if tag == "equal":
            assert a[i1:i2] == b[j1:j2]
            out += a[i1:i2]
        else:
            out += b[j1:j2]
    return out


def test_the_bounded_matcher_always_produces_a_valid_diff():
    rng = random.Random(7)
    for _ in range(500):
        vocabulary = [str(n) for n in range(rng.choice([2, 5, 20, 500]))]
        a = [rng.choice(vocabulary) for _ in range(rng.randint(0, 400))]
        b = list(a)
        for _ in range(rng.randint(0, 40)):
            where = rng.randint(0, len(b))
            if rng.random() < 0.5 and b:
                del b[min(where, len(b) - 1)]
            else:
                b.insert(where, rng.choice(vocabulary))
        assert apply(a, b, BoundedMatcher(a, b).get_opcodes()) == b


def test_a_small_edit_in_a_large_file_is_a_small_diff():
    a = [f"unique line {n}" for n in range(20_000)]
    b = list(a)
    b[100], b[19_900] = "changed", "changed too"
    b.insert(10_000, "inserted")

    changes = [op for op in BoundedMatcher(a, b).get_opcodes() if op[0] != "equal"]

    assert changes == [
        ("replace", 100, 101, 100, 101),
        ("insert", 10_000, 10_000, 10_000, 10_001),
        ("replace", 19_900, 19_901, 19_901, 19_902),
    ]


@pytest.mark.timeout(60)  # difflib alone needs minutes for this (12 s at 5,000 lines); the matcher under 1 s
def test_every_other_line_changed_in_a_20000_line_file_is_diffed_in_bounded_time():
    rng = random.Random(3)
    a = [f"{rng.random()}" for _ in range(20_000)]
    b = [line if n % 2 else f"{rng.random()}" for n, line in enumerate(a)]

    opcodes = BoundedMatcher(a, b).get_opcodes()

    assert apply(a, b, opcodes) == b
    assert sum(i2 - i1 for tag, i1, i2, _, _ in opcodes if tag == "equal") == 10_000
