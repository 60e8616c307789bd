"""Parse a prompt set file (JSONL or CSV) line by line, within fixed bounds, into prompts and rejections.

Pure code (no ORM): bytes in, rows and reasons out. Every cost is bounded before the work starts: the
whole file by `max_bytes`, each line by `max_line_chars` (checked before JSON parsing, so a huge or
deeply nested line costs a length check), the number of prompts by `max_prompts`.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field

FORMATS = ("jsonl", "csv")
MAX_ERRORS_LISTED = 100
# JSON keys and CSV columns read; anything else on a line (ids, metadata) is ignored.
PROMPT_KEY, SYSTEM_KEY, REFERENCE_KEY = "prompt", "system", "reference"


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 20 * 1024 * 1024
    max_line_chars: int = 64 * 1024
    max_prompts: int = 10_000
    max_prompt_chars: int = 16_000


@dataclass(frozen=True)
class PromptRow:
    line: int  # 1-based line of the file where the prompt starts
    text: str
    system: str = ""
    reference: str = ""


@dataclass(frozen=True)
class LineError:
    line: int  # 0 for a problem with the whole file
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}" if self.line else self.reason


@dataclass
class ParseResult:
    rows: list[PromptRow] = field(default_factory=list)
    errors: list[LineError] = field(default_factory=list)
    error_count: int = 0  # all of them; `errors` keeps the first MAX_ERRORS_LISTED

    def reject(self, line: int, reason: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_ERRORS_LISTED:
            self.errors.append(LineError(line, reason))

    @property
    def ok(self) -> bool:
        return self.error_count == 0 and bool(self.rows)

    def summary(self) -> str:
        """One paragraph a person can act on: how many lines were refused and the first reasons."""
        if not self.error_count and not self.rows:
            return "The file has no prompts."
        listed = "; ".join(str(e) for e in self.errors[:10])
        more = f" (and {self.error_count - 10:,} more)" if self.error_count > 10 else ""
        return f"{self.error_count:,} line(s) rejected, so no prompt set was created: {listed}{more}."


def format_for(filename: str) -> str | None:
    """'jsonl' or 'csv' from a file name, or None when the name says neither."""
    lowered = filename.lower()
    if lowered.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if lowered.endswith(".csv"):
        return "csv"
    return None


def parse_prompts(data: bytes, fmt: str, limits: Limits = Limits()) -> ParseResult:
    """Every prompt of `data` and every rejected line with its reason. Blank lines are skipped, not refused."""
    result = ParseResult()
    if fmt not in FORMATS:
        result.reject(0, f"Unknown format {fmt!r}: use JSONL (one JSON object a line) or CSV with a 'prompt' column.")
        return result
    if len(data) > limits.max_bytes:
        result.reject(0, f"The file is {len(data):,} bytes; a prompt set is at most {limits.max_bytes:,} bytes.")
        return result
    if data.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte-order mark, as spreadsheet programs write
        data = data[3:]
    lines = _lines(data, limits, result)
    (_parse_jsonl if fmt == "jsonl" else _parse_csv)(lines, limits, result)
    if len(result.rows) > limits.max_prompts:
        result.reject(0, f"The file has {len(result.rows):,} prompts; a prompt set is at most {limits.max_prompts:,}.")
    return result


def _lines(data: bytes, limits: Limits, result: ParseResult) -> list[str | None]:
    """The file's lines, decoded; None for a line that is refused (invalid UTF-8, too long), reported here."""
    lines: list[str | None] = []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        raw = raw.removesuffix(b"\r")
        if len(raw) > limits.max_line_chars * 4:  # no decoding of what is far too long however it decodes
            result.reject(number, f"the line is {len(raw):,} bytes long; at most {limits.max_line_chars:,} characters.")
            lines.append(None)
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            result.reject(number, f"invalid UTF-8 at byte {exc.start + 1}; save the file as UTF-8.")
            lines.append(None)
            continue
        if len(text) > limits.max_line_chars:
            result.reject(number, f"the line is {len(text):,} characters long; at most {limits.max_line_chars:,}.")
            lines.append(None)
            continue
        lines.append(text)
    if lines and lines[-1] == "":
        lines.pop()  # the newline that ends the last line
    return lines


def _row(number: int, prompt, system, reference, limits: Limits, result: ParseResult) -> None:
    """Check one record's values and keep it, or reject its line with the first problem found."""
    for name, value in ((PROMPT_KEY, prompt), (SYSTEM_KEY, system), (REFERENCE_KEY, reference)):
        if value is not None and not isinstance(value, str):
            result.reject(number, f"{name!r} must be a string, not {_json_type(value)}.")
            return
    if prompt is None:
        result.reject(number, f'no {PROMPT_KEY!r} key: each line needs one, as in {{"prompt": "Once upon a time"}}.')
        return
    if not prompt.strip():
        result.reject(number, f"the {PROMPT_KEY!r} is empty.")
        return
    system, reference = system or "", reference or ""
    if any("\x00" in value for value in (prompt, system, reference)):
        result.reject(number, "a NUL character (\\u0000) cannot be stored in a prompt.")
        return
    if len(prompt) + len(system) > limits.max_prompt_chars:
        result.reject(number, f"the prompt and system prompt are {len(prompt) + len(system):,} characters; "
                      f"at most {limits.max_prompt_chars:,}.")  # fmt: skip
        return
    if len(result.rows) <= limits.max_prompts:  # one more than allowed is enough to say there are too many
        result.rows.append(PromptRow(number, prompt, system, reference))


def _json_type(value) -> str:
    names = {dict: "an object", list: "a list", bool: "true/false", int: "a number", float: "a number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _parse_jsonl(lines: list[str | None], limits: Limits, result: ParseResult) -> None:
    for number, text in enumerate(lines, start=1):
        if text is None or not text.strip():
            continue
        try:
            value = json.loads(text)
        except RecursionError:
            result.reject(number, "the JSON is nested too deeply.")
            continue
        except ValueError as exc:
            result.reject(number, f"not valid JSON ({getattr(exc, 'msg', exc)}).")
            continue
        if not isinstance(value, dict):
            result.reject(
                number, f'each line must be a JSON object such as {{"prompt": "..."}}, not {_json_type(value)}.'
            )
            continue
        if value.get(PROMPT_KEY, "") is None:
            result.reject(number, f"{PROMPT_KEY!r} must be a string, not null.")
            continue
        _row(number, value.get(PROMPT_KEY), value.get(SYSTEM_KEY), value.get(REFERENCE_KEY), limits, result)


def _parse_csv(lines: list[str | None], limits: Limits, result: ParseResult) -> None:
    # Refused lines become empty so the reader keeps counting lines; a record that touches one is dropped.
    refused = {number for number, text in enumerate(lines, start=1) if text is None}
    reader = csv.reader(((text or "") + "\n" for text in lines), strict=True)
    header: list[str] | None = None
    start = 1
    while True:
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            result.reject(start, f"not valid CSV ({exc}).")
            start = reader.line_num + 1
            continue
        first, start = start, reader.line_num + 1
        if refused & set(range(first, reader.line_num + 1)) or not any(cell.strip() for cell in record):
            if header is None and refused & set(range(first, reader.line_num + 1)):
                return  # no usable header: the refused line says why
            continue
        if header is None:
            header = [cell.strip().lower() for cell in record]
            if PROMPT_KEY not in header:
                result.reject(
                    first, f"the first row must name the columns, one of them {PROMPT_KEY!r}; got {record[:5]}."
                )
                return
            continue
        if len(record) != len(header):
            result.reject(first, f"{len(record)} values, but the header names {len(header)} columns.")
            continue
        values = dict(zip(header, record, strict=True))
        _row(first, values[PROMPT_KEY], values.get(SYSTEM_KEY), values.get(REFERENCE_KEY), limits, result)
    if header is None and not result.error_count:
        result.reject(0, f"The CSV file is empty: its first row must name the columns, one of them {PROMPT_KEY!r}.")
