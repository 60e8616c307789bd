"""Line diffs of a commit's text files for the commit page, in bounded time and memory whatever the files hold.

difflib's matcher compares every pair of lines of a region in its worst case (a 5,000-line file with every
other line changed takes 12 s), so it only runs on small regions here: common prefixes and suffixes are
matched first, then lines that occur once on each side anchor the regions between them (patience diff), to
any depth up to MAX_DEPTH; a region that is still large and has no such anchor is shown as replaced.
"""

from __future__ import annotations

import difflib
from bisect import bisect_left
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from models_hub.models import Blob
from models_hub.selectors import FileChange
from models_hub.storage.blobs import blob_open

MAX_FILE_BYTES = 1024 * 1024  # each side of one file
MAX_FILE_LINES = 20_000  # each side of one file
MAX_TOTAL_BYTES = 4 * 1024 * 1024  # read for one commit page, all files together
MAX_SHOWN_LINES = 5_000  # diff lines shown for one file
MAX_TOTAL_SHOWN_LINES = 20_000  # diff lines shown on one commit page
CONTEXT_LINES = 3
# Regions up to this many line pairs get difflib's exact matching (50 x 50 lines: a few milliseconds).
EXACT_REGION_PAIRS = 2_500
MAX_DEPTH = 8


class BoundedMatcher(difflib.SequenceMatcher):
    """difflib.SequenceMatcher whose matching blocks are found in near-linear time (see the module)."""

    def __init__(self, a: Sequence[str], b: Sequence[str]) -> None:
        super().__init__(None, a, b, autojunk=False)

    def get_matching_blocks(self) -> list[difflib.Match]:
        if self.matching_blocks is None:
            blocks: list[difflib.Match] = []
            self._match(0, len(self.a), 0, len(self.b), blocks, depth=0)
            merged: list[difflib.Match] = []
            for block in blocks:
                last = merged[-1] if merged else None
                if last and last.a + last.size == block.a and last.b + last.size == block.b:
                    merged[-1] = difflib.Match(last.a, last.b, last.size + block.size)
                else:
                    merged.append(block)
            merged.append(difflib.Match(len(self.a), len(self.b), 0))
            self.matching_blocks = merged
        return self.matching_blocks

    def _match(self, alo: int, ahi: int, blo: int, bhi: int, blocks: list[difflib.Match], *, depth: int) -> None:
        a, b = self.a, self.b
        start = alo
        while alo < ahi and blo < bhi and a[alo] == b[blo]:
            alo, blo = alo + 1, blo + 1
        if alo > start:
            blocks.append(difflib.Match(start, blo - (alo - start), alo - start))
        end = ahi
        while ahi > alo and bhi > blo and a[ahi - 1] == b[bhi - 1]:
            ahi, bhi = ahi - 1, bhi - 1
        if alo < ahi and blo < bhi:
            if (ahi - alo) * (bhi - blo) <= EXACT_REGION_PAIRS:
                exact = difflib.SequenceMatcher(None, a[alo:ahi], b[blo:bhi], autojunk=False)
                blocks.extend(difflib.Match(alo + i, blo + j, n) for i, j, n in exact.get_matching_blocks() if n)
            elif depth < MAX_DEPTH:
                next_a, next_b = alo, blo
                for i, j in _unique_anchors(a, alo, ahi, b, blo, bhi):
                    self._match(next_a, i, next_b, j, blocks, depth=depth + 1)
                    blocks.append(difflib.Match(i, j, 1))
                    next_a, next_b = i + 1, j + 1
                if next_a > alo:
                    self._match(next_a, ahi, next_b, bhi, blocks, depth=depth + 1)
        if end > ahi:
            blocks.append(difflib.Match(ahi, bhi, end - ahi))


def _unique_anchors(
    a: Sequence[str], alo: int, ahi: int, b: Sequence[str], blo: int, bhi: int
) -> list[tuple[int, int]]:
    """Pairs (i, j) of lines that occur once in a[alo:ahi] and once in b[blo:bhi], the longest run of
    them in the same order on both sides (patience sorting: O(k log k))."""
    count_a, count_b = Counter(a[alo:ahi]), Counter(b[blo:bhi])
    where_b = {b[j]: j for j in range(blo, bhi) if count_b[b[j]] == 1}
    pairs = [(i, where_b[a[i]]) for i in range(alo, ahi) if count_a[a[i]] == 1 and a[i] in where_b]
    tails: list[int] = []  # for each run length, the index in pairs of the run's smallest last j
    tail_js: list[int] = []
    previous = [-1] * len(pairs)
    for k, (_i, j) in enumerate(pairs):
        length = bisect_left(tail_js, j)
        if length:
            previous[k] = tails[length - 1]
        if length == len(tails):
            tails.append(k)
            tail_js.append(j)
        else:
            tails[length], tail_js[length] = k, j
    run: list[tuple[int, int]] = []
    k = tails[-1] if tails else -1
    while k >= 0:
        run.append(pairs[k])
        k = previous[k]
    return run[::-1]


@dataclass(frozen=True)
class DiffLine:
    kind: str  # context | add | delete
    old_number: int | None
    new_number: int | None
    text: str

    @property
    def sign(self) -> str:
        return {"add": "+", "delete": "-"}.get(self.kind, " ")


@dataclass(frozen=True)
class Hunk:
    header: str
    lines: list[DiffLine]


@dataclass
class FileDiff:
    change: FileChange
    hunks: list[Hunk] = field(default_factory=list)
    added: int = 0
    deleted: int = 0
    note: str = ""  # why no line diff is shown (binary, too large, the page's limit)
    truncated: bool = False  # only the first MAX_SHOWN_LINES lines are shown


def _text_lines(blob: Blob | None) -> list[str] | None:
    """The lines of a UTF-8 text blob (an absent side is empty), or None for binary files."""
    if blob is None:
        return []
    with blob_open(blob) as handle:
        data = handle.read(MAX_FILE_BYTES + 1)
    if b"\x00" in data:
        return None
    try:
        return data.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        return None


def _sizes(change: FileChange) -> str:
    old = change.old_blob.size if change.old_blob else None
    new = change.new_blob.size if change.new_blob else None
    if old is None:
        return f"added, {new:,} bytes"
    if new is None:
        return f"deleted, {old:,} bytes"
    return f"changed, size {old:,} → {new:,} bytes"


def _range(start: int, stop: int) -> str:
    """A hunk header's range, as `diff -u` writes it: `start,length`, `start` alone for one line."""
    length = stop - start
    if length == 1:
        return f"{start + 1}"
    return f"{start + 1 if length else start},{length}"


def _hunks(old: list[str], new: list[str], limit: int) -> tuple[list[Hunk], int, int, bool]:
    """Unified-diff hunks with line numbers; at most `limit` lines are kept (the counts cover all)."""
    hunks, added, deleted, shown, truncated = [], 0, 0, 0, False
    for group in BoundedMatcher(old, new).get_grouped_opcodes(CONTEXT_LINES):
        first, last = group[0], group[-1]
        header = f"@@ -{_range(first[1], last[2])} +{_range(first[3], last[4])} @@"
        lines: list[DiffLine] = []
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                lines += [DiffLine("context", i + 1, j1 + (i - i1) + 1, old[i]) for i in range(i1, i2)]
                continue
            deleted += i2 - i1
            added += j2 - j1
            lines += [DiffLine("delete", i + 1, None, old[i]) for i in range(i1, i2)]
            lines += [DiffLine("add", None, j + 1, new[j]) for j in range(j1, j2)]
        if shown + len(lines) > limit:
            lines, truncated = lines[: max(limit - shown, 0)], True
        shown += len(lines)
        if lines:
            hunks.append(Hunk(header, lines))
    return hunks, added, deleted, truncated


def commit_diffs(changes: list[FileChange], *, hidden: set[str] = frozenset()) -> list[FileDiff]:
    """A FileDiff per change: line diffs of text files within the size limits, a note for the others.

    `hidden` are paths whose content the visitor may not see (a gated repository's files).
    """
    diffs = []
    budget_bytes, budget_lines = MAX_TOTAL_BYTES, MAX_TOTAL_SHOWN_LINES
    for change in changes:
        diff = FileDiff(change)
        diffs.append(diff)
        sides = [blob for blob in (change.old_blob, change.new_blob) if blob is not None]
        size = sum(blob.size for blob in sides)
        if change.path in hidden:
            diff.note = "The content of this file is shown to people with access to the repository's files."
        elif any(blob.size > MAX_FILE_BYTES for blob in sides):
            diff.note = f"File too large to show a diff: {_sizes(change)}."
        elif size > budget_bytes or budget_lines <= 0:
            diff.note = f"Diff not shown: this commit changes too much to show every file ({_sizes(change)})."
        else:
            budget_bytes -= size
            old, new = _text_lines(change.old_blob), _text_lines(change.new_blob)
            if old is None or new is None:
                diff.note = f"Binary file {_sizes(change)}."
            elif len(old) > MAX_FILE_LINES or len(new) > MAX_FILE_LINES:
                diff.note = f"File has too many lines to show a diff: {_sizes(change)}."
            else:
                limit = min(MAX_SHOWN_LINES, budget_lines)
                diff.hunks, diff.added, diff.deleted, diff.truncated = _hunks(old, new, limit)
                budget_lines -= sum(len(hunk.lines) for hunk in diff.hunks)
    return diffs
