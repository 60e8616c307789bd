"""What validating one file finds: rows, columns with their statistics, problems, and a sparse row index."""

from __future__ import annotations

from dataclasses import dataclass, field

from models_hub.dataset_files.stats import ColumnSketch

MAX_PROBLEMS = 100  # listed per file; all are counted
MAX_INDEX_POINTS = 4096  # past this the index keeps every other point, so it stays small whatever the size
VALIDATOR_VERSION = 2  # change when validation finds different things, so stored results are redone


@dataclass(frozen=True)
class Problem:
    message: str
    line: int | None = None  # 1-based line of the file (JSON Lines, CSV)
    row: int | None = None  # 1-based record (non-blank line, CSV row, Parquet row)

    def as_dict(self) -> dict:
        return {"line": self.line, "row": self.row, "message": self.message}


@dataclass
class FileReport:
    file_format: str
    rows: int = 0  # valid rows, what a loader would read
    records: int = 0  # every record, good or bad: how the viewer numbers rows
    columns: dict[str, ColumnSketch] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    problem_count: int = 0
    # [record, line, byte offset] where a record starts; sorted, sparse (JSON Lines and CSV only).
    row_index: list[list[int]] = field(default_factory=list)
    header: list[str] | None = None  # CSV's column names as written
    _index_stride: int = 1
    _index_skipped: int = 0

    def problem(self, message: str, *, line: int | None = None, row: int | None = None) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(Problem(message, line, row))

    def column(self, name: str) -> ColumnSketch:
        sketch = self.columns.get(name)
        if sketch is None:
            sketch = self.columns[name] = ColumnSketch(name=name)
        return sketch

    def add_table(self, table) -> None:
        for name, array in zip(table.column_names, table.columns, strict=True):
            self.column(name).add_array(array)

    def index_point(self, record: int, line: int, offset: int) -> None:
        """Remember where record number `record` (0-based count of records before it) starts."""
        self._index_skipped += 1
        if self._index_skipped < self._index_stride:
            return
        self._index_skipped = 0
        self.row_index.append([record, line, offset])
        if len(self.row_index) > MAX_INDEX_POINTS:
            self.row_index = self.row_index[::2]
            self._index_stride *= 2

    @property
    def valid(self) -> bool:
        return self.problem_count == 0

    def result(self) -> dict:
        """The JSON-serialisable result stored for the blob."""
        return {
            "format": self.file_format,
            "version": VALIDATOR_VERSION,
            "rows": self.rows,
            "records": self.records,
            "columns": [sketch.state() for sketch in self.columns.values()],
            "header": self.header,
            "problems": [p.as_dict() for p in self.problems],
            "problem_count": self.problem_count,
        }
