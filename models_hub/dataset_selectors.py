"""Reads of dataset validation and rows. Callers decide access first (models_hub.selectors.repo_access_for);
these take a commit they may read.

Training asks `dataset_validation_for(commit)` before it uses a dataset revision: see CONTRACTS.md part B.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from models_hub.dataset_files import rows as file_rows
from models_hub.dataset_files.layout import file_format
from models_hub.errors import BadRequest
from models_hub.models import Commit, DataFileCheck, DatasetValidation, TreeEntry
from models_hub.storage.blobs import blob_open

PENDING, VALID, INVALID = "pending", "valid", "invalid"
MAX_ROWS_PER_PAGE = 100
SEARCH_SCAN_RECORDS = 20_000  # a search request reads at most this many records, then offers to go on
MAX_SEARCH_CHARS = 200


@dataclass(frozen=True)
class SplitReport:
    config: str
    name: str
    files: list[str]
    rows: int
    records: int  # rows as the viewer numbers them: bad lines included
    columns: list[dict]  # {"name", "type", "nulls", and "numbers" / "lengths" / "categories" statistics}
    formats: list[str]  # every training format the columns fit, most specific first
    format: str | None  # the first of them: "messages", "prompt_completion", "text", "preference" or "kto"
    file_records: list[int] = field(default_factory=list)  # records of each file, in the order of `files`

    @property
    def column_names(self) -> list[str]:
        return [column["name"] for column in self.columns]

    @property
    def column_types(self) -> dict[str, str]:
        return {column["name"]: column["type"] for column in self.columns}


@dataclass(frozen=True)
class ConfigReport:
    name: str
    splits: list[SplitReport]
    default: bool = False

    def split(self, name: str) -> SplitReport | None:
        return next((split for split in self.splits if split.name == name), None)


@dataclass(frozen=True)
class DatasetReport:
    """A commit's validation. `status` is "pending" (queued or running), "valid" or "invalid"."""

    commit_oid: str
    status: str
    configs: list[ConfigReport] = field(default_factory=list)
    files: list[dict] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)  # data files of a format not checked (.txt, .arrow...)
    problems: list[dict] = field(default_factory=list)  # {"path", "line", "row", "message"}: the first 100
    problem_count: int = 0
    bytes_done: int = 0
    bytes_total: int = 0

    @property
    def is_valid(self) -> bool:
        return self.status == VALID

    @property
    def is_pending(self) -> bool:
        return self.status == PENDING

    @property
    def progress(self) -> float:
        return min(self.bytes_done / self.bytes_total, 1.0) if self.bytes_total else 0.0

    def config(self, name: str) -> ConfigReport | None:
        return next((config for config in self.configs if config.name == name), None)

    def split(self, config: str, split: str) -> SplitReport | None:
        found = self.config(config)
        return found.split(split) if found is not None else None


def _report_from(validation: DatasetValidation, commit: Commit) -> DatasetReport:
    status = {
        DatasetValidation.Status.VALID: VALID,
        DatasetValidation.Status.INVALID: INVALID,
    }.get(validation.status, PENDING)
    if status == PENDING:
        return DatasetReport(commit.oid, PENDING, bytes_done=validation.bytes_done, bytes_total=validation.bytes_total)
    stored = validation.report
    configs = [
        ConfigReport(
            name=config["name"],
            default=config.get("default", False),
            splits=[SplitReport(config=config["name"], **split) for split in config["splits"]],
        )
        for config in stored.get("configs", [])
    ]
    return DatasetReport(
        commit_oid=commit.oid,
        status=status,
        configs=configs,
        files=stored.get("files", []),
        unchecked=stored.get("unchecked", []),
        problems=stored.get("problems", []),
        problem_count=stored.get("problem_count", 0),
        bytes_done=validation.bytes_done,
        bytes_total=validation.bytes_total,
    )


def dataset_validation_for(commit: Commit) -> DatasetReport | None:
    """The validation report of a dataset commit; None when the commit has none (not a dataset, or
    committed before validation existed: models_hub.services.dataset_validation.dataset_validation_queue
    makes one). One query."""
    validation = DatasetValidation.objects.filter(commit=commit).first()
    return _report_from(validation, commit) if validation is not None else None


def validation_statuses(commits: list[Commit]) -> dict[int, str]:
    """ "pending", "valid" or "invalid" by commit id, for those of `commits` that have a validation: one query."""
    found = DatasetValidation.objects.filter(commit__in=commits).values_list("commit_id", "status")
    finished = {DatasetValidation.Status.VALID: VALID, DatasetValidation.Status.INVALID: INVALID}
    return {commit_id: finished.get(status, PENDING) for commit_id, status in found}


def split_pick(report: DatasetReport, config: str, split: str, *, strict: bool = True) -> SplitReport | None:
    """The split asked for; with none asked, the default config's first split. BadRequest for unknown names,
    except a split the config lacks when not `strict` (the page, after choosing another config): its first."""
    if not report.configs:
        return None
    chosen = report.config(config) if config else report.configs[0]
    if chosen is None:
        names = ", ".join(c.name for c in report.configs)
        raise BadRequest(f"Unknown config '{config}': this dataset has {names}.")
    if not chosen.splits:
        return None
    found = chosen.split(split) if split else chosen.splits[0]
    if found is None and not strict:
        found = chosen.splits[0]
    if found is None:
        names = ", ".join(s.name for s in chosen.splits)
        raise BadRequest(f"Unknown split '{split}' in config '{chosen.name}': it has {names}.")
    return found


# -- rows ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    number: int  # 1-based within the split
    path: str
    line: int | None
    values: dict | None
    error: str | None = None


@dataclass(frozen=True)
class RowsPage:
    split: SplitReport
    offset: int
    rows: list[Row]
    total: int  # records in the split
    search: str = ""
    # For a search: the record offset where reading stopped, when records remain to be searched.
    search_next: int | None = None

    @property
    def columns(self) -> list[str]:
        return self.split.column_names


def _files_of(split: SplitReport, commit: Commit) -> list[tuple[str, DataFileCheck]]:
    """(path, check) of the split's checked files, in order: two queries."""
    entries = dict(TreeEntry.objects.filter(commit=commit, path__in=split.files).values_list("path", "blob_id"))
    # The newest check of each file: a report written before the validator changed still finds its rows.
    checks = {
        (check.blob_id, check.file_format): check
        for check in DataFileCheck.objects.filter(blob_id__in=set(entries.values()))
        .select_related("blob")
        .order_by("validator_version")
    }
    found = []
    for path in split.files:
        check = checks.get((entries.get(path), file_format(path)))
        if check is not None:
            found.append((path, check))
    return found


def _check_of(commit: Commit, path: str) -> DataFileCheck | None:
    """The newest check of the file at `path` in `commit`, with its blob: one query."""
    checks = DataFileCheck.objects.filter(
        blob__tree_entries__commit=commit, blob__tree_entries__path=path, file_format=file_format(path)
    )
    return checks.select_related("blob").order_by("-validator_version").first()


def _split_files(
    split: SplitReport, commit: Commit, start: int
) -> Iterator[tuple[int, str, DataFileCheck | None, int]]:
    """(records before it, path, check, records) of each file from the one holding record `start`: the files
    before it cost no query, each file read costs one."""
    if len(split.file_records) != len(split.files):  # a report stored before file_records: load every check
        before = 0
        for path, check in _files_of(split, commit):
            count = check.result.get("records", 0)
            yield before, path, check, count
            before += count
        return
    before = 0
    for path, count in zip(split.files, split.file_records, strict=True):
        if before + count > start:
            yield before, path, _check_of(commit, path), count
        before += count


def _records(split: SplitReport, commit: Commit, start: int) -> Iterator[Row]:
    """The split's records from the 0-based `start` on, file after file."""
    kinds = split.column_types
    for before, path, check, count in _split_files(split, commit, start):
        if check is None or before + count <= start:
            continue
        with blob_open(check.blob) as handle:
            for record in file_rows.read_records(
                handle,
                check.file_format,
                start=max(start - before, 0),
                row_index=check.row_index,
                header=check.result.get("header"),
                kinds=kinds,
            ):
                yield Row(before + record.number, path, record.line, record.values, record.error)


def dataset_rows(*, commit: Commit, split: SplitReport, offset: int, limit: int) -> RowsPage:
    """`limit` records of a split from the 0-based `offset`: reads from the nearest indexed point."""
    if not 1 <= limit <= MAX_ROWS_PER_PAGE:
        raise BadRequest(f"limit must be between 1 and {MAX_ROWS_PER_PAGE}.")
    rows = []
    if offset < split.records:
        for row in _records(split, commit, offset):
            rows.append(row)
            if len(rows) >= limit:
                break
    return RowsPage(split=split, offset=offset, rows=rows, total=split.records)


def _matches(value: object, needle: str) -> bool:
    if isinstance(value, str):
        return needle in value.casefold()
    if isinstance(value, dict):
        return any(_matches(item, needle) for item in value.values())
    if isinstance(value, list):
        return any(_matches(item, needle) for item in value)
    return False


def dataset_search(*, commit: Commit, split: SplitReport, query: str, offset: int, limit: int) -> RowsPage:
    """Records whose text (any string value, nested ones included) contains `query`, ignoring case, from
    record `offset` on. Reads at most SEARCH_SCAN_RECORDS records; `search_next` says where to go on."""
    query = query.strip()
    if not query:
        raise BadRequest("Type something to search for.")
    if len(query) > MAX_SEARCH_CHARS:
        raise BadRequest(f"The search is too long: at most {MAX_SEARCH_CHARS} characters.")
    if not 1 <= limit <= MAX_ROWS_PER_PAGE:
        raise BadRequest(f"limit must be between 1 and {MAX_ROWS_PER_PAGE}.")
    needle = query.casefold()
    rows: list[Row] = []
    scanned = 0
    next_start = None
    if offset < split.records:
        for row in _records(split, commit, offset):
            scanned += 1
            if row.values is not None and _matches(row.values, needle):
                rows.append(row)
            if len(rows) >= limit or scanned >= SEARCH_SCAN_RECORDS:
                next_start = row.number if row.number < split.records else None
                break
    return RowsPage(split=split, offset=offset, rows=rows, total=split.records, search=query, search_next=next_start)
