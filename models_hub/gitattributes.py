"""Which files of a commit are Git LFS files: the `filter=lfs` patterns of its `.gitattributes`, matched as git does.

The Hub presents a file as an LFS object (an `lfs` block, the blob id of its pointer, the sha256 as its ETag)
when the repository's `.gitattributes` tracks it, or when it is big, whatever way its bytes arrived. Clients
key their caches and integrity checks on that, so every answer must agree.

Patterns are translated to regular expressions and matched with RE2 (linear time, all patterns in one pass),
so a hostile `.gitattributes` cannot make a listing slow. Rules are parsed once per `.gitattributes` blob
and looked up once per commit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache

import re2
from django.conf import settings

from models_hub.models import Blob, TreeEntry
from models_hub.storage.blobs import blob_open

logger = logging.getLogger(__name__)

GITATTRIBUTES = ".gitattributes"
# What the public hub puts in a new repository (and what a repository without the file is read as).
DEFAULT_GITATTRIBUTES = b"""*.7z filter=lfs diff=lfs merge=lfs -text
*.bin filter=lfs diff=lfs merge=lfs -text
*.ckpt filter=lfs diff=lfs merge=lfs -text
*.gguf filter=lfs diff=lfs merge=lfs -text
*.h5 filter=lfs diff=lfs merge=lfs -text
*.onnx filter=lfs diff=lfs merge=lfs -text
*.parquet filter=lfs diff=lfs merge=lfs -text
*.pkl filter=lfs diff=lfs merge=lfs -text
*.pt filter=lfs diff=lfs merge=lfs -text
*.pth filter=lfs diff=lfs merge=lfs -text
*.safetensors filter=lfs diff=lfs merge=lfs -text
*.tar.gz filter=lfs diff=lfs merge=lfs -text
*.zip filter=lfs diff=lfs merge=lfs -text
"""
# Bounds on what is read of a repository's file: far above real ones, small enough to parse in milliseconds.
MAX_GITATTRIBUTES_BYTES = 256 * 1024
MAX_RULES = 2_000


@dataclass(frozen=True)
class LfsRules:
    """The `filter` patterns of one `.gitattributes`; for a path, the last line that matches it decides."""

    patterns: re2.Set | None
    sets_lfs: tuple[bool, ...]  # per pattern: True for `filter=lfs`, False for lines that unset or change it

    def tracks(self, path: str) -> bool:
        if self.patterns is None:
            return False
        matched = self.patterns.Match(path)
        return bool(matched) and self.sets_lfs[max(matched)]


def is_lfs_file(rules: LfsRules, path: str, size: int) -> bool:
    """An LFS file on the Hub: tracked by `.gitattributes`, or big. git-lfs leaves empty files as they are."""
    return size > 0 and (size >= settings.FLYWHEEL_LFS_DISPLAY_THRESHOLD or rules.tracks(path))


def _literal(char: str) -> str:
    return char if char.isalnum() or char == "_" else f"\\x{{{ord(char):x}}}"


def _bracket(segment: str, start: int) -> tuple[str, int] | None:
    """A `[...]` class starting at `start`: (regex, index after it), or None if it is not closed."""
    i = start + 1
    negate = i < len(segment) and segment[i] in "!^"
    if negate:
        i += 1
    members: list[str] = []
    first = True
    while i < len(segment):
        char = segment[i]
        if char == "]" and not first:
            body = "".join(members)
            return (f"[^/{body}]" if negate else f"[{body}]"), i + 1
        if char == "\\" and i + 1 < len(segment):
            i += 1
            char = segment[i]
        if char == "-" and members and not first and i + 1 < len(segment) and segment[i + 1] != "]":
            members.append("-")
        else:
            members.append(_literal(char))
        first = False
        i += 1
    return None


def _segment_regex(segment: str) -> str:
    """One path segment of a pattern: `*` and `?` never cross a '/'."""
    out: list[str] = []
    i = 0
    while i < len(segment):
        char = segment[i]
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[" and (bracket := _bracket(segment, i)) is not None:
            out.append(bracket[0])
            i = bracket[1]
            continue
        elif char == "\\" and i + 1 < len(segment):
            i += 1
            out.append(_literal(segment[i]))
        else:
            out.append(_literal(char))
        i += 1
    return "".join(out)


def pattern_regex(pattern: str) -> str | None:
    """The regex (matched against the whole path) of a gitattributes pattern; None if it can match no file.

    git's rules: a pattern without a slash matches a file name in any folder; one with a slash matches from
    the root; `**/` is any number of folders, a trailing `/**` everything inside. A trailing slash names
    folders only (which carry no attributes) and negative patterns are forbidden.
    """
    if not pattern or pattern.startswith("!") or pattern.endswith("/"):
        return None
    if "/" not in pattern:
        return "(?:.*/)?" + _segment_regex(pattern)
    segments = pattern.removeprefix("/").split("/")
    parts: list[str] = []
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == "**":
            parts.append(".+" if last else "(?:.*/)?")
        else:
            parts.append(_segment_regex(segment) + ("" if last else "/"))
    return "".join(parts)


def _split_line(line: str) -> tuple[str, list[str]]:
    """(pattern, attributes) of one line; a pattern may be double-quoted to hold spaces."""
    if line.startswith('"'):
        end = 1
        chars: list[str] = []
        while end < len(line) and line[end] != '"':
            if line[end] == "\\" and end + 1 < len(line):
                end += 1
            chars.append(line[end])
            end += 1
        return "".join(chars), line[end + 1 :].split()
    pattern, *attributes = line.split()
    return pattern, attributes


def _filter_value(attributes: list[str]) -> bool | None:
    """True if the line sets filter=lfs, False if it unsets or changes the filter, None if it leaves it alone."""
    decision = None
    for attribute in attributes:
        if attribute.startswith("filter="):
            decision = attribute == "filter=lfs"
        elif attribute in ("-filter", "!filter", "filter"):
            decision = False
    return decision


def parse_lfs_rules(text: str) -> LfsRules:
    """The `filter` rules of a `.gitattributes` file (at most MAX_RULES of them; macros are not expanded)."""
    patterns = re2.Set.FullMatchSet()
    sets_lfs: list[bool] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", "[attr]")):
            continue
        pattern, attributes = _split_line(line)
        decision = _filter_value(attributes)
        regex = pattern_regex(pattern) if decision is not None else None
        if regex is None:
            continue
        try:
            patterns.Add(regex)
        except re2.error:
            continue  # a pattern RE2 cannot read matches nothing, as a malformed one in git
        sets_lfs.append(decision)
        if len(sets_lfs) >= MAX_RULES:
            break
    if not sets_lfs:
        return LfsRules(None, ())
    try:
        patterns.Compile()
    except re2.error:
        logger.warning("A .gitattributes file is too complex to match; only the size rule applies to it.")
        return LfsRules(None, ())
    return LfsRules(patterns, tuple(sets_lfs))


@lru_cache(maxsize=256)
def _rules_of_blob(sha256: str | None) -> LfsRules:
    """Blobs never change, so their rules are parsed once per process."""
    if sha256 is None:
        return parse_lfs_rules(DEFAULT_GITATTRIBUTES.decode())
    blob = Blob.objects.filter(sha256=sha256).first()
    if blob is None:
        return LfsRules(None, ())
    with blob_open(blob) as handle:
        text = handle.read(MAX_GITATTRIBUTES_BYTES).decode("utf-8", errors="replace")
    return parse_lfs_rules(text)


@lru_cache(maxsize=4096)
def _gitattributes_of_commit(commit_oid: str) -> str | None:
    # Keyed by the oid, which hashes the tree: one oid always has the same .gitattributes.
    return (
        TreeEntry.objects.filter(commit__oid=commit_oid, path=GITATTRIBUTES).values_list("blob_id", flat=True).first()
    )


def lfs_rules_of_commit(commit_oid: str) -> LfsRules:
    """The LFS rules of a commit: its own `.gitattributes`, or the Hub's default when it has none."""
    return _rules_of_blob(_gitattributes_of_commit(commit_oid))


def lfs_rules_of_tree(tree: dict[str, str]) -> LfsRules:
    """The same, for a tree already in hand (path -> sha256): no query for the `.gitattributes` entry."""
    return _rules_of_blob(tree.get(GITATTRIBUTES))
