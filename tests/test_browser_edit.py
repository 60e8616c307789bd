"""Editing a file in headless Chromium: from the file view to the commit with its diff."""

from __future__ import annotations

import pytest

from conftest import make_commit, make_repo, make_user
from models_hub import selectors
from models_hub.storage.blobs import blob_open
from tests.test_browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_edit_a_file_from_its_page_and_see_the_diff(page, live_server):
    alice = make_user("alice")
    repo = make_repo(owner=alice, name="tiny")
    make_commit(repo=repo, author=alice, files={"config.json": b'{\n  "n_layer": 2,\n  "n_head": 4\n}\n'})
    log_in(page, live_server, alice)

    page.goto("/alice/tiny/blob/main/config.json")
    page.click("a[role=button]:has-text('Edit')")
    page.wait_for_url("**/alice/tiny/edit/main/config.json")
    text = page.input_value("textarea[name=content]")
    page.fill("textarea[name=content]", text.replace('"n_layer": 2', '"n_layer": 6'))
    page.fill("input[name=summary]", "Deeper model")
    page.click("button:has-text('Commit changes to main')")
    page.wait_for_url("**/alice/tiny/blob/main/config.json")

    assert "Saved config.json." in page.inner_text("main")
    assert '"n_layer": 6' in page.inner_text(".file-view")
    entry = selectors.file_entry(selectors.head_commit(repo), "config.json")
    with blob_open(entry.blob) as handle:
        assert handle.read() == b'{\n  "n_layer": 6,\n  "n_head": 4\n}\n'

    page.click("a[role=button]:has-text('History')")
    page.click("a:has-text('Deeper model')")
    assert page.inner_text("tr.diff-delete") == '2\t\t-  "n_layer": 2,'
    assert page.inner_text("tr.diff-add") == '\t2\t+  "n_layer": 6,'
