"""The streaming validators and row readers on hostile files: every problem with its line, memory bounded."""

from __future__ import annotations

import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from models_hub.dataset_files import jsonl, layout
from models_hub.dataset_files.formats import training_formats
from models_hub.dataset_files.jsonl import validate_jsonl
from models_hub.dataset_files.parquet import validate_parquet
from models_hub.dataset_files.rows import read_records
from models_hub.dataset_files.tabular import validate_csv


class CountingReader(io.BytesIO):
    """A file that remembers its largest single read: a streaming reader never asks for all of it."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.largest_read = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.largest_read = max(self.largest_read, len(data))
        return data


def jsonl_bytes(rows: list[dict]) -> bytes:
    return b"".join(json.dumps(row).encode() + b"\n" for row in rows)


def problems(report) -> list[tuple[int | None, str]]:
    return [(p.line, p.message) for p in report.problems]


def big_rows(count: int) -> list[dict]:
    return [
        {"prompt": f"Question {i}: " + "why " * (i % 7), "completion": f" answer {i}", "score": i % 5}
        for i in range(count)
    ]


def test_broken_line_in_the_middle_of_a_big_file_is_reported_with_its_line_number():
    rows = big_rows(60_000)
    head, tail = jsonl_bytes(rows[:30_000]), jsonl_bytes(rows[30_000:])
    data = head + b'{"prompt": "half a line", "completion": \n' + tail
    assert len(data) > 3 * jsonl.PIECE_BYTES
    reader = CountingReader(data)
    report = validate_jsonl(reader)
    assert report.problem_count == 1
    assert report.problems[0].line == 30_001
    assert "Invalid JSON" in report.problems[0].message
    assert report.rows == 60_000 and report.records == 60_001
    assert reader.largest_read <= jsonl.READ_BYTES
    assert {c.name: c.kind for c in report.columns.values()} == {
        "prompt": "string",
        "completion": "string",
        "score": "int",
    }
    score = report.columns["score"].summary(report.rows)
    assert score["numbers"]["min"] == 0 and score["numbers"]["max"] == 4
    assert score["numbers"]["mean"] == pytest.approx(sum(r["score"] for r in rows) / len(rows))
    assert score["categories"]["distinct"] == 5
    assert len(report.row_index) >= 3  # one point per ~1 MiB piece


def test_every_kind_of_bad_line_is_named():
    data = (
        b'{"a": 1, "t": "x"}\n'
        b'{"a": 2.5, "t": "yy"}\n'
        b"\n"
        b'{"a": "text"}\n'
        b'{"a": 3\n'
        b"[1, 2]\n"
        b'{"t": "\xff"}\n'
        b'{"a": 1, "a": 2}\n'
        b'{"n": [1]}\n{"n": ["x"]}\n'
    )
    report = validate_jsonl(io.BytesIO(data))
    found = problems(report)
    assert [line for line, _ in found] == [4, 5, 6, 7, 8, 10]
    assert "Mixed types: column 'a' is a string here but a float in earlier rows." in found[0][1]
    assert "Invalid JSON" in found[1][1]
    assert "not a JSON object" in found[2][1]
    assert "Invalid UTF-8" in found[3][1]
    assert "twice" in found[4][1]
    assert "changed from number to string" in found[5][1]
    assert report.rows == 3 and report.records == 9  # the blank line is not a record


def test_mixed_types_across_pieces_are_found_in_the_later_piece():
    first = jsonl_bytes([{"id": i, "v": i} for i in range(40_000)])
    second = jsonl_bytes([{"id": i, "v": "text"} for i in range(3)])
    report = validate_jsonl(io.BytesIO(first + second))
    assert report.problem_count == 3
    assert report.problems[0].line == 40_001
    assert "column 'v' is a string here but an int" in report.problems[0].message


def test_a_json_array_is_refused_with_a_way_to_fix_it():
    report = validate_jsonl(io.BytesIO(b'\n  [{"a": 1},\n {"a": 2}]\n'))
    assert problems(report) == [(2, jsonl.JSON_ARRAY_MESSAGE)]
    assert report.rows == 0


def test_a_jsonl_byte_order_mark_and_crlf_are_read(tmp_path):
    report = validate_jsonl(io.BytesIO(b'\xef\xbb\xbf{"a": 1}\r\n{"a": 2}\r\n'))
    assert report.valid and report.rows == 2


def test_an_overlong_line_is_skipped_without_holding_it(monkeypatch):
    monkeypatch.setattr(jsonl, "MAX_LINE_BYTES", 3 * 1024 * 1024)
    data = b'{"a": 1}\n' + b'{"a": "' + b"x" * (4 * 1024 * 1024) + b'"}\n{"a": 3}\n'
    report = validate_jsonl(io.BytesIO(data))
    assert problems(report)[0][0] == 2 and "not read" in problems(report)[0][1]
    assert report.rows == 2


def test_csv_with_bom_mixed_newlines_quoted_newlines_ragged_rows_and_bad_utf8():
    data = b'\xef\xbb\xbfid,text,flag\r\n1,plain,true\n2,"two\r\nlines",false\r3,short\n4,\xffbad,true\n5,,\n'
    report = validate_csv(io.BytesIO(data))
    assert report.header == ["id", "text", "flag"]  # no BOM in the first name
    assert problems(report) == [
        (5, "2 fields where the header has 3."),
        (6, "Invalid UTF-8 at byte 3 of the line: the file must be UTF-8 text."),
    ]
    assert report.rows == 4 and report.records == 5
    kinds = {c.name: c.kind for c in report.columns.values()}
    assert kinds == {"id": "int", "text": "string", "flag": "bool"}
    assert report.columns["text"].summary(report.rows)["nulls"] == 1
    records = list(read_records(io.BytesIO(data), "csv", row_index=report.row_index, header=report.header, kinds=kinds))
    assert records[1].values == {"id": 2, "text": "two\r\nlines", "flag": False}
    assert records[1].line == 3 and records[2].line == 5 and records[2].error


def test_tsv_and_duplicate_header_names():
    report = validate_csv(io.BytesIO(b"a\ta\tb\n1\t2\t3\n"), delimiter="\t")
    assert [c.name for c in report.columns.values()] == ["a", "a.1", "b"]
    assert "twice" in report.problems[0].message


def test_empty_csv_is_a_problem():
    assert "empty" in validate_csv(io.BytesIO(b"")).problems[0].message


def parquet_bytes(table: pa.Table, **kwargs) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer, **kwargs)
    return buffer.getvalue()


def test_parquet_row_groups_and_truncation():
    table = pa.table({"x": list(range(50_000)), "label": [True, False] * 25_000})
    data = parquet_bytes(table, row_group_size=8_000)
    report = validate_parquet(io.BytesIO(data))
    assert report.valid and report.rows == 50_000
    assert report.columns["x"].summary(report.rows)["numbers"]["max"] == 49_999
    records = list(read_records(io.BytesIO(data), "parquet", start=20_005))
    assert records[0].number == 20_006 and records[0].values == {"x": 20_005, "label": False}
    truncated = validate_parquet(io.BytesIO(data[: len(data) // 2]))
    assert truncated.rows == 0
    assert "truncated or damaged" in truncated.problems[0].message


def test_jsonl_page_starts_from_the_index_not_the_start_of_the_file():
    rows = big_rows(50_000)
    data = jsonl_bytes(rows[:100]) + b"\n\n" + jsonl_bytes(rows[100:])
    report = validate_jsonl(io.BytesIO(data))
    assert len(report.row_index) > 2
    reader = CountingReader(data)
    wanted = 45_000
    _records_before, _line, offset = max(p for p in report.row_index if p[0] <= wanted)
    records = read_records(reader, "jsonl", start=wanted, row_index=report.row_index)
    first = next(records)
    assert first.number == wanted + 1 and first.values == rows[wanted]
    assert first.line == wanted + 3  # two blank lines before it
    assert reader.tell() - offset < 2 * jsonl.PIECE_BYTES  # read from the indexed point, not from byte 0


def test_html_in_cells_is_kept_as_text():
    report = validate_jsonl(io.BytesIO(b'{"text": "<script>alert(1)</script>"}\n'))
    top = report.columns["text"].summary(report.rows)["categories"]["top"]
    assert top == [{"value": "<script>alert(1)</script>", "count": 1}]


def test_card_configs_with_globs_and_default_split_names():
    paths = ["README.md", "sft/train.jsonl", "sft/validation-0.jsonl", "sft/validation-1.jsonl", "data/a/b.csv"]
    card = {
        "configs": [
            {
                "config_name": "sft",
                "data_files": [
                    {"split": "train", "path": "sft/train.jsonl"},
                    {"split": "validation", "path": "sft/validation-*.jsonl"},
                ],
            },
            {"config_name": "tables", "data_files": "data/**/*.csv", "default": True},
            {"config_name": "missing", "data_files": [{"split": "train", "path": "nope/*.jsonl"}]},
        ]
    }
    found = layout.dataset_layout(card, paths)
    assert [c.name for c in found.configs] == ["tables", "sft", "missing"]  # the default first
    sft = found.configs[1]
    assert [(s.name, s.files) for s in sft.splits] == [
        ("train", ["sft/train.jsonl"]),
        ("validation", ["sft/validation-0.jsonl", "sft/validation-1.jsonl"]),
    ]
    assert found.configs[0].splits[0].files == ["data/a/b.csv"]
    assert found.problems == ["Config 'missing', split 'train': no data file matches nope/*.jsonl."]
    default = layout.dataset_layout({}, ["train.jsonl", "data/validation-00000.parquet", "my_test_set.csv", "notes.md"])
    assert [(s.name, s.files) for s in default.configs[0].splits] == [
        ("train", ["train.jsonl"]),
        ("validation", ["data/validation-00000.parquet"]),
        ("test", ["my_test_set.csv"]),
    ]
    assert layout.dataset_layout({}, ["a.csv", "contraining.csv"]).configs[0].splits[0].files == [
        "a.csv",
        "contraining.csv",
    ]


@pytest.mark.parametrize(
    ("kinds", "expected"),
    [
        ({"messages": "list"}, ["messages"]),
        ({"prompt": "string", "completion": "string", "messages": "list"}, ["messages", "prompt_completion"]),
        ({"text": "string"}, ["text"]),
        ({"prompt": "string", "chosen": "string", "rejected": "string"}, ["preference"]),
        ({"prompt": "string", "completion": "string", "label": "bool"}, ["kto", "prompt_completion"]),
        ({"prompt": "string", "completion": "string", "label": "int"}, ["prompt_completion"]),
        ({"question": "string"}, []),
    ],
)
def test_training_formats_are_recognised(kinds, expected):
    assert training_formats(kinds) == expected


def test_deep_nesting_is_refused_before_arrow_reads_it():
    deeper = b'{"a": ' + b"[[], " * 5000 + b"[]" + b"]" * 5000 + b"}\n"  # json.loads cannot either
    deep = b'{"a": ' + b"[" * 200 + b"]" * 200 + b"}\n"
    fine = jsonl_bytes([{"a": [[1]], "text": "[[[[" * 40}])  # brackets in text overstate, never refuse
    report = validate_jsonl(io.BytesIO(fine + deeper + deep + fine))
    message = "Values nested deeper than 64 levels are not read."
    assert problems(report) == [(2, message), (3, message)]
    assert report.rows == 2


def test_too_many_columns_stop_the_reading():
    wide = json.dumps({f"c{i}": i for i in range(1500)}).encode() + b"\n"
    assert "More than 1,000 columns" in validate_jsonl(io.BytesIO(wide)).problems[0].message
    report = validate_jsonl(io.BytesIO(b"{broken\n" + wide))  # the line-by-line path
    assert "More than 1,000 columns" in report.problems[-1].message and not report.columns
    header = ",".join(f"c{i}" for i in range(1500)).encode() + b"\n"
    assert "1,500 columns" in validate_csv(io.BytesIO(header)).problems[0].message


def test_a_huge_record_is_not_decoded_for_a_page():
    data = jsonl_bytes([{"text": "short"}, {"text": "x" * (2 * 1024 * 1024)}, {"text": "after"}])
    records = list(read_records(io.BytesIO(data), "jsonl"))
    assert records[1].values is None and "too long to show" in records[1].error
    assert records[2].values == {"text": "after"} and records[2].line == 3


def test_messages_must_be_chat_turns():
    chat = validate_jsonl(io.BytesIO(jsonl_bytes([{"messages": [{"role": "user", "content": "hi"}]}])))
    words = validate_jsonl(io.BytesIO(jsonl_bytes([{"messages": ["hi", "there"]}])))
    types = {name: sketch.nested_type for name, sketch in chat.columns.items()}
    assert training_formats({"messages": "list"}, types) == ["messages"]
    assert training_formats({"messages": "list"}, {"messages": words.columns["messages"].nested_type}) == []


def test_lines_of_arrays_are_not_taken_for_one_json_array():
    report = validate_jsonl(io.BytesIO(b"[1, 2]\n[3, 4]\n"))
    assert [line for line, _message in problems(report)] == [1, 2]
    assert "not a JSON object" in report.problems[0].message
    assert problems(validate_jsonl(io.BytesIO(b'[{"a": 1}, {"a": 2}]')))[0][1] == jsonl.JSON_ARRAY_MESSAGE
