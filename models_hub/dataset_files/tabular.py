"""Validating CSV and TSV as a stream of physical lines, whatever the file's size.

Lines are split on \\n, \\r\\n and a lone \\r alike (files edited on several systems mix them), a UTF-8
byte order mark is skipped, and Python's csv module joins the lines of quoted fields. Since this module
feeds the lines, it knows the byte offset where every row starts: the sparse index the viewer seeks by.
Cells are typed per column (integer, number, boolean, else text) by what all of them parse as.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO

from models_hub.dataset_files.report import FileReport

READ_BYTES = 1024 * 1024
MAX_LINE_BYTES = 64 * 1024 * 1024
BOM = b"\xef\xbb\xbf"
BATCH_ROWS = 5000  # rows typed by Arrow at a time
INDEX_EVERY_BYTES = 1024 * 1024
BOOLEANS = frozenset({"true", "false"})
MAX_COLUMNS = 1000


class LineTooLong(Exception):
    pass


@dataclass
class LineCursor:
    """Where the line reader is: the number of the last line given out, and the byte offset after it."""

    line: int = 0
    end: int = 0
    on_bad_utf8: Callable[[int, int], None] | None = None  # (line, byte position) of invalid UTF-8


def text_lines(handle: IO[bytes], cursor: LineCursor, *, start_line: int = 0, start: int = 0) -> Iterator[str]:
    """The file's lines from byte `start` (line number `start_line` + 1), decoded, with their endings."""
    cursor.line, cursor.end = start_line, start
    carry = b""
    first = start == 0
    while True:
        chunk = handle.read(READ_BYTES)
        if first:
            first = False
            if chunk.startswith(BOM):
                chunk = chunk[len(BOM) :]
                cursor.end = len(BOM)
        data = carry + chunk
        if not data:
            return
        lines = data.splitlines(keepends=True)
        # The last line may go on in the next read (and a \r may be the first half of \r\n).
        carry = lines.pop() if chunk and not lines[-1].endswith(b"\n") else b""
        if len(carry) > MAX_LINE_BYTES:
            raise LineTooLong(f"Line {cursor.line + len(lines) + 1} is longer than {MAX_LINE_BYTES // 2**20} MiB.")
        for raw in lines:
            cursor.line += 1
            cursor.end += len(raw)
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                if cursor.on_bad_utf8 is not None:
                    cursor.on_bad_utf8(cursor.line, exc.start + 1)
                yield raw.decode("utf-8", errors="replace")
        if not chunk:
            return


def csv_rows(
    handle: IO[bytes], *, delimiter: str, cursor: LineCursor, start_line: int = 0, start: int = 0
) -> Iterator[tuple[int, int, list[str] | str]]:
    """(first line, byte offset, cells) of each non-blank row from `start`; cells is an error message
    (str) for a row the csv module cannot read."""
    # Process-wide (the csv module has no per-reader limit): raised from 128 KiB so a long text cell is read;
    # the only other reader (feedback/prompt_parsing.py) bounds its lines and prompts itself.
    csv.field_size_limit(MAX_LINE_BYTES)
    reader = csv.reader(text_lines(handle, cursor, start_line=start_line, start=start), delimiter=delimiter)
    row_line, row_offset = start_line + 1, start
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield row_line, row_offset, f"Unreadable CSV: {exc}."
            row_line, row_offset = cursor.line + 1, cursor.end
            continue
        if cells:
            yield row_line, row_offset, cells
        row_line, row_offset = cursor.line + 1, cursor.end


def validate_csv(
    handle: IO[bytes], *, delimiter: str = ",", progress: Callable[[int], None] | None = None
) -> FileReport:
    """Rows, columns, statistics and problems of a CSV (or, with a tab, TSV) file, read once."""
    report = FileReport("tsv" if delimiter == "\t" else "csv")
    cursor = LineCursor()
    cursor.on_bad_utf8 = lambda line, byte: report.problem(
        f"Invalid UTF-8 at byte {byte} of the line: the file must be UTF-8 text.", line=line
    )
    header: list[str] | None = None
    batch: list[list[str]] = []
    last_indexed = -INDEX_EVERY_BYTES
    try:
        for line, offset, cells in csv_rows(handle, delimiter=delimiter, cursor=cursor):
            if header is None:
                if isinstance(cells, str):
                    report.problem(cells, line=line)
                    return report
                if len(cells) > MAX_COLUMNS:
                    report.problem(
                        f"The header names {len(cells):,} columns; at most {MAX_COLUMNS:,} are read.", line=line
                    )
                    return report
                header = column_names(cells, report, line)
                report.header = cells
                continue
            if offset - last_indexed >= INDEX_EVERY_BYTES:
                report.index_point(report.records, line, offset)
                last_indexed = offset
                if progress is not None:
                    progress(offset)
            report.records += 1
            if isinstance(cells, str):
                report.problem(cells, line=line, row=report.records)
                continue
            if len(cells) != len(header):
                report.problem(
                    f"{len(cells)} fields where the header has {len(header)}.", line=line, row=report.records
                )
                continue
            batch.append(cells)
            if len(batch) >= BATCH_ROWS:
                _add_batch(report, header, batch)
                batch = []
    except LineTooLong as exc:
        report.problem(f"{exc} Reading stopped there.", line=cursor.line + 1)
    if header is None:
        report.problem("The file is empty: a CSV file needs a header line naming its columns.")
        return report
    if batch:
        _add_batch(report, header, batch)
    for name in header:
        report.column(name)  # every column is listed, even if no row had a value
    return report


def column_names(cells: list[str], report: FileReport | None = None, line: int = 1) -> list[str]:
    """The header's names, made unique and non-empty as pandas does ('Unnamed: 2', 'a.1'); a name
    given twice is a problem of `report`."""
    names: list[str] = []
    seen: set[str] = set()
    for position, cell in enumerate(cells):
        name = cell.strip() or f"Unnamed: {position}"
        if name in seen:
            if report is not None:
                report.problem(f"The header names column '{name}' twice.", line=line)
            suffix = 1
            while f"{name}.{suffix}" in seen:
                suffix += 1
            name = f"{name}.{suffix}"
        seen.add(name)
        names.append(name)
    return names


def typed_column(values: list[str]):
    """An Arrow array of the cells: integers, numbers or booleans if every non-empty cell is one; empty
    cells are nulls."""
    import pyarrow as pa
    import pyarrow.compute as pc

    array = pa.array(values, type=pa.string())
    array = pc.if_else(pc.equal(array, ""), pa.scalar(None, pa.string()), array)
    present = pc.drop_null(array)
    if len(present) == 0:
        return pa.nulls(len(array))
    stripped = pc.utf8_trim_whitespace(array)
    for target in (pa.int64(), pa.float64()):
        try:
            return stripped.cast(target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    lowered = pc.utf8_lower(stripped)
    if pc.all(pc.is_in(pc.drop_null(lowered), pa.array(sorted(BOOLEANS)))).as_py():
        return pc.equal(lowered, "true")
    return array


def _add_batch(report: FileReport, header: list[str], batch: list[list[str]]) -> None:
    report.rows += len(batch)
    for position, name in enumerate(header):
        report.column(name).add_array(typed_column([row[position] for row in batch]))
