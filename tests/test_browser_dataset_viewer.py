"""In headless Chromium with a real worker: upload a CSV through the upload page, see its validation
report (with the bad line's number) and page through and search the viewer."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import make_repo, make_user
from tests.test_browser import SHOTS, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def write_csv(path: Path) -> None:
    rows = ["id,text,label"]
    rows += [
        f'{i},"Story number {i}, told {"at length " * (i % 30)}",{"good" if i % 3 else "bad"}' for i in range(1, 46)
    ]
    rows.append('46,"<script>window.hacked=1</script><b>bold</b>",good')
    rows.append("47,a needle in the haystack,good")
    rows.append("48,only two fields")  # ragged: line 49 of the file
    # A byte order mark and mixed newlines, as spreadsheets and editors on several systems leave them.
    body = "\r\n".join(rows[:10]) + "\n" + "\r".join(rows[10:20]) + "\r" + "\n".join(rows[20:]) + "\n"
    path.write_bytes(b"\xef\xbb\xbf" + body.encode())


def test_upload_a_csv_see_the_report_and_page_through_the_viewer(page, live_server, celery_worker, tmp_path):
    SHOTS.mkdir(parents=True, exist_ok=True)
    alice = make_user("alice")
    make_repo(owner=alice, name="stories", kind="dataset")
    log_in(page, live_server, alice)
    violations: list[str] = []
    page.on("console", lambda message: "Content Security Policy" in message.text and violations.append(message.text))
    data = tmp_path / "train.csv"
    write_csv(data)
    held_out = tmp_path / "test.csv"
    held_out.write_bytes(b"id,text,label\n1,held out story,good\n")

    page.goto("/datasets/alice/stories/upload/main")
    page.set_input_files("#file-input", [str(data), str(held_out)])
    page.fill("#commit-summary", "Add stories")
    page.click("#commit-button")
    page.wait_for_selector("#commit-done")

    page.goto("/datasets/alice/stories")
    # The card page loads the viewer, which polls until the worker has validated the file.
    report = page.wait_for_selector("#validation-report.validation-invalid", timeout=40_000)
    text = report.inner_text()
    assert "Invalid: 1 problem" in text
    problem = page.inner_text(".problem-table tbody tr")
    assert "train.csv\t49\t48\t" in problem and "2 fields where the header has 3" in problem
    assert "47 rows" in page.inner_text(".split-info")
    header = page.inner_text(".viewer-table thead")
    assert "id" in header and "text" in header and "label" in header and "int" in header
    assert page.locator(".viewer-table svg.column-chart rect").count() > 3
    assert page.inner_text("#viewer-range") == "Rows 1–20 of 48"
    first_id = page.inner_text(".viewer-table tbody tr:first-child td:nth-child(2)")
    assert first_id == "1"  # the BOM is not part of the first column
    page.screenshot(path=str(SHOTS / "dataset-viewer.png"), full_page=True)

    page.click(".viewer-pager a[rel=next]")
    page.locator("#viewer-range", has_text="Rows 21–40 of 48").wait_for()
    page.click(".viewer-pager a[rel=next]")
    page.locator("#viewer-range", has_text="Rows 41–48 of 48").wait_for()
    html_cell = page.locator(".viewer-table tbody tr[data-row='46'] td:nth-child(3)")
    assert "<script>window.hacked=1</script><b>bold</b>" in html_cell.inner_text()
    assert page.evaluate("window.hacked") is None
    assert "only two fields" not in page.inner_text("tr[data-row='48']")
    assert "line 49" in page.inner_text("tr[data-row='48']")
    folded = page.locator(".viewer-table tbody tr[data-row='44'] details")
    assert not folded.locator(".cell-text").is_visible()
    folded.locator("summary").click()
    assert folded.locator(".cell-text").is_visible()
    assert "at length at length" in folded.inner_text()

    page.fill(".viewer-search input", "NEEDLE")
    page.press(".viewer-search input", "Enter")
    page.locator("#viewer-rows p[role=status]", has_text="containing “NEEDLE”").wait_for()
    assert page.locator(".viewer-table tbody tr").count() == 1
    page.screenshot(path=str(SHOTS / "dataset-viewer-search.png"), full_page=True)

    page.click("a:has-text('Show all rows')")
    # htmx gives the selects their change handler when the swapped-in viewer settles (it is `htmx-added`
    # until then): a change before that is lost, and under load that window is long enough to hit.
    page.locator("#viewer:not(.htmx-added) #viewer-range", has_text="Rows 1–20 of 48").wait_for()
    page.select_option("select[name=split]", "test")
    page.locator(".split-info", has_text="1 row in test.csv").wait_for()
    assert "held out story" in page.inner_text(".viewer-table tbody")

    page.goto("/datasets/alice/stories/viewer?offset=40")
    assert page.inner_text("#viewer-range") == "Rows 41–48 of 48"
    assert not violations, violations
