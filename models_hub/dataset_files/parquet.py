"""Validating Parquet one record batch at a time (within row groups): memory bounded by a row group."""

from __future__ import annotations

from collections.abc import Callable
from typing import IO

from models_hub.dataset_files.report import FileReport

BATCH_ROWS = 65_536
MAX_COLUMNS = 1000


def open_parquet(handle: IO[bytes]):
    """A pyarrow ParquetFile over a seekable handle; raises ValueError with a readable reason."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(handle)
    except (pa.ArrowException, OSError) as exc:
        raise ValueError(f"Not a readable Parquet file (truncated or damaged): {exc}") from None


def validate_parquet(handle: IO[bytes], *, progress: Callable[[int], None] | None = None) -> FileReport:
    import pyarrow as pa

    report = FileReport("parquet")
    try:
        parquet = open_parquet(handle)
    except ValueError as exc:
        report.problem(str(exc))
        return report
    metadata = parquet.metadata
    if len(parquet.schema_arrow) > MAX_COLUMNS:
        report.problem(f"The file has {len(parquet.schema_arrow):,} columns; at most {MAX_COLUMNS:,} are read.")
        return report
    for field in parquet.schema_arrow:
        report.column(field.name)
    rows_before = bytes_before = 0
    for group in range(metadata.num_row_groups):
        group_metadata = metadata.row_group(group)
        expected = group_metadata.num_rows
        read = 0
        try:
            for batch in parquet.iter_batches(batch_size=BATCH_ROWS, row_groups=[group]):
                report.add_table(pa.Table.from_batches([batch]))
                read += batch.num_rows
        except (pa.ArrowException, OSError) as exc:
            report.problem(
                f"Row group {group} (rows {rows_before + 1:,}–{rows_before + expected:,}) cannot be read: {exc}",
                row=rows_before + read + 1,
            )
        report.rows += read
        rows_before += expected
        # Progress in bytes, like the other formats: the row group's compressed column chunks.
        bytes_before += sum(group_metadata.column(i).total_compressed_size for i in range(group_metadata.num_columns))
        if progress is not None:
            progress(bytes_before)
    report.records = rows_before
    return report
