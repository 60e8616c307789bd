"""Validation of file paths inside a repository: every path a user sends goes through here."""

from __future__ import annotations

import unicodedata

MAX_PATH_LENGTH = 1024
MAX_SEGMENT_BYTES = 255


class InvalidPath(ValueError):
    pass


def normalize_repo_path(raw: str) -> str:
    """Return the canonical form of a path inside a repository, or raise InvalidPath.

    Refuses what could escape the repository or confuse a file system or a reader: absolute paths,
    '..', NUL and control characters, invisible formatting characters, backslashes, empty segments
    and overlong names.
    """
    if not isinstance(raw, str) or raw == "":
        raise InvalidPath("The file path is empty.")
    path = unicodedata.normalize("NFC", raw)
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in path):
        raise InvalidPath("The file path contains a control character (such as NUL).")
    invisible = next((ch for ch in path if unicodedata.category(ch) == "Cf"), None)
    if invisible is not None:
        # Format characters (text-direction overrides, zero-width spaces and joiners, the BOM) are
        # invisible and can make a name in the file list read as another: "invoice\u202etxt.exe".
        raise InvalidPath(
            f"The file path contains the invisible character U+{ord(invisible):04X} "
            f"({unicodedata.name(invisible, 'format character')}), which can make a name look like another; "
            "remove it."
        )
    if "\\" in path:
        raise InvalidPath("The file path contains a backslash; use '/' between folders.")
    if path.startswith("/"):
        raise InvalidPath("The file path is absolute; give a path relative to the repository root.")
    if len(path) > MAX_PATH_LENGTH:
        raise InvalidPath(f"The file path is longer than {MAX_PATH_LENGTH} characters.")
    segments = path.split("/")
    for segment in segments:
        if segment in ("", "."):
            raise InvalidPath("The file path has an empty or '.' segment.")
        if segment == "..":
            raise InvalidPath("The file path contains '..'.")
        if len(segment.encode()) > MAX_SEGMENT_BYTES:
            raise InvalidPath(f"A file or folder name is longer than {MAX_SEGMENT_BYTES} bytes.")
    if segments[0] == ".git":
        raise InvalidPath("Paths under .git/ are reserved.")
    return path


def normalize_folder_path(raw: str) -> str:
    """A folder path: like a file path, with an optional trailing '/' removed."""
    return normalize_repo_path(raw.rstrip("/") if raw not in ("", "/") else raw)
