"""Validating JSON Lines as a stream: ~1 MiB of whole lines at a time, whatever the file's size.

Each piece is first read by Arrow's JSON reader (fast, typed). A piece Arrow refuses, or whose types
clash with earlier pieces, is read again line by line with json.loads, which says exactly which lines
are wrong and why; its good lines are then typed by Arrow as well, so statistics come from one place.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterator
from typing import IO

from models_hub.dataset_files.report import FileReport
from models_hub.dataset_files.stats import OBJECT, arrow_kind, merge_kinds, python_kind

PIECE_BYTES = 1024 * 1024
READ_BYTES = 1024 * 1024
MAX_LINE_BYTES = 64 * 1024 * 1024  # a longer line is reported, not held in memory
BOM = b"\xef\xbb\xbf"
ARROW_ROW = re.compile(r" in row (\d+)")
# Arrow's JSON reader slows down with the square of the nesting depth (4,000 levels took 9 s on one line):
# deeper values are refused before it sees them.
MAX_DEPTH = 64
MAX_COLUMNS = 1000
DEPTH_MESSAGE = f"Values nested deeper than {MAX_DEPTH} levels are not read."
TOO_WIDE_MESSAGE = f"More than {MAX_COLUMNS:,} columns: a dataset this wide is not read further."
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}\n")
_BRACKET_STEPS = bytes(1 if b in b"[{" else 255 if b in b"]}" else 0 for b in range(256))
ARROW_RETRIES = 20
JSON_ARRAY_MESSAGE = (
    "The file is one JSON array, not JSON Lines: write one JSON object a line"
    " (for example with `jq -c '.[]' file.json > file.jsonl`)."
)


def pieces(handle: IO[bytes], *, piece_bytes: int = PIECE_BYTES) -> Iterator[tuple[int, bytes | int]]:
    """(byte offset, whole lines) of about `piece_bytes`, in order; (offset, length as an int) for a line
    over MAX_LINE_BYTES, which is skipped unread. A UTF-8 byte order mark at the start is skipped."""
    buffer = b""
    offset = 0  # of buffer[0] in the file
    chunk = handle.read(READ_BYTES)
    if chunk.startswith(BOM):
        chunk, offset = chunk[len(BOM) :], len(BOM)
    last_newline = -1  # in buffer
    while chunk:
        # Only the new bytes are searched: a long line costs one pass, not one per read.
        found = chunk.rfind(b"\n")
        if found >= 0:
            last_newline = len(buffer) + found
        buffer += chunk
        if last_newline >= 0 and len(buffer) >= piece_bytes:
            yield offset, buffer[: last_newline + 1]
            offset += last_newline + 1
            buffer, last_newline = buffer[last_newline + 1 :], -1
        elif last_newline < 0 and len(buffer) > MAX_LINE_BYTES:
            length, buffer = _skip_line(handle, len(buffer))
            last_newline = buffer.rfind(b"\n")
            yield offset, length
            offset += length
        chunk = handle.read(READ_BYTES)
    if buffer:
        yield offset, buffer


def _skip_line(handle: IO[bytes], length: int) -> tuple[int, bytes]:
    """Read past the end of an overlong line: its whole length, and the bytes after it in the last read."""
    while chunk := handle.read(READ_BYTES):
        end = chunk.find(b"\n")
        if end >= 0:
            return length + end + 1, chunk[end + 1 :]
        length += len(chunk)
    return length, b""


def bracket_depth(piece: bytes) -> int:
    """The deepest bracket nesting on any line of `piece`, brackets inside strings counted too (so it may
    overstate, never understate): about 1.5 ms a MiB, as only the brackets are looked at."""
    import numpy as np

    marks = piece.translate(None, _NOT_BRACKETS)
    if len(marks) <= MAX_DEPTH:
        return 0
    level = np.cumsum(np.frombuffer(marks.translate(_BRACKET_STEPS), dtype=np.int8), dtype=np.int32)
    ends = np.flatnonzero(np.frombuffer(marks, dtype=np.uint8) == ord("\n"))
    if len(ends) == 0 or ends[-1] != len(marks) - 1:
        ends = np.append(ends, len(marks) - 1)
    starts = np.concatenate(([0], ends[:-1] + 1))
    before = np.concatenate(([0], level[ends[:-1]]))
    return int((np.maximum.reduceat(level, starts) - before).max())


def _value_depth(value: object, limit: int) -> int:
    """Nesting depth of a decoded value, counting no further than `limit` + 1."""
    if limit < 0 or not isinstance(value, (dict, list)):
        return 0
    items = value.values() if isinstance(value, dict) else value
    return 1 + max((_value_depth(item, limit - 1) for item in items), default=0)


def _line_count(piece: bytes) -> int:
    return piece.count(b"\n") + (0 if piece.endswith(b"\n") else 1)


def validate_jsonl(handle: IO[bytes], *, progress: Callable[[int], None] | None = None) -> FileReport:
    """Rows, columns, statistics and problems of a JSON Lines file, reading it once, in bounded memory."""
    import pyarrow as pa
    import pyarrow.json as pa_json

    report = FileReport("jsonl")
    kinds: dict[str, str] = {}
    lines_before = 0
    first_piece = True
    for offset, piece in pieces(handle):
        if isinstance(piece, int):  # an overlong line, skipped
            report.records += 1
            lines_before += 1
            report.problem(
                f"The line is {piece:,} bytes long; lines over {MAX_LINE_BYTES // 2**20} MiB are not read.",
                line=lines_before,
                row=report.records,
            )
            continue
        if first_piece:
            first_piece = False
            if _is_json_array(piece):
                report.problem(JSON_ARRAY_MESSAGE, line=1 + piece[: len(piece) - len(piece.lstrip())].count(b"\n"))
                return report
        report.index_point(report.records, lines_before + 1, offset)
        lines = _line_count(piece)
        table = None
        try:
            piece.decode("utf-8")  # Arrow's reader lets invalid UTF-8 through
            if bracket_depth(piece) <= MAX_DEPTH:
                table = pa_json.read_json(
                    io.BytesIO(piece), read_options=pa_json.ReadOptions(block_size=len(piece) + 1)
                )
        except (UnicodeDecodeError, pa.ArrowInvalid):
            table = None
        if table is not None and table.num_columns > MAX_COLUMNS:
            report.problem(TOO_WIDE_MESSAGE, line=lines_before + 1)
            return report
        if table is not None and table.num_rows == lines and _kinds_fit(kinds, table.schema):
            report.records += lines
            report.rows += lines
            report.add_table(table)
        else:
            _read_lines(report, kinds, piece, lines_before)
            if len(kinds) > MAX_COLUMNS:
                report.problem(TOO_WIDE_MESSAGE, line=lines_before + 1)
                return report
        lines_before += lines
        if progress is not None:
            progress(offset + len(piece))
    return report


def _is_json_array(first_piece: bytes) -> bool:
    """Whether the file is one JSON array (over several lines, or alone on its line), rather than lines that
    each happen to hold an array (reported line by line as not being objects)."""
    text = first_piece.lstrip()
    if text[:1] != b"[":
        return False
    first_line, _newline, rest = text.partition(b"\n")
    try:
        json.loads(first_line)
    except (ValueError, RecursionError):
        return True  # the array goes on past its first line
    return not rest.strip()


def _kinds_fit(kinds: dict[str, str], schema) -> bool:
    """Whether a piece's column types agree with the earlier pieces' (recording them if so)."""
    merged = {}
    for field in schema:
        kind = merge_kinds(kinds.get(field.name, "null"), arrow_kind(field.type))
        if kind is None:
            return False
        merged[field.name] = kind
    kinds.update(merged)
    return True


def _read_lines(report: FileReport, kinds: dict[str, str], piece: bytes, lines_before: int) -> None:
    """The slow path: each line on its own, each problem with its line number; good lines typed by Arrow."""
    good: list[bytes] = []
    where: list[tuple[int, int]] = []  # (line, record) of each good line
    for index, raw in enumerate(piece.split(b"\n")):
        line = lines_before + index + 1
        if not raw.strip():
            continue
        report.records += 1
        record = report.records
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            report.problem(
                f"Invalid UTF-8 at byte {exc.start + 1} of the line: the file must be UTF-8 text.",
                line=line,
                row=record,
            )
            continue
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            report.problem(f"Invalid JSON: {exc.msg} (column {exc.colno}).", line=line, row=record)
            continue
        except RecursionError:
            report.problem(DEPTH_MESSAGE, line=line, row=record)
            continue
        if len(raw) > 2 * MAX_DEPTH and bracket_depth(raw) > MAX_DEPTH and _value_depth(value, MAX_DEPTH) > MAX_DEPTH:
            report.problem(DEPTH_MESSAGE, line=line, row=record)
            continue
        if not isinstance(value, dict):
            found = python_kind(value)
            article = "an" if found[0] in "aeiou" else "a"
            report.problem(
                f"The line is {article} {found}, not a JSON object: write one object a line.", line=line, row=record
            )
            continue
        clash = _kind_clash(kinds, value)
        if clash:
            report.problem(clash, line=line, row=record)
            continue
        good.append(raw)
        where.append((line, record))
    _type_good_lines(report, good, where)


def _kind_clash(kinds: dict[str, str], row: dict) -> str | None:
    found = {}
    for name, value in row.items():
        kind = python_kind(value)
        before = kinds.get(name, "null")
        merged = merge_kinds(before, kind)
        if merged is None:
            return f"Mixed types: column '{name}' is {_a(kind)} here but {_a(before)} in earlier rows."
        found[name] = merged
    kinds.update(found)
    return None


def _a(kind: str) -> str:
    if kind == OBJECT:
        return "an object"
    return ("an " if kind[0] in "aeiou" else "a ") + kind


def _type_good_lines(report: FileReport, good: list[bytes], where: list[tuple[int, int]]) -> None:
    """Read the good lines with Arrow for their statistics; a line Arrow still refuses (nested values of
    mixed types, a key given twice, a number out of range) is reported and left out."""
    import pyarrow as pa
    import pyarrow.json as pa_json

    for _attempt in range(ARROW_RETRIES):
        if not good:
            return
        body = b"\n".join(good)
        try:
            table = pa_json.read_json(io.BytesIO(body), read_options=pa_json.ReadOptions(block_size=len(body) + 1))
        except pa.ArrowInvalid as exc:
            message = str(exc).removeprefix("JSON parse error: ")
            found = ARROW_ROW.search(message)
            index = int(found.group(1)) if found else 0
            index = min(index, len(good) - 1)
            line, record = where[index]
            report.problem(f"Cannot be typed: {ARROW_ROW.sub('', message)}.", line=line, row=record)
            del good[index], where[index]
            continue
        if table.num_columns > MAX_COLUMNS:
            return  # the caller reports it and stops
        report.rows += table.num_rows
        report.add_table(table)
        return
    first, last = where[0][0], where[-1][0]
    report.problem(f"Lines {first}–{last}: too many values of mixed types; left out of the statistics.", line=first)
