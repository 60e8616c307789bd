"""The dataset viewer page and its REST API: the report, rows by config and split, search, escaping, access."""

from __future__ import annotations

import json

import pytest

from conftest import client_for, make_commit, make_repo
from models_hub.models import DatasetValidation
from models_hub.services import repo_update_settings
from models_hub.services.dataset_validation import dataset_validation_run

pytestmark = pytest.mark.django_db

CARD = b"""---
configs:
- config_name: chat
  data_files:
  - split: train
    path: chat/train-*.jsonl
  - split: validation
    path: chat/validation.jsonl
- config_name: table
  data_files: table.csv
---
"""


def lines(rows: list[dict]) -> bytes:
    return b"".join(json.dumps(row).encode() + b"\n" for row in rows)


def validated_dataset(owner, *, name: str = "viewer", private: bool = False, files: dict | None = None):
    repo = make_repo(owner=owner, name=name, kind="dataset", private=private)
    files = files or {
        "README.md": CARD,
        "chat/train-0.jsonl": lines([{"prompt": f"p{i}", "completion": f" c{i}"} for i in range(150)]),
        "chat/train-1.jsonl": lines([{"prompt": f"q{i}", "completion": f" d{i}"} for i in range(50)]),
        "chat/validation.jsonl": lines([{"prompt": "<script>alert('x')</script>", "completion": "x" * 500}]),
        "table.csv": b"name,score\nada,3\nbob,\n",
    }
    commit = make_commit(repo=repo, author=owner, files=files)
    dataset_validation_run(validation_id=DatasetValidation.objects.get(commit=commit).pk)
    return repo, commit


def test_validation_api_reports_configs_splits_and_formats(alice, django_assert_max_num_queries):
    _repo, commit = validated_dataset(alice)
    with django_assert_max_num_queries(4):
        response = client_for().get("/api/v1/datasets/alice/viewer/validation")
    assert response.status_code == 200
    body = response.json()
    assert body["commit"] == commit.oid and body["status"] == "valid" and body["problem_count"] == 0
    chat = body["configs"][0]
    assert chat["name"] == "chat"
    assert [(s["name"], s["rows"], s["format"]) for s in chat["splits"]] == [
        ("train", 200, "prompt_completion"),
        ("validation", 1, "prompt_completion"),
    ]
    assert chat["splits"][0]["files"] == ["chat/train-0.jsonl", "chat/train-1.jsonl"]
    score = body["configs"][1]["splits"][0]["columns"][1]
    assert (score["name"], score["type"], score["nulls"]) == ("score", "int", 1)


def test_rows_api_pages_across_files_and_validates_parameters(alice):
    validated_dataset(alice)
    client = client_for()
    body = client.get("/api/v1/datasets/alice/viewer/rows?config=chat&split=train&offset=148&limit=4").json()
    assert body["total"] == 200
    assert [(r["row_idx"], r["path"], r["row"]["prompt"]) for r in body["rows"]] == [
        (148, "chat/train-0.jsonl", "p148"),
        (149, "chat/train-0.jsonl", "p149"),
        (150, "chat/train-1.jsonl", "q0"),
        (151, "chat/train-1.jsonl", "q1"),
    ]
    assert body["columns"] == [{"name": "prompt", "type": "string"}, {"name": "completion", "type": "string"}]
    table = client.get("/api/v1/datasets/alice/viewer/rows?config=table").json()
    assert [r["row"] for r in table["rows"]] == [{"name": "ada", "score": 3}, {"name": "bob", "score": None}]
    for query, message in [
        ("limit=0", "limit must be a whole number from 1 to 100"),
        ("limit=101", "limit must be a whole number from 1 to 100"),
        ("offset=-1", "offset must be a whole number"),
        ("offset=abc", "offset must be a whole number"),
        ("config=nope", "Unknown config 'nope': this dataset has chat, table."),
        ("config=chat&split=test", "Unknown split 'test' in config 'chat': it has train, validation."),
    ]:
        response = client.get(f"/api/v1/datasets/alice/viewer/rows?{query}")
        assert response.status_code == 400, query
        assert message in response.json()["error"]
    assert client.get("/api/v1/datasets/alice/viewer/rows?offset=5000").json()["rows"] == []
    assert client.get("/api/v1/datasets/alice/viewer/rows?revision=nope").status_code == 404


def test_rows_api_search(alice):
    validated_dataset(alice)
    body = client_for().get("/api/v1/datasets/alice/viewer/rows?config=chat&split=train&search=Q4&limit=3").json()
    assert [r["row"]["prompt"] for r in body["rows"]] == ["q4", "q40", "q41"]
    assert body["search"] == "Q4" and body["search_next"] == 192


def test_private_dataset_is_404_to_strangers_and_gated_rows_are_403(alice, charlie):
    validated_dataset(alice, name="secret", private=True)
    for path in ("validation", "rows"):
        response = client_for(charlie).get(f"/api/v1/datasets/alice/secret/{path}")
        assert response.status_code == 404
    assert client_for(charlie).get("/datasets/alice/secret/viewer").status_code == 404
    assert client_for(alice).get("/api/v1/datasets/alice/secret/rows").status_code == 200
    repo, _commit = validated_dataset(alice, name="gated")
    repo_update_settings(repo=repo, gated="manual")
    response = client_for(charlie).get("/api/v1/datasets/alice/gated/rows")
    assert response.status_code == 403 and "restricted" in response.json()["error"]


def test_pending_validation_answers_409_for_rows(alice):
    repo = make_repo(owner=alice, name="pending", kind="dataset")
    make_commit(repo=repo, author=alice, files={"train.jsonl": b'{"text": "a"}\n'})
    assert client_for().get("/api/v1/datasets/alice/pending/validation").json()["status"] == "pending"
    response = client_for().get("/api/v1/datasets/alice/pending/rows")
    assert response.status_code == 409 and "still being validated" in response.json()["error"]
    page = client_for().get("/datasets/alice/pending/viewer")
    assert b'hx-trigger="every 2s"' in page.content and b"Validating" in page.content


def test_viewer_page_escapes_cells_folds_long_ones_and_draws_charts(alice):
    validated_dataset(alice)
    page = client_for().get("/datasets/alice/viewer/viewer?config=chat&split=validation")
    html = page.content.decode()
    assert page.status_code == 200
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    assert '<details class="cell-fold">' in html  # the 500-character completion is folded
    assert '<svg class="column-chart"' in html and "<rect" in html
    assert "Prompt / completion" in html
    assert "4 files checked" in html


def test_viewer_pages_with_htmx_and_falls_back_to_the_first_split_of_another_config(alice):
    validated_dataset(alice)
    client = client_for()
    rows = client.get(
        "/datasets/alice/viewer/viewer?config=chat&split=train&offset=20",
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="viewer-rows",
    )
    html = rows.content.decode()
    assert html.lstrip().startswith('<div id="viewer-rows">')
    assert "Rows 21–40 of 200" in html and 'data-row="21"' in html
    switched = client.get(
        "/datasets/alice/viewer/viewer?config=table&split=validation", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="viewer"
    )
    assert switched.status_code == 200 and "ada" in switched.content.decode()
    bad = client.get("/datasets/alice/viewer/viewer?config=nope")
    assert bad.status_code == 400 and "Unknown config" in bad.content.decode()
    assert client.get("/alice/viewer/viewer").status_code == 404  # models have none


def test_invalid_dataset_page_lists_problems_with_lines(alice):
    validated_dataset(alice, name="bad", files={"train.jsonl": b'{"a": 1}\n{"a": \n{"a": 3}\n'})
    html = client_for().get("/datasets/alice/bad/viewer").content.decode()
    assert "Invalid: 1 problem" in html and "training refuses" in html
    assert "train.jsonl" in html and "Invalid JSON" in html
    assert "line 2" in html  # the bad record in the table


def test_openapi_schema_lists_the_dataset_endpoints(client):
    schema = client.get("/api/v1/schema/?format=json").json()
    assert "/api/v1/datasets/{namespace}/{name}/validation" in schema["paths"]
    rows = schema["paths"]["/api/v1/datasets/{namespace}/{name}/rows"]["get"]
    assert {p["name"] for p in rows["parameters"]} >= {"config", "split", "offset", "limit", "revision"}


def test_viewer_page_and_rows_api_cost_a_bounded_number_of_queries(alice, django_assert_max_num_queries):
    validated_dataset(alice)
    client = client_for(alice)
    with django_assert_max_num_queries(9):
        assert client.get("/datasets/alice/viewer/viewer?config=chat&split=train&offset=180").status_code == 200
    with django_assert_max_num_queries(8):  # session, user, repo, ref, commit, validation, one per file read
        response = client.get("/api/v1/datasets/alice/viewer/rows?config=chat&split=train&offset=140&limit=100")
    assert len(response.json()["rows"]) == 60


def test_a_config_without_splits_says_so(alice):
    card = b"---\nconfigs:\n- config_name: empty\n  data_files: {}\n---\n"
    validated_dataset(alice, name="nosplit", files={"README.md": card, "train.jsonl": b'{"text": "a"}\n'})
    html = client_for().get("/datasets/alice/nosplit/viewer").content.decode()
    assert "name no split with data files" in html and "Config &#x27;empty&#x27; names no data files." in html
    assert client_for().get("/api/v1/datasets/alice/nosplit/rows").json()["error"] == (
        "This revision has no data files to read rows from."
    )


def test_dataset_history_shows_each_revision_validation(alice, django_assert_max_num_queries):
    repo, good = validated_dataset(alice, name="history", files={"train.jsonl": b'{"text": "a"}\n'})
    bad = make_commit(repo=repo, author=alice, files={"train.jsonl": b'{"text": \n'})
    dataset_validation_run(validation_id=DatasetValidation.objects.get(commit=bad).pk)
    pending = make_commit(repo=repo, author=alice, files={"validation.jsonl": b'{"text": "b"}\n'})
    with django_assert_max_num_queries(10):
        html = client_for().get("/datasets/alice/history/commits/main").content.decode()
    for commit, status in ((good, "valid"), (bad, "invalid"), (pending, "pending")):
        assert (
            f'href="/datasets/alice/history/viewer?revision={commit.oid}" class="badge badge-validation badge-{status}"'
            in html
        )
