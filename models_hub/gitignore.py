"""A repository's `.gitignore`, as the Hub honours it: preupload marks matching paths `shouldIgnore`.

Matching is pathspec's `GitIgnoreSpec` (git's own rules, negations and folders included) on its RE2
backend, so a hostile file costs linear time; lines git would ignore as invalid are ignored here too.
"""

from __future__ import annotations

from functools import lru_cache

import re2
from pathspec import GitIgnoreSpec
from pathspec.patterns.gitignore.spec import GitIgnoreSpecPattern

from models_hub.errors import BadRequest
from models_hub.models import Commit, TreeEntry
from models_hub.storage.blobs import blob_open

GITIGNORE = ".gitignore"
# Far above real files; each pattern costs about a millisecond to compile, so this bounds the work.
MAX_GITIGNORE_BYTES = 64 * 1024
MAX_PATTERNS = 1_000
TOO_LARGE = f"The .gitignore has more than {MAX_PATTERNS:,} patterns or {MAX_GITIGNORE_BYTES // 1024} KiB; shorten it."
TOO_COMPLEX = "The .gitignore is too complex to apply; use fewer or simpler patterns."


def _pattern(line: str) -> GitIgnoreSpecPattern:
    try:
        return GitIgnoreSpecPattern(line)
    except ValueError:  # e.g. a lone '!' or a trailing backslash: git skips such lines
        return GitIgnoreSpecPattern("")


@lru_cache(maxsize=64)
def _compile(text: str) -> GitIgnoreSpec | None:
    """The rules of a `.gitignore` text, or None when RE2 cannot hold them within its memory budget.

    Cached by text: the client sends the same file with every preupload batch of an upload.
    """
    try:
        return GitIgnoreSpec.from_lines(text.splitlines(), _pattern, backend="re2")
    except re2.error:
        return None


def gitignore_spec(text: str) -> GitIgnoreSpec:
    """The rules of a `.gitignore` text; BadRequest when it is too large or too complex to apply."""
    patterns = sum(1 for line in text.splitlines() if line.strip() and not line.startswith("#"))
    if len(text.encode()) > MAX_GITIGNORE_BYTES or patterns > MAX_PATTERNS:
        raise BadRequest(TOO_LARGE)
    spec = _compile(text)
    if spec is None:
        raise BadRequest(TOO_COMPLEX)
    return spec


def ignored_paths(*, commit: Commit, paths: list[str], gitignore: str | None = None) -> set[str]:
    """Which of `paths` the `.gitignore` ignores: the one being uploaded (`gitignore`), else the commit's own.

    BadRequest when that file is too large or too complex to apply.
    """
    if gitignore is None:
        found = TreeEntry.objects.filter(commit=commit, path=GITIGNORE).select_related("blob").first()
        if found is None:
            return set()
        if found.blob.size > MAX_GITIGNORE_BYTES:
            raise BadRequest(TOO_LARGE)
        with blob_open(found.blob) as handle:
            gitignore = handle.read().decode("utf-8", errors="replace")
    spec = gitignore_spec(gitignore)
    return {path for path in paths if spec.match_file(path)}
