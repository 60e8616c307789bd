"""Prompt sets: JSONL and CSV parsed line by line within bounds; any rejected line creates nothing."""

from __future__ import annotations

import json
import time

import pytest

from conftest import make_commit, make_repo, make_user
from feedback import services
from feedback.models import Prompt, PromptSet
from feedback.prompt_parsing import Limits, parse_prompts
from inference.tests.conftest import make_model_repo
from models_hub.errors import BadRequest, Forbidden

pytestmark = pytest.mark.django_db


def jsonl(*rows) -> bytes:
    return "".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows).encode()


@pytest.fixture
def model(alice, tiny_model_files):
    return make_model_repo(owner=alice, files=tiny_model_files)


def create(user, repo, data: bytes, filename: str = "prompts.jsonl") -> PromptSet:
    return services.prompt_set_create(user=user, repo=repo, name="", data=data, filename=filename)


def test_a_jsonl_file_becomes_a_prompt_set_in_file_order(model, alice):
    data = jsonl(
        {"prompt": "Once upon a time", "system": "Tell a story.", "id": 7},
        "",
        {"prompt": "The cat", "reference": "The cat sat.", "system": None},
    )

    prompt_set = create(alice, model, data)

    assert prompt_set.name == "prompts.jsonl" and prompt_set.prompt_count == 2
    rows = list(prompt_set.prompts.values_list("position", "line", "text", "system_prompt", "reference"))
    assert rows == [(0, 1, "Once upon a time", "Tell a story.", ""), (1, 3, "The cat", "", "The cat sat.")]


def test_a_csv_file_with_a_byte_order_mark_and_a_multiline_cell(model, alice):
    data = '\ufeffid,Prompt,system\r\n1,"Line one\nline two",Be kind\r\n2,Hello,\r\n'.encode()

    prompt_set = create(alice, model, data, "set.csv")

    rows = list(prompt_set.prompts.values_list("line", "text", "system_prompt"))
    assert rows == [(2, "Line one\nline two", "Be kind"), (4, "Hello", "")]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b'{"prompt": "caf\xe9"}', "invalid UTF-8 at byte 16"),
        (b'{"prompt": 5}', "'prompt' must be a string, not a number"),
        (b'{"prompt": ["a"]}', "'prompt' must be a string, not a list"),
        (b'{"prompt": null}', "'prompt' must be a string, not null"),
        (b'{"prompt": "x", "system": {"a": 1}}', "'system' must be a string, not an object"),
        (b'{"prompt": "   "}', "the 'prompt' is empty"),
        (b'{"text": "no prompt key"}', "no 'prompt' key"),
        (b'["prompt", "x"]', "must be a JSON object"),
        (b'"just a string"', "must be a JSON object"),
        (b'{"prompt": "a\\u0000b"}', "NUL character"),
        (b'{"prompt": "unterminated', "not valid JSON"),
        (b"[" * 50_000 + b"]" * 50_000, "nested too deeply"),
        (b'{"a":' * 10_000 + b"1" + b"}" * 10_000, "nested too deeply"),
    ],
)
def test_each_hostile_line_is_rejected_with_its_number_and_reason(line, reason):
    data = jsonl({"prompt": "fine"}) + line + b"\n" + jsonl({"prompt": "also fine"})

    result = parse_prompts(data, "jsonl", Limits(max_line_chars=100_000))

    assert [(e.line, reason in e.reason) for e in result.errors] == [(2, True)], result.errors
    assert [row.text for row in result.rows] == ["fine", "also fine"] and not result.ok


def test_a_huge_line_is_refused_by_its_length_before_any_parsing():
    huge = b'{"prompt": "' + b"a" * 5_000_000 + b'"}'
    data = jsonl({"prompt": "fine"}) + huge + b"\n"

    started = time.process_time()
    result = parse_prompts(data, "jsonl", Limits(max_line_chars=1000))
    elapsed = time.process_time() - started

    assert [e.line for e in result.errors] == [2] and "at most 1,000 characters" in result.errors[0].reason
    assert elapsed < 1  # a length check, not a parse: bounded whatever the line holds


def test_too_many_prompts_and_too_many_bytes_are_refused_as_a_whole():
    many = parse_prompts(jsonl(*({"prompt": f"p{i}"} for i in range(5))), "jsonl", Limits(max_prompts=3))
    big = parse_prompts(jsonl({"prompt": "x" * 100}), "jsonl", Limits(max_bytes=50))

    assert [str(e) for e in many.errors] == ["The file has 4 prompts; a prompt set is at most 3."]  # stops at 4
    assert big.errors[0].line == 0 and "at most 50 bytes" in big.errors[0].reason and not big.rows


def test_a_prompt_longer_than_the_generation_cap_is_rejected():
    result = parse_prompts(jsonl({"prompt": "x" * 30, "system": "y" * 30}), "jsonl", Limits(max_prompt_chars=50))

    assert "60 characters; at most 50" in result.errors[0].reason


@pytest.mark.parametrize(
    ("data", "line", "reason"),
    [
        (b"text\nhello\n", 1, "one of them 'prompt'"),
        (b"prompt,system\nhello\n", 2, "1 values, but the header names 2 columns"),
        (b'prompt\n"unclosed\n', 2, "not valid CSV"),
        (b"prompt\nok\n\xff\xfe\n", 3, "invalid UTF-8"),
        (b"", 0, "The CSV file is empty"),
    ],
)
def test_bad_csv_rows_are_rejected_with_their_line(data, line, reason):
    result = parse_prompts(data, "csv")

    assert result.errors and result.errors[0].line == line and reason in result.errors[0].reason, result.errors


def test_a_file_with_one_bad_line_creates_nothing_and_lists_the_line(model, alice):
    data = jsonl({"prompt": "fine"}, {"prompt": 3}, {"prompt": "fine too"}, "{oops")

    with pytest.raises(services.PromptSetRejected) as caught:
        create(alice, model, data)

    assert caught.value.error_count == 2 and [e.line for e in caught.value.errors] == [2, 4]
    assert "2 line(s) rejected, so no prompt set was created: line 2:" in caught.value.message
    assert not PromptSet.objects.exists() and not Prompt.objects.exists()


def test_only_staff_and_the_models_maintainers_upload_prompt_sets(model, charlie):
    staff = make_user("staffer", is_staff=True)

    with pytest.raises(Forbidden):
        create(charlie, model, jsonl({"prompt": "hi"}))
    assert create(staff, model, jsonl({"prompt": "hi"})).created_by == staff


def test_an_unknown_file_type_is_refused(model, alice):
    with pytest.raises(BadRequest, match="neither .jsonl nor .csv"):
        create(alice, model, b"prompt\nhi\n", "prompts.txt")


def test_prompts_from_a_dataset_file_are_read_at_the_revision_asked(model, alice):
    dataset = make_repo(owner=alice, name="prompts", kind="dataset")
    first = make_commit(repo=dataset, author=alice, files={"data/p.jsonl": jsonl({"prompt": "old"})})
    make_commit(repo=dataset, author=alice, files={"data/p.jsonl": jsonl({"prompt": "new"}, {"prompt": "newer"})})

    pinned = services.prompt_set_from_dataset(
        user=alice, repo=model, dataset_id="alice/prompts", revision=first.oid[:8], path="data/p.jsonl"
    )
    latest = services.prompt_set_from_dataset(
        user=alice, repo=model, dataset_id="alice/prompts", revision="main", path="data/p.jsonl"
    )

    assert list(pinned.prompts.values_list("text", flat=True)) == ["old"] and pinned.source_commit == first
    assert latest.prompt_count == 2 and latest.source_dataset == dataset
    assert latest.name == "alice/prompts/data/p.jsonl"


def test_a_private_dataset_of_someone_else_is_not_found(model, alice, charlie):
    dataset = make_repo(owner=charlie, name="secret", kind="dataset", private=True)
    make_commit(repo=dataset, author=charlie, files={"p.jsonl": jsonl({"prompt": "hidden"})})

    with pytest.raises(BadRequest, match="no dataset 'charlie/secret' that you can read"):
        services.prompt_set_from_dataset(
            user=alice, repo=model, dataset_id="charlie/secret", revision="main", path="p.jsonl"
        )


@pytest.mark.parametrize(
    ("dataset_id", "revision", "path", "message"),
    [
        ("nonsense", "main", "p.jsonl", "write it as owner/name"),
        ("alice/prompts", "nope", "p.jsonl", "Invalid rev id"),
        ("alice/prompts", "main", "missing.jsonl", "missing.jsonl"),
    ],
)
def test_a_wrong_dataset_file_is_refused_with_a_reason(model, alice, dataset_id, revision, path, message):
    dataset = make_repo(owner=alice, name="prompts", kind="dataset")
    make_commit(repo=dataset, author=alice, files={"p.jsonl": jsonl({"prompt": "hi"})})

    with pytest.raises(BadRequest, match=message):
        services.prompt_set_from_dataset(user=alice, repo=model, dataset_id=dataset_id, revision=revision, path=path)
