"""A commit's files as light rows, and the folder listings the tree and paths-info endpoints return.

One query per listing (values, no model instances), so a 50,000-file tree stays cheap to page through.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from models_hub.errors import EntryNotFound
from models_hub.gitattributes import LfsRules, is_lfs_file, lfs_rules_of_commit
from models_hub.models import Commit, TreeEntry


@dataclass(frozen=True)
class FileRow:
    path: str
    sha256: str
    size: int
    git_oid: str
    lfs: bool  # presented as a Git LFS object (see models_hub.gitattributes)


@dataclass(frozen=True)
class ListedItem:
    path: str
    is_dir: bool
    row: FileRow | None = None  # files only
    dir_oid: str = ""  # folders only


def commit_rows(commit: Commit, folder: str = "") -> list[FileRow]:
    """The commit's files (under `folder` if given), sorted by path the same way on every database."""
    entries = TreeEntry.objects.filter(commit=commit)
    prefix = f"{folder}/" if folder else ""
    if prefix:
        entries = entries.filter(path__startswith=prefix)
    rules = lfs_rules_of_commit(commit.oid)
    rows = [
        file_row(path, sha256, size, git_oid, rules)
        for path, sha256, size, git_oid in entries.values_list("path", "blob__sha256", "blob__size", "blob__git_oid")
        # SQLite's LIKE ignores case: check the prefix exactly.
        if path.startswith(prefix)
    ]
    rows.sort(key=lambda row: row.path)
    return rows


def file_row(path: str, sha256: str, size: int, git_oid: str, rules: LfsRules) -> FileRow:
    return FileRow(path, sha256, size, git_oid, is_lfs_file(rules, path, size))


def _dir_hashers(rows: list[FileRow], prefix: str) -> dict[str, hashlib._Hash]:
    """A content hash for every folder below `prefix`: unchanged folders keep their oid across commits."""
    hashers: dict[str, hashlib._Hash] = {}
    for row in rows:
        parts = row.path[len(prefix) :].split("/")
        for depth in range(1, len(parts)):
            folder = prefix + "/".join(parts[:depth])
            hasher = hashers.get(folder)
            if hasher is None:
                hasher = hashers[folder] = hashlib.sha1(usedforsecurity=False)
            hasher.update(f"{row.path[len(folder) + 1 :]}\0{row.sha256}\n".encode())
    return hashers


def folder_listing(commit: Commit, folder: str, *, recursive: bool) -> list[ListedItem]:
    """Folders first, then files, each sorted by path. EntryNotFound if `folder` is not a folder."""
    folder = folder.strip("/")
    rows = commit_rows(commit, folder)
    if folder and not rows:
        raise EntryNotFound(f"{folder} does not exist at {commit.oid[:7]}.", commit_oid=commit.oid)
    prefix = f"{folder}/" if folder else ""
    hashers = _dir_hashers(rows, prefix)
    items: list[ListedItem] = []
    for path, hasher in hashers.items():
        if recursive or "/" not in path[len(prefix) :]:
            items.append(ListedItem(path=path, is_dir=True, dir_oid=hasher.hexdigest()))
    for row in rows:
        if recursive or "/" not in row.path[len(prefix) :]:
            items.append(ListedItem(path=row.path, is_dir=False, row=row))
    items.sort(key=lambda item: (not item.is_dir, item.path))
    return items


def paths_info(commit: Commit, paths: list[str]) -> list[ListedItem]:
    """The files and folders among `paths` that exist at `commit`, in the order asked; others are left out."""
    rows = commit_rows(commit)
    by_path = {row.path: row for row in rows}
    hashers = _dir_hashers(rows, "")
    found: list[ListedItem] = []
    seen: set[str] = set()
    for raw in paths:
        path = raw.strip("/")
        if path in seen:
            continue
        seen.add(path)
        if path in by_path:
            found.append(ListedItem(path=path, is_dir=False, row=by_path[path]))
        elif path in hashers:
            found.append(ListedItem(path=path, is_dir=True, dir_oid=hashers[path].hexdigest()))
    return found
