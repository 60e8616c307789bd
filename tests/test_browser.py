"""End to end in headless Chromium: sign up, create a repository, upload (resumably), download,
edit the card, find it by search. Real live server, real browser, real tus uploads."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from conftest import make_commit, make_repo, make_user
from models_hub import selectors
from models_hub.models import Repository, UploadSession
from models_hub.storage.blobs import blob_open

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path("/tmp/flywheel-shots")


def log_in(page, live_server, user) -> None:
    from django.test import Client

    client = Client()
    client.force_login(user)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )


def head_bytes(repo: Repository, path: str) -> bytes:
    entry = selectors.file_entry(selectors.head_commit(repo), path)
    with blob_open(entry.blob) as handle:
        return handle.read()


def test_sign_up_create_upload_download_edit_and_search(page, tmp_path):
    SHOTS.mkdir(parents=True, exist_ok=True)
    config = tmp_path / "config.json"
    config.write_bytes(b'{"architectures": ["GPT2LMHeadModel"], "n_layer": 2}\n')
    weights = tmp_path / "model.safetensors"
    header = b'{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}'
    weights.write_bytes(len(header).to_bytes(8, "little") + header + os.urandom(16))

    page.goto("/accounts/signup/")
    page.fill("input[name=username]", "erin")
    page.fill("input[name=email]", "erin@example.com")
    page.fill("input[name=password1]", "Flywheel-e2e-secret-9")
    page.fill("input[name=password2]", "Flywheel-e2e-secret-9")
    page.click("form button[type=submit]:has-text('Sign up')")
    page.wait_for_url("**/")

    page.goto("/new")
    page.fill("input[name=name]", "e2e-model")
    page.click("button:has-text('Create repository')")
    page.wait_for_url("**/erin/e2e-model")

    page.click("nav.repo-tabs a:has-text('Upload')")
    page.wait_for_url("**/erin/e2e-model/upload/main")
    page.set_input_files("#file-input", [str(config), str(weights)])
    page.fill("#commit-summary", "Add config and weights")
    page.click("#commit-button")
    page.wait_for_selector("#commit-done")
    bars = page.eval_on_selector_all("progress.file-progress", "bars => bars.map(b => b.value)")
    assert bars == [100, 100]
    assert page.eval_on_selector("#overall-progress", "b => b.value") == 100
    assert "2 files" in page.inner_text("#overall-detail")
    page.screenshot(path=str(SHOTS / "upload.png"), full_page=True)

    page.click("#commit-done a:has-text('View the files')")
    page.wait_for_url("**/erin/e2e-model/tree/main")
    table = page.inner_text("table.file-table")
    assert "config.json" in table and "model.safetensors" in table
    page.screenshot(path=str(SHOTS / "tree.png"), full_page=True)

    with page.expect_download() as download_info:
        page.click("a[aria-label='Download config.json']")
    download = download_info.value
    assert download.suggested_filename == "config.json"
    assert Path(download.path()).read_bytes() == config.read_bytes()

    page.click("a.file-name:has-text('config.json')")
    assert "n_layer" in page.inner_text(".file-view .highlight")
    page.screenshot(path=str(SHOTS / "blob.png"), full_page=True)

    page.goto("/erin/e2e-model/edit/main/README.md")
    page.fill(
        "textarea[name=content]", "---\ntags: [e2e-demo]\nlicense: mit\n---\n\n# E2E demo\n\nUploaded from a browser.\n"
    )
    page.fill("input[name=summary]", "Write the card")
    page.click("button:has-text('Commit changes to main')")
    page.wait_for_url("**/erin/e2e-model")
    assert page.inner_text("article.markdown h1") == "E2E demo"
    assert "e2e-demo" in page.inner_text("aside.repo-sidebar")
    page.screenshot(path=str(SHOTS / "repo.png"), full_page=True)

    page.goto("/models?search=e2e-model")
    assert page.locator("a[href='/erin/e2e-model']").first.is_visible()


def test_upload_resumes_after_a_reload_sending_only_the_missing_chunks(page, live_server, settings, tmp_path):
    chunk = 64 * 1024
    settings.FLYWHEEL_UPLOAD_CHUNK_BYTES = chunk
    alice = make_user("alice")
    repo = make_repo(owner=alice, name="resumable")
    log_in(page, live_server, alice)
    data = os.urandom(3 * chunk + 1000)  # four PATCH requests in all
    big = tmp_path / "big.bin"
    big.write_bytes(data)

    patches: list[int] = []

    def drop_after_first_chunk(route) -> None:
        if route.request.method == "PATCH":
            patches.append(int(route.request.headers["upload-offset"]))
            if len(patches) > 1:
                return route.abort("connectionreset")
        return route.continue_()

    page.route("**/uploads/**", drop_after_first_chunk)
    page.goto("/alice/resumable/upload/main")
    page.set_input_files("#file-input", str(big))
    with page.expect_event("requestfailed", predicate=lambda r: r.method == "PATCH"):
        page.click("#commit-button")
    # Reload while the connection is still failing (tus-js-client retries by itself), then restore it.
    page.reload()
    page.unroute("**/uploads/**")
    session = UploadSession.objects.get()
    assert session.offset == chunk  # the first chunk arrived, the others never did
    sent: list[tuple[str, str | None]] = []
    page.on("request", lambda r: "/uploads/" in r.url and sent.append((r.method, r.headers.get("upload-offset"))))
    page.set_input_files("#file-input", str(big))
    page.click("#commit-button")
    page.wait_for_selector("#commit-done")

    assert ("POST", None) not in sent  # no new upload was created
    offsets = [int(offset) for method, offset in sent if method == "PATCH"]
    assert offsets == [chunk, 2 * chunk, 3 * chunk]  # only the missing bytes were sent
    assert "resumed" in page.inner_text(".upload-row .upload-status")
    assert hashlib.sha256(head_bytes(repo, "big.bin")).hexdigest() == hashlib.sha256(data).hexdigest()
    assert not UploadSession.objects.exists()


def test_a_big_file_goes_in_parts_at_once_and_resumes_them_after_a_reload(page, live_server, settings, tmp_path):
    part = 64 * 1024
    settings.FLYWHEEL_UPLOAD_CHUNK_BYTES = part
    settings.FLYWHEEL_UPLOAD_PART_BYTES = part
    settings.FLYWHEEL_UPLOAD_PARALLEL = 2
    alice = make_user("alice")
    repo = make_repo(owner=alice, name="parts")
    log_in(page, live_server, alice)
    data = os.urandom(5 * part + 1000)  # six parts
    big = tmp_path / "big.bin"
    big.write_bytes(data)

    patches: list[str] = []

    def drop_after_two_parts(route) -> None:
        if route.request.method == "PATCH":
            patches.append(route.request.url)
            if len(patches) > 2:
                return route.abort("connectionreset")
        return route.continue_()

    page.route("**/uploads/**", drop_after_two_parts)
    page.goto("/alice/parts/upload/main")
    page.set_input_files("#file-input", str(big))
    with page.expect_event("requestfailed", predicate=lambda r: r.method == "PATCH"):
        page.click("#commit-button")
    page.reload()
    page.unroute("**/uploads/**")
    parent = UploadSession.objects.get(parent=None)
    assert sorted(p.offset for p in parent.parts.all())[-2:] == [part, part]  # two parts arrived

    sent: list[tuple[str, str]] = []
    page.on(
        "request",
        lambda r: "/uploads/" in r.url and sent.append((r.method, r.headers.get("upload-metadata", ""))),
    )
    page.set_input_files("#file-input", str(big))
    page.click("#commit-button")
    try:
        page.wait_for_selector("#commit-done", timeout=60_000)  # four parts and the commit, beside other processes
    except PlaywrightTimeoutError:
        pytest.fail(f"No commit after 60 s; the page says {page.inner_text('#upload-form')!r}; requests: {sent}")

    new_uploads = [meta for method, meta in sent if method == "POST"]
    assert all(meta.startswith("parent ") for meta in new_uploads)  # the same upload, not a new one
    assert (
        len([method for method, _ in sent if method == "PATCH"]) == 4
    )  # the two parts that arrived are not sent again
    assert "resumed" in page.inner_text(".upload-row .upload-status")
    assert head_bytes(repo, "big.bin") == data
    assert not UploadSession.objects.exists()


def model_folder(tmp_path) -> Path:
    folder = tmp_path / "checkpoint"
    (folder / "nested").mkdir(parents=True)
    (folder / "README.md").write_bytes(b"# Checkpoint\n")
    (folder / "config.json").write_bytes(b"{}")
    (folder / "nested" / "notes.txt").write_bytes(b"notes")
    return folder


def repo_paths(repo: Repository) -> list[str]:
    return sorted(entry.path for entry in selectors.tree_entries(selectors.head_commit(repo)))


def test_folder_upload_puts_the_folder_contents_at_the_root(page, live_server, tmp_path):
    alice = make_user("alice")
    repo = make_repo(owner=alice, name="folders")
    log_in(page, live_server, alice)

    page.goto("/alice/folders/upload/main")
    assert page.input_value("#target-folder") == ""
    page.set_input_files("#folder-input", str(model_folder(tmp_path)))
    assert sorted(page.eval_on_selector_all(".upload-row", "rows => rows.map(r => r.dataset.path)")) == [
        "README.md",
        "config.json",
        "nested/notes.txt",
    ]
    page.click("#commit-button")
    page.wait_for_selector("#commit-done")
    # The card and the config are the repository's own, and the folder's structure below it is kept.
    assert repo_paths(repo) == [".gitattributes", "README.md", "config.json", "nested/notes.txt"]
    assert head_bytes(repo, "README.md") == b"# Checkpoint\n"
    page.goto("/alice/folders")
    assert page.inner_text("article.markdown h1") == "Checkpoint"


def test_upload_files_on_a_folder_page_uploads_into_that_folder(page, live_server, tmp_path):
    alice = make_user("alice")
    repo = make_repo(owner=alice, name="nested")
    make_commit(repo=repo, author=alice, files={"weights/old.txt": b"old"})
    log_in(page, live_server, alice)
    folder = model_folder(tmp_path)

    page.goto("/alice/nested/tree/main/weights")
    page.click("a:has-text('+ Upload files')")
    page.wait_for_url("**/alice/nested/upload/main?folder=weights")
    assert page.input_value("#target-folder") == "weights"
    page.set_input_files("#file-input", str(folder / "config.json"))
    page.click("#commit-button")
    page.wait_for_selector("#commit-done")
    assert head_bytes(repo, "weights/config.json") == b"{}"

    # The target can be changed, to a folder that does not exist yet.
    page.goto("/alice/nested/tree/main/weights")
    page.click("a:has-text('+ Upload files')")
    page.wait_for_url("**/alice/nested/upload/main?folder=weights")
    page.fill("#target-folder", "/models//v2/ ")
    page.set_input_files("#folder-input", str(folder))
    page.click("#commit-button")
    page.wait_for_selector("#commit-done")
    assert "models/v2/README.md" in repo_paths(repo) and "models/v2/nested/notes.txt" in repo_paths(repo)
    assert not [path for path in repo_paths(repo) if "checkpoint" in path]


def test_dropped_files_are_listed_for_upload(page, live_server):
    alice = make_user("alice")
    make_repo(owner=alice, name="dropped")
    log_in(page, live_server, alice)
    page.goto("/alice/dropped/upload/main")
    transfer = page.evaluate_handle(
        """() => {
            const dt = new DataTransfer();
            dt.items.add(new File(["hello"], "hello.txt", { type: "text/plain" }));
            return dt;
        }"""
    )
    page.dispatch_event("#dropzone", "drop", {"dataTransfer": transfer})
    page.wait_for_selector(".upload-row[data-path='hello.txt']")
    page.click("#commit-button")
    page.wait_for_selector("#commit-done")
    assert "hello.txt" in page.inner_text("#file-rows")


def test_refused_commit_explains_why_and_the_rest_commits_without_uploading_again(page, live_server, tmp_path):
    alice = make_user("alice")
    repo = make_repo(owner=alice, name="careful")
    log_in(page, live_server, alice)
    corrupt = tmp_path / "model.safetensors"
    corrupt.write_bytes(b"\xff" * 8 + b"not a header")
    notes = tmp_path / "notes.txt"
    notes.write_bytes(b"keep me")
    before = selectors.head_commit(repo)

    page.goto("/alice/careful/upload/main")
    page.set_input_files("#file-input", [str(corrupt), str(notes)])
    page.click("#commit-button")
    error = page.wait_for_selector("#upload-result .flash-error")
    assert "Nothing was committed" in error.inner_text() and "model.safetensors" in error.inner_text()
    assert selectors.head_commit(repo) == before

    posts: list[str] = []
    page.on("request", lambda r: r.method in ("POST", "PATCH") and "/uploads/" in r.url and posts.append(r.url))
    page.click("button[aria-label='Remove model.safetensors from this commit']")
    page.click("#commit-button")
    page.wait_for_selector("#commit-done")
    assert posts == []  # notes.txt was already uploaded: only the commit was sent
    assert head_bytes(repo, "notes.txt") == b"keep me"


def test_gated_repo_ask_accept_then_download(page, live_server, browser):
    """A reader asks for access (htmx swaps the panel), the owner accepts on the access page, the
    reader then sees and downloads the file."""
    from models_hub import services

    alice, bob = make_user("alice"), make_user("bob")
    repo = make_repo(owner=alice, name="gated")
    files = {"README.md": b"# Gated\n", "config.json": b'{"n_layer": 2}\n'}
    make_commit(repo=repo, author=alice, files=files)
    services.repo_update_settings(repo=repo, gated=Repository.Gate.MANUAL)

    log_in(page, live_server, bob)
    page.goto("/alice/gated/blob/main/config.json")
    assert "not in the authorized list" in page.inner_text("main")
    page.goto("/alice/gated")
    page.click("#gate-panel button:has-text('Ask for access')")
    page.wait_for_selector("#gate-panel:has-text('Request sent')")

    owner = browser.new_context(base_url=live_server.url)
    owner_page = owner.new_page()
    log_in(owner_page, live_server, alice)
    owner_page.goto("/alice/gated")
    owner_page.click("#gate-panel a:has-text('1 pending request')")
    owner_page.click("#access-pending button:has-text('Accept')")
    owner_page.wait_for_selector("#access-accepted td:has-text('bob')")
    owner.close()

    page.goto("/alice/gated/blob/main/config.json")
    with page.expect_download() as download:
        page.click("a:has-text('Download')")
    assert Path(download.value.path()).read_bytes() == files["config.json"]
