"""Reading records of a validated file from a given record on, seeking by its sparse index.

JSON Lines and CSV start from the nearest indexed record before the one asked for (at most about
1 MiB of lines to skip for files up to 4 GiB, a little more beyond), Parquet from the row group that
holds it: a page never reads the file from its start.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from models_hub.dataset_files.stats import BOOL, FLOAT, INT
from models_hub.dataset_files.tabular import BOM, LineCursor, column_names, csv_rows

# A record longer than this is not decoded for a page: twenty of them would hold too much memory.
MAX_SHOWN_BYTES = 1024 * 1024
READ_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Record:
    number: int  # 1-based, among the file's records
    line: int | None
    values: dict | None
    error: str | None = None


def _start_point(row_index: list[list[int]], start: int) -> tuple[int, int, int]:
    """(records before, line number, byte offset) of the last indexed record at or before `start`."""
    position = bisect.bisect_right([point[0] for point in row_index], start) - 1
    if position < 0:
        return 0, 1, 0
    records, line, offset = row_index[position]
    return records, line, offset


def read_records(
    handle: IO[bytes],
    file_format: str,
    *,
    start: int = 0,
    row_index: list[list[int]] | None = None,
    header: list[str] | None = None,
    kinds: dict[str, str] | None = None,
) -> Iterator[Record]:
    """The records of a file from the 0-based record `start` on, in order."""
    if file_format == "jsonl":
        return _jsonl_records(handle, start, row_index or [])
    if file_format in ("csv", "tsv"):
        delimiter = "\t" if file_format == "tsv" else ","
        return _csv_records(handle, start, row_index or [], delimiter, header or [], kinds or {})
    if file_format == "parquet":
        return _parquet_records(handle, start)
    raise ValueError(f"Unknown file format {file_format!r}.")


def _skip_rest_of_line(handle: IO[bytes], line: bytes) -> None:
    while line and not line.endswith(b"\n"):
        line = handle.readline(READ_BYTES)


def _jsonl_records(handle: IO[bytes], start: int, row_index: list[list[int]]) -> Iterator[Record]:
    records, line_number, offset = _start_point(row_index, start)
    handle.seek(offset)
    if offset == 0 and handle.read(len(BOM)) != BOM:
        handle.seek(0)
    line_number -= 1
    while True:
        raw = handle.readline(MAX_SHOWN_BYTES + 1)
        if not raw:
            return
        line_number += 1
        too_long = len(raw) > MAX_SHOWN_BYTES and not raw.endswith(b"\n")
        if too_long:
            _skip_rest_of_line(handle, raw)
        elif not raw.strip():
            continue
        records += 1
        if records <= start:
            continue
        if too_long:
            yield Record(
                records, line_number, None, f"Longer than {MAX_SHOWN_BYTES // 2**20} MiB: too long to show here."
            )
            continue
        try:
            value = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            yield Record(records, line_number, None, f"Unreadable line: {exc}")
            continue
        if not isinstance(value, dict):
            yield Record(records, line_number, None, "Not a JSON object.")
            continue
        yield Record(records, line_number, value)


def _typed_cell(text: str, kind: str | None) -> object:
    if text == "":
        return None
    try:
        if kind == INT:
            return int(text.strip())
        if kind == FLOAT:
            return float(text.strip())
    except ValueError:
        return text
    if kind == BOOL and text.strip().lower() in ("true", "false"):
        return text.strip().lower() == "true"
    return text


def _csv_records(
    handle: IO[bytes],
    start: int,
    row_index: list[list[int]],
    delimiter: str,
    header: list[str],
    kinds: dict[str, str],
) -> Iterator[Record]:
    records, line_number, offset = _start_point(row_index, start)
    names = column_names(header)
    handle.seek(offset)
    cursor = LineCursor()
    rows = csv_rows(handle, delimiter=delimiter, cursor=cursor, start_line=line_number - 1, start=offset)
    if offset == 0:
        next(rows, None)  # the header
    for line, _offset, cells in rows:
        records += 1
        if records <= start:
            continue
        if isinstance(cells, str):
            yield Record(records, line, None, cells)
        elif len(cells) != len(names):
            yield Record(records, line, None, f"{len(cells)} fields where the header has {len(names)}.")
        elif sum(len(cell) for cell in cells) > MAX_SHOWN_BYTES:
            yield Record(records, line, None, f"Longer than {MAX_SHOWN_BYTES // 2**20} MiB: too long to show here.")
        else:
            yield Record(
                records,
                line,
                {name: _typed_cell(cell, kinds.get(name)) for name, cell in zip(names, cells, strict=True)},
            )


def _parquet_records(handle: IO[bytes], start: int) -> Iterator[Record]:
    from models_hub.dataset_files.parquet import open_parquet

    parquet = open_parquet(handle)
    metadata = parquet.metadata
    before = 0
    for group in range(metadata.num_row_groups):
        size = metadata.row_group(group).num_rows
        if before + size <= start:
            before += size
            continue
        for batch in parquet.iter_batches(batch_size=1024, row_groups=[group]):
            if before + batch.num_rows <= start:
                before += batch.num_rows
                continue
            skip = max(start - before, 0)
            for position, values in enumerate(batch.slice(skip).to_pylist()):
                yield Record(before + skip + position + 1, None, values)
            before += batch.num_rows
