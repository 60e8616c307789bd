"""The JSON shapes the Hugging Face client parses (camelCase keys, dates ending in a literal Z).

Files tracked by the repository's .gitattributes, or at least FLYWHEEL_LFS_DISPLAY_THRESHOLD bytes, are
presented as Git LFS objects, as the public Hub does: their git id is the id of the LFS pointer text, and
`lfs` carries the sha256.
"""

from __future__ import annotations

import hashlib
from html import escape

from models_hub.hub_api.common import iso_z
from models_hub.hub_api.trees import FileRow, ListedItem
from models_hub.models import Commit, Ref, Repository

LFS_POINTER = "version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n"


def lfs_pointer(row: FileRow) -> bytes:
    """The pointer file git-lfs commits in place of the bytes."""
    return LFS_POINTER.format(sha256=row.sha256, size=row.size).encode()


def git_oid_of(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def file_oid(row: FileRow) -> str:
    """What git (and the Hub) calls the file's blob id."""
    if row.lfs or not row.git_oid:
        return git_oid_of(lfs_pointer(row))
    return row.git_oid


def last_commit_json(commit: Commit) -> dict:
    return {"id": commit.oid, "title": commit.title, "date": iso_z(commit.created_at)}


def tree_item_json(item: ListedItem, *, last_commit: Commit | None = None) -> dict:
    if item.is_dir:
        data: dict = {"type": "directory", "oid": item.dir_oid, "size": 0, "path": item.path}
    else:
        row = item.row
        assert row is not None
        data = {"type": "file", "oid": file_oid(row), "size": row.size, "path": row.path}
        if row.lfs:
            data["lfs"] = {"oid": row.sha256, "size": row.size, "pointerSize": len(lfs_pointer(row))}
    if last_commit is not None:
        data["lastCommit"] = last_commit_json(last_commit)
    return data


def sibling_json(row: FileRow, *, blobs: bool) -> dict:
    data: dict = {"rfilename": row.path}
    if blobs:
        data["size"] = row.size
        data["blobId"] = file_oid(row)
        if row.lfs:
            data["lfs"] = {"sha256": row.sha256, "size": row.size, "pointerSize": len(lfs_pointer(row))}
    return data


def _repo_base(repo: Repository, tags: list[str]) -> dict:
    data = {
        "_id": str(repo.pk),
        "id": repo.repo_id,
        "author": repo.namespace,
        "private": repo.private,
        "disabled": False,
        "gated": repo.gated or False,
        "downloads": repo.downloads,
        "likes": repo.likes_count,
        "tags": tags,
        "createdAt": iso_z(repo.created_at),
    }
    if repo.kind == Repository.Kind.MODEL:
        data["modelId"] = repo.repo_id
        data["pipeline_tag"] = repo.pipeline_tag or None
        data["library_name"] = repo.library_name or None
    return data


def repo_info_json(
    repo: Repository,
    *,
    commit: Commit,
    rows: list[FileRow],
    tags: list[str],
    blobs: bool,
    safetensors: dict | None,
) -> dict:
    data = _repo_base(repo, tags)
    data["sha"] = commit.oid
    data["lastModified"] = iso_z(commit.created_at)
    data["cardData"] = repo.card_data or {}
    data["siblings"] = [sibling_json(row, blobs=blobs) for row in rows]
    data["usedStorage"] = sum({row.sha256: row.size for row in rows}.values())
    if safetensors is not None:
        data["safetensors"] = safetensors
    return data


def repo_list_json(
    repo: Repository, *, tags: list[str], sha: str | None, rows: list[FileRow] | None, card_data: bool
) -> dict:
    """One search result; siblings only when the caller asked for `full`."""
    data = _repo_base(repo, tags)
    data["lastModified"] = iso_z(repo.updated_at)
    if sha:
        data["sha"] = sha
    if card_data:
        data["cardData"] = repo.card_data or {}
    if rows is not None:
        data["siblings"] = [sibling_json(row, blobs=False) for row in rows]
    if repo.kind == Repository.Kind.MODEL and repo.parameter_count is not None:
        data["safetensors"] = {"parameters": {}, "total": repo.parameter_count}
    return data


def ref_json(ref: Ref, commit_oid: str) -> dict:
    return {"name": ref.name, "ref": ref.full_name, "targetCommit": commit_oid}


def commit_json(commit: Commit, *, formatted: bool) -> dict:
    data = {
        "id": commit.oid,
        "title": commit.title,
        "message": commit.description,
        "date": iso_z(commit.created_at),
        "authors": [{"user": commit.author.username}] if commit.author else [],
    }
    if formatted:
        data["formatted"] = {
            "title": escape(commit.title),
            "message": escape(commit.description).replace("\n", "<br>"),
        }
    return data
